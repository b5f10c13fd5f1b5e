// <domainsnapshot> XML: parse, validate, format.
#include <set>
#include <sstream>

#include "conf/xml_reader.h"
#include "skiff/base/size.h"
#include "skiff/conf/snapshot.h"

namespace skiff::conf {

namespace {

Result<SnapshotDef> ParseSnapshotElem(const Elem& root) {
  SnapshotDef s;
  if (auto n = root.ChildText("name")) s.name = *n;
  if (Elem d = root.Child("description")) s.description = d.node().child_value();
  if (auto st = root.ChildText("state")) s.state = *st;
  if (Elem ct = root.Child("creationTime")) {
    auto v = ParseUint(ct.Text());
    if (!v.ok() || *v > (1ull << 62)) return ct.Error("invalid creationTime '{}'", ct.Text());
    s.creation_time = static_cast<int64_t>(*v);
  }
  if (Elem p = root.Child("parent")) {
    auto n = p.ChildText("name");
    if (!n || n->empty()) return p.Error("parent without <name>");
    s.parent = *n;
  }
  if (Elem m = root.Child("memory")) {
    SKIFF_ASSIGN_OR_RETURN(s.memory_snapshot,
                           m.EnumAttr("snapshot", {"no", "internal", "external", "manual"}));
    s.memory_file = m.Attr("file").value_or("");
  }
  if (Elem disks = root.Child("disks")) {
    for (const Elem& d : disks.Children("disk")) {
      SnapshotDisk sd;
      sd.name = d.Attr("name").value_or("");
      if (sd.name.empty()) return d.Error("snapshot disk without a name");
      SKIFF_ASSIGN_OR_RETURN(sd.snapshot,
                             d.EnumAttr("snapshot", {"no", "internal", "external", "manual"}));
      SKIFF_ASSIGN_OR_RETURN(sd.type, d.EnumAttr("type", {"file", "block"}));
      if (Elem src = d.Child("source")) {
        sd.source = src.Attr(sd.type == "block" ? "dev" : "file").value_or("");
      }
      if (Elem drv = d.Child("driver")) {
        SKIFF_ASSIGN_OR_RETURN(sd.driver_type, drv.EnumAttr("type", {"qcow2", "raw"}));
      }
      s.disks.push_back(std::move(sd));
    }
  }
  if (Elem dom = root.Child("domain")) {
    dom.MarkSubtree();
    std::ostringstream out;
    dom.node().print(out, "  ", pugi::format_indent | pugi::format_attribute_single_quote);
    s.domain_xml = out.str();
  }
  return s;
}

}  // namespace

Result<SnapshotDef> ParseSnapshotXml(std::string_view xml, std::string_view source_name) {
  SKIFF_ASSIGN_OR_RETURN(auto doc, XmlDoc::Parse(xml, source_name));
  SKIFF_ASSIGN_OR_RETURN(Elem root, doc->Root("domainsnapshot"));
  SKIFF_ASSIGN_OR_RETURN(SnapshotDef def, ParseSnapshotElem(root));
  SKIFF_TRY(doc->CheckAllUnderstood());
  Status st = ValidateSnapshot(def);
  if (!st.ok()) return Status(st.code(), fmt::format("{}: {}", source_name, st.message()));
  return def;
}

Status ValidateSnapshot(const SnapshotDef& s) {
  if (s.name.find('/') != std::string::npos) {
    return InvalidArgumentError("/domainsnapshot/name: invalid name '{}'", s.name);
  }
  static const std::set<std::string> kStates = {"",        "running",     "blocked",
                                                "paused",  "shutdown",    "shutoff",
                                                "crashed", "pmsuspended", "disk-snapshot"};
  if (!kStates.count(s.state)) {
    return InvalidArgumentError("/domainsnapshot/state: invalid state '{}'", s.state);
  }
  if (s.memory_snapshot == "external" && s.memory_file.empty()) {
    return InvalidArgumentError("/domainsnapshot/memory: external memory snapshot needs a file");
  }
  if (!s.memory_file.empty() && s.memory_snapshot != "external") {
    return InvalidArgumentError("/domainsnapshot/memory: file '{}' needs snapshot='external'",
                                s.memory_file);
  }
  std::set<std::string> names;
  for (size_t i = 0; i < s.disks.size(); ++i) {
    const SnapshotDisk& d = s.disks[i];
    std::string path = fmt::format("/domainsnapshot/disks/disk[{}]", i + 1);
    if (!names.insert(d.name).second) {
      return InvalidArgumentError("{}: disk '{}' is listed twice", path, d.name);
    }
    if (d.snapshot != "external" && d.snapshot != "" &&
        (!d.source.empty() || !d.driver_type.empty() || !d.type.empty())) {
      return InvalidArgumentError("{}: source and driver need snapshot='external'", path);
    }
    if (!d.source.empty() && d.source[0] != '/') {
      return InvalidArgumentError("{}: source '{}' is not absolute", path, d.source);
    }
  }
  return Status::Ok();
}

std::string FormatSnapshotXml(const SnapshotDef& s) {
  XmlWriter w;
  w.Open("domainsnapshot");
  if (!s.name.empty()) w.Text("name", s.name);
  if (!s.description.empty()) w.Text("description", s.description);
  if (!s.state.empty()) w.Text("state", s.state);
  if (s.creation_time) w.Text("creationTime", std::to_string(*s.creation_time));
  if (!s.parent.empty()) {
    w.Open("parent");
    w.Text("name", s.parent);
    w.Close("parent");
  }
  if (!s.memory_snapshot.empty()) {
    w.Empty("memory", {{"snapshot", s.memory_snapshot}, {"file", s.memory_file}});
  }
  if (!s.disks.empty()) {
    w.Open("disks");
    for (const auto& d : s.disks) {
      std::initializer_list<std::pair<std::string_view, std::string>> a = {
          {"name", d.name}, {"snapshot", d.snapshot}, {"type", d.type}};
      if (d.source.empty() && d.driver_type.empty()) {
        w.Empty("disk", a);
        continue;
      }
      w.Open("disk", a);
      if (!d.driver_type.empty()) w.Empty("driver", {{"type", d.driver_type}});
      if (!d.source.empty()) w.Empty("source", {{d.type == "block" ? "dev" : "file", d.source}});
      w.Close("disk");
    }
    w.Close("disks");
  }
  if (!s.domain_xml.empty()) {
    // Printed by pugixml one level down, text nodes verbatim: a multi-line
    // <description> inside comes back unchanged however often it round-trips.
    pugi::xml_document doc;
    if (doc.load_buffer(s.domain_xml.data(), s.domain_xml.size(), pugi::parse_default,
                        pugi::encoding_utf8)) {
      std::ostringstream out;
      doc.document_element().print(out, "  ",
                                   pugi::format_indent | pugi::format_attribute_single_quote,
                                   pugi::encoding_utf8, 1);
      std::string text = out.str();
      while (!text.empty() && text.back() == '\n') text.pop_back();
      w.RawLine(std::string_view(text).substr(std::min<size_t>(2, text.size())));
    }
  }
  w.Close("domainsnapshot");
  return w.Take();
}

}  // namespace skiff::conf
