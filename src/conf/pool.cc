// <pool type='dir'> and <pool type='fs'> XML: parse, validate, format.
#include "skiff/conf/pool.h"
#include "conf/storage_common.h"

namespace skiff::conf {

namespace {

Result<PoolDef> ParsePoolElem(const Elem& root) {
  PoolDef p;
  auto type = root.Attr("type");
  if (!type) return root.Error("pool without a type");
  if (*type != "dir" && *type != "fs") {
    return root.Unsupported("unsupported pool type '{}' (supported: dir, fs)", *type);
  }
  p.type = *type;
  SKIFF_ASSIGN_OR_RETURN(p.name, ReadObjectName(root));
  SKIFF_ASSIGN_OR_RETURN(p.uuid, ReadObjectUuid(root));
  if (Elem c = root.Child("capacity")) {
    SKIFF_ASSIGN_OR_RETURN(p.capacity, c.SizeBytes());
  }
  if (Elem c = root.Child("allocation")) {
    SKIFF_ASSIGN_OR_RETURN(p.allocation, c.SizeBytes());
  }
  if (Elem c = root.Child("available")) {
    SKIFF_ASSIGN_OR_RETURN(p.available, c.SizeBytes());
  }
  if (Elem s = root.Child("source")) {
    if (p.type == "dir") {
      if (s.node().first_child() && s.node().first_child().type() == pugi::node_element) {
        return s.Unsupported("a dir pool takes no source");
      }
    } else {
      if (Elem dev = s.Child("device")) {
        auto path = dev.Attr("path");
        if (!path || path->empty()) return dev.Error("<device> without a path");
        p.source_device = NormalizePath(*path);
      }
      if (Elem f = s.Child("format")) {
        SKIFF_ASSIGN_OR_RETURN(p.source_format,
                               f.EnumAttr("type", {"auto", "ext2", "ext3", "ext4", "xfs"}));
      }
    }
  }
  if (p.type == "fs" && p.source_format.empty()) p.source_format = "auto";
  Elem t = root.Child("target");
  if (!t) return root.Error("missing <target>");
  auto path = t.ChildText("path");
  if (!path || path->empty()) return t.Error("missing <path>");
  p.target_path = NormalizePath(*path);
  if (Elem perm = t.Child("permissions")) {
    SKIFF_ASSIGN_OR_RETURN(p.permissions, ParsePermissions(perm));
  }
  return p;
}

}  // namespace

Result<PoolDef> ParsePoolXml(std::string_view xml, std::string_view source_name) {
  SKIFF_ASSIGN_OR_RETURN(auto doc, XmlDoc::Parse(xml, source_name));
  SKIFF_ASSIGN_OR_RETURN(Elem root, doc->Root("pool"));
  SKIFF_ASSIGN_OR_RETURN(PoolDef def, ParsePoolElem(root));
  SKIFF_TRY(doc->CheckAllUnderstood());
  Status st = ValidatePool(def);
  if (!st.ok()) return Status(st.code(), fmt::format("{}: {}", source_name, st.message()));
  return def;
}

Status ValidatePool(const PoolDef& p) {
  if (p.type != "dir" && p.type != "fs") {
    return UnsupportedError("/pool: unsupported pool type '{}'", p.type);
  }
  if (p.type == "fs" && (p.source_device.empty() || p.source_device[0] != '/')) {
    return InvalidArgumentError("/pool/source/device: an fs pool needs an absolute device path");
  }
  if (p.name.empty() || p.name.find('/') != std::string::npos) {
    return InvalidArgumentError("/pool/name: invalid name '{}'", p.name);
  }
  if (p.target_path.empty() || p.target_path[0] != '/') {
    return InvalidArgumentError("/pool/target/path: path '{}' is not absolute", p.target_path);
  }
  return Status::Ok();
}

std::string FormatPoolXml(const PoolDef& p) {
  XmlWriter w;
  w.Open("pool", {{"type", p.type}});
  w.Text("name", p.name);
  w.Text("uuid", p.uuid.ToString());
  w.Text("capacity", std::to_string(p.capacity), {{"unit", "bytes"}});
  w.Text("allocation", std::to_string(p.allocation), {{"unit", "bytes"}});
  w.Text("available", std::to_string(p.available), {{"unit", "bytes"}});
  if (p.type == "fs") {
    w.Open("source");
    w.Empty("device", {{"path", p.source_device}});
    w.Empty("format", {{"type", p.source_format.empty() ? "auto" : p.source_format}});
    w.Close("source");
  }
  w.Open("target");
  w.Text("path", p.target_path);
  WritePermissions(w, p.permissions);
  w.Close("target");
  w.Close("pool");
  return w.Take();
}

}  // namespace skiff::conf
