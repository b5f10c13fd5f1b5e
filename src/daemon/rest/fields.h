// Requests into the API's typed structs (skiff/api/types.h), and early returns of an
// error Response: a wrong type, a missing or unknown field is kInvalidArgument naming it.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "skiff/api/types.h"
#include "skiff/base/status.h"
#include "skiff/daemon/rest.h"

// Early returns of an error Response from a Status or Result expression.
#define TRY_RESPONSE(expr)                                   \
  do {                                                       \
    ::skiff::Status st_ = ::skiff::internal::ToStatus(expr); \
    if (!st_.ok()) return ErrorResponse(st_);                \
  } while (0)
#define ASSIGN_OR_RESPONSE(lhs, expr) ASSIGN_OR_RESPONSE_IMPL(SKIFF_CONCAT(r_, __LINE__), lhs, expr)
#define ASSIGN_OR_RESPONSE_IMPL(tmp, lhs, expr)      \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return ErrorResponse(tmp.status()); \
  lhs = std::move(tmp).value()

namespace skiff::daemon {

// The request's body as T (an empty body is {}): unknown fields are refused.
template <typename T>
Result<T> ParseRequestBody(const Request& r) {
  SKIFF_ASSIGN_OR_RETURN(nlohmann::json j, api::ParseJsonObject(r.body));
  return api::ParseRequest<T>(j);
}

// The request's query parameters as T: unknown parameters are refused.
template <typename T>
Result<T> ParseRequestQuery(const Request& r) {
  return api::ParseQuery<T>(r.query);
}

// The service's scope of a change or query.
inline Scope ToScope(const api::Scope& s) { return Scope{s.live, s.config}; }

// {} with `status`: the answer of a change that returns nothing.
inline Response EmptyResponse(int status = 200) {
  return JsonResponse(nlohmann::json::object(), status);
}

}  // namespace skiff::daemon
