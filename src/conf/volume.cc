// <volume> XML: parse, validate, format.
#include "skiff/conf/volume.h"
#include "conf/storage_common.h"

namespace skiff::conf {

namespace {

Result<VolumeDef> ParseVolumeElem(const Elem& root) {
  VolumeDef v;
  SKIFF_ASSIGN_OR_RETURN(std::string type, root.EnumAttr("type", {"file"}));
  SKIFF_ASSIGN_OR_RETURN(v.name, ReadObjectName(root));
  if (auto k = root.ChildText("key")) v.key = *k;
  if (Elem s = root.Child("source")) {
    if (s.node().first_child() && s.node().first_child().type() == pugi::node_element) {
      return s.Unsupported("a file volume takes no source");
    }
  }
  if (Elem c = root.Child("capacity")) {
    SKIFF_ASSIGN_OR_RETURN(v.capacity, c.SizeBytes());
  }
  if (Elem a = root.Child("allocation")) {
    SKIFF_ASSIGN_OR_RETURN(uint64_t alloc, a.SizeBytes());
    v.allocation = alloc;
  }
  if (Elem t = root.Child("target")) {
    if (auto p = t.ChildText("path")) v.target_path = *p;
    if (Elem f = t.Child("format")) v.format = f.Attr("type").value_or("");
    if (Elem perm = t.Child("permissions")) {
      SKIFF_ASSIGN_OR_RETURN(v.permissions, ParsePermissions(perm));
    }
    if (auto c = t.ChildText("compat")) v.compat = *c;
    if (Elem cs = t.Child("clusterSize")) {
      SKIFF_ASSIGN_OR_RETURN(uint64_t size, cs.SizeBytes());
      v.cluster_size = size;
    }
    // Output-only file times (libvirt fills them in from stat).
    if (Elem ts = t.Child("timestamps")) ts.MarkSubtree();
    if (Elem f = t.Child("features")) {
      v.lazy_refcounts = static_cast<bool>(f.Child("lazy_refcounts"));
    }
  }
  if (Elem b = root.Child("backingStore")) {
    VolumeBacking bk;
    if (auto p = b.ChildText("path")) bk.path = *p;
    if (bk.path.empty()) return b.Error("backing store without <path>");
    if (Elem f = b.Child("format")) bk.format = f.Attr("type").value_or("");
    if (Elem perm = b.Child("permissions")) {
      SKIFF_ASSIGN_OR_RETURN(bk.permissions, ParsePermissions(perm));
    }
    v.backing = std::move(bk);
  }
  return v;
}

bool PowerOfTwo(uint64_t v) { return v && !(v & (v - 1)); }

}  // namespace

Result<VolumeDef> ParseVolumeXml(std::string_view xml, std::string_view source_name) {
  SKIFF_ASSIGN_OR_RETURN(auto doc, XmlDoc::Parse(xml, source_name));
  SKIFF_ASSIGN_OR_RETURN(Elem root, doc->Root("volume"));
  SKIFF_ASSIGN_OR_RETURN(VolumeDef def, ParseVolumeElem(root));
  SKIFF_TRY(doc->CheckAllUnderstood());
  Status st = ValidateVolume(def);
  if (!st.ok()) return Status(st.code(), fmt::format("{}: {}", source_name, st.message()));
  return def;
}

Status ValidateVolume(const VolumeDef& v) {
  if (v.name.empty() || v.name.find('/') != std::string::npos || v.name == "." || v.name == "..") {
    return InvalidArgumentError("/volume/name: invalid name '{}'", v.name);
  }
  const std::string& f = v.format;
  if (!f.empty() && f != "raw" && f != "qcow2" && f != "iso") {
    return UnsupportedError(
        "/volume/target/format: unsupported format '{}' (supported: raw, qcow2, iso)", f);
  }
  if (v.capacity == 0 && !v.backing) {
    return InvalidArgumentError(
        "/volume/capacity: capacity must be positive without a backing store");
  }
  if (v.allocation && *v.allocation > v.capacity && v.capacity != 0) {
    // libvirt allows it (preallocation beyond size is clamped); keep the value.
  }
  if (!v.compat.empty()) {
    if (f != "qcow2")
      return InvalidArgumentError("/volume/target/compat: compat needs format qcow2");
    if (v.compat != "0.10" && v.compat != "1.1") {
      return InvalidArgumentError("/volume/target/compat: invalid compat '{}' (0.10 or 1.1)",
                                  v.compat);
    }
  }
  if (v.lazy_refcounts && (f != "qcow2" || v.compat == "0.10")) {
    return InvalidArgumentError("/volume/target/features: lazy_refcounts needs qcow2 compat 1.1");
  }
  if (v.cluster_size) {
    if (f != "qcow2") return InvalidArgumentError("/volume/target/clusterSize: needs format qcow2");
    if (!PowerOfTwo(*v.cluster_size) || *v.cluster_size < 512 ||
        *v.cluster_size > 2 * 1024 * 1024) {
      return InvalidArgumentError(
          "/volume/target/clusterSize: {} is not a power of two between 512 and 2097152",
          *v.cluster_size);
    }
  }
  if (v.backing) {
    if (f == "raw" || f == "iso") {
      return InvalidArgumentError("/volume/backingStore: format '{}' cannot have a backing store",
                                  f);
    }
    const std::string& bf = v.backing->format;
    if (!bf.empty() && bf != "raw" && bf != "qcow2") {
      return UnsupportedError("/volume/backingStore/format: unsupported format '{}'", bf);
    }
  }
  return Status::Ok();
}

std::string FormatVolumeXml(const VolumeDef& v) {
  XmlWriter w;
  w.Open("volume", {{"type", "file"}});
  w.Text("name", v.name);
  if (!v.key.empty()) w.Text("key", v.key);
  w.Text("capacity", std::to_string(v.capacity), {{"unit", "bytes"}});
  if (v.allocation) w.Text("allocation", std::to_string(*v.allocation), {{"unit", "bytes"}});
  w.Open("target");
  if (!v.target_path.empty()) w.Text("path", v.target_path);
  if (!v.format.empty()) w.Empty("format", {{"type", v.format}});
  WritePermissions(w, v.permissions);
  if (!v.compat.empty()) w.Text("compat", v.compat);
  if (v.cluster_size) w.Text("clusterSize", std::to_string(*v.cluster_size), {{"unit", "B"}});
  if (v.lazy_refcounts) {
    w.Open("features");
    w.Empty("lazy_refcounts");
    w.Close("features");
  }
  w.Close("target");
  if (v.backing) {
    w.Open("backingStore");
    w.Text("path", v.backing->path);
    if (!v.backing->format.empty()) w.Empty("format", {{"type", v.backing->format}});
    WritePermissions(w, v.backing->permissions);
    w.Close("backingStore");
  }
  w.Close("volume");
  return w.Take();
}

}  // namespace skiff::conf
