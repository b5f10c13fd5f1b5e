// Stable error identifiers of the REST API ("not_found", ...), shared by server and client.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "skiff/base/status.h"

namespace skiff::api {

// "invalid_argument", "not_found", ...: the `code` field of an error body. Never renamed.
std::string_view ErrorId(Code code);

// Inverse of ErrorId; unknown ids map to kInternal.
Code CodeFromErrorId(std::string_view id);

// {"error": {"code": "not_found", "message": "domain 'x' not found"}}
nlohmann::json ErrorBody(const Status& status);

// Reads an error body back into a Status. A body that is not an error body gives
// kInternal naming the HTTP status.
Status StatusFromErrorBody(int http_status, std::string_view body);

}  // namespace skiff::api
