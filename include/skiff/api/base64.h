// Base64 (RFC 4648, with padding) for binary data carried in JSON bodies
// (vol-upload and vol-download chunks).
#pragma once

#include <string>
#include <string_view>

#include "skiff/base/status.h"

namespace skiff::api {

std::string Base64Encode(std::string_view bytes);
// kInvalidArgument on characters outside the alphabet or a bad length.
Result<std::string> Base64Decode(std::string_view text);

}  // namespace skiff::api
