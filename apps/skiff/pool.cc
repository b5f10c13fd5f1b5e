// Storage pool verbs (pool-*): definitions through the daemon; the machinery is the storage module's.
#include <cstdio>

#include "daemon_cli.h"

namespace skiff::app {
namespace {

using json = nlohmann::json;

Command PoolVerb(std::string name, std::string help, ArgSpec spec,
                 std::function<int(const Args&, api::Client&)> fn) {
  return {name, help, [=](const GlobalOptions& g, const std::vector<std::string>& args) {
            Args a;
            if (!ParseArgs(name, spec, args, &a)) return 1;
            auto c = ConnectOrFail(g);
            if (!c) return 1;
            return fn(a, *c);
          }};
}

std::string PoolPath(const std::string& n, const std::string& suffix = "") {
  return "/v1/pools/" + api::UrlEncode(n) + suffix;
}

// pool-start, pool-destroy, pool-build, pool-refresh: one POST and a message.
Command PoolAction(const std::string& verb, const std::string& action, const std::string& help,
                   const std::string& done) {
  return PoolVerb(verb, help, {{"pool"}, 1, {}, {}}, [=](const Args& a, api::Client& c) {
    if (!CallOrFail(c, "POST", PoolPath(a.get("pool"), "/" + action), json::object(), nullptr)) {
      return 1;
    }
    std::printf("Pool %s %s\n\n", a.get("pool").c_str(), done.c_str());
    return 0;
  });
}

}  // namespace

void AddPoolCommands(std::vector<Command>& out) {
  out.push_back(PoolVerb("pool-list", "list pools",
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
      rows.push_back({p.value("name", ""), p.value("active", false) ? "active" : "inactive",
                      p.value("autostart", false) ? "yes" : "no"});
    }
    PrintTable({"Name", "State", "Autostart"}, rows);
    return 0;
  }));
  out.push_back(PoolVerb("pool-define", "define an inactive persistent storage pool from an XML file",
                         {{"file"}, 1, {"validate"}, {}}, [](const Args& a, api::Client& c) {
    std::string xml;
    if (!ReadInputFile(a.get("file"), &xml)) return 1;
    json r;
    if (!CallOrFail(c, "POST", "/v1/pools", {{"xml", xml}, {"source", a.get("file")}}, &r)) return 1;
    std::printf("Pool %s defined from %s\n\n", r.value("name", "").c_str(), a.get("file").c_str());
    return 0;
  }));
  out.push_back(PoolVerb("pool-undefine", "undefine an inactive pool", {{"pool"}, 1, {}, {}},
                         [](const Args& a, api::Client& c) {
    if (!CallOrFail(c, "DELETE", PoolPath(a.get("pool")), nullptr, nullptr)) return 1;
    std::printf("Pool %s has been undefined\n\n", a.get("pool").c_str());
    return 0;
  }));
  out.push_back(PoolVerb("pool-dumpxml", "pool information in XML", {{"pool"}, 1, {"inactive"}, {}},
                         [](const Args& a, api::Client& c) {
    json r;
    if (!CallOrFail(c, "GET", PoolPath(a.get("pool"), "/xml"), nullptr, &r)) return 1;
    std::fputs(r.value("xml", "").c_str(), stdout);
    return 0;
  }));
  out.push_back(PoolVerb("pool-info", "storage pool information", {{"pool"}, 1, {"json"}, {}},
                         [](const Args& a, api::Client& c) {
    json p;
    if (!CallOrFail(c, "GET", PoolPath(a.get("pool")), nullptr, &p)) return 1;
    if (a.has("json")) {
      std::printf("%s\n", p.dump(2).c_str());
      return 0;
    }
    std::printf("%-15s %s\n", "Name:", p.value("name", "").c_str());
    std::printf("%-15s %s\n", "UUID:", p.value("uuid", "").c_str());
    std::printf("%-15s %s\n", "State:", p.value("active", false) ? "running" : "inactive");
    std::printf("%-15s %s\n", "Persistent:", p.value("persistent", true) ? "yes" : "no");
    std::printf("%-15s %s\n\n", "Autostart:", p.value("autostart", false) ? "yes" : "no");
    return 0;
  }));
  out.push_back(PoolVerb("pool-autostart", "autostart a pool", {{"pool"}, 1, {"disable"}, {}},
                         [](const Args& a, api::Client& c) {
    bool en = !a.has("disable");
    if (!CallOrFail(c, "POST", PoolPath(a.get("pool"), "/autostart"), {{"enabled", en}}, nullptr)) {
      return 1;
    }
    std::printf("Pool %s %s as autostarted\n\n", a.get("pool").c_str(), en ? "marked" : "unmarked");
    return 0;
  }));
  out.push_back(PoolAction("pool-start", "start", "start a (previously defined) inactive pool", "started"));
  out.push_back(PoolAction("pool-destroy", "destroy", "destroy (stop) a pool", "destroyed"));
  out.push_back(PoolAction("pool-build", "build", "build a pool", "built"));
  out.push_back(PoolAction("pool-refresh", "refresh", "refresh a pool", "refreshed"));
}

}  // namespace skiff::app
