// The TLS listener's token file: one bearer token a line, with an optional role
// ("admin", the default, or "readonly"); '#' starts a comment line.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "skiff/base/status.h"
#include "skiff/daemon/rest.h"

namespace skiff::daemon {

struct BearerToken {
  std::string value;
  Role role = Role::kAdmin;
};

// Parses the text of a token file; `path` names it in errors. kInvalidArgument,
// naming the file and line, for a token under 16 characters, an unknown role (a
// misspelt role never grants more than it names), extra words, or no token at all.
Result<std::vector<BearerToken>> ParseTokenFile(std::string_view text, const std::string& path);

// Reads and parses the token file at `path`. kFailedPrecondition when group or
// others may read or write it: the tokens are passwords.
Result<std::vector<BearerToken>> LoadTokenFile(const std::filesystem::path& path);

}  // namespace skiff::daemon
