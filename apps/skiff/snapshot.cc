// The snapshot verbs, with virsh's options and output: snapshot-create,
// snapshot-create-as, snapshot-list, snapshot-info, snapshot-dumpxml,
// snapshot-edit, snapshot-current, snapshot-parent, snapshot-revert,
// snapshot-delete.
#include <algorithm>
#include <ctime>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "daemon_cli.h"
#include "skiff/api/routes.h"
#include "skiff/base/strings.h"

namespace skiff::app {

namespace routes = api::routes;

namespace {

bool ListSnapshots(api::Client& c, const std::string& dom, std::vector<api::Snapshot>* out) {
  api::SnapshotList r;
  if (!GetOrFail(c, routes::Domain(dom, "snapshots"), &r)) return false;
  *out = std::move(r.snapshots);
  return true;
}

// The snapshot a verb acts on: its <snapshotname>, or with --current the current one.
bool PickSnapshot(const Args& a, api::Client& c, std::string* name) {
  *name = a.get("snapshotname");
  if (a.has("current")) {
    if (!name->empty()) {
      Fail("--current and a snapshot name exclude each other");
      return false;
    }
    std::vector<api::Snapshot> all;
    if (!ListSnapshots(c, a.get("domain"), &all)) return false;
    for (const auto& s : all) {
      if (s.current) *name = s.name;
    }
    if (name->empty()) {
      Fail("domain '" + a.get("domain") + "' has no current snapshot");
      return false;
    }
  }
  if (name->empty()) {
    Fail("a snapshot name or --current is required");
    return false;
  }
  return true;
}

const api::Snapshot* Find(const std::vector<api::Snapshot>& all, const std::string& name) {
  for (const auto& s : all) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

// virsh's creation time: local time with the zone's offset.
std::string CreationTime(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  ::localtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %z", &tm);
  return buf;
}

// Options of --diskspec and --memspec: "vda,snapshot=no", "file=/m,snapshot=external".
// The first bare word is `first_key`'s value.
std::map<std::string, std::string> SpecFields(const std::string& spec, const std::string& first) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  bool first_word = true;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    std::string part =
        spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (auto eq = part.find('='); eq != std::string::npos) {
      out[part.substr(0, eq)] = part.substr(eq + 1);
    } else if (!part.empty()) {
      out[first_word ? first : part] = first_word ? part : "";
    }
    first_word = false;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// snapshot-create-as: the <domainsnapshot> its options describe, as virsh builds it.
bool CreateAsXml(const Args& a, std::string* xml) {
  std::string out = "<domainsnapshot>\n";
  if (!a.get("name").empty()) out += "  <name>" + XmlEscape(a.get("name"), false) + "</name>\n";
  if (!a.get("description").empty()) {
    out += "  <description>" + XmlEscape(a.get("description"), false) + "</description>\n";
  }
  if (!a.get("memspec").empty()) {
    auto m = SpecFields(a.get("memspec"), "file");
    std::string attrs;
    for (const auto& [k, v] : m) {
      if (k != "file" && k != "snapshot") {
        Fail("--memspec: unknown field '" + k + "'");
        return false;
      }
      attrs += fmt::format(" {}='{}'", k, XmlEscape(v));
    }
    out += "  <memory" + attrs + "/>\n";
  }
  std::vector<std::string> disks = a.all("diskspec");
  if (!disks.empty()) {
    out += "  <disks>\n";
    for (const auto& d : disks) {
      auto f = SpecFields(d, "name");
      std::string line = fmt::format("    <disk name='{}'", XmlEscape(f["name"]));
      if (f.count("snapshot")) line += fmt::format(" snapshot='{}'", XmlEscape(f["snapshot"]));
      std::string inner;
      if (f.count("driver"))
        inner += fmt::format("      <driver type='{}'/>\n", XmlEscape(f["driver"]));
      if (f.count("file"))
        inner += fmt::format("      <source file='{}'/>\n", XmlEscape(f["file"]));
      for (const auto& [k, v] : f) {
        if (k != "name" && k != "snapshot" && k != "driver" && k != "file" && k != "stype") {
          Fail("--diskspec: unknown field '" + k + "'");
          return false;
        }
      }
      out += inner.empty() ? line + "/>\n" : line + ">\n" + inner + "    </disk>\n";
    }
    out += "  </disks>\n";
  }
  out += "</domainsnapshot>\n";
  *xml = out;
  return true;
}

// What Skiff's internal snapshots cannot honour is refused by name, never ignored.
bool RefuseUnsupported(const Args& a) {
  if (a.has("live") || a.has("reuse-external")) {
    Fail(std::string("--") + (a.has("live") ? "live" : "reuse-external") +
         " needs an external snapshot, which Skiff does not take yet");
    return false;
  }
  if (a.has("quiesce")) {
    Fail("--quiesce needs the QEMU guest agent, which Skiff does not drive yet");
    return false;
  }
  return true;
}

int CreateSnapshot(const Args& a, api::Client& c, const std::string& xml,
                   const std::string& source) {
  const std::string dom = a.get("domain");
  if (!RefuseUnsupported(a)) return 1;
  api::SnapshotCreateRequest req;
  req.xml = xml;
  req.source = source;
  req.disk_only = a.has("disk-only");
  req.no_metadata = a.has("no-metadata");
  req.redefine = a.has("redefine");
  req.current = a.has("current");
  if (req.current && !req.redefine) return Fail("--current needs --redefine");
  api::SnapshotCreated r;
  if (!CallOrFail(c, "POST", routes::Domain(dom, "snapshots"), req, &r)) return 1;
  if (a.has("halt")) {
    nlohmann::json ignored;
    if (!CallOrFail(c, "POST", routes::Domain(dom, "destroy"), api::Empty{}, &ignored)) return 1;
  }
  if (req.redefine) {
    std::printf("Domain snapshot %s defined\n", r.name.c_str());
  } else if (!a.get("file").empty()) {
    std::printf("Domain snapshot %s created from '%s'\n", r.name.c_str(), a.get("file").c_str());
  } else {
    std::printf("Domain snapshot %s created\n", r.name.c_str());
  }
  return 0;
}

int CmdSnapshotCreate(const Args& a, api::Client& c) {
  std::string xml = "<domainsnapshot/>\n", source;
  if (!a.get("file").empty()) {
    if (!ReadInputFile(a.get("file"), &xml)) return 1;
    source = std::filesystem::path(a.get("file")).filename().string();
  }
  if (a.has("redefine") && source.empty()) return Fail("--redefine needs an XML file");
  return CreateSnapshot(a, c, xml, source);
}

int CmdSnapshotCreateAs(const Args& a, api::Client& c) {
  std::string xml;
  if (!CreateAsXml(a, &xml)) return 1;
  if (a.has("print-xml")) {
    std::fputs(xml.c_str(), stdout);
    return 0;
  }
  return CreateSnapshot(a, c, xml, "");
}

// virsh's --tree: each root, then its children below "+- ", joined by "|".
void PrintTree(const std::vector<api::Snapshot>& all, size_t node, int lastdev, bool root,
               std::string& indent) {
  const api::Snapshot& s = all[node];
  std::printf("%s%s%s\n", indent.c_str(), root ? "" : "+- ", s.name.c_str());
  if (!root) {
    indent += static_cast<int>(node) == lastdev ? ' ' : '|';
    indent += ' ';
  }
  int nextlast = -1;
  for (size_t i = 0; i < all.size(); ++i) {
    if (all[i].parent == s.name) nextlast = static_cast<int>(i);
  }
  if (nextlast != -1) std::printf("%s  |\n", indent.c_str());
  indent += "  ";
  for (size_t i = 0; i < all.size(); ++i) {
    if (all[i].parent == s.name) PrintTree(all, i, nextlast, false, indent);
  }
  indent.resize(indent.size() - 2);
  if (nextlast == -1 && static_cast<int>(node) == lastdev) std::printf("%s\n", indent.c_str());
  if (!root) indent.resize(indent.size() - 2);
}

bool IsDescendant(const std::vector<api::Snapshot>& all, const api::Snapshot& s,
                  const std::string& of, bool direct) {
  std::string p = s.parent;
  while (!p.empty()) {
    if (p == of) return true;
    if (direct) return false;
    const api::Snapshot* up = Find(all, p);
    p = up ? up->parent : "";
  }
  return false;
}

int CmdSnapshotList(const Args& a, api::Client& c) {
  std::vector<api::Snapshot> all;
  if (!ListSnapshots(c, a.get("domain"), &all)) return 1;
  if (a.has("tree") && (a.has("name") || a.has("parent") || a.has("roots"))) {
    return Fail("--tree excludes --name, --parent and --roots");
  }
  if (a.has("leaves") && a.has("no-leaves"))
    return Fail("--leaves and --no-leaves exclude each other");
  std::string from = a.get("from");
  if (a.has("current")) {
    // virsh: --current lists from the current snapshot (with --descendants, its subtree).
    for (const auto& s : all) {
      if (s.current) from = s.name;
    }
    if (from.empty()) return Fail("domain '" + a.get("domain") + "' has no current snapshot");
  }
  if (!from.empty() && !Find(all, from)) {
    return Fail("domain '" + a.get("domain") + "' has no snapshot named '" + from + "'");
  }
  // Oldest first is also --topological's order: a parent is older than its children.
  std::vector<api::Snapshot> shown;
  for (const auto& s : all) {
    if (!from.empty()) {
      bool in = a.has("descendants") || a.has("tree") ? IsDescendant(all, s, from, false)
                                                      : IsDescendant(all, s, from, true);
      if (a.has("current") && !a.has("descendants") && !a.has("tree")) in = s.name == from;
      if (!in && !(a.has("tree") && s.name == from)) continue;
    }
    if (a.has("roots") && !s.parent.empty()) continue;
    if (a.has("leaves") && s.children > 0) continue;
    if (a.has("no-leaves") && s.children == 0) continue;
    if (a.has("external") && !a.has("internal") && s.location != "external") continue;
    if (a.has("internal") && !a.has("external") && s.location != "internal") continue;
    // Every snapshot Skiff lists has metadata; none is a disk-only one yet.
    if (a.has("no-metadata") && !a.has("metadata")) continue;
    if (a.has("disk-only") && s.state != "disk-snapshot") continue;
    if (a.has("inactive") && !a.has("active") && s.state != "shutoff") continue;
    if (a.has("active") && !a.has("inactive") && s.state == "shutoff") continue;
    shown.push_back(s);
  }
  if (a.has("json")) {
    PrintJson(nlohmann::json(shown));
    return 0;
  }
  if (a.has("tree")) {
    std::string indent;
    for (size_t i = 0; i < shown.size(); ++i) {
      bool root = shown[i].parent.empty() || !Find(shown, shown[i].parent);
      if (root) PrintTree(shown, i, -1, true, indent);
    }
    return 0;
  }
  if (a.has("name")) {
    for (const auto& s : shown) std::printf("%s\n", s.name.c_str());
    std::printf("\n");
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : shown) {
    std::vector<std::string> row = {s.name, CreationTime(s.creation_time), s.state};
    if (a.has("parent")) row.push_back(s.parent);
    rows.push_back(std::move(row));
  }
  std::vector<std::string> header = {"Name", "Creation Time", "State"};
  if (a.has("parent")) header.push_back("Parent");
  PrintTable(header, rows);
  return 0;
}

// snapshot-info and snapshot-parent: the snapshot PickSnapshot names, found in
// the domain's listing (in `all`, which must outlive the pointer); null after
// printing the error.
const api::Snapshot* PickListed(const Args& a, api::Client& c, std::vector<api::Snapshot>* all) {
  std::string name;
  if (!PickSnapshot(a, c, &name) || !ListSnapshots(c, a.get("domain"), all)) return nullptr;
  const api::Snapshot* s = Find(*all, name);
  if (!s) Fail("domain '" + a.get("domain") + "' has no snapshot named '" + name + "'");
  return s;
}

int CmdSnapshotInfo(const Args& a, api::Client& c) {
  std::vector<api::Snapshot> all;
  const api::Snapshot* s = PickListed(a, c, &all);
  if (!s) return 1;
  auto line = [](const char* k, const std::string& v) { std::printf("%-15s %s\n", k, v.c_str()); };
  line("Name:", s->name);
  line("Domain:", a.get("domain"));
  line("Current:", YesNo(s->current));
  line("State:", s->state);
  line("Location:", s->location);
  line("Parent:", s->parent.empty() ? "-" : s->parent);
  line("Children:", std::to_string(s->children));
  line("Descendants:", std::to_string(s->descendants));
  line("Metadata:", "yes");
  std::printf("\n");
  return 0;
}

int PrintSnapshotXml(const Args& a, api::Client& c, const std::string& name) {
  api::XmlReply r;
  std::string q = api::ToQuery(api::SnapshotXmlQuery{a.has("security-info")});
  if (!GetOrFail(c, routes::DomainSnapshot(a.get("domain"), name) + q, &r)) return 1;
  std::fputs(r.xml.c_str(), stdout);
  return 0;
}

int CmdSnapshotDumpXml(const Args& a, api::Client& c) {
  return PrintSnapshotXml(a, c, a.get("snapshotname"));
}

int CmdSnapshotCurrent(const Args& a, api::Client& c) {
  if (!a.get("snapshotname").empty()) {
    // virsh snapshot-current DOMAIN NAME makes NAME the current snapshot.
    api::XmlReply r;
    const std::string dom = a.get("domain"), name = a.get("snapshotname");
    if (!GetOrFail(c, routes::DomainSnapshot(dom, name) + "?security_info=true", &r)) return 1;
    api::SnapshotCreateRequest req;
    req.xml = r.xml;
    req.redefine = req.current = true;
    nlohmann::json ignored;
    if (!CallOrFail(c, "POST", routes::Domain(dom, "snapshots"), req, &ignored)) return 1;
    std::printf("Snapshot %s set as current\n", name.c_str());
    return 0;
  }
  std::vector<api::Snapshot> all;
  if (!ListSnapshots(c, a.get("domain"), &all)) return 1;
  for (const auto& s : all) {
    if (!s.current) continue;
    if (a.has("name")) {
      std::printf("%s\n", s.name.c_str());
      return 0;
    }
    return PrintSnapshotXml(a, c, s.name);
  }
  return Fail("domain '" + a.get("domain") + "' has no current snapshot");
}

int CmdSnapshotParent(const Args& a, api::Client& c) {
  std::vector<api::Snapshot> all;
  const api::Snapshot* s = PickListed(a, c, &all);
  if (!s) return 1;
  if (s->parent.empty()) return Fail("snapshot '" + s->name + "' has no parent");
  std::printf("%s\n", s->parent.c_str());
  return 0;
}

int CmdSnapshotEdit(const Args& a, api::Client& c) {
  std::string name;
  if (!PickSnapshot(a, c, &name)) return 1;
  const std::string dom = a.get("domain");
  nlohmann::json extra = {{"redefine", true}, {"current", a.has("current")}};
  return EditXml(c, "Snapshot", name, routes::DomainSnapshot(dom, name) + "?security_info=true",
                 routes::Domain(dom, "snapshots"), extra);
}

int CmdSnapshotRevert(const Args& a, api::Client& c) {
  std::string name;
  if (!PickSnapshot(a, c, &name)) return 1;
  api::SnapshotRevertRequest req;
  req.running = a.has("running");
  req.paused = a.has("paused");
  req.force = a.has("force");
  if (req.running && req.paused) return Fail("--running and --paused are mutually exclusive");
  nlohmann::json ignored;
  return CallOrFail(c, "POST", routes::DomainSnapshot(a.get("domain"), name, "revert"), req,
                    &ignored)
             ? 0
             : 1;
}

int CmdSnapshotDelete(const Args& a, api::Client& c) {
  std::string name;
  if (!PickSnapshot(a, c, &name)) return 1;
  api::SnapshotDeleteQuery q;
  q.children = a.has("children");
  q.children_only = a.has("children-only");
  q.metadata = a.has("metadata");
  if (q.children && q.children_only)
    return Fail("--children and --children-only exclude each other");
  api::SnapshotsDeleted r;
  if (!CallOrFail(c, "DELETE", routes::DomainSnapshot(a.get("domain"), name) + api::ToQuery(q),
                  nullptr, &r)) {
    return 1;
  }
  if (q.children_only) {
    std::printf("Domain snapshot %s children deleted\n", name.c_str());
  } else {
    std::printf("Domain snapshot %s deleted\n", name.c_str());
  }
  return 0;
}

const VerbDef kSnapshotVerbs[] = {
    {"snapshot-create",
     "create a snapshot from XML (internal: qcow2 disks, with memory when running)",
     {{"domain", "file"},
      1,
      {"redefine", "current", "no-metadata", "halt", "disk-only", "reuse-external", "quiesce",
       "atomic", "live", "validate"},
      {}},
     CmdSnapshotCreate},
    {"snapshot-create-as",
     "create a snapshot from a set of args",
     {{"domain", "name", "description"},
      1,
      {"print-xml", "no-metadata", "halt", "disk-only", "reuse-external", "quiesce", "atomic",
       "live"},
      {"memspec", "diskspec"}},
     CmdSnapshotCreateAs},
    {"snapshot-list",
     "list snapshots for a domain",
     {{"domain"},
      1,
      {"parent", "roots", "leaves", "no-leaves", "metadata", "no-metadata", "inactive", "active",
       "disk-only", "internal", "external", "tree", "name", "current", "descendants", "topological",
       "json"},
      {"from"}},
     CmdSnapshotList},
    {"snapshot-info",
     "snapshot information",
     {{"domain", "snapshotname"}, 1, {"current"}, {}},
     CmdSnapshotInfo},
    {"snapshot-dumpxml",
     "dump XML for a domain snapshot",
     {{"domain", "snapshotname"}, 2, {"security-info"}, {}},
     CmdSnapshotDumpXml},
    {"snapshot-edit",
     "edit XML for a snapshot (its description)",
     {{"domain", "snapshotname"}, 1, {"current"}, {}},
     CmdSnapshotEdit},
    {"snapshot-current",
     "get or set the current snapshot",
     {{"domain", "snapshotname"}, 1, {"name", "security-info"}, {}},
     CmdSnapshotCurrent},
    {"snapshot-parent",
     "get the name of the parent of a snapshot",
     {{"domain", "snapshotname"}, 1, {"current"}, {}},
     CmdSnapshotParent},
    {"snapshot-revert",
     "revert a domain to a snapshot",
     {{"domain", "snapshotname"}, 1, {"current", "running", "paused", "force"}, {}},
     CmdSnapshotRevert},
    {"snapshot-delete",
     "delete a domain snapshot",
     {{"domain", "snapshotname"}, 1, {"current", "children", "children-only", "metadata"}, {}},
     CmdSnapshotDelete},
};

}  // namespace

void AddSnapshotCommands(std::vector<Command>& out) { AddVerbs(out, kSnapshotVerbs); }

}  // namespace skiff::app
