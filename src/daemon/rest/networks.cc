// REST handlers for /v1/networks: definitions, life cycle, DHCP leases, diagrams.
#include "daemon/rest/definitions.h"
#include "skiff/daemon/rest.h"

namespace skiff::daemon {
namespace {

nlohmann::json NetJson(const NetworkSummary& n) {
  return {{"name", n.name},           {"uuid", n.uuid.ToString()}, {"active", n.active},
          {"autostart", n.autostart}, {"persistent", n.persistent}, {"bridge", n.bridge}};
}

Response GetNetwork(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto d, s.NetworkInfo(p.at("name")));
  nlohmann::json j = NetJson(d.summary);
  j["mode"] = d.mode;
  j["ipv4"] = d.ipv4;
  j["dnsmasq_pid"] = d.dnsmasq ? nlohmann::json(*d.dnsmasq) : nlohmann::json(nullptr);
  return JsonResponse(j);
}

Response StartNetwork(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  TRY_RESPONSE(ParseBody(r, {}));
  ASSIGN_OR_RESPONSE(auto n, s.StartNetwork(p.at("name")));
  return JsonResponse(NetJson(n));
}

Response DestroyNetwork(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  TRY_RESPONSE(ParseBody(r, {}));
  TRY_RESPONSE(s.DestroyNetwork(p.at("name")));
  return JsonResponse(nlohmann::json::object());
}

Response NetworkLeases(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {"mac"}));
  auto it = r.query.find("mac");
  ASSIGN_OR_RESPONSE(auto leases, s.NetworkLeases(p.at("name"), it == r.query.end() ? "" : it->second));
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& l : leases) {
    bool v6 = l.lease.ip.find(':') != std::string::npos;
    arr.push_back({{"expiry", l.lease.expiry},
                   {"mac", l.lease.mac},
                   {"type", v6 ? "ipv6" : "ipv4"},
                   {"ip", l.lease.ip},
                   {"prefix", l.prefix},
                   {"hostname", l.lease.hostname},
                   {"client_id", l.lease.client_id}});
  }
  return JsonResponse({{"leases", arr}});
}

Response NetworkDiagram(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {"format"}));
  auto it = r.query.find("format");
  std::string format = it == r.query.end() || it->second.empty() ? "text" : it->second;
  if (format != "text" && format != "svg") {
    return ErrorResponse(
        InvalidArgumentError("query parameter 'format' must be text or svg, not '{}'", format));
  }
  ASSIGN_OR_RESPONSE(std::string d, s.NetworkDiagram(p.at("name"), format == "svg"));
  return JsonResponse({{"format", format}, {"diagram", d}});
}

}  // namespace

void AddNetworkRoutes(Api& api) {
  const bool R = false, W = true;
  DefinitionKind<NetworkSummary> k;
  k.collection = "networks";
  k.default_source = "network.xml";
  k.to_json = NetJson;
  k.list = [](Service& s) { return s.ListNetworks(); };
  k.define = [](Service& s, const std::string& xml, const std::string& src) {
    return s.DefineNetwork(xml, src);
  };
  k.create = [](Service& s, const std::string& xml, const std::string& src) {
    return s.CreateNetwork(xml, src);
  };
  k.start = [](Service& s, const std::string& name) { return s.StartNetwork(name); };
  k.xml = [](Service& s, const std::string& name, bool inactive) {
    return s.NetworkXml(name, inactive);
  };
  k.undefine = [](Service& s, const std::string& name) { return s.UndefineNetwork(name); };
  k.autostart = [](Service& s, const std::string& name, bool on) {
    return s.SetNetworkAutostart(name, on);
  };
  AddDefinitionRoutes(api, std::move(k));  // GET /v1/networks/{name} is GetNetwork's
  api.Add("GET", "/v1/networks/{name}", R, GetNetwork);
  api.Add("POST", "/v1/networks/{name}/start", W, StartNetwork);
  api.Add("POST", "/v1/networks/{name}/destroy", W, DestroyNetwork);
  api.Add("GET", "/v1/networks/{name}/leases", R, NetworkLeases);
  api.Add("GET", "/v1/networks/{name}/diagram", R, NetworkDiagram);
}

}  // namespace skiff::daemon
