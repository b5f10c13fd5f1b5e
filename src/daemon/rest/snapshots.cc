// REST handlers for /v1/domains/{id}/snapshots (virsh snapshot-*): parse the
// request into its api/types.h struct, call Service::snapshots(), answer.
#include "daemon/rest/fields.h"
#include "skiff/daemon/rest.h"

namespace skiff::daemon {

namespace {

Response CreateSnapshot(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto req, ParseRequestBody<api::SnapshotCreateRequest>(r));
  SnapshotCreateOptions o{req.disk_only, req.no_metadata, req.redefine, req.current};
  api::SnapshotCreated out;
  ASSIGN_OR_RESPONSE(out.name, s.snapshots().Create(p.at("id"), req.xml, req.source, o));
  return JsonResponse(out, 201);
}

Response ListSnapshots(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto all, s.snapshots().List(p.at("id")));
  api::SnapshotList out;
  for (const auto& e : all) {
    api::Snapshot a;
    a.name = e.def.name;
    a.description = e.def.description;
    a.parent = e.def.parent;
    a.state = e.def.state;
    a.memory = e.def.memory_snapshot;
    a.location = e.location;
    a.creation_time = e.def.creation_time.value_or(0);
    a.current = e.current;
    a.children = e.children;
    a.descendants = e.descendants;
    out.snapshots.push_back(std::move(a));
  }
  return JsonResponse(out);
}

Response GetSnapshotXml(Service& s, const Request& r, const Params& p) {
  ASSIGN_OR_RESPONSE(auto q, ParseRequestQuery<api::SnapshotXmlQuery>(r));
  if (q.security_info && r.role != Role::kAdmin) {
    return ErrorResponse(PermissionDeniedError(
        "{} has read-only access; snapshot-dumpxml --security-info needs root (or an admin "
        "token)",
        r.peer));
  }
  api::XmlReply out;
  ASSIGN_OR_RESPONSE(out.xml, s.snapshots().Xml(p.at("id"), p.at("name"), q.security_info));
  return JsonResponse(out);
}

Response RevertSnapshot(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto req, ParseRequestBody<api::SnapshotRevertRequest>(r));
  TRY_RESPONSE(req.Validate());
  SnapshotRevertOptions o{req.running, req.paused, req.force};
  TRY_RESPONSE(s.snapshots().Revert(p.at("id"), p.at("name"), o));
  return EmptyResponse();
}

Response DeleteSnapshot(Service& s, const Request& r, const Params& p) {
  ASSIGN_OR_RESPONSE(auto q, ParseRequestQuery<api::SnapshotDeleteQuery>(r));
  if (q.children && q.children_only) {
    return ErrorResponse(InvalidArgumentError("children and children_only exclude each other"));
  }
  SnapshotDeleteOptions o{q.children, q.children_only, q.metadata};
  api::SnapshotsDeleted out;
  ASSIGN_OR_RESPONSE(out.deleted, s.snapshots().Delete(p.at("id"), p.at("name"), o));
  return JsonResponse(out);
}

}  // namespace

void AddSnapshotRoutes(Api& api) {
  const bool R = false, W = true;
  api.Add("GET", "/v1/domains/{id}/snapshots", R, ListSnapshots);
  api.Add("POST", "/v1/domains/{id}/snapshots", W, CreateSnapshot);
  api.Add("GET", "/v1/domains/{id}/snapshots/{name}", R, GetSnapshotXml);
  api.Add("DELETE", "/v1/domains/{id}/snapshots/{name}", W, DeleteSnapshot);
  api.Add("POST", "/v1/domains/{id}/snapshots/{name}/revert", W, RevertSnapshot);
}

}  // namespace skiff::daemon
