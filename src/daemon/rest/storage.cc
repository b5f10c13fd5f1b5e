// REST handlers for pool machinery (start, destroy, build, delete, refresh, info)
// and volumes (/v1/pools/{name}/volumes/...), including chunked upload and download.
#include "daemon/rest/fields.h"
#include "skiff/api/base64.h"
#include "skiff/base/size.h"
#include "skiff/daemon/rest.h"
#include "skiff/storage/pool.h"

namespace skiff::daemon {
namespace {

using json = nlohmann::json;

// Upload and download move at most this many bytes per request, so that a chunk's
// base64 text stays under the server's body limit.
constexpr uint64_t kMaxChunk = 512 * 1024;

json VolJson(const storage::VolumeInfo& v) {
  json j = {{"name", v.name},         {"path", v.path},         {"key", v.path},
            {"type", v.type},         {"format", v.format},     {"capacity", v.capacity},
            {"allocation", v.allocation}};
  if (!v.backing_path.empty()) {
    j["backing"] = {{"path", v.backing_path}, {"format", v.backing_format}};
  }
  return j;
}

using PoolAction = Status (Service::*)(const std::string&);

Handler Action(PoolAction fn) {
  return [fn](Service& s, const Request& r, const Params& p) -> Response {
    TRY_RESPONSE(CheckQuery(r, {}));
    TRY_RESPONSE(ParseBody(r, {}));
    TRY_RESPONSE((s.*fn)(p.at("name")));
    return JsonResponse(json::object());
  };
}

Response Refresh(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  TRY_RESPONSE(ParseBody(r, {}));
  ASSIGN_OR_RESPONSE(auto vols, s.ListVolumes(p.at("name")));
  return JsonResponse({{"volumes", vols.size()}});
}

Response Info(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(PoolDetails d, s.PoolInfo(p.at("name")));
  const auto& sm = d.summary;
  return JsonResponse({{"name", sm.name},          {"uuid", sm.uuid.ToString()},
                       {"active", sm.active},      {"persistent", sm.persistent},
                       {"autostart", sm.autostart}, {"type", sm.type},
                       {"target", sm.target},      {"capacity", d.stats.capacity},
                       {"allocation", d.stats.allocation}, {"available", d.stats.available}});
}

Response ListVolumes(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto vols, s.ListVolumes(p.at("name")));
  json arr = json::array();
  for (const auto& v : vols) arr.push_back(VolJson(v));
  return JsonResponse({{"volumes", arr}});
}

// POST /v1/pools/{name}/volumes: {"xml": ..., "prealloc_metadata": bool}, or a
// clone: {"xml": ..., "clone_of": {"pool": ..., "volume": ...}}.
Response CreateVolume(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto body, ParseBody(r, {"xml", "prealloc_metadata", "clone_of"}));
  ASSIGN_OR_RESPONSE(std::string xml, GetString(body, "xml", true));
  ASSIGN_OR_RESPONSE(bool prealloc, GetBool(body, "prealloc_metadata"));
  if (body.contains("clone_of")) {
    const json& c = body["clone_of"];
    if (!c.is_object()) return ErrorResponse(InvalidArgumentError("field 'clone_of' must be an object"));
    for (const auto& [k, v] : c.items()) {
      if (k != "pool" && k != "volume") {
        return ErrorResponse(InvalidArgumentError("unknown field 'clone_of.{}'", k));
      }
    }
    ASSIGN_OR_RESPONSE(std::string src_pool, GetString(c, "pool", true));
    ASSIGN_OR_RESPONSE(std::string src_vol, GetString(c, "volume", true));
    ASSIGN_OR_RESPONSE(auto v, s.CloneVolume(src_pool, src_vol, p.at("name"), xml));
    return JsonResponse(VolJson(v), 201);
  }
  ASSIGN_OR_RESPONSE(auto v, s.CreateVolume(p.at("name"), xml, prealloc));
  return JsonResponse(VolJson(v), 201);
}

Response GetVolume(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto v, s.GetVolume(p.at("name"), p.at("vol")));
  return JsonResponse(VolJson(v));
}

// GET /v1/volumes?path=P: the volume whose path (or key) is P, for vol-name/vol-info by path.
Response VolumeByPath(Service& s, const Request& r, const Params&) {
  TRY_RESPONSE(CheckQuery(r, {"path"}));
  auto it = r.query.find("path");
  if (it == r.query.end()) return ErrorResponse(InvalidArgumentError("query 'path' is required"));
  ASSIGN_OR_RESPONSE(auto pv, s.FindVolumeByPath(it->second));
  json j = VolJson(pv.second);
  j["pool"] = pv.first;
  return JsonResponse(j);
}

Response VolumeXml(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(std::string xml, s.VolumeXml(p.at("name"), p.at("vol")));
  return JsonResponse({{"xml", xml}});
}

Response DeleteVolume(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  TRY_RESPONSE(s.DeleteVolume(p.at("name"), p.at("vol")));
  return JsonResponse(json::object());
}

Response WipeVolume(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  TRY_RESPONSE(ParseBody(r, {}));
  TRY_RESPONSE(s.WipeVolume(p.at("name"), p.at("vol")));
  return JsonResponse(json::object());
}

Response ResizeVolume(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto body, ParseBody(r, {"capacity", "shrink"}));
  ASSIGN_OR_RESPONSE(uint64_t cap, GetUint(body, "capacity", true));
  ASSIGN_OR_RESPONSE(bool shrink, GetBool(body, "shrink"));
  TRY_RESPONSE(s.ResizeVolume(p.at("name"), p.at("vol"), cap, shrink));
  return JsonResponse(json::object());
}

// GET .../download?offset=N&length=M -> {"data": base64} or {"zero": M}, plus "size".
Response Download(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {"offset", "length"}));
  uint64_t offset = 0, length = kMaxChunk;
  if (auto it = r.query.find("offset"); it != r.query.end()) {
    ASSIGN_OR_RESPONSE(offset, ParseUint(it->second));
  }
  if (auto it = r.query.find("length"); it != r.query.end()) {
    ASSIGN_OR_RESPONSE(length, ParseUint(it->second));
  }
  length = std::min(length, kMaxChunk);
  ASSIGN_OR_RESPONSE(VolumeChunk c, s.ReadVolume(p.at("name"), p.at("vol"), offset, length));
  json j = {{"size", c.file_size}};
  if (c.zero_length) j["zero"] = c.zero_length;
  if (!c.data.empty()) j["data"] = api::Base64Encode(c.data);
  return JsonResponse(j);
}

// POST .../upload {"offset", "data" (base64) | "zero" (bytes), "first", "final_size"}.
Response Upload(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto body, ParseBody(r, {"offset", "data", "zero", "first", "final_size"}));
  ASSIGN_OR_RESPONSE(uint64_t offset, GetUint(body, "offset"));
  ASSIGN_OR_RESPONSE(std::string b64, GetString(body, "data"));
  ASSIGN_OR_RESPONSE(uint64_t zero, GetUint(body, "zero"));
  ASSIGN_OR_RESPONSE(bool first, GetBool(body, "first"));
  std::optional<uint64_t> final_size;
  if (body.contains("final_size")) {
    ASSIGN_OR_RESPONSE(final_size, GetUint(body, "final_size", true));
  }
  ASSIGN_OR_RESPONSE(std::string data, api::Base64Decode(b64));
  if (data.size() > kMaxChunk) {
    return ErrorResponse(InvalidArgumentError("upload chunk of {} bytes exceeds {}", data.size(), kMaxChunk));
  }
  TRY_RESPONSE(s.WriteVolume(p.at("name"), p.at("vol"), offset, data, zero, first, final_size));
  return JsonResponse(json::object());
}

}  // namespace

void AddStorageRoutes(Api& api) {
  const bool R = false, W = true;
  api.Add("POST", "/v1/pools/{name}/start", W, Action(&Service::StartPool));
  api.Add("POST", "/v1/pools/{name}/destroy", W, Action(&Service::DestroyPool));
  api.Add("POST", "/v1/pools/{name}/build", W, Action(&Service::BuildPool));
  api.Add("POST", "/v1/pools/{name}/delete", W, Action(&Service::DeletePool));
  api.Add("POST", "/v1/pools/{name}/refresh", W, Refresh);
  api.Add("GET", "/v1/pools/{name}/info", R, Info);
  api.Add("GET", "/v1/pools/{name}/volumes", R, ListVolumes);
  api.Add("POST", "/v1/pools/{name}/volumes", W, CreateVolume);
  api.Add("GET", "/v1/pools/{name}/volumes/{vol}", R, GetVolume);
  api.Add("DELETE", "/v1/pools/{name}/volumes/{vol}", W, DeleteVolume);
  api.Add("GET", "/v1/pools/{name}/volumes/{vol}/xml", R, VolumeXml);
  api.Add("POST", "/v1/pools/{name}/volumes/{vol}/wipe", W, WipeVolume);
  api.Add("POST", "/v1/pools/{name}/volumes/{vol}/resize", W, ResizeVolume);
  api.Add("GET", "/v1/pools/{name}/volumes/{vol}/download", W, Download);  // disk content: admin only
  api.Add("POST", "/v1/pools/{name}/volumes/{vol}/upload", W, Upload);
  api.Add("GET", "/v1/volumes", R, VolumeByPath);
}

}  // namespace skiff::daemon
