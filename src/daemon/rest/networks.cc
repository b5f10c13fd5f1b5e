// REST handlers for /v1/networks: definitions, life cycle, DHCP leases, diagrams.
#include "daemon/rest/fields.h"
#include "skiff/daemon/rest.h"

namespace skiff::daemon {
namespace {

nlohmann::json NetJson(const NetworkSummary& n) {
  return {{"name", n.name},           {"uuid", n.uuid.ToString()}, {"active", n.active},
          {"autostart", n.autostart}, {"persistent", n.persistent}, {"bridge", n.bridge}};
}

Response ListNetworks(Service& s, const Request& r, const Params&) {
  TRY_RESPONSE(CheckQuery(r, {}));
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& n : s.ListNetworks()) arr.push_back(NetJson(n));
  return JsonResponse({{"networks", arr}});
}

Response DefineNetwork(Service& s, const Request& r, const Params&) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto body, ParseBody(r, {"xml", "source", "start", "persistent"}));
  ASSIGN_OR_RESPONSE(std::string xml, GetString(body, "xml", true));
  ASSIGN_OR_RESPONSE(std::string source, GetString(body, "source"));
  ASSIGN_OR_RESPONSE(bool start, GetBool(body, "start"));
  ASSIGN_OR_RESPONSE(bool persistent, GetBool(body, "persistent", true));
  if (source.empty()) source = "network.xml";
  if (!persistent) {
    ASSIGN_OR_RESPONSE(auto n, s.CreateNetwork(xml, source));
    return JsonResponse(NetJson(n), 201);
  }
  ASSIGN_OR_RESPONSE(auto n, s.DefineNetwork(xml, source));
  if (start) {
    ASSIGN_OR_RESPONSE(n, s.StartNetwork(n.name));
  }
  return JsonResponse(NetJson(n), 201);
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

Response NetworkXml(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {"inactive"}));
  ASSIGN_OR_RESPONSE(bool inactive, QueryBool(r, "inactive"));
  ASSIGN_OR_RESPONSE(std::string xml, s.NetworkXml(p.at("name"), inactive));
  return JsonResponse({{"xml", xml}});
}

Response UndefineNetwork(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  TRY_RESPONSE(s.UndefineNetwork(p.at("name")));
  return JsonResponse(nlohmann::json::object());
}

Response NetworkAutostart(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto body, ParseBody(r, {"enabled"}));
  ASSIGN_OR_RESPONSE(bool enabled, GetBool(body, "enabled", true));
  TRY_RESPONSE(s.SetNetworkAutostart(p.at("name"), enabled));
  return JsonResponse(nlohmann::json::object());
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
  api.Add("GET", "/v1/networks", R, ListNetworks);
  api.Add("POST", "/v1/networks", W, DefineNetwork);
  api.Add("GET", "/v1/networks/{name}", R, GetNetwork);
  api.Add("DELETE", "/v1/networks/{name}", W, UndefineNetwork);
  api.Add("GET", "/v1/networks/{name}/xml", R, NetworkXml);
  api.Add("POST", "/v1/networks/{name}/autostart", W, NetworkAutostart);
  api.Add("POST", "/v1/networks/{name}/start", W, StartNetwork);
  api.Add("POST", "/v1/networks/{name}/destroy", W, DestroyNetwork);
  api.Add("GET", "/v1/networks/{name}/leases", R, NetworkLeases);
  api.Add("GET", "/v1/networks/{name}/diagram", R, NetworkDiagram);
}

}  // namespace skiff::daemon
