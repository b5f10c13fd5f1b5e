// Network verbs (net-*) and their virsh layouts; the daemon runs the networks.
#include <cstdio>
#include <ctime>

#include "daemon_cli.h"

namespace skiff::app {
namespace {

namespace routes = api::routes;

int CmdNetList(const Args& a, api::Client& c) {
  api::NetworkList r;
  if (!GetOrFail(c, std::string(routes::kNetworks), &r)) return 1;
  std::vector<api::NetworkSummary> shown;
  for (const auto& n : r.networks) {
    if (ShownByActivity(a, n.active)) shown.push_back(n);
  }
  PrintListing<api::NetworkSummary>(
      a, shown, {"Name", "State", "Autostart", "Persistent"}, [](const api::NetworkSummary& n) {
        return std::vector<std::string>{n.name, n.active ? "active" : "inactive",
                                        YesNo(n.autostart), YesNo(n.persistent)};
      });
  return 0;
}

int DefineOrCreate(const Args& a, api::Client& c, bool create) {
  api::DefineRequest req;
  if (!ReadInputFile(a.get("file"), &req.xml)) return 1;
  req.source = a.get("file");
  req.persistent = !create;
  api::NetworkSummary r;
  if (!CallOrFail(c, "POST", std::string(routes::kNetworks), req, &r)) return 1;
  std::printf("Network %s %s from %s\n\n", r.name.c_str(), create ? "created" : "defined",
              a.get("file").c_str());
  return 0;
}

int CmdNetDefine(const Args& a, api::Client& c) { return DefineOrCreate(a, c, false); }
int CmdNetCreate(const Args& a, api::Client& c) { return DefineOrCreate(a, c, true); }

int CmdNetUndefine(const Args& a, api::Client& c) {
  if (!CallOrFail(c, "DELETE", routes::Network(a.get("network")), nullptr, nullptr)) return 1;
  std::printf("Network %s has been undefined\n\n", a.get("network").c_str());
  return 0;
}

int CmdNetDumpXml(const Args& a, api::Client& c) {
  api::XmlReply r;
  std::string q = api::ToQuery(api::XmlQuery{a.has("inactive")});
  if (!GetOrFail(c, routes::Network(a.get("network"), "xml") + q, &r)) return 1;
  std::fputs(r.xml.c_str(), stdout);
  return 0;
}

int CmdNetInfo(const Args& a, api::Client& c) {
  api::NetworkInfo n;
  if (!GetOrFail(c, routes::Network(a.get("network")), &n)) return 1;
  if (a.has("json")) {
    PrintJson(n);
    return 0;
  }
  std::printf("%-15s %s\n", "Name:", n.name.c_str());
  std::printf("%-15s %s\n", "UUID:", n.uuid.c_str());
  std::printf("%-15s %s\n", "Active:", YesNo(n.active));
  std::printf("%-15s %s\n", "Persistent:", YesNo(n.persistent));
  std::printf("%-15s %s\n", "Autostart:", YesNo(n.autostart));
  std::printf("%-15s %s\n\n", "Bridge:", n.bridge.c_str());
  return 0;
}

int CmdNetAutostart(const Args& a, api::Client& c) {
  api::AutostartRequest req{!a.has("disable")};
  if (!CallOrFail(c, "POST", routes::Network(a.get("network"), "autostart"), req, nullptr)) {
    return 1;
  }
  std::printf("Network %s %s as autostarted\n\n", a.get("network").c_str(),
              req.enabled ? "marked" : "unmarked");
  return 0;
}

int CmdNetStart(const Args& a, api::Client& c) {
  if (!CallOrFail(c, "POST", routes::Network(a.get("network"), "start"), api::Empty{}, nullptr)) {
    return 1;
  }
  std::printf("Network %s started\n\n", a.get("network").c_str());
  return 0;
}

int CmdNetDestroy(const Args& a, api::Client& c) {
  if (!CallOrFail(c, "POST", routes::Network(a.get("network"), "destroy"), api::Empty{}, nullptr)) {
    return 1;
  }
  std::printf("Network %s destroyed\n\n", a.get("network").c_str());
  return 0;
}

int CmdNetEdit(const Args& a, api::Client& c) {
  return EditXml(c, "Network", a.get("network"),
                 routes::Network(a.get("network"), "xml") + api::ToQuery(api::XmlQuery{true}),
                 std::string(routes::kNetworks));
}

std::string LeaseExpiry(int64_t t) {
  if (t <= 0) return "-";
  std::time_t tt = static_cast<std::time_t>(t);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", std::localtime(&tt));
  return buf;
}

int CmdNetDhcpLeases(const Args& a, api::Client& c) {
  api::LeaseList r;
  std::string q = api::ToQuery(api::LeasesQuery{a.get("mac")});
  if (!GetOrFail(c, routes::Network(a.get("network"), "leases") + q, &r)) return 1;
  PrintListing<api::Lease>(
      a, r.leases,
      {"Expiry Time", "MAC address", "Protocol", "IP address", "Hostname", "Client ID or DUID"},
      [](const api::Lease& l) {
        auto dash = [](const std::string& s) { return s.empty() ? "-" : s; };
        return std::vector<std::string>{LeaseExpiry(l.expiry),
                                        l.mac,
                                        l.type,
                                        l.ip + "/" + std::to_string(l.prefix),
                                        dash(l.hostname),
                                        dash(l.client_id)};
      });
  return 0;
}

int CmdNetDiagram(const Args& a, api::Client& c) {
  api::Diagram r;
  std::string q = api::ToQuery(api::DiagramQuery{a.has("svg") ? "svg" : ""});
  if (!GetOrFail(c, routes::Network(a.get("network"), "diagram") + q, &r)) return 1;
  std::fputs(r.diagram.c_str(), stdout);
  return 0;
}

const ArgSpec kNetwork{{"network"}, 1, {}, {}};

const VerbDef kNetVerbs[] = {
    {"net-list",
     "list networks",
     {{},
      0,
      {"all", "inactive", "name", "uuid", "json", "persistent", "transient", "autostart",
       "no-autostart"},
      {}},
     CmdNetList},
    {"net-define",
     "define an inactive persistent virtual network from an XML file",
     {{"file"}, 1, {"validate"}, {}},
     CmdNetDefine},
    {"net-create",
     "create a network from an XML file",
     {{"file"}, 1, {"validate"}, {}},
     CmdNetCreate},
    {"net-undefine", "undefine a persistent network", kNetwork, CmdNetUndefine},
    {"net-dumpxml",
     "network information in XML",
     {{"network"}, 1, {"inactive"}, {}},
     CmdNetDumpXml},
    {"net-info", "network information", {{"network"}, 1, {"json"}, {}}, CmdNetInfo},
    {"net-autostart", "autostart a network", {{"network"}, 1, {"disable"}, {}}, CmdNetAutostart},
    {"net-start", "start a (previously defined) inactive network", kNetwork, CmdNetStart},
    {"net-destroy", "destroy (stop) a network", kNetwork, CmdNetDestroy},
    {"net-edit", "edit XML configuration for a network", kNetwork, CmdNetEdit},
    {"net-dhcp-leases",
     "print lease info for a given network",
     {{"network"}, 1, {"json"}, {"mac"}},
     CmdNetDhcpLeases},
    {"net-diagram",
     "draw a network: guests, taps, bridge, firewall, uplink",
     {{"network"}, 1, {"svg"}, {}},
     CmdNetDiagram},
};

}  // namespace

void AddNetCommands(std::vector<Command>& out) { AddVerbs(out, kNetVerbs); }

}  // namespace skiff::app
