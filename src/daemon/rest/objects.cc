// REST handlers for /v1/pools and their volumes (networks: rest/networks.cc).
#include "daemon/rest/fields.h"
#include "skiff/daemon/rest.h"

namespace skiff::daemon {
namespace {

nlohmann::json PoolJson(const PoolSummary& p) {
  return {{"name", p.name},          {"uuid", p.uuid.ToString()}, {"active", p.active},
          {"autostart", p.autostart}, {"persistent", p.persistent}, {"type", p.type},
          {"target", p.target}};
}

Response ListPools(Service& s, const Request& r, const Params&) {
  TRY_RESPONSE(CheckQuery(r, {}));
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& n : s.ListPools()) arr.push_back(PoolJson(n));
  return JsonResponse({{"pools", arr}});
}

Response DefinePool(Service& s, const Request& r, const Params&) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto body, ParseBody(r, {"xml", "source", "start", "persistent"}));
  ASSIGN_OR_RESPONSE(std::string xml, GetString(body, "xml", true));
  ASSIGN_OR_RESPONSE(std::string source, GetString(body, "source"));
  ASSIGN_OR_RESPONSE(bool start, GetBool(body, "start"));
  ASSIGN_OR_RESPONSE(bool persistent, GetBool(body, "persistent", true));
  if (start || !persistent) {
    return ErrorResponse(UnsupportedError("storage pools are not implemented yet: cannot start one"));
  }
  ASSIGN_OR_RESPONSE(auto n, s.DefinePool(xml, source.empty() ? "pool.xml" : source));
  return JsonResponse(PoolJson(n), 201);
}

Response GetPool(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto n, s.GetPool(p.at("name")));
  return JsonResponse(PoolJson(n));
}

Response PoolXml(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {"inactive"}));
  ASSIGN_OR_RESPONSE(std::string xml, s.PoolXml(p.at("name")));
  return JsonResponse({{"xml", xml}});
}

Response UndefinePool(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  TRY_RESPONSE(s.UndefinePool(p.at("name")));
  return JsonResponse(nlohmann::json::object());
}

Response PoolAutostart(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto body, ParseBody(r, {"enabled"}));
  ASSIGN_OR_RESPONSE(bool enabled, GetBool(body, "enabled", true));
  TRY_RESPONSE(s.SetPoolAutostart(p.at("name"), enabled));
  return JsonResponse(nlohmann::json::object());
}


}  // namespace

void AddObjectRoutes(Api& api) {
  const bool R = false, W = true;
  api.Add("GET", "/v1/pools", R, ListPools);
  api.Add("POST", "/v1/pools", W, DefinePool);
  api.Add("GET", "/v1/pools/{name}", R, GetPool);
  api.Add("DELETE", "/v1/pools/{name}", W, UndefinePool);
  api.Add("GET", "/v1/pools/{name}/xml", R, PoolXml);
  api.Add("POST", "/v1/pools/{name}/autostart", W, PoolAutostart);
}

}  // namespace skiff::daemon
