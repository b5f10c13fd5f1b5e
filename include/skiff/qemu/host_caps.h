// Host capabilities (like `virsh capabilities`) and host validation (like
// `virt-host-validate`): what this host can run, and what is missing.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "skiff/base/status.h"
#include "skiff/qemu/host.h"

namespace skiff::qemu {

struct MachineType {
  std::string name;       // pc-i440fx-7.2
  std::string canonical;  // for aliases ("pc" -> pc-i440fx-7.2), else empty
  std::string description;
  bool is_default = false;
};

// Parses `qemu-system-x86_64 -machine help`.
std::vector<MachineType> ParseMachineHelp(const std::string& text);

struct HostCpu {
  std::string arch = "x86_64";
  std::string vendor;  // AMD, Intel
  std::string model_name;
  int sockets = 1, cores = 1, threads = 1, logical = 1;
  bool hw_virt = false;  // vmx or svm in the flags
  std::vector<std::string> flags;
};

// Reads /proc/cpuinfo-formatted text.
HostCpu ParseCpuInfo(const std::string& text);

// `skiff capabilities`: the host (CPU, memory, uuid) and the guests QEMU can
// run (arch, emulator, machine types, domain types qemu and, when usable, kvm),
// as libvirt's <capabilities> XML.
Result<std::string> CapabilitiesXml();

enum class CheckResult { kPass, kWarn, kFail };

struct HostCheck {
  std::string area;  // "QEMU", "NET", "CGROUP"
  std::string what;  // "Checking if device /dev/kvm exists"
  CheckResult result = CheckResult::kPass;
  std::string note;  // why not, and what to do
};

// `skiff host-validate`: /dev/kvm and its usability, hardware virtualization,
// tun, vhost-net, bridge, nftables, dnsmasq, cgroup controllers (v1 or v2).
// `root` lets tests point at a fake tree (it prefixes /proc, /sys and /dev).
std::vector<HostCheck> ValidateHost(const std::filesystem::path& root = "/");

// Lines laid out as virt-host-validate prints them:
// "  QEMU: Checking if device /dev/kvm exists                  : PASS".
std::string FormatHostChecks(const std::vector<HostCheck>& checks);

}  // namespace skiff::qemu
