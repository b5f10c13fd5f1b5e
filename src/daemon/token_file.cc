// Reading the TLS listener's bearer-token file: roles are checked by name and the
// file must be private to its owner.
#include "daemon/token_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <sstream>

#include "skiff/base/fs.h"

namespace skiff::daemon {

Result<std::vector<BearerToken>> ParseTokenFile(std::string_view text, const std::string& path) {
  std::vector<BearerToken> tokens;
  std::istringstream in{std::string(text)};
  std::string line;
  for (int lineno = 1; std::getline(in, line); ++lineno) {
    std::istringstream words(line);
    std::string value, role, extra;
    words >> value >> role >> extra;
    if (value.empty() || value[0] == '#') continue;
    if (value.size() < 16) {
      return InvalidArgumentError("token file '{}' line {}: tokens must have 16 characters or more",
                                  path, lineno);
    }
    BearerToken t{value, Role::kAdmin};
    if (role == "readonly") {
      t.role = Role::kReadOnly;
    } else if (!role.empty() && role != "admin") {
      return InvalidArgumentError(
          "token file '{}' line {}: unknown role '{}' (expected 'admin' or 'readonly')", path,
          lineno, role);
    }
    if (!extra.empty()) {
      return InvalidArgumentError("token file '{}' line {}: unexpected '{}' after the role", path,
                                  lineno, extra);
    }
    tokens.push_back(std::move(t));
  }
  if (tokens.empty()) return InvalidArgumentError("token file '{}' has no token", path);
  return tokens;
}

Result<std::vector<BearerToken>> LoadTokenFile(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return ErrnoError(errno, fmt::format("token file '{}'", path.string()));
  }
  if ((st.st_mode & 077) != 0) {
    return FailedPreconditionError(
        "token file '{}' has mode {:04o}: group and others must have no access (chmod 600)",
        path.string(), st.st_mode & 07777);
  }
  SKIFF_ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return ParseTokenFile(text, path.string());
}

}  // namespace skiff::daemon
