// QemuProcess: spawning QEMU detached, start-up error capture from its log,
// QMP connection, pidfd-based exit supervision, attach after a daemon restart.
#include "skiff/qemu/qemu_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include <spdlog/spdlog.h>

#include "skiff/base/fd.h"
#include "skiff/base/fs.h"
#include "skiff/base/process.h"
#include "skiff/base/strings.h"
#include "skiff/qemu/qmp_commands.h"

namespace skiff::qemu {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

int PidfdSendSignal(int pidfd, int sig) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

bool Readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  for (;;) {
    int r = ::poll(&p, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    return r > 0;
  }
}

int MsLeft(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

std::string Timestamp() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return fmt::format("{}.{:03d}+0000", buf, static_cast<int>(ms.count()));
}

// The last non-blank lines QEMU wrote to the log since `offset`, joined by "; ".
std::string LogTail(const std::filesystem::path& log, off_t offset, size_t max_lines = 5) {
  UniqueFd fd(::open(log.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return "";
  off_t end = ::lseek(fd.get(), 0, SEEK_END);
  if (end <= offset) return "";
  off_t from = std::max<off_t>(offset, end - 16384);
  std::string data(static_cast<size_t>(end - from), '\0');
  ssize_t n = ::pread(fd.get(), data.data(), data.size(), from);
  if (n <= 0) return "";
  data.resize(static_cast<size_t>(n));
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < data.size()) {
    size_t nl = data.find('\n', start);
    if (nl == std::string::npos) nl = data.size();
    std::string line = data.substr(start, nl - start);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) lines.push_back(line);
    start = nl + 1;
  }
  if (lines.size() > max_lines) lines.erase(lines.begin(), lines.end() - max_lines);
  std::string out;
  for (const auto& l : lines) out += (out.empty() ? "" : "; ") + l;
  return out;
}

std::string DescribeWaitStatus(int st) {
  if (WIFEXITED(st)) return fmt::format("exit code {}", WEXITSTATUS(st));
  if (WIFSIGNALED(st)) return fmt::format("signal {}", WTERMSIG(st));
  return "unknown status";
}

void RemoveIfSet(const std::filesystem::path& p) {
  if (!p.empty()) (void)RemoveFileIfExists(p);
}

Result<std::vector<std::string>> ReadCmdline(pid_t pid) {
  SKIFF_ASSIGN_OR_RETURN(std::string raw, ReadFile(fmt::format("/proc/{}/cmdline", pid)));
  std::vector<std::string> args;
  size_t start = 0;
  while (start < raw.size()) {
    size_t z = raw.find('\0', start);
    if (z == std::string::npos) z = raw.size();
    args.push_back(raw.substr(start, z - start));
    start = z + 1;
  }
  return args;
}

template <typename T>
Status GetField(const json& j, const char* key, bool required, T* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) return CorruptionError("qemu status: field '{}' is missing", key);
    return Status::Ok();
  }
  try {
    *out = it->get<T>();
  } catch (const std::exception&) {
    return CorruptionError("qemu status: field '{}' has the wrong type ({})", key, it->type_name());
  }
  return Status::Ok();
}

}  // namespace

std::optional<std::string> QmpSocketInEnvironment(pid_t pid) {
  auto env = ReadFile(fmt::format("/proc/{}/environ", pid));
  if (!env.ok()) return std::nullopt;
  const std::string key = fmt::format("{}=", kQmpSocketEnv);
  for (size_t at = 0; at < env->size();) {
    size_t end = env->find('\0', at);
    if (end == std::string::npos) end = env->size();
    if (env->compare(at, key.size(), key) == 0) {
      return env->substr(at + key.size(), end - at - key.size());
    }
    at = end + 1;
  }
  return std::nullopt;
}

bool ServesQmpSocket(pid_t pid, const std::string& qmp_socket) {
  if (QmpSocketInEnvironment(pid) == qmp_socket) return true;
  // A QEMU started before sockets were handed over names it on its command line.
  auto args = ReadCmdline(pid);
  return args.ok() && std::any_of(args->begin(), args->end(), [&](const std::string& a) {
           return a.find(qmp_socket) != std::string::npos;
         });
}

json QemuStatusToJson(const QemuStatus& s) {
  return json{{"pid", s.pid},
              {"qmp_socket", s.qmp_socket.string()},
              {"console_socket", s.console_socket.string()},
              {"log_file", s.log_file.string()},
              {"pid_file", s.pid_file.string()},
              {"start_time_ms", s.start_time_ms},
              {"taps", s.taps}};
}

Result<QemuStatus> QemuStatusFromJson(const json& j) {
  if (!j.is_object()) return CorruptionError("qemu status is not a json object");
  QemuStatus s;
  std::string qmp, console, log, pidfile;
  int64_t pid = -1;
  SKIFF_TRY(GetField(j, "pid", true, &pid));
  SKIFF_TRY(GetField(j, "qmp_socket", true, &qmp));
  SKIFF_TRY(GetField(j, "console_socket", false, &console));
  SKIFF_TRY(GetField(j, "log_file", true, &log));
  SKIFF_TRY(GetField(j, "pid_file", false, &pidfile));
  SKIFF_TRY(GetField(j, "start_time_ms", true, &s.start_time_ms));
  SKIFF_TRY(GetField(j, "taps", false, &s.taps));
  if (pid <= 0 || pid > INT32_MAX) return CorruptionError("qemu status: invalid pid {}", pid);
  if (qmp.empty()) return CorruptionError("qemu status: field 'qmp_socket' is empty");
  s.pid = static_cast<pid_t>(pid);
  s.qmp_socket = qmp;
  s.console_socket = console;
  s.log_file = log;
  s.pid_file = pidfile;
  return s;
}

Result<QemuStatus> ParseQemuStatus(std::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded()) return CorruptionError("qemu status is not valid json");
  return QemuStatusFromJson(j);
}

std::string QemuExit::Describe() const {
  std::string out;
  if (reaped && term_signal != 0) {
    out = fmt::format("killed by signal {}", term_signal);
  } else if (reaped) {
    out = fmt::format("exited with code {}", exit_code);
  } else {
    out = "exited";
  }
  if (!shutdown_reason.empty()) out += fmt::format(" ({})", shutdown_reason);
  return out;
}

namespace {

// Checks the options, creates the directories of the files QEMU will make and
// removes those a previous QEMU left.
Status PrepareStartPaths(const QemuStartOptions& o) {
  if (o.argv.empty()) return InvalidArgumentError("qemu start: empty command line");
  if (o.qmp_socket.empty()) return InvalidArgumentError("qemu start: no qmp socket path");
  if (o.log_file.empty()) return InvalidArgumentError("qemu start: no log file path");
  for (const auto& p : {o.qmp_socket, o.console_socket, o.log_file, o.pid_file}) {
    if (!p.empty() && p.has_parent_path()) SKIFF_TRY(MakeDirs(p.parent_path()));
  }
  // A stale socket from a crashed QEMU would let us connect to nothing.
  if (!o.sockets_handed_over) {
    RemoveIfSet(o.qmp_socket);
    RemoveIfSet(o.console_socket);
  }
  RemoveIfSet(o.pid_file);
  return Status::Ok();
}

// Opens the log for appending and writes the "starting up" line and the
// command line; `*offset` is where QEMU's own output will begin.
Result<UniqueFd> OpenStartLog(const QemuStartOptions& o, off_t* offset) {
  UniqueFd log(::open(o.log_file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640));
  if (!log) return ErrnoError(errno, fmt::format("open log '{}'", o.log_file.string()));
  std::string cmdline;
  for (const auto& a : o.argv) cmdline += (cmdline.empty() ? "" : " ") + ShellQuote(a);
  // The log is a courtesy: a write that fails must not stop QEMU from starting.
  (void)WriteAll(log.get(), fmt::format("{}: starting up\n{}\n", Timestamp(), cmdline),
                 o.log_file.string());
  *offset = ::lseek(log.get(), 0, SEEK_END);
  return log;
}

}  // namespace

Result<std::unique_ptr<QemuProcess>> QemuProcess::Start(QemuStartOptions o) {
  SKIFF_TRY(PrepareStartPaths(o));
  off_t log_offset = 0;
  SKIFF_ASSIGN_OR_RETURN(UniqueFd log, OpenStartLog(o, &log_offset));

  SpawnOptions so;
  so.argv = o.argv;
  so.pass_fds = o.pass_fds;
  so.stdout_fd = log.get();
  so.stderr_fd = log.get();
  so.new_session = true;
  for (const auto& f : o.cgroup_procs) so.cgroup_procs.push_back(f.string());
  so.private_dev = o.private_dev;
  so.dev_nodes = o.dev_nodes;
  so.run_as = o.run_as;
  so.no_capabilities = o.no_capabilities;
  so.env.push_back(fmt::format("{}={}", kQmpSocketEnv, o.qmp_socket.string()));
  auto child = Spawn(so);
  o.close_after_spawn.clear();
  if (!child.ok()) {
    (void)WriteAll(log.get(), fmt::format("{}: {}\n", Timestamp(), child.status().ToString()),
                   o.log_file.string());
    return child.status().WithContext("qemu start");
  }
  log.reset();

  std::unique_ptr<QemuProcess> p(new QemuProcess());
  p->status_.pid = child->pid;
  p->status_.qmp_socket = o.qmp_socket;
  p->status_.console_socket = o.console_socket;
  p->status_.log_file = o.log_file;
  p->status_.pid_file = o.pid_file;
  p->status_.taps = o.taps;
  p->status_.start_time_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
  p->callbacks_ = std::move(o.callbacks);
  p->pidfd_ = std::move(child->pidfd);

  const pid_t pid = child->pid;
  if (!p->pidfd_) {
    p->AbortStart(true);
    return UnsupportedError("qemu start: pidfd_open is not supported by this kernel");
  }
  if (!o.pid_file.empty()) {
    Status st = WriteFileAtomic(o.pid_file, fmt::format("{}\n", pid));
    if (!st.ok()) {
      p->AbortStart(true);
      return st.WithContext("qemu start");
    }
  }
  SKIFF_TRY(p->ConnectAtStart(o, log_offset));
  if (!o.start_paused) SKIFF_TRY(p->ContinueAtStart(o, log_offset));

  p->stop_fd_.reset(::eventfd(0, EFD_CLOEXEC));
  if (!p->stop_fd_) {
    int e = errno;
    p->AbortStart(true);
    return ErrnoError(e, "qemu start: eventfd");
  }
  p->monitor_ = std::thread([self = p.get()] { self->MonitorLoop(); });
  spdlog::info("qemu pid {} started (qmp '{}')", pid, o.qmp_socket.string());
  return p;
}

int QemuProcess::AbortStart(bool kill_it) {
  const pid_t pid = status_.pid;
  if (qmp_) qmp_->Close();
  if (kill_it) ::kill(pid, SIGKILL);  // still our unreaped child: the pid cannot be reused
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  RemoveFiles();
  detached_ = true;
  return st;
}

Status QemuProcess::ConnectAtStart(const QemuStartOptions& o, off_t log_offset) {
  const auto deadline = Clock::now() + o.start_timeout;
  Status last_connect = UnavailableError("qmp socket '{}' did not appear", o.qmp_socket.string());
  for (;;) {
    if (Readable(pidfd_.get(), 0)) {
      int st = AbortStart(false);
      std::string tail = LogTail(o.log_file, log_offset);
      return FailedPreconditionError("qemu exited during start-up ({}){}{}", DescribeWaitStatus(st),
                                     tail.empty() ? "" : ": ", tail);
    }
    if (Clock::now() >= deadline) {
      AbortStart(true);
      std::string tail = LogTail(o.log_file, log_offset);
      return UnavailableError("qemu did not answer on qmp socket '{}' within {} ms: {}{}{}",
                              o.qmp_socket.string(), o.start_timeout.count(),
                              last_connect.message(), tail.empty() ? "" : "; log: ", tail);
    }
    std::error_code ec;
    if (std::filesystem::exists(o.qmp_socket, ec)) {
      QmpClientOptions qo;
      qo.connect_timeout = std::chrono::milliseconds(std::max(MsLeft(deadline), 1));
      qo.on_event = [this](const QmpEvent& ev) { OnQmpEvent(ev); };
      auto c = QmpClient::Connect(o.qmp_socket, std::move(qo));
      if (c.ok()) {
        qmp_ = std::move(c).value();
        return Status::Ok();
      }
      last_connect = c.status();
      // QEMU may accept the connection and die in machine set-up: report its exit.
      if (Readable(pidfd_.get(), 1000)) continue;
      if (c.status().code() != Code::kUnavailable) {
        AbortStart(true);
        return c.status().WithContext("qemu start");
      }
    }
    Readable(pidfd_.get(), 20);
  }
}

Status QemuProcess::ContinueAtStart(const QemuStartOptions& o, off_t log_offset) {
  Status r = Resume(*qmp_);
  if (r.ok()) return Status::Ok();
  bool died = Readable(pidfd_.get(), 1000);
  int st = AbortStart(!died);
  std::string tail = LogTail(o.log_file, log_offset);
  return FailedPreconditionError("qemu start: cont failed: {} ({}){}{}", r.message(),
                                 DescribeWaitStatus(st), tail.empty() ? "" : ": ", tail);
}

Result<std::unique_ptr<QemuProcess>> QemuProcess::Attach(const QemuStatus& status,
                                                         QemuCallbacks callbacks,
                                                         std::chrono::milliseconds timeout) {
  if (status.pid <= 0) return InvalidArgumentError("qemu attach: invalid pid {}", status.pid);
  if (status.qmp_socket.empty()) return InvalidArgumentError("qemu attach: no qmp socket path");
  UniqueFd pidfd = PidfdOpen(status.pid);
  if (!pidfd) {
    if (errno == ESRCH) return NotFoundError("qemu pid {} is not running", status.pid);
    return ErrnoError(errno, fmt::format("pidfd_open {}", status.pid));
  }
  // The pidfd pins the process: the checks below cannot be fooled by pid reuse.
  auto args = ReadCmdline(status.pid);
  if (!args.ok() || args->empty() || Readable(pidfd.get(), 0)) {
    return NotFoundError("qemu pid {} is not running", status.pid);
  }
  std::string prog = std::filesystem::path((*args)[0]).filename().string();
  if (prog.find("qemu") == std::string::npos) {
    return FailedPreconditionError("pid {} is '{}', not qemu", status.pid, prog);
  }
  const std::string sock = status.qmp_socket.string();
  if (!ServesQmpSocket(status.pid, sock)) {
    return FailedPreconditionError("qemu pid {} does not serve qmp socket '{}'", status.pid, sock);
  }

  std::unique_ptr<QemuProcess> p(new QemuProcess());
  p->status_ = status;
  p->callbacks_ = std::move(callbacks);
  p->pidfd_ = std::move(pidfd);
  QmpClientOptions qo;
  qo.connect_timeout = timeout;
  QemuProcess* self = p.get();
  qo.on_event = [self](const QmpEvent& ev) { self->OnQmpEvent(ev); };
  auto c = QmpClient::Connect(status.qmp_socket, std::move(qo));
  if (!c.ok()) {
    p->detached_ = true;
    return c.status().WithContext(fmt::format("qemu attach pid {}", status.pid));
  }
  p->qmp_ = std::move(c).value();
  p->stop_fd_.reset(::eventfd(0, EFD_CLOEXEC));
  if (!p->stop_fd_) {
    p->detached_ = true;
    return ErrnoError(errno, "qemu attach: eventfd");
  }
  p->monitor_ = std::thread([self] { self->MonitorLoop(); });
  spdlog::info("qemu pid {} attached (qmp '{}')", status.pid, sock);
  return p;
}

QemuProcess::~QemuProcess() { Detach(); }

void QemuProcess::OnQmpEvent(const QmpEvent& ev) {
  if (ev.name == "SHUTDOWN") {
    std::lock_guard lock(mu_);
    if (auto it = ev.data.find("reason"); it != ev.data.end() && it->is_string()) {
      shutdown_reason_ = it->get<std::string>();
    }
    if (auto it = ev.data.find("guest"); it != ev.data.end() && it->is_boolean()) {
      guest_initiated_ = it->get<bool>();
    }
  }
  if (callbacks_.on_event) callbacks_.on_event(ev);
}

void QemuProcess::MonitorLoop() {
  pollfd p[2] = {{pidfd_.get(), POLLIN, 0}, {stop_fd_.get(), POLLIN, 0}};
  for (;;) {
    int r = ::poll(p, 2, -1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      spdlog::error("qemu pid {}: poll pidfd: {}", status_.pid, std::strerror(errno));
      return;
    }
    if (p[1].revents) return;
    if (p[0].revents) {
      HandleExit();
      return;
    }
  }
}

void QemuProcess::HandleExit() {
  QemuExit e;
  int st = 0;
  pid_t r;
  do {
    r = ::waitpid(status_.pid, &st, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == status_.pid) {
    e.reaped = true;
    if (WIFEXITED(st)) e.exit_code = WEXITSTATUS(st);
    if (WIFSIGNALED(st)) e.term_signal = WTERMSIG(st);
  }
  // Let the QMP reader handle what QEMU sent last (its SHUTDOWN event) first.
  if (qmp_ && !qmp_->WaitForClose(1s)) qmp_->Close();
  RemoveFiles();
  bool notify;
  {
    std::lock_guard lock(mu_);
    e.shutdown_reason = shutdown_reason_;
    e.guest_initiated = guest_initiated_;
    exit_ = e;
    notify = !detached_;
  }
  cv_.notify_all();
  spdlog::info("qemu pid {} {}", status_.pid, e.Describe());
  if (notify && callbacks_.on_exit) callbacks_.on_exit(e);
}

void QemuProcess::RemoveFiles() {
  RemoveIfSet(status_.qmp_socket);
  RemoveIfSet(status_.console_socket);
  RemoveIfSet(status_.pid_file);
}

bool QemuProcess::exited() const {
  std::lock_guard lock(mu_);
  return exit_.has_value();
}

std::optional<QemuExit> QemuProcess::exit_info() const {
  std::lock_guard lock(mu_);
  return exit_;
}

Result<QemuExit> QemuProcess::WaitForExit(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  if (detached_ && !exit_) {
    return FailedPreconditionError("qemu pid {}: not supervised (detached)", status_.pid);
  }
  if (!cv_.wait_for(lock, timeout, [&] { return exit_.has_value(); })) {
    return UnavailableError("qemu pid {} did not exit within {} ms", status_.pid, timeout.count());
  }
  return *exit_;
}

Status QemuProcess::Signal(int sig) {
  {
    std::lock_guard lock(mu_);
    if (exit_) return NotFoundError("qemu pid {} has exited", status_.pid);
  }
  if (PidfdSendSignal(pidfd_.get(), sig) != 0) {
    if (errno == ESRCH) return NotFoundError("qemu pid {} has exited", status_.pid);
    return ErrnoError(errno, fmt::format("signal {} to qemu pid {}", sig, status_.pid));
  }
  return Status::Ok();
}

Status QemuProcess::Destroy(std::chrono::milliseconds graceful, std::chrono::milliseconds term) {
  {
    std::lock_guard lock(mu_);
    if (exit_) return Status::Ok();
    if (detached_) {
      return FailedPreconditionError("qemu pid {}: cannot destroy, not supervised (detached)",
                                     status_.pid);
    }
  }
  if (qmp_ && !qmp_->closed()) {
    Status r = Quit(*qmp_, std::min<std::chrono::milliseconds>(graceful, 5s));
    if (!r.ok()) spdlog::debug("qemu pid {}: quit: {}", status_.pid, r.ToString());
    if (WaitForExit(graceful).ok()) return Status::Ok();
  }
  (void)Signal(SIGTERM);
  if (WaitForExit(term).ok()) return Status::Ok();
  spdlog::warn("qemu pid {} ignored SIGTERM for {} ms; killing it", status_.pid, term.count());
  (void)Signal(SIGKILL);
  if (WaitForExit(10s).ok()) return Status::Ok();
  return InternalError("qemu pid {} survived SIGKILL for 10 s", status_.pid);
}

void QemuProcess::Detach() {
  {
    std::lock_guard lock(mu_);
    detached_ = true;
  }
  if (stop_fd_) {
    uint64_t one = 1;
    (void)!::write(stop_fd_.get(), &one, sizeof one);
  }
  if (monitor_.joinable() && std::this_thread::get_id() != monitor_.get_id()) monitor_.join();
  if (qmp_) qmp_->Close();
}

}  // namespace skiff::qemu
