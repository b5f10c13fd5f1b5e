// QemuProcess: starts, attaches to and supervises one QEMU (one running domain).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "skiff/base/fd.h"
#include "skiff/base/process.h"
#include "skiff/base/status.h"
#include "skiff/qemu/qmp_client.h"

namespace skiff::qemu {

// What the daemon persists as a domain's live status file, so that a restarted
// daemon can Attach() to the QEMU again.
struct QemuStatus {
  pid_t pid = -1;
  std::filesystem::path qmp_socket;
  std::filesystem::path console_socket;  // may be empty
  std::filesystem::path log_file;
  std::filesystem::path pid_file;  // may be empty
  int64_t start_time_ms = 0;       // unix time (ms) when QEMU was spawned
  std::vector<std::string> taps;   // tap devices handed to this QEMU
  bool operator==(const QemuStatus&) const = default;
};

// {"pid": 123, "qmp_socket": "...", "console_socket": "...", "log_file": "...",
//  "pid_file": "...", "start_time_ms": 1700000000000, "taps": ["vnet0"]}
nlohmann::json QemuStatusToJson(const QemuStatus& status);
// The inverse; kCorruption naming the field when one is missing or mistyped
// (console_socket, pid_file and taps are optional). Never throws.
Result<QemuStatus> QemuStatusFromJson(const nlohmann::json& j);
// Same, from text (as read back from the status file).
Result<QemuStatus> ParseQemuStatus(std::string_view text);

// How QEMU ended.
struct QemuExit {
  bool reaped = false;  // true when we collected the wait status (it was our child)
  int exit_code = -1;   // when reaped and it exited normally
  int term_signal = 0;  // when reaped and killed by a signal
  // From QEMU's last SHUTDOWN event, when one came: "guest-shutdown",
  // "host-qmp-quit", "host-signal", "guest-reset", ... and whether the guest asked.
  std::string shutdown_reason;
  bool guest_initiated = false;
  // "exited with code 0 (guest-shutdown)", "killed by signal 9", "exited".
  std::string Describe() const;
};

struct QemuCallbacks {
  // Every QMP event, on the QMP reader thread (see QmpClientOptions::on_event).
  std::function<void(const QmpEvent&)> on_event;
  // Once, on the process's monitor thread, right after QEMU exited and was reaped
  // and its sockets and pid file were removed. Not called after Detach(). Waiters
  // (WaitForExit, Destroy) are woken before it runs, so it may still be running
  // when they return: it may take locks their callers hold.
  std::function<void(const QemuExit&)> on_exit;
};

struct QemuStartOptions {
  // Full command line, argv[0] the QEMU binary. It must serve QMP on `qmp_socket`
  // (-chardev socket,path=...,server=on,wait=off + -mon ...,mode=control) and should
  // contain -S: QEMU is resumed with `cont` after negotiation unless start_paused.
  std::vector<std::string> argv;
  std::filesystem::path qmp_socket;      // required
  std::filesystem::path console_socket;  // optional; removed when QEMU fails or exits
  std::filesystem::path log_file;        // required; stdout and stderr are appended to it
  std::filesystem::path pid_file;        // optional; written with QEMU's pid
  // Extra fds for QEMU: {fd here, fd number in QEMU} (taps, -incoming fd:N).
  std::vector<std::pair<int, int>> pass_fds;
  std::vector<std::string> taps;  // recorded in status() only
  // cgroup.procs files QEMU joins before exec (see SpawnOptions::cgroup_procs).
  std::vector<std::filesystem::path> cgroup_procs;
  // Confinement (SpawnOptions): a private /dev with these nodes, the user, no
  // capabilities.
  bool private_dev = false;
  std::vector<std::string> dev_nodes;
  std::optional<SpawnOptions::User> run_as;
  bool no_capabilities = false;
  // QEMU was handed its QMP and console sockets as listening fds (-chardev
  // socket,fd=N): the socket files are already there and must stay. Otherwise
  // stale ones are removed before QEMU makes them.
  bool sockets_handed_over = false;
  // Our copies of fds in pass_fds, closed once QEMU has its own: a QEMU that dies
  // then leaves no listening socket open behind it (QMP sees the hang-up).
  std::vector<UniqueFd> close_after_spawn;
  bool start_paused = false;
  // Until QMP answers; QEMU is killed after that.
  std::chrono::milliseconds start_timeout = std::chrono::seconds(30);
  QemuCallbacks callbacks;
};

// QEMU's environment names the QMP socket it serves (kQmpSocketEnv=PATH): a QEMU
// handed its sockets as fds names none on its command line, and a restarted
// daemon still recognises its own.
inline constexpr const char* kQmpSocketEnv = "SKIFF_QMP_SOCKET";

// The QMP socket process `pid` names in its environment (kQmpSocketEnv), if any.
std::optional<std::string> QmpSocketInEnvironment(pid_t pid);

// Whether process `pid` names `qmp_socket` in its environment or command line.
bool ServesQmpSocket(pid_t pid, const std::string& qmp_socket);

// One QEMU process. Exit is noticed at once through a pidfd watched by the
// object's monitor thread, which reaps it (when it is our child), removes its
// sockets and pid file, and calls on_exit. Public methods may be called from any
// thread, except from inside the callbacks (which must not destroy the object or
// call Destroy/WaitForExit/Detach; running QMP commands there is refused).
// Destroying the object Detach()es: QEMU keeps running.
class QemuProcess {
 public:
  // Spawns QEMU in its own session with stdout/stderr appended to the log (after a
  // "starting up" line with the command line), writes the pid file, waits for QMP,
  // negotiates and, unless start_paused, runs `cont`. When QEMU exits or fails
  // during start-up, returns kFailedPrecondition carrying the last lines QEMU
  // wrote to the log (its own error message), after killing and reaping it and
  // removing the sockets and the pid file. kUnavailable when QMP does not
  // answer within start_timeout (QEMU is killed, likewise).
  static Result<std::unique_ptr<QemuProcess>> Start(QemuStartOptions options);

  // Reconnects to a QEMU that outlived a daemon restart. Checks that `status.pid`
  // is alive and is a QEMU whose environment (SKIFF_QMP_SOCKET) or command line
  // names `status.qmp_socket`
  // (kNotFound when the pid is gone, kFailedPrecondition when it is another
  // program), opens a pidfd on it (it is not our child: the exit status is then
  // unknown), connects QMP and negotiates.
  static Result<std::unique_ptr<QemuProcess>> Attach(
      const QemuStatus& status, QemuCallbacks callbacks,
      std::chrono::milliseconds timeout = std::chrono::seconds(10));

  ~QemuProcess();
  QemuProcess(const QemuProcess&) = delete;
  QemuProcess& operator=(const QemuProcess&) = delete;

  pid_t pid() const { return status_.pid; }
  const QemuStatus& status() const { return status_; }
  // The QMP connection; commands fail with kUnavailable once QEMU has exited.
  QmpClient& qmp() { return *qmp_; }

  bool exited() const;
  std::optional<QemuExit> exit_info() const;
  // Blocks until QEMU exited (and the exit was handled) or `timeout` passed
  // (kUnavailable).
  Result<QemuExit> WaitForExit(std::chrono::milliseconds timeout);

  // Stops QEMU: `quit` over QMP and up to `graceful` for it to exit, then SIGTERM
  // and up to `term` more, then SIGKILL. Ok once it has exited (also when it had
  // already). kInternal if it survives SIGKILL for 10 s.
  Status Destroy(std::chrono::milliseconds graceful = std::chrono::seconds(5),
                 std::chrono::milliseconds term = std::chrono::seconds(5));

  // Sends `sig` through the pidfd (never to a recycled pid). kNotFound once exited.
  Status Signal(int sig);

  // Stops supervising without touching QEMU: closes QMP and the pidfd and joins
  // the monitor thread; on_exit will not be called. Idempotent.
  void Detach();

 private:
  QemuProcess() = default;
  // Start's steps. AbortStart kills (when `kill_it`) and reaps the half-started
  // QEMU, removes what it left and returns its wait status; the other two call
  // it before they return an error (qemu_process.cc).
  int AbortStart(bool kill_it);
  Status ConnectAtStart(const QemuStartOptions& o, off_t log_offset);
  Status ContinueAtStart(const QemuStartOptions& o, off_t log_offset);
  void MonitorLoop();
  void HandleExit();
  void OnQmpEvent(const QmpEvent& ev);
  void RemoveFiles();

  QemuStatus status_;
  QemuCallbacks callbacks_;
  UniqueFd pidfd_;
  UniqueFd stop_fd_;  // eventfd that wakes the monitor thread for Detach()
  std::unique_ptr<QmpClient> qmp_;
  std::thread monitor_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<QemuExit> exit_;
  std::string shutdown_reason_;
  bool guest_initiated_ = false;
  bool detached_ = false;
};

}  // namespace skiff::qemu
