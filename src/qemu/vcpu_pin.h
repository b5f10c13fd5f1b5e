// CPU affinity of a running QEMU's threads from <cputune> (vcpupin, emulatorpin)
// and <vcpu cpuset>, applied with sched_setaffinity.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "skiff/base/status.h"
#include "skiff/conf/domain.h"

namespace skiff::qemu {

struct VcpuThread {
  int vcpu = -1;         // cpu-index
  pid_t thread_id = -1;  // host thread id (QMP query-cpus-fast "thread-id")
};

// Pins the threads of process `pid` as `def` asks, libvirt's way: each vCPU
// thread to its <vcpupin> cpuset, else to <vcpu cpuset>; every other thread
// (the emulator) to <emulatorpin>, else to <vcpu cpuset>. Threads with nothing
// asked keep their affinity. kInvalidArgument naming the cpuset when it is
// malformed or names no CPU of this host; kIo naming the thread when the kernel
// refuses.
Status ApplyPinning(pid_t pid, const conf::DomainDef& def, const std::vector<VcpuThread>& vcpus);

// Whether `def` asks for any pinning.
bool WantsPinning(const conf::DomainDef& def);

// Pins thread `tid` to `cpuset` (the checks of ApplyPinning; `what` names it in errors).
Status PinThread(pid_t tid, const std::string& cpuset, std::string_view what);
// Pins every thread of process `pid` except those in `skip` (the emulator's) to `cpuset`.
Status PinThreadsExcept(pid_t pid, const std::set<pid_t>& skip, const std::string& cpuset,
                        std::string_view what);

// CPU time and the CPU it last ran on of thread `tid` of process `pid` (/proc).
struct ThreadCpu {
  uint64_t cpu_time_ns = 0;
  int cpu = -1;
};
Result<ThreadCpu> ThreadCpuUsage(pid_t pid, pid_t tid);

// The CPUs thread `tid` may run on.
Result<std::set<unsigned>> ThreadAffinity(pid_t tid);

}  // namespace skiff::qemu
