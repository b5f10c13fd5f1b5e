// The REST layer: requests as the server hands them over, the route table, and the
// one place that maps Status codes to HTTP statuses (status_http.cc).
// Handlers (src/daemon/rest/<resource>.cc) parse and check JSON, then call Service.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "skiff/base/status.h"
#include "skiff/daemon/service.h"

namespace skiff::daemon {

// Who is calling: decided by the server from SO_PEERCRED (unix socket) or the
// bearer token (TLS).
enum class Role { kNone, kReadOnly, kAdmin };

struct Request {
  std::string method;  // GET, POST, DELETE
  std::string path;    // decoded path without the query, e.g. /v1/domains/web1
  std::map<std::string, std::string> query;
  std::string body;
  Role role = Role::kNone;
  std::string peer;  // "uid 1000", "tls 127.0.0.1:5555": named in refusals and logs
};

struct Response {
  int status = 200;
  std::string body;  // JSON text, or bytes of content_type
  std::string content_type = "application/json";
  bool event_stream = false;  // GET /v1/events: the server streams events instead
};

// Maps a code to its HTTP status (kNotFound -> 404, ...). The CLI exits 1 on any error.
int HttpStatusFor(Code code);
Response ErrorResponse(const Status& status);
// JSON text of `j`; invalid UTF-8 in strings is replaced (U+FFFD), never thrown.
std::string DumpJson(const nlohmann::json& j);
Response JsonResponse(const nlohmann::json& body, int status = 200);

// Splits "a/b?x=1&y=%20" into a decoded path and query map. kInvalidArgument on bad
// percent-escapes.
Status ParseTarget(std::string_view target, std::string* path,
                   std::map<std::string, std::string>* query);

// Refuses query parameters not in `allowed` (routes without a query pass {}). Bodies
// and queries are parsed into api/types.h structs (rest/fields.h: ParseRequestBody).
Status CheckQuery(const Request& req, const std::vector<std::string>& allowed);

using Params = std::map<std::string, std::string>;
using Handler = std::function<Response(Service&, const Request&, const Params&)>;

struct Route {
  std::string method;
  std::string pattern;  // "/v1/domains/{id}/start"
  bool write = false;   // needs the admin role
  Handler handler;
};

class Api {
 public:
  explicit Api(Service& service);  // registers every route

  // Routes, checks the caller's role, runs the handler. Never throws.
  Response Handle(const Request& req);
  const std::vector<Route>& routes() const { return routes_; }
  void Add(std::string method, std::string pattern, bool write, Handler handler);

 private:
  Service& service_;
  std::vector<Route> routes_;
};

// Defined in src/daemon/rest/<resource>.cc.
void AddDomainRoutes(Api& api);
void AddSnapshotRoutes(Api& api);  // /v1/domains/{id}/snapshots
void AddObjectRoutes(Api& api);    // pools, volumes
void AddNetworkRoutes(Api& api);
void AddHostRoutes(Api& api);  // version, capabilities, host-validate, events
void AddJobRoutes(Api& api);
void AddBackupRoutes(Api& api);   // skiff backup (backups.cc)
void AddStorageRoutes(Api& api);  // pool machinery and volumes (storage.cc)

// JSON shapes shared by handlers.
nlohmann::json ToJson(const DomainSummary& s);

}  // namespace skiff::daemon
