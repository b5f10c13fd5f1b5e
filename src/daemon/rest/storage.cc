// REST handlers for pool machinery (start, destroy, build, delete, refresh, info)
// and volumes (/v1/pools/{name}/volumes/...), including upload and download of raw bytes.
#include "daemon/rest/fields.h"
#include "daemon/storage/driver.h"
#include "skiff/base/size.h"
#include "skiff/daemon/rest.h"
#include "skiff/storage/pool.h"

namespace skiff::daemon {
namespace {

using json = nlohmann::json;

// Upload and download move at most this many raw bytes per request (the server
// allows PUT bodies up to ServerOptions::max_data_body_bytes on .../data routes).
constexpr uint64_t kMaxDataChunk = 8 << 20;

// Files on Linux end before 2^63 bytes (off_t); offsets and sizes past 2^62 are
// refused as input errors before they reach a system call.
constexpr uint64_t kMaxFileOffset = uint64_t{1} << 62;

Status CheckFileOffset(const char* field, uint64_t value) {
  if (value <= kMaxFileOffset) return Status::Ok();
  return InvalidArgumentError("{} {} is past the largest file offset ({})", field, value,
                              kMaxFileOffset);
}

// The volume's fields in `out` (a Volume or a struct derived from it).
void FillVolume(const storage::VolumeInfo& v, api::Volume& out) {
  out.name = v.name;
  out.path = v.path;
  out.key = v.path;
  out.type = v.type;
  out.format = v.format;
  out.capacity = v.capacity;
  out.allocation = v.allocation;
  if (!v.backing_path.empty()) out.backing = api::Backing{v.backing_path, v.backing_format};
}

api::Volume ToApi(const storage::VolumeInfo& v) {
  api::Volume out;
  FillVolume(v, out);
  return out;
}

using PoolAction = Status (StorageDriver::*)(const std::string&);

Handler Action(PoolAction fn) {
  return [fn](Service& s, const Request& r, const Params& p) -> Response {
    TRY_RESPONSE(CheckQuery(r, {}));
    TRY_RESPONSE(ParseRequestBody<api::Empty>(r));
    TRY_RESPONSE((s.storage().*fn)(p.at("name")));
    return EmptyResponse();
  };
}

// POST /v1/pools/{name}/build {"overwrite": bool, "no_overwrite": bool}
Response Build(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto req, ParseRequestBody<api::BuildPoolRequest>(r));  // not both
  auto mode = req.overwrite      ? storage::BuildMode::kOverwrite
              : req.no_overwrite ? storage::BuildMode::kNoOverwrite
                                 : storage::BuildMode::kDefault;
  TRY_RESPONSE(s.storage().BuildPool(p.at("name"), mode));
  return EmptyResponse();
}

Response Refresh(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  TRY_RESPONSE(ParseRequestBody<api::Empty>(r));
  ASSIGN_OR_RESPONSE(auto vols, s.storage().ListVolumes(p.at("name")));
  return JsonResponse(api::RefreshReply{vols.size()});
}

Response Info(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(PoolDetails d, s.storage().PoolInfo(p.at("name")));
  const auto& sm = d.summary;
  api::PoolInfo out;
  static_cast<api::PoolSummary&>(out) = {
      sm.name, sm.uuid.ToString(), sm.active, sm.autostart, sm.persistent, sm.type, sm.target};
  out.capacity = d.stats.capacity;
  out.allocation = d.stats.allocation;
  out.available = d.stats.available;
  return JsonResponse(out);
}

Response ListVolumes(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto vols, s.storage().ListVolumes(p.at("name")));
  api::VolumeList out;
  for (const auto& v : vols) out.volumes.push_back(ToApi(v));
  return JsonResponse(out);
}

// POST /v1/pools/{name}/volumes: {"xml": ..., "prealloc_metadata": bool}, or a
// clone: {"xml": ..., "clone_of": {"pool": ..., "volume": ...}}.
Response CreateVolume(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto req, ParseRequestBody<api::CreateVolumeRequest>(r));
  if (req.clone_of) {
    ASSIGN_OR_RESPONSE(auto v, s.storage().CloneVolume(req.clone_of->pool, req.clone_of->volume,
                                                       p.at("name"), req.xml));
    return JsonResponse(ToApi(v), 201);
  }
  ASSIGN_OR_RESPONSE(auto v,
                     s.storage().CreateVolume(p.at("name"), req.xml, req.prealloc_metadata));
  return JsonResponse(ToApi(v), 201);
}

Response GetVolume(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto v, s.storage().GetVolume(p.at("name"), p.at("vol")));
  return JsonResponse(ToApi(v));
}

// GET /v1/volumes?path=P: the volume whose path (or key) is P, for vol-name/vol-info by path.
Response VolumeByPath(Service& s, const Request& r, const Params&) {
  ASSIGN_OR_RESPONSE(auto q, ParseRequestQuery<api::VolumeByPathQuery>(r));
  ASSIGN_OR_RESPONSE(auto pv, s.storage().FindVolumeByPath(q.path));
  api::LocatedVolume out;
  FillVolume(pv.second, out);
  out.pool = pv.first;
  return JsonResponse(out);
}

Response VolumeXml(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  api::XmlReply out;
  ASSIGN_OR_RESPONSE(out.xml, s.storage().VolumeXml(p.at("name"), p.at("vol")));
  return JsonResponse(out);
}

Response DeleteVolume(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  TRY_RESPONSE(s.storage().DeleteVolume(p.at("name"), p.at("vol")));
  return EmptyResponse();
}

Response WipeVolume(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  TRY_RESPONSE(ParseRequestBody<api::Empty>(r));
  TRY_RESPONSE(s.storage().WipeVolume(p.at("name"), p.at("vol")));
  return EmptyResponse();
}

Response ResizeVolume(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto req, ParseRequestBody<api::ResizeVolumeRequest>(r));
  TRY_RESPONSE(s.storage().ResizeVolume(p.at("name"), p.at("vol"), req.capacity, req.shrink));
  return EmptyResponse();
}

// GET .../extents?offset=N&length=M -> {"size": file size, "extents": [[offset, length], ...]}:
// the ranges of the volume's file that hold data (SEEK_DATA/SEEK_HOLE); the rest are holes.
Response Extents(Service& s, const Request& r, const Params& p) {
  ASSIGN_OR_RESPONSE(auto q, ParseRequestQuery<api::ExtentsQuery>(r));
  TRY_RESPONSE(CheckFileOffset("offset", q.offset));
  ASSIGN_OR_RESPONSE(VolumeExtents e,
                     s.storage().VolumeDataExtents(p.at("name"), p.at("vol"), q.offset,
                                                   q.length.value_or(UINT64_MAX)));
  api::Extents out;
  out.size = e.file_size;
  for (const auto& [o, l] : e.extents) out.extents.emplace_back(o, l);
  return JsonResponse(out);
}

// GET .../data?offset=N&length=M: the bytes of the volume's file (application/octet-stream),
// at most kMaxDataChunk per request; fewer at the end of the file.
Response GetData(Service& s, const Request& r, const Params& p) {
  ASSIGN_OR_RESPONSE(auto q, ParseRequestQuery<api::ExtentsQuery>(r));  // the same range
  uint64_t offset = q.offset;
  uint64_t length = q.length.value_or(kMaxDataChunk);
  if (length > kMaxDataChunk) {
    return ErrorResponse(
        InvalidArgumentError("length {} exceeds {} bytes per request", length, kMaxDataChunk));
  }
  TRY_RESPONSE(CheckFileOffset("offset", offset));
  ASSIGN_OR_RESPONSE(std::string data,
                     s.storage().ReadVolumeBytes(p.at("name"), p.at("vol"), offset, length));
  Response resp;
  resp.body = std::move(data);
  resp.content_type = "application/octet-stream";
  return resp;
}

// PUT .../data?offset=N[&truncate=true][&final_size=S], body: raw bytes written at N.
// truncate empties the file first (the first piece of an upload); final_size sets the
// file's size at the end (unwritten ranges stay holes) and syncs it.
Response PutData(Service& s, const Request& r, const Params& p) {
  ASSIGN_OR_RESPONSE(auto q, ParseRequestQuery<api::VolumeWriteQuery>(r));
  if (r.body.size() > kMaxDataChunk) {
    return ErrorResponse(
        InvalidArgumentError("upload piece of {} bytes exceeds {}", r.body.size(), kMaxDataChunk));
  }
  TRY_RESPONSE(CheckFileOffset("offset", q.offset));
  if (q.final_size) TRY_RESPONSE(CheckFileOffset("final_size", *q.final_size));
  TRY_RESPONSE(s.storage().WriteVolume(p.at("name"), p.at("vol"), q.offset, r.body, 0, q.truncate,
                                       q.final_size));
  return EmptyResponse();
}

}  // namespace

void AddStorageRoutes(Api& api) {
  const bool R = false, W = true;
  api.Add("POST", "/v1/pools/{name}/start", W, Action(&StorageDriver::StartPool));
  api.Add("POST", "/v1/pools/{name}/destroy", W, Action(&StorageDriver::DestroyPool));
  api.Add("POST", "/v1/pools/{name}/build", W, Build);
  api.Add("POST", "/v1/pools/{name}/delete", W, Action(&StorageDriver::DeletePool));
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
