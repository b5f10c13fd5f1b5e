// Per-domain cgroups on cgroup v1 and v2: layout detection, placement relative to
// the daemon's own cgroup, limits, adoption after a daemon restart, removal.
#include "qemu/cgroup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "skiff/base/fs.h"

namespace skiff::qemu {

namespace fs = std::filesystem;

namespace {

Status WriteControl(const fs::path& file, const std::string& value) {
  int fd = ::open(file.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      return UnavailableError("cgroup file '{}' does not exist (controller not enabled?)",
                              file.string());
    }
    return ErrnoError(errno, fmt::format("open '{}'", file.string()));
  }
  ssize_t n = ::write(fd, value.data(), value.size());
  int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(value.size())) {
    return FailedPreconditionError("cannot write '{}' to '{}': {}", value, file.string(),
                                   n < 0 ? ErrnoError(err, "write").message() : "short write");
  }
  return Status::Ok();
}

Result<std::string> ReadControl(const fs::path& file) {
  SKIFF_ASSIGN_OR_RETURN(std::string s, ReadFile(file));
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

Result<uint64_t> ReadNumber(const fs::path& file) {
  SKIFF_ASSIGN_OR_RETURN(std::string s, ReadControl(file));
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (s.empty() || errno != 0 || *end != '\0') {
    return CorruptionError("cgroup file '{}' holds '{}', not a number", file.string(), s);
  }
  return static_cast<uint64_t>(v);
}

// "/a/b" + "skiff/x" without letting an absolute second part replace the first.
fs::path Under(const fs::path& base, std::string_view rel) {
  std::string r(rel);
  while (!r.empty() && r.front() == '/') r.erase(0, 1);
  return r.empty() ? base : base / r;
}

bool ValidName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos;
}

}  // namespace

CgroupLimits LimitsFromDef(const conf::DomainDef& def) {
  CgroupLimits l;
  if (def.cputune) l.cpu_shares = def.cputune->shares;
  if (def.memtune) {
    l.memory_hard_limit_kib = def.memtune->hard_limit_kib;
    l.memory_soft_limit_kib = def.memtune->soft_limit_kib;
    l.swap_hard_limit_kib = def.memtune->swap_hard_limit_kib;
  }
  return l;
}

uint64_t SharesToWeight(uint64_t shares) {
  if (shares < 2) shares = 2;
  if (shares > 262144) shares = 262144;
  return 1 + ((shares - 2) * 9999) / 262142;
}

uint64_t WeightToShares(uint64_t weight) {
  if (weight < 1) weight = 1;
  if (weight > 10000) weight = 10000;
  return 2 + ((weight - 1) * 262142) / 9999;
}

// --- DomainCgroup ---

Status DomainCgroup::AddProcess(pid_t pid) const {
  for (const auto& d : dirs_) {
    SKIFF_TRY(WriteControl(d / "cgroup.procs", std::to_string(pid)));
  }
  return Status::Ok();
}

Result<fs::path> DomainCgroup::DirFor(std::string_view file) const {
  std::string_view controller = file.substr(0, file.find('.'));
  for (size_t i = 0; i < dirs_.size(); ++i) {
    if (mode_ == CgroupMode::kV2 || (i < controllers_.size() && controllers_[i] == controller)) {
      return dirs_[i];
    }
  }
  return UnavailableError("no {} cgroup controller for '{}'", controller,
                          dirs_.empty() ? std::string("this domain") : dirs_.front().string());
}

Status DomainCgroup::Apply(const CgroupLimits& limits) const {
  auto dir_with = [&](const char* file) { return DirFor(file); };
  bool v2 = mode_ == CgroupMode::kV2;
  if (limits.cpu_shares) {
    const char* f = v2 ? "cpu.weight" : "cpu.shares";
    SKIFF_ASSIGN_OR_RETURN(fs::path d, dir_with(f));
    uint64_t v = v2 ? SharesToWeight(*limits.cpu_shares) : *limits.cpu_shares;
    SKIFF_TRY(WriteControl(d / f, std::to_string(v)));
  }
  if (limits.memory_hard_limit_kib) {
    const char* f = v2 ? "memory.max" : "memory.limit_in_bytes";
    SKIFF_ASSIGN_OR_RETURN(fs::path d, dir_with(f));
    SKIFF_TRY(WriteControl(d / f, std::to_string(*limits.memory_hard_limit_kib * 1024)));
  }
  if (limits.memory_soft_limit_kib) {
    const char* f = v2 ? "memory.high" : "memory.soft_limit_in_bytes";
    SKIFF_ASSIGN_OR_RETURN(fs::path d, dir_with(f));
    SKIFF_TRY(WriteControl(d / f, std::to_string(*limits.memory_soft_limit_kib * 1024)));
  }
  if (limits.swap_hard_limit_kib) {
    // After the memory limit: v1 refuses memsw below it.
    const char* f = v2 ? "memory.swap.max" : "memory.memsw.limit_in_bytes";
    SKIFF_ASSIGN_OR_RETURN(fs::path d, dir_with(f));
    uint64_t kib = *limits.swap_hard_limit_kib;
    if (v2) kib -= std::min(kib, limits.memory_hard_limit_kib.value_or(0));
    SKIFF_TRY(WriteControl(d / f, std::to_string(kib * 1024)));
  }
  return Status::Ok();
}

Result<std::vector<pid_t>> DomainCgroup::Pids() const {
  if (dirs_.empty()) return NotFoundError("no cgroup");
  SKIFF_ASSIGN_OR_RETURN(std::string text, ReadFile(dirs_.front() / "cgroup.procs"));
  std::vector<pid_t> pids;
  std::istringstream in(text);
  long p = 0;
  while (in >> p) pids.push_back(static_cast<pid_t>(p));
  return pids;
}

Result<uint64_t> DomainCgroup::CpuShares() const {
  if (mode_ == CgroupMode::kV2) {
    SKIFF_ASSIGN_OR_RETURN(fs::path d, DirFor("cpu.weight"));
    SKIFF_ASSIGN_OR_RETURN(uint64_t w, ReadNumber(d / "cpu.weight"));
    return WeightToShares(w);
  }
  SKIFF_ASSIGN_OR_RETURN(fs::path d, DirFor("cpu.shares"));
  return ReadNumber(d / "cpu.shares");
}

Status DomainCgroup::Remove() const {
  Status result = Status::Ok();
  for (const auto& d : dirs_) {
    // The kernel may count a process that was just reaped for a moment longer.
    for (int attempt = 0;; ++attempt) {
      if (::rmdir(d.c_str()) == 0 || errno == ENOENT) break;
      int err = errno;
      if (err == ENOTEMPTY) {
        // A fake tree (tests) holds plain files; a real cgroup's files go with rmdir.
        std::error_code ec;
        bool only_files = true;
        for (const auto& e : fs::directory_iterator(d, ec)) only_files &= !e.is_directory();
        if (!ec && only_files && fs::remove_all(d, ec) > 0 && !ec) break;
      }
      if (err != EBUSY || attempt >= 50) {
        result = ErrnoError(err, fmt::format("remove cgroup '{}'", d.string()));
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  return result;
}

// --- CgroupManager ---

CgroupManager::CgroupManager(fs::path root, fs::path proc)
    : root_(std::move(root)), proc_(std::move(proc)) {
  std::error_code ec;
  if (fs::exists(root_ / "cgroup.controllers", ec)) {
    mode_ = CgroupMode::kV2;
  } else if (fs::exists(root_ / "cpu" / "cgroup.procs", ec) ||
             fs::exists(root_ / "memory" / "cgroup.procs", ec)) {
    mode_ = CgroupMode::kV1;
  } else {
    unavailable_ =
        fmt::format("no cgroup v2 or v1 (cpu, memory) file system under '{}'", root_.string());
  }
}

std::vector<std::string> CgroupManager::Controllers() const {
  if (mode_ == CgroupMode::kV2) return {""};
  std::vector<std::string> out;
  for (const char* c : {"cpu", "memory"}) {
    std::error_code ec;
    if (fs::exists(root_ / c / "cgroup.procs", ec)) out.emplace_back(c);
  }
  return out;
}

Result<std::string> CgroupManager::Placement(std::string_view pid,
                                             std::string_view controller) const {
  fs::path file = proc_ / pid / "cgroup";
  SKIFF_ASSIGN_OR_RETURN(std::string text, ReadFile(file));
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    // "4:memory:/process_api/x", "1:cpu,cpuacct:/", "0::/system.slice/x.service"
    size_t a = line.find(':');
    size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::string ctrls = line.substr(a + 1, b - a - 1);
    std::string path = line.substr(b + 1);
    if (controller.empty()) {
      if (line.compare(0, a, "0") == 0 && ctrls.empty()) return path;
      continue;
    }
    std::istringstream cs(ctrls);
    std::string c;
    while (std::getline(cs, c, ',')) {
      if (c == controller) return path;
    }
  }
  return NotFoundError("'{}' names no {} cgroup", file.string(),
                       controller.empty() ? std::string("v2") : std::string(controller));
}

Result<DomainCgroup> CgroupManager::Create(const std::string& name) const {
  if (mode_ == CgroupMode::kNone) return UnavailableError("{}", unavailable_);
  if (!ValidName(name)) return InvalidArgumentError("invalid cgroup name '{}'", name);
  std::vector<fs::path> dirs;
  std::vector<std::string> controllers = Controllers();
  for (const std::string& c : controllers) {
    fs::path mount = c.empty() ? root_ : root_ / c;
    std::string own = Placement("self", c).value_or("/");
    fs::path base;
    if (c.empty()) {
      // v2: beside the daemon (its own cgroup holds a process, so no controllers below it).
      fs::path p = fs::path(own).parent_path();
      base = Under(mount, own == "/" || own.empty() ? "" : p.string());
    } else {
      base = Under(mount, own);
    }
    // In a cgroup namespace or container the path may not be visible: use the root.
    std::error_code ec;
    if (!fs::is_directory(base, ec)) base = mount;
    fs::path top = base / "skiff";
    fs::path dir = top / name;
    for (const fs::path& d : {top, dir}) {
      if (::mkdir(d.c_str(), 0755) != 0 && errno != EEXIST) {
        return ErrnoError(errno, fmt::format("create cgroup '{}'", d.string()));
      }
      if (d == dir) {
        for (const auto& f : test_files_) {
          if (!fs::exists(d / f)) (void)WriteFileAtomic(d / f, "");
        }
      }
      if (c.empty() && d == top) {
        // Best effort: a controller that cannot be enabled shows up as a
        // missing file when a limit needs it.
        (void)WriteControl(base / "cgroup.subtree_control", "+cpu +memory");
        (void)WriteControl(top / "cgroup.subtree_control", "+cpu +memory");
      }
    }
    dirs.push_back(dir);
  }
  if (dirs.empty())
    return UnavailableError("no cpu or memory cgroup controller under '{}'", root_.string());
  return DomainCgroup(mode_, std::move(dirs), std::move(controllers));
}

Result<DomainCgroup> CgroupManager::FindForProcess(const std::string& name, pid_t pid) const {
  if (mode_ == CgroupMode::kNone) return UnavailableError("{}", unavailable_);
  std::vector<fs::path> dirs;
  std::vector<std::string> controllers = Controllers();
  std::string suffix = "/skiff/" + name;
  for (const std::string& c : controllers) {
    SKIFF_ASSIGN_OR_RETURN(std::string p, Placement(std::to_string(pid), c));
    if (p.size() < suffix.size() || p.compare(p.size() - suffix.size(), suffix.size(), suffix)) {
      return NotFoundError("process {} is in cgroup '{}', not in a skiff cgroup of '{}'", pid, p,
                           name);
    }
    fs::path mount = c.empty() ? root_ : root_ / c;
    fs::path dir = Under(mount, p);
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
      return NotFoundError("cgroup '{}' of process {} is not visible", dir.string(), pid);
    }
    dirs.push_back(dir);
  }
  if (dirs.empty()) return NotFoundError("no cgroup controllers");
  return DomainCgroup(mode_, std::move(dirs), std::move(controllers));
}

}  // namespace skiff::qemu
