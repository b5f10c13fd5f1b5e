// sched_setaffinity of QEMU's vCPU and emulator threads from the domain's <cputune>.
#include "qemu/vcpu_pin.h"

#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "skiff/conf/cpuset.h"

namespace skiff::qemu {

namespace {

Result<cpu_set_t> ToMask(const std::string& text, std::string_view what) {
  auto cpus = conf::ParseCpuset(text);
  if (!cpus.ok()) return cpus.status().WithContext(what);
  cpu_set_t set;
  CPU_ZERO(&set);
  long online = ::sysconf(_SC_NPROCESSORS_CONF);
  bool any = false;
  for (unsigned c : *cpus) {
    if (c >= CPU_SETSIZE || (online > 0 && c >= static_cast<unsigned>(online))) continue;
    CPU_SET(c, &set);
    any = true;
  }
  if (!any) {
    return InvalidArgumentError("{}: cpuset '{}' names no CPU of this host (0-{})", what, text,
                                online > 0 ? online - 1 : 0);
  }
  return set;
}

Status Pin(pid_t tid, const cpu_set_t& set, std::string_view what) {
  if (::sched_setaffinity(tid, sizeof set, &set) != 0) {
    if (errno == ESRCH) return Status::Ok();  // the thread ended meanwhile
    return ErrnoError(errno, fmt::format("pin {} (thread {})", what, tid));
  }
  return Status::Ok();
}

}  // namespace

bool WantsPinning(const conf::DomainDef& def) {
  return !def.vcpu_cpuset.empty() ||
         (def.cputune && (!def.cputune->vcpupins.empty() || !def.cputune->emulatorpin.empty()));
}

Status ApplyPinning(pid_t pid, const conf::DomainDef& def, const std::vector<VcpuThread>& vcpus) {
  if (!WantsPinning(def)) return Status::Ok();
  std::optional<cpu_set_t> all;
  if (!def.vcpu_cpuset.empty()) {
    SKIFF_ASSIGN_OR_RETURN(cpu_set_t s, ToMask(def.vcpu_cpuset, "<vcpu cpuset>"));
    all = s;
  }
  std::optional<cpu_set_t> emulator = all;
  std::map<unsigned, std::string> pins;
  if (def.cputune) {
    if (!def.cputune->emulatorpin.empty()) {
      SKIFF_ASSIGN_OR_RETURN(cpu_set_t s, ToMask(def.cputune->emulatorpin, "<emulatorpin>"));
      emulator = s;
    }
    for (const auto& p : def.cputune->vcpupins) pins[p.vcpu] = p.cpuset;
  }
  std::set<pid_t> vcpu_tids;
  for (const VcpuThread& v : vcpus) {
    vcpu_tids.insert(v.thread_id);
    std::optional<cpu_set_t> mask = all;
    if (auto it = pins.find(static_cast<unsigned>(v.vcpu)); it != pins.end()) {
      SKIFF_ASSIGN_OR_RETURN(cpu_set_t s,
                             ToMask(it->second, fmt::format("<vcpupin vcpu='{}'>", v.vcpu)));
      mask = s;
    }
    if (mask) SKIFF_TRY(Pin(v.thread_id, *mask, fmt::format("vcpu {}", v.vcpu)));
  }
  if (!emulator) return Status::Ok();
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(fmt::format("/proc/{}/task", pid), ec)) {
    pid_t tid = static_cast<pid_t>(std::atol(e.path().filename().c_str()));
    if (tid <= 0 || vcpu_tids.count(tid)) continue;
    SKIFF_TRY(Pin(tid, *emulator, "emulator"));
  }
  if (ec) return ErrnoError(ec.value(), fmt::format("list threads of process {}", pid));
  return Status::Ok();
}

Status PinThread(pid_t tid, const std::string& cpuset, std::string_view what) {
  SKIFF_ASSIGN_OR_RETURN(cpu_set_t set, ToMask(cpuset, what));
  return Pin(tid, set, what);
}

Status PinThreadsExcept(pid_t pid, const std::set<pid_t>& skip, const std::string& cpuset,
                        std::string_view what) {
  SKIFF_ASSIGN_OR_RETURN(cpu_set_t set, ToMask(cpuset, what));
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(fmt::format("/proc/{}/task", pid), ec)) {
    pid_t tid = static_cast<pid_t>(std::atol(e.path().filename().c_str()));
    if (tid <= 0 || skip.count(tid)) continue;
    SKIFF_TRY(Pin(tid, set, what));
  }
  if (ec) return ErrnoError(ec.value(), fmt::format("list threads of process {}", pid));
  return Status::Ok();
}

Result<ThreadCpu> ThreadCpuUsage(pid_t pid, pid_t tid) {
  std::string file = fmt::format("/proc/{}/task/{}/stat", pid, tid);
  std::ifstream in(file);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t p = text.rfind(')');
  if (!in.good() && text.empty()) return NotFoundError("thread {} of process {} is gone", tid, pid);
  if (p == std::string::npos) return CorruptionError("'{}' is not a stat line", file);
  // Fields from 3 (state) on: 14 utime, 15 stime, 39 processor.
  std::istringstream f(text.substr(p + 2));
  std::string v;
  unsigned long long ut = 0, st = 0;
  ThreadCpu out;
  for (int i = 3; i <= 39 && f >> v; ++i) {
    if (i == 14) ut = std::strtoull(v.c_str(), nullptr, 10);
    if (i == 15) st = std::strtoull(v.c_str(), nullptr, 10);
    if (i == 39) out.cpu = std::atoi(v.c_str());
  }
  long hz = ::sysconf(_SC_CLK_TCK);
  if (hz > 0) out.cpu_time_ns = (ut + st) * 1000000000ull / static_cast<unsigned long long>(hz);
  return out;
}

Result<std::set<unsigned>> ThreadAffinity(pid_t tid) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(tid, sizeof set, &set) != 0) {
    return ErrnoError(errno, fmt::format("affinity of thread {}", tid));
  }
  std::set<unsigned> out;
  for (unsigned c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) out.insert(c);
  }
  return out;
}

}  // namespace skiff::qemu
