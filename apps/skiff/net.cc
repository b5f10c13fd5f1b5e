// Network verbs (net-*) and their virsh layouts; the daemon runs the networks.
#include <cstdio>
#include <ctime>

#include "daemon_cli.h"

namespace skiff::app {
namespace {

using json = nlohmann::json;

std::string NetPath(const std::string& n, const std::string& suffix = "") {
  return "/v1/networks/" + api::UrlEncode(n) + suffix;
}

}  // namespace

void AddNetCommands(std::vector<Command>& out) {
  out.push_back(DaemonVerb("net-list", "list networks",
                        {{}, 0, {"all", "inactive", "name", "uuid", "json", "persistent",
                                 "transient", "autostart", "no-autostart"}, {}},
                        [](const Args& a, api::Client& c) {
    json r;
    if (!CallOrFail(c, "GET", "/v1/networks", nullptr, &r)) return 1;
    std::vector<json> shown;
    for (const auto& n : r["networks"]) {
      bool active = n.value("active", false);
      if (a.has("inactive") ? active : (!a.has("all") && !active)) continue;
      shown.push_back(n);
    }
    if (a.has("json")) {
      std::printf("%s\n", json(shown).dump(2).c_str());
      return 0;
    }
    if (a.has("name") || a.has("uuid")) {
      for (const auto& n : shown) std::printf("%s\n", n.value(a.has("uuid") ? "uuid" : "name", "").c_str());
      std::printf("\n");
      return 0;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& n : shown) {
      rows.push_back({n.value("name", ""), n.value("active", false) ? "active" : "inactive",
                      n.value("autostart", false) ? "yes" : "no",
                      n.value("persistent", true) ? "yes" : "no"});
    }
    PrintTable({"Name", "State", "Autostart", "Persistent"}, rows);
    return 0;
  }));
  for (bool create : {false, true}) {
    out.push_back(DaemonVerb(create ? "net-create" : "net-define",
                          create ? "create a network from an XML file"
                                 : "define an inactive persistent virtual network from an XML file",
                          {{"file"}, 1, {"validate"}, {}}, [create](const Args& a, api::Client& c) {
      std::string xml;
      if (!ReadInputFile(a.get("file"), &xml)) return 1;
      json body = {{"xml", xml}, {"source", a.get("file")}};
      if (create) body["persistent"] = false;
      json r;
      if (!CallOrFail(c, "POST", "/v1/networks", body, &r)) return 1;
      std::printf("Network %s %s from %s\n\n", r.value("name", "").c_str(),
                  create ? "created" : "defined", a.get("file").c_str());
      return 0;
    }));
  }
  out.push_back(DaemonVerb("net-undefine", "undefine a persistent network", {{"network"}, 1, {}, {}},
                        [](const Args& a, api::Client& c) {
    if (!CallOrFail(c, "DELETE", NetPath(a.get("network")), nullptr, nullptr)) return 1;
    std::printf("Network %s has been undefined\n\n", a.get("network").c_str());
    return 0;
  }));
  out.push_back(DaemonVerb("net-dumpxml", "network information in XML",
                        {{"network"}, 1, {"inactive"}, {}}, [](const Args& a, api::Client& c) {
    json r;
    std::string q = a.has("inactive") ? "?inactive=true" : "";
    if (!CallOrFail(c, "GET", NetPath(a.get("network"), "/xml" + q), nullptr, &r)) return 1;
    std::fputs(r.value("xml", "").c_str(), stdout);
    return 0;
  }));
  out.push_back(DaemonVerb("net-info", "network information", {{"network"}, 1, {"json"}, {}},
                        [](const Args& a, api::Client& c) {
    json n;
    if (!CallOrFail(c, "GET", NetPath(a.get("network")), nullptr, &n)) return 1;
    if (a.has("json")) {
      std::printf("%s\n", n.dump(2).c_str());
      return 0;
    }
    std::printf("%-15s %s\n", "Name:", n.value("name", "").c_str());
    std::printf("%-15s %s\n", "UUID:", n.value("uuid", "").c_str());
    std::printf("%-15s %s\n", "Active:", n.value("active", false) ? "yes" : "no");
    std::printf("%-15s %s\n", "Persistent:", n.value("persistent", true) ? "yes" : "no");
    std::printf("%-15s %s\n", "Autostart:", n.value("autostart", false) ? "yes" : "no");
    std::printf("%-15s %s\n\n", "Bridge:", n.value("bridge", "").c_str());
    return 0;
  }));
  out.push_back(DaemonVerb("net-autostart", "autostart a network", {{"network"}, 1, {"disable"}, {}},
                        [](const Args& a, api::Client& c) {
    bool en = !a.has("disable");
    if (!CallOrFail(c, "POST", NetPath(a.get("network"), "/autostart"), {{"enabled", en}}, nullptr)) {
      return 1;
    }
    std::printf("Network %s %s as autostarted\n\n", a.get("network").c_str(),
                en ? "marked" : "unmarked");
    return 0;
  }));
  out.push_back(DaemonVerb("net-start", "start a (previously defined) inactive network",
                        {{"network"}, 1, {}, {}}, [](const Args& a, api::Client& c) {
    if (!CallOrFail(c, "POST", NetPath(a.get("network"), "/start"), json::object(), nullptr)) return 1;
    std::printf("Network %s started\n\n", a.get("network").c_str());
    return 0;
  }));
  out.push_back(DaemonVerb("net-destroy", "destroy (stop) a network", {{"network"}, 1, {}, {}},
                        [](const Args& a, api::Client& c) {
    if (!CallOrFail(c, "POST", NetPath(a.get("network"), "/destroy"), json::object(), nullptr)) {
      return 1;
    }
    std::printf("Network %s destroyed\n\n", a.get("network").c_str());
    return 0;
  }));

  out.push_back(DaemonVerb("net-edit", "edit XML configuration for a network", {{"network"}, 1, {}, {}},
                        [](const Args& a, api::Client& c) {
    return EditXml(c, "Network", a.get("network"), NetPath(a.get("network"), "/xml?inactive=true"),
                   "/v1/networks");
  }));
  out.push_back(DaemonVerb("net-dhcp-leases", "print lease info for a given network",
                        {{"network"}, 1, {"json"}, {"mac"}}, [](const Args& a, api::Client& c) {
    std::string q = a.get("mac").empty() ? "" : "?mac=" + api::UrlEncode(a.get("mac"));
    json r;
    if (!CallOrFail(c, "GET", NetPath(a.get("network"), "/leases" + q), nullptr, &r)) return 1;
    if (a.has("json")) {
      std::printf("%s\n", r["leases"].dump(2).c_str());
      return 0;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& l : r["leases"]) {
      std::string expiry = "-";
      if (int64_t t = l.value("expiry", int64_t{0}); t > 0) {
        std::time_t tt = static_cast<std::time_t>(t);
        char buf[32];
        std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", std::localtime(&tt));
        expiry = buf;
      }
      auto dash = [](const std::string& s) { return s.empty() ? std::string("-") : s; };
      rows.push_back({expiry, l.value("mac", ""), l.value("type", "ipv4"),
                      l.value("ip", "") + "/" + std::to_string(l.value("prefix", 24)),
                      dash(l.value("hostname", "")), dash(l.value("client_id", ""))});
    }
    PrintTable({"Expiry Time", "MAC address", "Protocol", "IP address", "Hostname",
                "Client ID or DUID"}, rows);
    return 0;
  }));
  out.push_back(DaemonVerb("net-diagram", "draw a network: guests, taps, bridge, firewall, uplink",
                        {{"network"}, 1, {"svg"}, {}}, [](const Args& a, api::Client& c) {
    json r;
    std::string q = a.has("svg") ? "?format=svg" : "";
    if (!CallOrFail(c, "GET", NetPath(a.get("network"), "/diagram" + q), nullptr, &r)) return 1;
    std::fputs(r.value("diagram", "").c_str(), stdout);
    return 0;
  }));
}

}  // namespace skiff::app
