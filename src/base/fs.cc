// Whole-file reads and crash-safe atomic writes.
#include "skiff/base/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "skiff/base/fd.h"

namespace skiff {

Result<std::string> ReadFile(const std::filesystem::path& path) {
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
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

namespace {

Status FsyncDir(const std::filesystem::path& dir) {
  UniqueFd fd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return ErrnoError(errno, fmt::format("open directory '{}'", dir.string()));
  if (::fsync(fd.get()) != 0) return ErrnoError(errno, fmt::format("fsync '{}'", dir.string()));
  return Status::Ok();
}

}  // namespace

Status WriteFileAtomic(const std::filesystem::path& path, std::string_view data, mode_t mode) {
  std::string tmpl = path.string() + ".tmp.XXXXXX";
  UniqueFd fd(::mkostemp(tmpl.data(), O_CLOEXEC));
  if (!fd) return ErrnoError(errno, fmt::format("create temp file for '{}'", path.string()));
  auto fail = [&](Status st) {
    ::unlink(tmpl.c_str());
    return st;
  };
  if (::fchmod(fd.get(), mode) != 0) return fail(ErrnoError(errno, "fchmod '" + tmpl + "'"));
  if (Status st = WriteAll(fd.get(), data, tmpl); !st.ok()) return fail(st);
  if (::fsync(fd.get()) != 0) return fail(ErrnoError(errno, "fsync '" + tmpl + "'"));
  fd.reset();
  if (::rename(tmpl.c_str(), path.c_str()) != 0) {
    return fail(ErrnoError(errno, fmt::format("rename to '{}'", path.string())));
  }
  return FsyncDir(path.parent_path());
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
