// Typed reads of request body fields: a wrong type is kInvalidArgument naming the field.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "skiff/base/status.h"

// Early returns of an error Response from a Status or Result expression.
#define TRY_RESPONSE(expr)                                  \
  do {                                                      \
    ::skiff::Status st_ = ::skiff::internal::ToStatus(expr); \
    if (!st_.ok()) return ErrorResponse(st_);               \
  } while (0)
#define ASSIGN_OR_RESPONSE(lhs, expr) \
  ASSIGN_OR_RESPONSE_IMPL(SKIFF_CONCAT(r_, __LINE__), lhs, expr)
#define ASSIGN_OR_RESPONSE_IMPL(tmp, lhs, expr)       \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return ErrorResponse(tmp.status());  \
  lhs = std::move(tmp).value()

namespace skiff::daemon {

inline Result<bool> GetBool(const nlohmann::json& j, const char* key, bool def = false) {
  if (!j.contains(key) || j[key].is_null()) return def;
  if (!j[key].is_boolean()) return InvalidArgumentError("field '{}' must be a boolean", key);
  return j[key].get<bool>();
}

inline Result<std::string> GetString(const nlohmann::json& j, const char* key,
                                     bool required = false) {
  if (!j.contains(key) || j[key].is_null()) {
    if (required) return InvalidArgumentError("field '{}' is required", key);
    return std::string();
  }
  if (!j[key].is_string()) return InvalidArgumentError("field '{}' must be a string", key);
  return j[key].get<std::string>();
}

inline Result<uint64_t> GetUint(const nlohmann::json& j, const char* key, bool required = false) {
  if (!j.contains(key) || j[key].is_null()) {
    if (required) return InvalidArgumentError("field '{}' is required", key);
    return uint64_t{0};
  }
  if (!j[key].is_number_unsigned()) {
    return InvalidArgumentError("field '{}' must be a non-negative integer", key);
  }
  return j[key].get<uint64_t>();
}

}  // namespace skiff::daemon
