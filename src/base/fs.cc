// Whole-file reads and crash-safe atomic writes (on the real file system: DefaultEnv()).
#include "skiff/base/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "skiff/base/env.h"
#include "skiff/base/fd.h"

namespace skiff {

Result<std::string> ReadFile(const std::filesystem::path& path) {
  return ReadFile(path, std::string().max_size());
}

Result<std::string> ReadFile(const std::filesystem::path& path, size_t max_bytes) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoError(errno, fmt::format("open '{}'", path.string()));
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, fmt::format("read '{}'", path.string()));
    }
    if (n == 0) break;
    if (static_cast<size_t>(n) > max_bytes - out.size()) {
      return InvalidArgumentError("'{}' is larger than {} bytes", path.string(), max_bytes);
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Status WriteFileAtomic(const std::filesystem::path& path, std::string_view data, mode_t mode) {
  return WriteFileAtomic(DefaultEnv(), path, data, mode);
}

Status MakeDirs(const std::filesystem::path& dir, mode_t mode) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return IoError("create directory '{}': {}", dir.string(), ec.message());
  (void)mode;
  return Status::Ok();
}

Status RemoveFileIfExists(const std::filesystem::path& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoError(errno, fmt::format("remove '{}'", path.string()));
  }
  return Status::Ok();
}

}  // namespace skiff
