// Error bodies of the REST API: the stable code identifiers and their JSON shape.
#include "skiff/api/errors.h"

#include <array>
#include <utility>

namespace skiff::api {
namespace {

constexpr std::array<std::pair<Code, std::string_view>, 12> kIds = {{
    {Code::kOk, "ok"},
    {Code::kInvalidArgument, "invalid_argument"},
    {Code::kNotFound, "not_found"},
    {Code::kAlreadyExists, "already_exists"},
    {Code::kFailedPrecondition, "failed_precondition"},
    {Code::kUnavailable, "unavailable"},
    {Code::kCorruption, "corruption"},
    {Code::kIo, "io"},
    {Code::kInternal, "internal"},
    {Code::kPermissionDenied, "permission_denied"},
    {Code::kUnsupported, "unsupported"},
    {Code::kCancelled, "cancelled"},
}};

}  // namespace

std::string_view ErrorId(Code code) {
  for (const auto& [c, id] : kIds) {
    if (c == code) return id;
  }
  return "internal";
}

Code CodeFromErrorId(std::string_view id) {
  for (const auto& [c, i] : kIds) {
    if (i == id) return c;
  }
  return Code::kInternal;
}

nlohmann::json ErrorBody(const Status& status) {
  return {{"error", {{"code", ErrorId(status.code())}, {"message", status.message()}}}};
}

Status StatusFromErrorBody(int http_status, std::string_view body) {
  auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    const auto& e = j["error"];
    std::string code = e.value("code", "internal");
    std::string msg = e.value("message", "");
    Code c = CodeFromErrorId(code);
    if (c == Code::kOk) c = Code::kInternal;
    return Status(c, msg);
  }
  return InternalError("daemon answered http status {} without an error body", http_status);
}

}  // namespace skiff::api
