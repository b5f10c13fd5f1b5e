#include "skiff/base/fd.h"

#include <sys/syscall.h>

#include <cerrno>

#include <fmt/format.h>

namespace skiff {

Status WriteAll(int fd, std::string_view data, std::string_view what) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, fmt::format("write '{}'", what));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Status::Ok();
}

UniqueFd PidfdOpen(pid_t pid) {
  return UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
}

}  // namespace skiff
