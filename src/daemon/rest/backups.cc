// REST handlers for skiff backup: POST /v1/domains/{id}/backups makes one (a
// job), /v1/backups lists, verifies and restores them. Every route is an
// admin's: they read and write directories of the daemon's host.
#include "daemon/rest/fields.h"
#include "skiff/daemon/rest.h"

namespace skiff::daemon {

namespace {

Response CreateBackup(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto req, ParseRequestBody<api::BackupCreateRequest>(r));
  DomainBackups::CreateOptions o{req.dir, req.incremental, req.keep_last, req.keep_daily};
  ASSIGN_OR_RESPONSE(auto started, s.backups().Create(p.at("id"), o));
  api::BackupCreateReply out;
  out.id = started.id;
  out.dir = started.dir;
  out.kind = req.incremental ? "incremental" : "full";
  out.parent = started.parent;
  ASSIGN_OR_RESPONSE(out.job, s.jobs().Get(started.job));
  return JsonResponse(out, 202);
}

Response ListBackups(Service& s, const Request& r, const Params&) {
  ASSIGN_OR_RESPONSE(auto q, ParseRequestQuery<api::BackupListQuery>(r));
  ASSIGN_OR_RESPONSE(auto list, s.backups().List(q.dir));
  api::BackupList out;
  for (auto& b : list) {
    out.backups.push_back({b.id, b.domain, b.kind, b.parent, b.created, b.bytes, b.disks, b.error});
  }
  return JsonResponse(out);
}

Response VerifyBackups(Service& s, const Request& r, const Params&) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto req, ParseRequestBody<api::BackupPathRequest>(r));
  ASSIGN_OR_RESPONSE(auto list, s.backups().Verify(req.path));
  api::BackupVerifyReply out;
  for (auto& v : list) out.backups.push_back({v.id, v.problems});
  return JsonResponse(out);
}

Response RestoreBackup(Service& s, const Request& r, const Params&) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto req, ParseRequestBody<api::BackupRestoreRequest>(r));
  DomainBackups::RestoreOptions o{req.name, req.at, req.pool};
  ASSIGN_OR_RESPONSE(auto started, s.backups().Restore(req.path, o));
  api::BackupRestoreReply out{started.name, started.id, started.files, {}};
  ASSIGN_OR_RESPONSE(out.job, s.jobs().Get(started.job));
  return JsonResponse(out, 202);
}

}  // namespace

void AddBackupRoutes(Api& api) {
  api.Add("POST", "/v1/domains/{id}/backups", true, CreateBackup);
  api.Add("GET", "/v1/backups", true, ListBackups);
  api.Add("POST", "/v1/backups/verify", true, VerifyBackups);
  api.Add("POST", "/v1/backups/restore", true, RestoreBackup);
}

}  // namespace skiff::daemon
