// Spawning children with exact fd layouts, and running short commands to completion.
#include "skiff/base/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

extern char** environ;

namespace skiff {
namespace {

std::vector<std::string> MergedEnv(const std::vector<std::string>& extra) {
  std::vector<std::string> out;
  auto key = [](const std::string& kv) { return kv.substr(0, kv.find('=')); };
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    bool overridden = std::any_of(extra.begin(), extra.end(),
                                  [&](const std::string& x) { return key(x) == key(kv); });
    if (!overridden) out.push_back(kv);
  }
  out.insert(out.end(), extra.begin(), extra.end());
  return out;
}

}  // namespace

std::string FindProgram(const std::string& name) {
  if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = ::getenv("PATH");
  std::string p = path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    std::string cand = p.substr(start, end - start) + "/" + name;
    if (::access(cand.c_str(), X_OK) == 0) return cand;
    start = end + 1;
  }
  return "";
}

Result<Child> Spawn(const SpawnOptions& o) {
  if (o.argv.empty()) return InvalidArgumentError("spawn: empty argv");
  std::string prog = FindProgram(o.argv[0]);
  if (prog.empty()) return NotFoundError("exec '{}': program not found", o.argv[0]);

  // Everything the child needs is prepared before fork: only async-signal-safe calls after.
  std::vector<char*> argv;
  for (const auto& a : o.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_strings = MergedEnv(o.env);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  struct rlimit rl {};
  int max_fd = 1024;
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    max_fd = static_cast<int>(std::min<rlim_t>(rl.rlim_cur, 65536));
  }
  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return ErrnoError(errno, "pipe");
  std::vector<std::pair<int, int>> fds = o.pass_fds;
  fds.push_back({o.stdin_fd, 0});
  fds.push_back({o.stdout_fd, 1});
  fds.push_back({o.stderr_fd, 2});
  std::vector<UniqueFd> cgroup_fds;
  for (const auto& f : o.cgroup_procs) {
    cgroup_fds.emplace_back(::open(f.c_str(), O_WRONLY | O_CLOEXEC));
    if (!cgroup_fds.back().valid()) {
      int e = errno;
      ::close(err_pipe[0]);
      ::close(err_pipe[1]);
      return ErrnoError(e, fmt::format("open cgroup file '{}'", f));
    }
  }
  int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);

  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    ::close(err_pipe[0]);
    ::close(err_pipe[1]);
    if (devnull >= 0) ::close(devnull);
    return ErrnoError(e, "fork");
  }
  if (pid == 0) {
    // The error pipe carries {errno, step}: step -1 is exec, i >= 0 cgroup file i.
    int step = -1;
    auto die = [&](int e) {
      int msg[2] = {e, step};
      (void)!::write(err_pipe[1], msg, sizeof msg);
      ::_exit(127);
    };
    // First of all, so that nothing the child allocates is charged to our cgroup.
    // "0" is the writing process itself (v1 and v2).
    for (size_t i = 0; i < cgroup_fds.size(); ++i) {
      step = static_cast<int>(i);
      if (::write(cgroup_fds[i].get(), "0", 1) != 1) die(errno);
    }
    step = -1;
    if (o.new_session) ::setsid();
    ::signal(SIGPIPE, SIG_DFL);
    sigset_t all;
    sigemptyset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    // Phase 1: move every source above the highest target so that dup2 cannot clobber one.
    int high = 3;
    for (auto& [src, dst] : fds) high = std::max({high, dst + 1, src + 1});
    high = std::max(high, err_pipe[1] + 1);
    std::vector<std::pair<int, int>>& moved = fds;
    for (auto& [src, dst] : moved) {
      int s = src >= 0 ? src : devnull;
      int n = ::fcntl(s, F_DUPFD, high);
      if (n < 0) die(errno);
      src = n;
    }
    for (auto& [src, dst] : moved) {
      if (::dup2(src, dst) < 0) die(errno);
    }
    for (int fd = 3; fd < max_fd; ++fd) {
      if (fd == err_pipe[1]) continue;
      bool keep = false;
      for (auto& [src, dst] : moved) keep = keep || dst == fd;
      if (!keep) ::close(fd);
    }
    if (!o.cwd.empty() && ::chdir(o.cwd.c_str()) != 0) die(errno);
    ::execve(prog.c_str(), argv.data(), envp.data());
    die(errno);
  }
  ::close(err_pipe[1]);
  if (devnull >= 0) ::close(devnull);
  cgroup_fds.clear();
  int child_err[2] = {0, -1};
  ssize_t n;
  do {
    n = ::read(err_pipe[0], child_err, sizeof child_err);
  } while (n < 0 && errno == EINTR);
  ::close(err_pipe[0]);
  if (n == sizeof child_err) {
    ::waitpid(pid, nullptr, 0);
    if (child_err[1] >= 0 && static_cast<size_t>(child_err[1]) < o.cgroup_procs.size()) {
      return ErrnoError(child_err[0],
                        fmt::format("join cgroup '{}'", o.cgroup_procs[child_err[1]]));
    }
    return ErrnoError(child_err[0], fmt::format("exec '{}'", prog));
  }
  Child c;
  c.pid = pid;
  c.pidfd = PidfdOpen(pid);
  return c;
}

Result<int> WaitForExit(pid_t pid) {
  int status = 0;
  for (;;) {
    if (::waitpid(pid, &status, 0) >= 0) return status;
    if (errno != EINTR) return ErrnoError(errno, fmt::format("waitpid {}", pid));
  }
}

Result<RunResult> RunCommand(const std::vector<std::string>& argv,
                             std::chrono::milliseconds timeout, std::string_view input) {
  int out_p[2], err_p[2], in_p[2];
  if (::pipe2(out_p, O_CLOEXEC) != 0) return ErrnoError(errno, "pipe");
  if (::pipe2(err_p, O_CLOEXEC) != 0) return ErrnoError(errno, "pipe");
  if (::pipe2(in_p, O_CLOEXEC) != 0) return ErrnoError(errno, "pipe");
  UniqueFd out_r(out_p[0]), out_w(out_p[1]), err_r(err_p[0]), err_w(err_p[1]), in_r(in_p[0]),
      in_w(in_p[1]);
  SpawnOptions so;
  so.argv = argv;
  so.stdin_fd = in_r.get();
  so.stdout_fd = out_w.get();
  so.stderr_fd = err_w.get();
  SKIFF_ASSIGN_OR_RETURN(Child child, Spawn(so));
  out_w.reset();
  err_w.reset();
  in_r.reset();
  ::fcntl(in_w.get(), F_SETFL, O_NONBLOCK);
  if (input.empty()) in_w.reset();

  RunResult rr;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false;
  while (out_r || err_r) {
    pollfd p[3];
    int n = 0;
    if (out_r) p[n++] = {out_r.get(), POLLIN, 0};
    if (err_r) p[n++] = {err_r.get(), POLLIN, 0};
    if (in_w) p[n++] = {in_w.get(), POLLOUT, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    int r = ::poll(p, n, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    for (int i = 0; i < n; ++i) {
      if (!p[i].revents) continue;
      if (p[i].fd == in_w.get()) {
        ssize_t w = ::write(in_w.get(), input.data(), input.size());
        if (w > 0) input.remove_prefix(static_cast<size_t>(w));
        if (w < 0 && errno != EAGAIN) input = {};
        if (input.empty()) in_w.reset();
        continue;
      }
      char buf[16384];
      ssize_t got = ::read(p[i].fd, buf, sizeof buf);
      bool is_out = out_r && p[i].fd == out_r.get();
      if (got > 0) {
        (is_out ? rr.out : rr.err).append(buf, static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        (is_out ? out_r : err_r).reset();
      }
    }
  }
  if (timed_out) ::kill(child.pid, SIGKILL);
  SKIFF_ASSIGN_OR_RETURN(int status, WaitForExit(child.pid));
  if (timed_out) {
    return UnavailableError("'{}' did not finish within {} ms", argv[0], timeout.count());
  }
  if (WIFEXITED(status)) rr.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) rr.term_signal = WTERMSIG(status);
  return rr;
}

}  // namespace skiff
