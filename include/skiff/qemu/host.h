// Host probes: which QEMU is installed, and whether KVM is usable here.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "skiff/base/process.h"
#include "skiff/base/status.h"

namespace skiff::qemu {

// The user QEMU runs as (skiffd --qemu-user): its uid, primary gid and the groups
// it is a member of (kvm, for /dev/kvm). kNotFound naming the user when the
// system has none of that name.
Result<SpawnOptions::User> LookUpUser(const std::string& name);

struct QemuBinary {
  std::string path;     // e.g. /usr/bin/qemu-system-x86_64
  std::string version;  // e.g. "7.2.19"
  int major = 0, minor = 0, micro = 0;
};

// Finds qemu-system-x86_64 ($SKIFF_QEMU overrides) and asks it for its version.
Result<QemuBinary> FindQemu();

// Whether the QEMU at `path` was built with seccomp (-sandbox): it parses the
// option before anything else, so `-sandbox on -machine help` fails at once
// without it. Asked once per path and remembered.
bool QemuHasSandbox(const std::string& path);

// FindQemu's answer, asked once per process (asking costs a process; the answer
// does not change while the daemon runs).
const Result<QemuBinary>& InstalledQemu();

// Parses the first line of `qemu-system-x86_64 --version`.
Result<QemuBinary> ParseQemuVersion(const std::string& path, const std::string& output);

struct KvmStatus {
  bool usable = false;
  std::string module;  // kvm_intel, kvm_amd, kvm_pvm, or empty
  std::string reason;  // why not usable, one line; empty when usable
};

// Decides whether hardware virtualization can run stock guests here. Reads
// `sys_root`/sys/module to tell real KVM (kvm_intel, kvm_amd) from the
// paravirtual nested kvm_pvm, and opens `dev_kvm` to check its API version.
KvmStatus ProbeKvm(const std::filesystem::path& sys_root = "/",
                   const std::filesystem::path& dev_kvm = "/dev/kvm");

// The host facts `skiff capabilities` shows: uname's machine and release, the
// online CPUs and the memory.
struct HostFacts {
  std::string arch;            // x86_64
  long cpus = 0;               // online
  uint64_t memory_kib = 0;     // total
  std::string kernel_release;  // 6.1.0-...
};
HostFacts ProbeHostFacts();

// One line for humans: "usable (kvm_amd)" or "not usable: ...".
std::string DescribeKvm(const KvmStatus& status);

}  // namespace skiff::qemu
