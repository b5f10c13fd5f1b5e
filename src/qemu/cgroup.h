// Per-domain cgroups: each QEMU runs in <placement>/skiff/<domain> with the cpu
// weight and memory limits of its definition (<cputune><shares>, <memtune>).
// Works with cgroup v2 (unified) and v1 (one hierarchy per controller).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "skiff/base/status.h"
#include "skiff/conf/domain.h"

namespace skiff::qemu {

// What a domain's cgroup enforces. Absent values are left at the kernel's
// default (no limit, default weight).
struct CgroupLimits {
  std::optional<uint64_t> cpu_shares;             // libvirt/v1 scale, 2..262144
  std::optional<uint64_t> memory_hard_limit_kib;  // v1 memory.limit_in_bytes, v2 memory.max
  std::optional<uint64_t> memory_soft_limit_kib;  // v1 memory.soft_limit_in_bytes, v2 memory.high
  // Memory plus swap: v1 memory.memsw.limit_in_bytes, v2 memory.swap.max (minus hard limit).
  std::optional<uint64_t> swap_hard_limit_kib;
  bool any() const {
    return cpu_shares || memory_hard_limit_kib || memory_soft_limit_kib || swap_hard_limit_kib;
  }
};
// The limits `def` asks for.
CgroupLimits LimitsFromDef(const conf::DomainDef& def);

// The v2 weight for v1 shares, on the scale systemd and libvirt use:
// 2 -> 1, 1024 -> 39, 262144 -> 10000.
uint64_t SharesToWeight(uint64_t shares);
uint64_t WeightToShares(uint64_t weight);

enum class CgroupMode { kNone, kV1, kV2 };

// One domain's cgroup: one directory (v2) or one per controller (v1, cpu and memory).
class DomainCgroup {
 public:
  // `controllers[i]` names the v1 controller of `dirs[i]` ("" for v2).
  DomainCgroup(CgroupMode mode, std::vector<std::filesystem::path> dirs,
               std::vector<std::string> controllers)
      : mode_(mode), dirs_(std::move(dirs)), controllers_(std::move(controllers)) {}

  CgroupMode mode() const { return mode_; }
  // v2: {dir}; v1: {cpu dir, memory dir} (those that exist on the host).
  const std::vector<std::filesystem::path>& dirs() const { return dirs_; }

  // Moves process `pid` (all its threads) into the cgroup.
  Status AddProcess(pid_t pid) const;
  // Writes the limits; kFailedPrecondition naming the file and value when the
  // kernel refuses (e.g. a memory limit below what the process already uses).
  Status Apply(const CgroupLimits& limits) const;
  // The pids in the cgroup (its cgroup.procs; v1: the cpu hierarchy's).
  Result<std::vector<pid_t>> Pids() const;
  // Current cpu shares (v2: converted back from cpu.weight).
  Result<uint64_t> CpuShares() const;
  // Removes the directories (retrying briefly while the kernel still counts a
  // just-exited process). Ok when they are already gone.
  Status Remove() const;

 private:
  // The directory holding control file `file` ("memory.max": v1's memory one).
  Result<std::filesystem::path> DirFor(std::string_view file) const;

  CgroupMode mode_;
  std::vector<std::filesystem::path> dirs_;
  std::vector<std::string> controllers_;
};

// Finds the host's cgroup layout and creates or re-finds domain cgroups.
//
// Placement: v1: under skiffd's own cgroup of each controller (from
// /proc/self/cgroup), so that QEMU stays inside whatever limits the daemon's
// supervisor set: <mount>/<controller>/<own path>/skiff/<domain>. v2: a process
// may not sit in a cgroup whose children have controllers, so the domains go
// beside the daemon: <mount>/<parent of own path>/skiff/<domain> (or /skiff/... when
// the daemon is in the root cgroup), with +cpu +memory enabled on the way down.
class CgroupManager {
 public:
  // `root` is where the cgroup file systems are mounted ("/sys/fs/cgroup"); `proc`
  // the proc file system ("/proc"). Tests pass a fake tree.
  explicit CgroupManager(std::filesystem::path root = "/sys/fs/cgroup",
                         std::filesystem::path proc = "/proc");

  CgroupMode mode() const { return mode_; }
  // Why cgroups cannot be used (empty when they can): "no cgroup file system at ...".
  const std::string& unavailable_reason() const { return unavailable_; }

  // Creates (or reuses, when left over) the cgroup of domain `name`. kUnavailable
  // naming the reason when the host has no usable cgroups; kPermissionDenied /
  // kIo when a directory cannot be made.
  Result<DomainCgroup> Create(const std::string& name) const;
  // The cgroup that process `pid` (the QEMU of domain `name`) is in, when it is a
  // skiff domain cgroup ".../skiff/<name>"; kNotFound otherwise.
  Result<DomainCgroup> FindForProcess(const std::string& name, pid_t pid) const;

  // Makes Create() put these empty files into each new directory, as the kernel
  // does for a real cgroup.
  void PopulateNewDirsForTest(std::vector<std::string> files) { test_files_ = std::move(files); }

 private:
  // The placement of `pid` for `controller` ("" = v2), from /proc/PID/cgroup.
  Result<std::string> Placement(std::string_view pid, std::string_view controller) const;
  std::vector<std::string> Controllers() const;  // v1: those mounted of cpu, memory

  std::filesystem::path root_, proc_;
  CgroupMode mode_ = CgroupMode::kNone;
  std::string unavailable_;
  std::vector<std::string> test_files_;
};

}  // namespace skiff::qemu
