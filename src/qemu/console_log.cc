#include "qemu/console_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "skiff/base/fd.h"
#include "skiff/base/fs.h"

namespace skiff::qemu {
namespace fs = std::filesystem;

namespace {

fs::path Numbered(const fs::path& log, unsigned k) {
  return fs::path(log.string() + "." + std::to_string(k));
}

// Copies the first `size` bytes of `from` into a new file `to` (mode 0600) through
// a temporary name, so that `to` is never seen half written.
Status CopyPrefix(int from, uint64_t size, const fs::path& to) {
  const fs::path tmp(to.string() + ".tmp");
  UniqueFd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!out) return ErrnoError(errno, "create '" + tmp.string() + "'");
  char buf[65536];
  uint64_t off = 0;
  while (off < size) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(sizeof buf, size - off));
    ssize_t n = ::pread(from, buf, want, static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the file shrank under us: copy what there is
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::write(out.get(), buf + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        int err = errno;
        ::unlink(tmp.c_str());
        return ErrnoError(err, "write '" + tmp.string() + "'");
      }
      done += w;
    }
    off += static_cast<uint64_t>(n);
  }
  if (::rename(tmp.c_str(), to.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoError(err, "rename '" + tmp.string() + "'");
  }
  return Status::Ok();
}

}  // namespace

Result<bool> RotateLogIfLarge(const fs::path& log, const LogLimits& limits) {
  UniqueFd fd(::open(log.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    if (errno == ENOENT) return false;
    return ErrnoError(errno, "open console log '" + log.string() + "'");
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoError(errno, "stat '" + log.string() + "'");
  const auto size = static_cast<uint64_t>(st.st_size);
  if (!S_ISREG(st.st_mode) || size <= limits.max_bytes) return false;
  if (limits.max_files > 1) {
    // Oldest first: NAME.log.(max_files-1) goes, the others move up one.
    SKIFF_TRY(RemoveFileIfExists(Numbered(log, limits.max_files - 1)));
    for (unsigned k = limits.max_files - 1; k-- > 1;) {
      if (::rename(Numbered(log, k).c_str(), Numbered(log, k + 1).c_str()) != 0 &&
          errno != ENOENT) {
        return ErrnoError(errno, "rename '" + Numbered(log, k).string() + "'");
      }
    }
    SKIFF_TRY(CopyPrefix(fd.get(), size, Numbered(log, 1)));
  }
  if (::ftruncate(fd.get(), 0) != 0) {
    return ErrnoError(errno, "truncate console log '" + log.string() + "'");
  }
  return true;
}

}  // namespace skiff::qemu
