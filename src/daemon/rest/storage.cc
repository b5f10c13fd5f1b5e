// REST handlers for pool machinery (start, destroy, build, delete, refresh, info)
// and volumes (/v1/pools/{name}/volumes/...), including upload and download of raw bytes.
#include "daemon/rest/fields.h"
#include "skiff/base/size.h"
#include "skiff/daemon/rest.h"
#include "skiff/storage/pool.h"

namespace skiff::daemon {
namespace {

using json = nlohmann::json;

// Upload and download move at most this many raw bytes per request (the server
// allows PUT bodies up to ServerOptions::max_data_body_bytes on .../data routes).
constexpr uint64_t kMaxDataChunk = 8 << 20;

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

// POST /v1/pools/{name}/build {"overwrite": bool, "no_overwrite": bool}
Response Build(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto body, ParseBody(r, {"overwrite", "no_overwrite"}));
  ASSIGN_OR_RESPONSE(bool overwrite, GetBool(body, "overwrite"));
  ASSIGN_OR_RESPONSE(bool no_overwrite, GetBool(body, "no_overwrite"));
  if (overwrite && no_overwrite) {
    return ErrorResponse(InvalidArgumentError("'overwrite' and 'no_overwrite' exclude each other"));
  }
  auto mode = overwrite      ? storage::BuildMode::kOverwrite
              : no_overwrite ? storage::BuildMode::kNoOverwrite
                             : storage::BuildMode::kDefault;
  TRY_RESPONSE(s.BuildPool(p.at("name"), mode));
  return JsonResponse(json::object());
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

uint64_t QueryUint(const Request& r, const char* key, uint64_t def, Status* st) {
  auto it = r.query.find(key);
  if (it == r.query.end()) return def;
  auto v = ParseUint(it->second);
  if (!v.ok()) {
    *st = InvalidArgumentError("query '{}': {}", key, v.status().message());
    return def;
  }
  return *v;
}

// GET .../extents?offset=N&length=M -> {"size": file size, "extents": [[offset, length], ...]}:
// the ranges of the volume's file that hold data (SEEK_DATA/SEEK_HOLE); the rest are holes.
Response Extents(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {"offset", "length"}));
  Status st;
  uint64_t offset = QueryUint(r, "offset", 0, &st);
  uint64_t length = QueryUint(r, "length", UINT64_MAX, &st);
  TRY_RESPONSE(st);
  ASSIGN_OR_RESPONSE(VolumeExtents e, s.VolumeDataExtents(p.at("name"), p.at("vol"), offset, length));
  json arr = json::array();
  for (const auto& [o, l] : e.extents) arr.push_back({o, l});
  return JsonResponse({{"size", e.file_size}, {"extents", arr}});
}

// GET .../data?offset=N&length=M: the bytes of the volume's file (application/octet-stream),
// at most kMaxDataChunk per request; fewer at the end of the file.
Response GetData(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {"offset", "length"}));
  Status st;
  uint64_t offset = QueryUint(r, "offset", 0, &st);
  uint64_t length = QueryUint(r, "length", kMaxDataChunk, &st);
  TRY_RESPONSE(st);
  if (length > kMaxDataChunk) {
    return ErrorResponse(InvalidArgumentError("length {} exceeds {} bytes per request", length, kMaxDataChunk));
  }
  ASSIGN_OR_RESPONSE(std::string data, s.ReadVolumeBytes(p.at("name"), p.at("vol"), offset, length));
  Response resp;
  resp.body = std::move(data);
  resp.content_type = "application/octet-stream";
  return resp;
}

// PUT .../data?offset=N[&truncate=true][&final_size=S], body: raw bytes written at N.
// truncate empties the file first (the first piece of an upload); final_size sets the
// file's size at the end (unwritten ranges stay holes) and syncs it.
Response PutData(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {"offset", "truncate", "final_size"}));
  Status st;
  uint64_t offset = QueryUint(r, "offset", 0, &st);
  std::optional<uint64_t> final_size;
  if (r.query.count("final_size")) final_size = QueryUint(r, "final_size", 0, &st);
  TRY_RESPONSE(st);
  bool truncate = false;
  if (auto it = r.query.find("truncate"); it != r.query.end()) {
    if (it->second != "true" && it->second != "false") {
      return ErrorResponse(InvalidArgumentError("query 'truncate' must be true or false"));
    }
    truncate = it->second == "true";
  }
  if (r.body.size() > kMaxDataChunk) {
    return ErrorResponse(InvalidArgumentError("upload piece of {} bytes exceeds {}", r.body.size(), kMaxDataChunk));
  }
  TRY_RESPONSE(s.WriteVolume(p.at("name"), p.at("vol"), offset, r.body, 0, truncate, final_size));
  return JsonResponse(json::object());
}

}  // namespace

void AddStorageRoutes(Api& api) {
  const bool R = false, W = true;
  api.Add("POST", "/v1/pools/{name}/start", W, Action(&Service::StartPool));
  api.Add("POST", "/v1/pools/{name}/destroy", W, Action(&Service::DestroyPool));
  api.Add("POST", "/v1/pools/{name}/build", W, Build);
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
  // Disk content: admin only, both ways.
  api.Add("GET", "/v1/pools/{name}/volumes/{vol}/extents", W, Extents);
  api.Add("GET", "/v1/pools/{name}/volumes/{vol}/data", W, GetData);
  api.Add("PUT", "/v1/pools/{name}/volumes/{vol}/data", W, PutData);
  api.Add("GET", "/v1/volumes", R, VolumeByPath);
}

}  // namespace skiff::daemon
