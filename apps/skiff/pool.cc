// Storage pool verbs (pool-*): definitions through the daemon; the machinery is the storage module's.
#include <cstdio>

#include "daemon_cli.h"
#include "skiff/base/strings.h"

namespace skiff::app {
namespace {

using json = nlohmann::json;

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
  *xml = fmt::format("<pool type='{}'>\n  <name>{}</name>\n{}  <target>\n    <path>{}</path>\n"
                     "  </target>\n</pool>\n",
                     type, XmlEscape(a.get("name")), source, XmlEscape(a.get("target")));
  return true;
}

// pool-build's body: --overwrite / --no-overwrite (an fs pool's mkfs).
bool BuildBody(const Args& a, json* body) {
  if (a.has("overwrite") && a.has("no-overwrite")) {
    Fail("--overwrite and --no-overwrite are mutually exclusive");
    return false;
  }
  *body = {{"overwrite", a.has("overwrite")}, {"no_overwrite", a.has("no-overwrite")}};
  return true;
}

std::string PoolPath(const std::string& n, const std::string& suffix = "") {
  return "/v1/pools/" + api::UrlEncode(n) + suffix;
}

// pool-start, pool-destroy, pool-build, pool-refresh: one POST and a message.
Command PoolAction(const std::string& verb, const std::string& action, const std::string& help,
                   const std::string& done) {
  return DaemonVerb(verb, help, {{"pool"}, 1, {}, {}}, [=](const Args& a, api::Client& c) {
    if (!CallOrFail(c, "POST", PoolPath(a.get("pool"), "/" + action), json::object(), nullptr)) {
      return 1;
    }
    std::printf("Pool %s %s\n\n", a.get("pool").c_str(), done.c_str());
    return 0;
  });
}

}  // namespace

void AddPoolCommands(std::vector<Command>& out) {
  out.push_back(DaemonVerb("pool-list", "list pools",
                         {{}, 0, {"all", "inactive", "details", "name", "uuid", "json"}, {"type"}},
                         [](const Args& a, api::Client& c) {
    json r;
    if (!CallOrFail(c, "GET", "/v1/pools", nullptr, &r)) return 1;
    std::vector<json> shown;
    for (const auto& p : r["pools"]) {
      bool active = p.value("active", false);
      if (a.has("inactive") ? active : (!a.has("all") && !active)) continue;
      if (a.values.count("type") && p.value("type", "") != a.get("type")) continue;
      shown.push_back(p);
    }
    if (a.has("json")) {
      std::printf("%s\n", json(shown).dump(2).c_str());
      return 0;
    }
    if (a.has("name") || a.has("uuid")) {
      for (const auto& p : shown) std::printf("%s\n", p.value(a.has("uuid") ? "uuid" : "name", "").c_str());
      std::printf("\n");
      return 0;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& p : shown) {
      std::vector<std::string> row = {p.value("name", ""),
                                      p.value("active", false) ? (a.has("details") ? "running" : "active") : "inactive",
                                      p.value("autostart", false) ? "yes" : "no"};
      if (a.has("details")) {
        row.push_back(p.value("persistent", true) ? "yes" : "no");
        json info;
        bool active = p.value("active", false);
        if (active && CallOrFail(c, "GET", PoolPath(p.value("name", ""), "/info"), nullptr, &info)) {
          for (const char* k : {"capacity", "allocation", "available"}) {
            row.push_back(VirshSize(info.value(k, uint64_t{0})));
          }
        } else {
          row.insert(row.end(), {"-", "-", "-"});
        }
      }
      rows.push_back(row);
    }
    if (a.has("details")) {
      PrintTable({"Name", "State", "Autostart", "Persistent", "Capacity", "Allocation", "Available"}, rows);
    } else {
      PrintTable({"Name", "State", "Autostart"}, rows);
    }
    return 0;
  }));
  out.push_back(DaemonVerb("pool-define", "define an inactive persistent storage pool from an XML file",
                         {{"file"}, 1, {"validate"}, {}}, [](const Args& a, api::Client& c) {
    std::string xml;
    if (!ReadInputFile(a.get("file"), &xml)) return 1;
    json r;
    if (!CallOrFail(c, "POST", "/v1/pools", {{"xml", xml}, {"source", a.get("file")}}, &r)) return 1;
    std::printf("Pool %s defined from %s\n\n", r.value("name", "").c_str(), a.get("file").c_str());
    return 0;
  }));
  out.push_back(DaemonVerb("pool-undefine", "undefine an inactive pool", {{"pool"}, 1, {}, {}},
                         [](const Args& a, api::Client& c) {
    if (!CallOrFail(c, "DELETE", PoolPath(a.get("pool")), nullptr, nullptr)) return 1;
    std::printf("Pool %s has been undefined\n\n", a.get("pool").c_str());
    return 0;
  }));
  out.push_back(DaemonVerb("pool-dumpxml", "pool information in XML", {{"pool"}, 1, {"inactive"}, {}},
                         [](const Args& a, api::Client& c) {
    json r;
    if (!CallOrFail(c, "GET", PoolPath(a.get("pool"), "/xml"), nullptr, &r)) return 1;
    std::fputs(r.value("xml", "").c_str(), stdout);
    return 0;
  }));
  out.push_back(DaemonVerb("pool-info", "storage pool information", {{"pool"}, 1, {"json"}, {}},
                         [](const Args& a, api::Client& c) {
    json p;
    if (!CallOrFail(c, "GET", PoolPath(a.get("pool"), "/info"), nullptr, &p)) return 1;
    if (a.has("json")) {
      std::printf("%s\n", p.dump(2).c_str());
      return 0;
    }
    std::printf("%-15s %s\n", "Name:", p.value("name", "").c_str());
    std::printf("%-15s %s\n", "UUID:", p.value("uuid", "").c_str());
    std::printf("%-15s %s\n", "State:", p.value("active", false) ? "running" : "inactive");
    std::printf("%-15s %s\n", "Persistent:", p.value("persistent", true) ? "yes" : "no");
    std::printf("%-15s %s\n", "Autostart:", p.value("autostart", false) ? "yes" : "no");
    if (p.value("active", false)) {
      std::printf("%-15s %s\n", "Capacity:", VirshSize(p.value("capacity", uint64_t{0})).c_str());
      std::printf("%-15s %s\n", "Allocation:", VirshSize(p.value("allocation", uint64_t{0})).c_str());
      std::printf("%-15s %s\n", "Available:", VirshSize(p.value("available", uint64_t{0})).c_str());
    }
    std::printf("\n");
    return 0;
  }));
  out.push_back(DaemonVerb("pool-autostart", "autostart a pool", {{"pool"}, 1, {"disable"}, {}},
                         [](const Args& a, api::Client& c) {
    bool en = !a.has("disable");
    if (!CallOrFail(c, "POST", PoolPath(a.get("pool"), "/autostart"), {{"enabled", en}}, nullptr)) {
      return 1;
    }
    std::printf("Pool %s %s as autostarted\n\n", a.get("pool").c_str(), en ? "marked" : "unmarked");
    return 0;
  }));
  out.push_back(DaemonVerb("pool-define-as", "define a pool from a set of args",
                         {{"name", "type"}, 2, {}, {"target", "source-dev", "source-format"}},
                         [](const Args& a, api::Client& c) {
    std::string xml;
    if (!PoolXmlFromArgs(a, &xml)) return 1;
    if (!CallOrFail(c, "POST", "/v1/pools", {{"xml", xml}, {"source", "pool-define-as"}}, nullptr)) return 1;
    std::printf("Pool %s defined\n\n", a.get("name").c_str());
    return 0;
  }));
  out.push_back(DaemonVerb("pool-create-as", "create a pool from a set of args",
                         {{"name", "type"}, 2, {"build", "overwrite", "no-overwrite"},
                          {"target", "source-dev", "source-format"}},
                         [](const Args& a, api::Client& c) {
    std::string xml;
    if (!PoolXmlFromArgs(a, &xml)) return 1;
    json build;
    if (!BuildBody(a, &build)) return 1;
    // libvirt's transient pool: here a definition that is started at once.
    if (!CallOrFail(c, "POST", "/v1/pools", {{"xml", xml}, {"source", "pool-create-as"}}, nullptr)) return 1;
    bool want_build = a.has("build") || a.has("overwrite") || a.has("no-overwrite");
    if (want_build && !CallOrFail(c, "POST", PoolPath(a.get("name"), "/build"), build, nullptr)) {
      return 1;
    }
    if (!CallOrFail(c, "POST", PoolPath(a.get("name"), "/start"), json::object(), nullptr)) return 1;
    std::printf("Pool %s created\n\n", a.get("name").c_str());
    return 0;
  }));
  out.push_back(PoolAction("pool-delete", "delete", "delete a pool's (empty) directory", "deleted"));
  out.push_back(PoolAction("pool-start", "start", "start a (previously defined) inactive pool", "started"));
  out.push_back(PoolAction("pool-destroy", "destroy", "destroy (stop) a pool", "destroyed"));
  out.push_back(DaemonVerb("pool-build", "build a pool (an fs pool: mkfs on its device)",
                         {{"pool"}, 1, {"overwrite", "no-overwrite"}, {}},
                         [](const Args& a, api::Client& c) {
    json body;
    if (!BuildBody(a, &body)) return 1;
    if (!CallOrFail(c, "POST", PoolPath(a.get("pool"), "/build"), body, nullptr)) return 1;
    std::printf("Pool %s built\n\n", a.get("pool").c_str());
    return 0;
  }));
  out.push_back(DaemonVerb("pool-edit", "edit XML configuration for a storage pool",
                         {{"pool"}, 1, {}, {}}, [](const Args& a, api::Client& c) {
    return EditXml(c, "Pool", a.get("pool"), PoolPath(a.get("pool"), "/xml"), "/v1/pools");
  }));
  out.push_back(PoolAction("pool-refresh", "refresh", "refresh a pool", "refreshed"));
}

}  // namespace skiff::app
