// Spawning children with exact fd layouts, and running short commands to completion.
#include "skiff/base/process.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

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

// The private /dev, settled before fork so that the child only makes system calls.
struct DevPlan {
  struct Node {
    std::string path;
    mode_t mode = 0;  // type and permissions
    dev_t rdev = 0;
    uid_t uid = 0;
    gid_t gid = 0;
    std::string link;  // a symlink's target (then mode/rdev unused)
  };
  std::vector<std::string> dirs;  // parents of nodes under /dev, shallow first
  std::vector<Node> nodes;
  std::vector<std::string> mounts;  // host mounts under /dev carried over
};

Result<DevPlan> PlanPrivateDev(const std::vector<std::string>& wanted) {
  DevPlan plan;
  std::set<std::string> dirs, seen;
  for (const auto& path : wanted) {
    if (path.rfind("/dev/", 0) != 0 || path.size() <= 5 || path.find("/..") != std::string::npos ||
        path.find("//") != std::string::npos || path.back() == '/') {
      return InvalidArgumentError("private /dev: '{}' is not a device path under /dev", path);
    }
    if (!seen.insert(path).second) continue;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) continue;  // not on this host: QEMU says what it missed
    DevPlan::Node n{path, st.st_mode, st.st_rdev, st.st_uid, st.st_gid, ""};
    if (S_ISLNK(st.st_mode)) {
      char target[4096];
      ssize_t len = ::readlink(path.c_str(), target, sizeof target - 1);
      if (len <= 0) continue;
      n.link.assign(target, static_cast<size_t>(len));
    } else if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode)) {
      return InvalidArgumentError("private /dev: '{}' is not a device node", path);
    }
    for (size_t slash = path.find('/', 5); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
      dirs.insert(path.substr(0, slash));
    }
    plan.nodes.push_back(std::move(n));
  }
  plan.dirs.assign(dirs.begin(), dirs.end());  // "/dev/a" sorts before "/dev/a/b"
  struct stat dev {};
  if (::stat("/dev", &dev) != 0) return ErrnoError(errno, "private /dev: stat '/dev'");
  for (const char* m : {"/dev/pts", "/dev/shm", "/dev/mqueue", "/dev/hugepages"}) {
    struct stat st {};
    if (::stat(m, &st) == 0 && S_ISDIR(st.st_mode) && st.st_dev != dev.st_dev) {
      plan.mounts.emplace_back(m);
    }
  }
  return plan;
}

// "/proc/self/fd/N" into `buf` (at least 32 bytes) without the allocator.
void ProcFdPath(char* buf, int fd) {
  static constexpr char kPrefix[] = "/proc/self/fd/";
  std::memcpy(buf, kPrefix, sizeof kPrefix - 1);
  char digits[12];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + fd % 10);
    fd /= 10;
  } while (fd > 0 && n < 11);
  char* out = buf + sizeof kPrefix - 1;
  while (n > 0) *out++ = digits[--n];
  *out = '\0';
}

// What the child's error pipe carries: {errno, step, index}.
enum ChildStep : int {
  kStepExec = 0,
  kStepCgroup,     // index: cgroup file
  kStepNamespace,  // index: 0 unshare, 1 make / a slave, 2 tmpfs on /dev
  kStepDevNode,    // index: plan node
  kStepDevMount,   // index: plan mount
  kStepCaps,
  kStepUser,
};

std::string DescribeChildStep(const SpawnOptions& o, const DevPlan& plan, int step, int index,
                              const std::string& prog) {
  auto in = [](int i, size_t n) { return i >= 0 && static_cast<size_t>(i) < n; };
  switch (step) {
    case kStepCgroup:
      if (in(index, o.cgroup_procs.size())) {
        return fmt::format("join cgroup '{}'", o.cgroup_procs[static_cast<size_t>(index)]);
      }
      break;
    case kStepNamespace:
      return index == 0   ? "private /dev: unshare the mount namespace"
             : index == 1 ? "private /dev: make the host's mounts slaves"
                          : "private /dev: mount a tmpfs on /dev";
    case kStepDevNode:
      if (in(index, plan.nodes.size())) {
        return fmt::format("private /dev: create '{}'",
                           plan.nodes[static_cast<size_t>(index)].path);
      }
      return "private /dev: create its directories";
    case kStepDevMount:
      if (in(index, plan.mounts.size())) {
        return fmt::format("private /dev: carry over '{}'",
                           plan.mounts[static_cast<size_t>(index)]);
      }
      break;
    case kStepCaps:
      return "drop capabilities";
    case kStepUser:
      if (o.run_as) return fmt::format("run as uid {} gid {}", o.run_as->uid, o.run_as->gid);
      break;
    default:
      break;
  }
  return fmt::format("exec '{}'", prog);
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
  DevPlan plan;
  if (o.private_dev) {
    auto p = PlanPrivateDev(o.dev_nodes);
    if (!p.ok()) {
      ::close(err_pipe[0]);
      ::close(err_pipe[1]);
      return p.status();
    }
    plan = std::move(*p);
  }
  std::vector<int> mount_fds(plan.mounts.size(), -1);
  char fd_path[32];
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
    int step = kStepExec, index = 0;
    auto die = [&](int e) {
      int msg[3] = {e, step, index};
      (void)!::write(err_pipe[1], msg, sizeof msg);
      ::_exit(127);
    };
    // First of all, so that nothing the child allocates is charged to our cgroup.
    // "0" is the writing process itself (v1 and v2).
    step = kStepCgroup;
    for (size_t i = 0; i < cgroup_fds.size(); ++i) {
      index = static_cast<int>(i);
      if (::write(cgroup_fds[i].get(), "0", 1) != 1) die(errno);
    }
    step = kStepExec;
    if (!o.cwd.empty() && ::chdir(o.cwd.c_str()) != 0) die(errno);
    if (o.private_dev) {
      step = kStepNamespace;
      index = 0;
      if (::unshare(CLONE_NEWNS) != 0) die(errno);
      index = 1;
      if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) die(errno);
      // Held open across the tmpfs that hides them, then bound back in place.
      step = kStepDevMount;
      for (size_t i = 0; i < plan.mounts.size(); ++i) {
        index = static_cast<int>(i);
        mount_fds[i] = ::open(plan.mounts[i].c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (mount_fds[i] < 0) die(errno);
      }
      step = kStepNamespace;
      index = 2;
      if (::mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=65536") != 0) {
        die(errno);
      }
      step = kStepDevNode;
      index = -1;
      for (const auto& d : plan.dirs) {
        if (::mkdir(d.c_str(), 0755) != 0 && errno != EEXIST) die(errno);
      }
      for (size_t i = 0; i < plan.nodes.size(); ++i) {
        const auto& n = plan.nodes[i];
        index = static_cast<int>(i);
        if (!n.link.empty()) {
          if (::symlink(n.link.c_str(), n.path.c_str()) != 0) die(errno);
          continue;
        }
        if (::mknod(n.path.c_str(), n.mode, n.rdev) != 0) die(errno);
        if (::chown(n.path.c_str(), n.uid, n.gid) != 0) die(errno);
        if (::chmod(n.path.c_str(), n.mode & 07777) != 0) die(errno);  // past the umask
      }
      step = kStepDevMount;
      for (size_t i = 0; i < plan.mounts.size(); ++i) {
        index = static_cast<int>(i);
        if (::mkdir(plan.mounts[i].c_str(), 0755) != 0 && errno != EEXIST) die(errno);
        ProcFdPath(fd_path, mount_fds[i]);
        if (::mount(fd_path, plan.mounts[i].c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0) {
          die(errno);
        }
        ::close(mount_fds[i]);
      }
    }
    if (o.no_capabilities) {
      // The bounding set first: emptying it needs CAP_SETPCAP, which the switch
      // of user below takes away.
      step = kStepCaps;
      for (int cap = 0; cap < 64; ++cap) {
        if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) die(errno);
      }
      (void)::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    }
    if (o.run_as) {
      step = kStepUser;
      const auto& u = *o.run_as;
      if (::setgroups(u.groups.size(), u.groups.data()) != 0) die(errno);
      if (::setresgid(u.gid, u.gid, u.gid) != 0) die(errno);
      if (::setresuid(u.uid, u.uid, u.uid) != 0) die(errno);
    }
    if (o.no_capabilities) {
      step = kStepCaps;
      if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die(errno);
    }
    step = kStepExec;
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
    ::execve(prog.c_str(), argv.data(), envp.data());
    die(errno);
  }
  ::close(err_pipe[1]);
  if (devnull >= 0) ::close(devnull);
  cgroup_fds.clear();
  int child_err[3] = {0, kStepExec, 0};
  ssize_t n;
  do {
    n = ::read(err_pipe[0], child_err, sizeof child_err);
  } while (n < 0 && errno == EINTR);
  ::close(err_pipe[0]);
  if (n == sizeof child_err) {
    ::waitpid(pid, nullptr, 0);
    return ErrnoError(child_err[0], DescribeChildStep(o, plan, child_err[1], child_err[2], prog));
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
