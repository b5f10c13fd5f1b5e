// REST handlers for /v1/networks: definitions, life cycle, DHCP leases, diagrams.
#include "daemon/network/driver.h"
#include "daemon/rest/definitions.h"
#include "skiff/daemon/rest.h"

namespace skiff::daemon {
namespace {

void FillSummary(const NetworkSummary& n, api::NetworkSummary& out) {
  out.name = n.name;
  out.uuid = n.uuid.ToString();
  out.active = n.active;
  out.autostart = n.autostart;
  out.persistent = n.persistent;
  out.bridge = n.bridge;
}

nlohmann::json NetJson(const NetworkSummary& n) {
  api::NetworkSummary out;
  FillSummary(n, out);
  return out;
}

Response GetNetwork(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto d, s.networks().Get(p.at("name")));
  api::NetworkInfo out;
  FillSummary(d.summary, out);
  out.mode = d.mode;
  out.ipv4 = d.ipv4;
  if (d.dnsmasq) out.dnsmasq_pid = *d.dnsmasq;
  return JsonResponse(out);
}

Response StartNetwork(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  TRY_RESPONSE(ParseRequestBody<api::Empty>(r));
  ASSIGN_OR_RESPONSE(auto n, s.networks().Start(p.at("name")));
  return JsonResponse(NetJson(n));
}

Response DestroyNetwork(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  TRY_RESPONSE(ParseRequestBody<api::Empty>(r));
  TRY_RESPONSE(s.networks().Destroy(p.at("name")));
  return EmptyResponse();
}

Response NetworkLeases(Service& s, const Request& r, const Params& p) {
  ASSIGN_OR_RESPONSE(auto q, ParseRequestQuery<api::LeasesQuery>(r));
  ASSIGN_OR_RESPONSE(auto leases, s.networks().Leases(p.at("name"), q.mac));
  api::LeaseList out;
  for (const auto& l : leases) {
    bool v6 = l.lease.ip.find(':') != std::string::npos;
    out.leases.push_back({l.lease.expiry, l.lease.mac, v6 ? "ipv6" : "ipv4", l.lease.ip, l.prefix,
                          l.lease.hostname, l.lease.client_id});
  }
  return JsonResponse(out);
}

Response NetworkDiagram(Service& s, const Request& r, const Params& p) {
  ASSIGN_OR_RESPONSE(auto q, ParseRequestQuery<api::DiagramQuery>(r));  // text or svg
  api::Diagram out;
  out.format = q.format.empty() ? "text" : q.format;
  ASSIGN_OR_RESPONSE(out.diagram, s.NetworkDiagram(p.at("name"), out.format == "svg"));
  return JsonResponse(out);
}

}  // namespace

void AddNetworkRoutes(Api& api) {
  const bool R = false, W = true;
  DefinitionKind<NetworkSummary> k;
  k.collection = "networks";
  k.default_source = "network.xml";
  k.to_json = NetJson;
  k.list = [](Service& s) { return s.networks().List(); };
  k.define = [](Service& s, const std::string& xml, const std::string& src) {
    return s.networks().Define(xml, src);
  };
  k.create = [](Service& s, const std::string& xml, const std::string& src) {
    return s.networks().Create(xml, src);
  };
  k.start = [](Service& s, const std::string& name) { return s.networks().Start(name); };
  k.xml = [](Service& s, const std::string& name, bool inactive) {
    return s.networks().Xml(name, inactive);
  };
  k.undefine = [](Service& s, const std::string& name) { return s.networks().Undefine(name); };
  k.autostart = [](Service& s, const std::string& name, bool on) {
    return s.networks().SetAutostart(name, on);
  };
  AddDefinitionRoutes(api, std::move(k));  // GET /v1/networks/{name} is GetNetwork's
  api.Add("GET", "/v1/networks/{name}", R, GetNetwork);
  api.Add("POST", "/v1/networks/{name}/start", W, StartNetwork);
  api.Add("POST", "/v1/networks/{name}/destroy", W, DestroyNetwork);
  api.Add("GET", "/v1/networks/{name}/leases", R, NetworkLeases);
  api.Add("GET", "/v1/networks/{name}/diagram", R, NetworkDiagram);
}

}  // namespace skiff::daemon
