// UniqueFd: owns a file descriptor and closes it once; and the few fd helpers
// every module needs (write all of a buffer, open a pidfd).
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <string_view>
#include <utility>

#include "skiff/base/status.h"

namespace skiff {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// Writes all of `data` to `fd`, retrying short writes and EINTR. Errors name
// `what` (a file or peer): "write 'WHAT': No space left on device".
Status WriteAll(int fd, std::string_view data, std::string_view what);

// A pidfd for process `pid` (pidfd_open(2), Linux 5.3); invalid with errno set
// when the kernel has none or the process is gone.
UniqueFd PidfdOpen(pid_t pid);

}  // namespace skiff
