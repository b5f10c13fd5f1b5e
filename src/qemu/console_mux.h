// ConsoleMux: the daemon is the single client of QEMU's serial console socket and
// serves a socket of its own where any number of viewers connect.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "qemu/console_log.h"
#include "skiff/base/fd.h"
#include "skiff/base/status.h"

namespace skiff::qemu {

// Relays one domain's console. Guest output read from QEMU goes to every
// connected viewer; what any viewer types goes to QEMU (all viewers may type, as
// on a shared terminal). A viewer that does not keep up (more than 1 MiB
// unsent) is disconnected rather than stalling the guest or the others. The
// console log is written by QEMU (chardev logfile): it records every byte
// whether or not anybody watches; the relay, which sees every byte too, keeps
// it within its LogLimits (RotateLogIfLarge after each LogLimits::kCheckEvery
// bytes of output). While no relay runs (skiffd is down) the log is not capped.
//
// One thread per console, blocked in poll(); stopped by the destructor. When
// QEMU closes the console (it exited) all viewers are disconnected and the
// viewer socket is removed.
class ConsoleMux {
 public:
  // Connects to `qemu_socket` (retrying for up to `connect_timeout` while QEMU is
  // coming up) and listens on `viewer_socket` (replacing a stale socket file
  // left by a previous daemon; mode 0600). `log_file` (may be empty) is the log
  // QEMU writes the console to, kept within `log_limits`. kUnavailable when
  // QEMU's socket does not accept, kIo when the viewer socket cannot be made.
  static Result<std::unique_ptr<ConsoleMux>> Start(
      const std::filesystem::path& qemu_socket, const std::filesystem::path& viewer_socket,
      std::chrono::milliseconds connect_timeout = std::chrono::seconds(5),
      const std::filesystem::path& log_file = {}, const LogLimits& log_limits = {});

  ~ConsoleMux();  // stops the thread, disconnects viewers, removes the viewer socket
  ConsoleMux(const ConsoleMux&) = delete;
  ConsoleMux& operator=(const ConsoleMux&) = delete;

  const std::filesystem::path& viewer_socket() const { return viewer_socket_; }
  // Viewers connected now (for tests and logs).
  int viewers() const { return viewers_.load(); }
  // False once QEMU closed its end.
  bool connected() const { return !qemu_closed_.load(); }

 private:
  ConsoleMux() = default;
  void Loop();
  void RemoveSocket();               // unless another relay has bound the path since
  void CheckLog(size_t bytes_read);  // relay thread

  std::filesystem::path log_file_;
  LogLimits log_limits_;
  uint64_t since_check_ = 0;
  bool log_warned_ = false;

  ino_t socket_ino_ = 0;
  std::filesystem::path viewer_socket_;
  UniqueFd qemu_, listen_, stop_;
  std::thread thread_;
  std::atomic<int> viewers_{0};
  std::atomic<bool> qemu_closed_{false};
};

}  // namespace skiff::qemu
