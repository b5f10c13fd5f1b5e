// REST handlers for /v1/jobs: inspect, wait for and cancel long operations.
#include "daemon/rest/fields.h"
#include "skiff/base/size.h"
#include "skiff/daemon/rest.h"

namespace skiff::daemon {
namespace {

Result<uint64_t> JobId(const Params& p) {
  auto id = ParseUint(p.at("id"));
  if (!id.ok()) return NotFoundError("job '{}' not found", p.at("id"));
  return *id;
}

Response ListJobs(Service& s, const Request& r, const Params&) {
  TRY_RESPONSE(CheckQuery(r, {}));
  return JsonResponse(api::JobList{s.jobs().List()});
}

Response GetJob(Service& s, const Request& r, const Params& p) {
  ASSIGN_OR_RESPONSE(auto q, ParseRequestQuery<api::JobWaitQuery>(r));
  ASSIGN_OR_RESPONSE(uint64_t id, JobId(p));
  if (q.wait) (void)s.jobs().Wait(id);
  ASSIGN_OR_RESPONSE(auto j, s.jobs().Get(id));
  return JsonResponse(j);
}

Response CancelJob(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(uint64_t id, JobId(p));
  TRY_RESPONSE(s.jobs().Cancel(id));
  ASSIGN_OR_RESPONSE(auto j, s.jobs().Get(id));
  return JsonResponse(j);
}

}  // namespace

void AddJobRoutes(Api& api) {
  api.Add("GET", "/v1/jobs", false, ListJobs);
  api.Add("GET", "/v1/jobs/{id}", false, GetJob);
  api.Add("POST", "/v1/jobs/{id}/cancel", true, CancelJob);
}

}  // namespace skiff::daemon
