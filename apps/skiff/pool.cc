// Storage pool verbs (pool-*): definitions through the daemon; the machinery is the storage
// module's.
#include <cstdio>

#include "daemon_cli.h"
#include "skiff/base/strings.h"

namespace skiff::app {
namespace {

namespace routes = api::routes;

// pool-define-as / pool-create-as: the XML of a pool from its arguments.
bool PoolXmlFromArgs(const Args& a, std::string* xml) {
  std::string type = a.get("type");
  if (type != "dir" && type != "fs") {
    Fail("pool type '" + type + "' is not supported (dir, fs)");
    return false;
  }
  if (a.get("target").empty()) {
    Fail("pool type '" + type + "' needs --target PATH");
    return false;
  }
  std::string source;
  if (type == "fs") {
    if (a.get("source-dev").empty()) {
      Fail("pool type 'fs' needs --source-dev DEVICE (a block device or image file)");
      return false;
    }
    source = fmt::format("  <source>\n    <device path='{}'/>\n", XmlEscape(a.get("source-dev")));
    if (a.values.count("source-format")) {
      source += fmt::format("    <format type='{}'/>\n", XmlEscape(a.get("source-format")));
    }
    source += "  </source>\n";
  } else if (a.values.count("source-dev") || a.values.count("source-format")) {
    Fail("pool type 'dir' takes no --source-dev or --source-format");
    return false;
  }
  *xml = fmt::format(
      "<pool type='{}'>\n  <name>{}</name>\n{}  <target>\n    <path>{}</path>\n"
      "  </target>\n</pool>\n",
      type, XmlEscape(a.get("name")), source, XmlEscape(a.get("target")));
  return true;
}

// pool-build's body: --overwrite / --no-overwrite (an fs pool's mkfs).
bool BuildBody(const Args& a, api::BuildPoolRequest* body) {
  *body = {a.has("overwrite"), a.has("no-overwrite")};
  Status st = body->Validate();
  if (!st.ok()) {
    Fail("--overwrite and --no-overwrite are mutually exclusive");
    return false;
  }
  return true;
}

// pool-start, pool-destroy, pool-delete, pool-refresh: one POST and a message.
int PoolAction(const Args& a, api::Client& c, const char* action, const char* done) {
  if (!CallOrFail(c, "POST", routes::Pool(a.get("pool"), action), api::Empty{}, nullptr)) return 1;
  std::printf("Pool %s %s\n\n", a.get("pool").c_str(), done);
  return 0;
}

int CmdPoolDelete(const Args& a, api::Client& c) { return PoolAction(a, c, "delete", "deleted"); }
int CmdPoolStart(const Args& a, api::Client& c) { return PoolAction(a, c, "start", "started"); }
int CmdPoolDestroy(const Args& a, api::Client& c) {
  return PoolAction(a, c, "destroy", "destroyed");
}
int CmdPoolRefresh(const Args& a, api::Client& c) {
  return PoolAction(a, c, "refresh", "refreshed");
}

int CmdPoolList(const Args& a, api::Client& c) {
  api::PoolList r;
  if (!GetOrFail(c, std::string(routes::kPools), &r)) return 1;
  std::vector<api::PoolSummary> shown;
  for (const auto& p : r.pools) {
    if (!ShownByActivity(a, p.active)) continue;
    if (a.values.count("type") && p.type != a.get("type")) continue;
    shown.push_back(p);
  }
  const bool details = a.has("details");
  std::vector<std::string> header = {"Name", "State", "Autostart"};
  if (details) header.insert(header.end(), {"Persistent", "Capacity", "Allocation", "Available"});
  PrintListing<api::PoolSummary>(a, shown, header, [&](const api::PoolSummary& p) {
    std::vector<std::string> row = {
        p.name, p.active ? (details ? "running" : "active") : "inactive", YesNo(p.autostart)};
    if (details) {
      row.push_back(YesNo(p.persistent));
      api::PoolInfo info;
      if (p.active && GetOrFail(c, routes::Pool(p.name, "info"), &info)) {
        for (uint64_t v : {info.capacity, info.allocation, info.available}) {
          row.push_back(VirshSize(v));
        }
      } else {
        row.insert(row.end(), {"-", "-", "-"});
      }
    }
    return row;
  });
  return 0;
}

int CmdPoolDefine(const Args& a, api::Client& c) {
  api::DefineRequest req;
  if (!ReadInputFile(a.get("file"), &req.xml)) return 1;
  req.source = a.get("file");
  api::PoolSummary r;
  if (!CallOrFail(c, "POST", std::string(routes::kPools), req, &r)) return 1;
  std::printf("Pool %s defined from %s\n\n", r.name.c_str(), a.get("file").c_str());
  return 0;
}

int CmdPoolUndefine(const Args& a, api::Client& c) {
  if (!CallOrFail(c, "DELETE", routes::Pool(a.get("pool")), nullptr, nullptr)) return 1;
  std::printf("Pool %s has been undefined\n\n", a.get("pool").c_str());
  return 0;
}

int CmdPoolDumpXml(const Args& a, api::Client& c) {
  api::XmlReply r;
  if (!GetOrFail(c, routes::Pool(a.get("pool"), "xml"), &r)) return 1;
  std::fputs(r.xml.c_str(), stdout);
  return 0;
}

int CmdPoolInfo(const Args& a, api::Client& c) {
  api::PoolInfo p;
  if (!GetOrFail(c, routes::Pool(a.get("pool"), "info"), &p)) return 1;
  if (a.has("json")) {
    PrintJson(p);
    return 0;
  }
  std::printf("%-15s %s\n", "Name:", p.name.c_str());
  std::printf("%-15s %s\n", "UUID:", p.uuid.c_str());
  std::printf("%-15s %s\n", "State:", p.active ? "running" : "inactive");
  std::printf("%-15s %s\n", "Persistent:", YesNo(p.persistent));
  std::printf("%-15s %s\n", "Autostart:", YesNo(p.autostart));
  if (p.active) {
    std::printf("%-15s %s\n", "Capacity:", VirshSize(p.capacity).c_str());
    std::printf("%-15s %s\n", "Allocation:", VirshSize(p.allocation).c_str());
    std::printf("%-15s %s\n", "Available:", VirshSize(p.available).c_str());
  }
  std::printf("\n");
  return 0;
}

int CmdPoolAutostart(const Args& a, api::Client& c) {
  api::AutostartRequest req{!a.has("disable")};
  if (!CallOrFail(c, "POST", routes::Pool(a.get("pool"), "autostart"), req, nullptr)) return 1;
  std::printf("Pool %s %s as autostarted\n\n", a.get("pool").c_str(),
              req.enabled ? "marked" : "unmarked");
  return 0;
}

// POSTs the XML of pool-define-as / pool-create-as (`verb` names it in errors).
bool DefineXml(api::Client& c, const std::string& xml, const char* verb) {
  api::DefineRequest req;
  req.xml = xml;
  req.source = verb;
  return CallOrFail(c, "POST", std::string(routes::kPools), req, nullptr);
}

int CmdPoolDefineAs(const Args& a, api::Client& c) {
  std::string xml;
  if (!PoolXmlFromArgs(a, &xml) || !DefineXml(c, xml, "pool-define-as")) return 1;
  std::printf("Pool %s defined\n\n", a.get("name").c_str());
  return 0;
}

int CmdPoolCreateAs(const Args& a, api::Client& c) {
  std::string xml;
  if (!PoolXmlFromArgs(a, &xml)) return 1;
  api::BuildPoolRequest build;
  if (!BuildBody(a, &build)) return 1;
  // libvirt's transient pool: here a definition that is started at once.
  if (!DefineXml(c, xml, "pool-create-as")) return 1;
  bool want_build = a.has("build") || a.has("overwrite") || a.has("no-overwrite");
  if (want_build && !CallOrFail(c, "POST", routes::Pool(a.get("name"), "build"), build, nullptr)) {
    return 1;
  }
  if (!CallOrFail(c, "POST", routes::Pool(a.get("name"), "start"), api::Empty{}, nullptr)) {
    return 1;
  }
  std::printf("Pool %s created\n\n", a.get("name").c_str());
  return 0;
}

int CmdPoolBuild(const Args& a, api::Client& c) {
  api::BuildPoolRequest body;
  if (!BuildBody(a, &body)) return 1;
  if (!CallOrFail(c, "POST", routes::Pool(a.get("pool"), "build"), body, nullptr)) return 1;
  std::printf("Pool %s built\n\n", a.get("pool").c_str());
  return 0;
}

int CmdPoolEdit(const Args& a, api::Client& c) {
  return EditXml(c, "Pool", a.get("pool"), routes::Pool(a.get("pool"), "xml"),
                 std::string(routes::kPools));
}

const ArgSpec kPool{{"pool"}, 1, {}, {}};
const std::set<std::string> kPoolSourceOptions = {"target", "source-dev", "source-format"};

const VerbDef kPoolVerbs[] = {
    {"pool-list",
     "list pools",
     {{}, 0, {"all", "inactive", "details", "name", "uuid", "json"}, {"type"}},
     CmdPoolList},
    {"pool-define",
     "define an inactive persistent storage pool from an XML file",
     {{"file"}, 1, {"validate"}, {}},
     CmdPoolDefine},
    {"pool-undefine", "undefine an inactive pool", kPool, CmdPoolUndefine},
    {"pool-dumpxml", "pool information in XML", {{"pool"}, 1, {"inactive"}, {}}, CmdPoolDumpXml},
    {"pool-info", "storage pool information", {{"pool"}, 1, {"json"}, {}}, CmdPoolInfo},
    {"pool-autostart", "autostart a pool", {{"pool"}, 1, {"disable"}, {}}, CmdPoolAutostart},
    {"pool-define-as",
     "define a pool from a set of args",
     {{"name", "type"}, 2, {}, kPoolSourceOptions},
     CmdPoolDefineAs},
    {"pool-create-as",
     "create a pool from a set of args",
     {{"name", "type"}, 2, {"build", "overwrite", "no-overwrite"}, kPoolSourceOptions},
     CmdPoolCreateAs},
    {"pool-delete", "delete a pool's (empty) directory", kPool, CmdPoolDelete},
    {"pool-start", "start a (previously defined) inactive pool", kPool, CmdPoolStart},
    {"pool-destroy", "destroy (stop) a pool", kPool, CmdPoolDestroy},
    {"pool-build",
     "build a pool (an fs pool: mkfs on its device)",
     {{"pool"}, 1, {"overwrite", "no-overwrite"}, {}},
     CmdPoolBuild},
    {"pool-edit", "edit XML configuration for a storage pool", kPool, CmdPoolEdit},
    {"pool-refresh", "refresh a pool", kPool, CmdPoolRefresh},
};

}  // namespace

void AddPoolCommands(std::vector<Command>& out) { AddVerbs(out, kPoolVerbs); }

}  // namespace skiff::app
