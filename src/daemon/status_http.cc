// The single map from Status codes to HTTP statuses, plus error and JSON responses.
// (The CLI exits 1 on every error; it reads the code from the error body.)
#include "skiff/api/errors.h"
#include "skiff/daemon/rest.h"

namespace skiff::daemon {

int HttpStatusFor(Code code) {
  switch (code) {
    case Code::kOk:
      return 200;
    case Code::kInvalidArgument:
      return 400;
    case Code::kPermissionDenied:
      return 403;
    case Code::kNotFound:
      return 404;
    case Code::kAlreadyExists:
      return 409;
    case Code::kFailedPrecondition:
      return 409;
    case Code::kCancelled:
      return 409;
    case Code::kCorruption:
      return 422;
    case Code::kUnsupported:
      return 501;
    case Code::kUnavailable:
      return 503;
    case Code::kIo:
      return 500;
    case Code::kInternal:
      return 500;
  }
  return 500;
}

std::string DumpJson(const nlohmann::json& j) {
  // Client bytes (a path, a name) may be invalid UTF-8: replace them rather than throw.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Response ErrorResponse(const Status& status) {
  return Response{HttpStatusFor(status.code()), DumpJson(api::ErrorBody(status))};
}

Response JsonResponse(const nlohmann::json& body, int status) {
  return Response{status, DumpJson(body)};
}

}  // namespace skiff::daemon
