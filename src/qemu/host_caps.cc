// Host capabilities XML and host validation checks.
#include "skiff/qemu/host_caps.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>

#include "skiff/base/fs.h"
#include "skiff/base/process.h"
#include "skiff/base/strings.h"

namespace skiff::qemu {
namespace {

bool Exists(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::exists(p, ec);
}

}  // namespace

std::vector<MachineType> ParseMachineHelp(const std::string& text) {
  std::vector<MachineType> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line.rfind("Supported machines", 0) == 0) continue;
    size_t sp = line.find(' ');
    if (sp == std::string::npos) continue;
    MachineType m;
    m.name = line.substr(0, sp);
    m.description = Trim(line.substr(sp));
    const std::string alias = "(alias of ";
    if (size_t a = m.description.find(alias); a != std::string::npos) {
      size_t e = m.description.find(')', a);
      m.canonical = m.description.substr(a + alias.size(), e - a - alias.size());
      m.description = Trim(m.description.substr(0, a));
    }
    if (size_t d = m.description.find("(default)"); d != std::string::npos) {
      m.is_default = true;
      m.description = Trim(m.description.substr(0, d));
    }
    out.push_back(std::move(m));
  }
  return out;
}

HostCpu ParseCpuInfo(const std::string& text) {
  HostCpu cpu;
  std::istringstream in(text);
  std::string line;
  std::set<std::string> physical_ids;
  int processors = 0;
  while (std::getline(in, line)) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string key(Trim(line.substr(0, colon))), value(Trim(line.substr(colon + 1)));
    if (key == "processor") ++processors;
    if (key == "vendor_id" && cpu.vendor.empty()) {
      cpu.vendor = value == "AuthenticAMD" ? "AMD" : value == "GenuineIntel" ? "Intel" : value;
    }
    if (key == "model name" && cpu.model_name.empty()) cpu.model_name = value;
    if (key == "physical id") physical_ids.insert(value);
    if (key == "cpu cores") cpu.cores = std::max(1, std::atoi(value.c_str()));
    if (key == "flags" && cpu.flags.empty()) {
      std::istringstream fl(value);
      std::string f;
      while (fl >> f) {
        cpu.flags.push_back(f);
        if (f == "vmx" || f == "svm") cpu.hw_virt = true;
      }
    }
  }
  cpu.logical = std::max(1, processors);
  cpu.sockets = std::max<int>(1, static_cast<int>(physical_ids.size()));
  cpu.threads = std::max(1, cpu.logical / (cpu.sockets * cpu.cores));
  return cpu;
}

Result<std::string> CapabilitiesXml() {
  SKIFF_ASSIGN_OR_RETURN(QemuBinary q, FindQemu());
  SKIFF_ASSIGN_OR_RETURN(RunResult mh,
                         RunCommand({q.path, "-machine", "help"}, std::chrono::seconds(20)));
  if (!mh.ok()) return UnavailableError("'{} -machine help' failed: {}", q.path, Trim(mh.err));
  std::vector<MachineType> machines = ParseMachineHelp(mh.out);
  HostCpu cpu = ParseCpuInfo(ReadFile("/proc/cpuinfo").value_or(""));
  KvmStatus kvm = ProbeKvm();
  std::string uuid(Trim(ReadFile("/sys/class/dmi/id/product_uuid").value_or("")));
  if (uuid.empty()) uuid = std::string(Trim(ReadFile("/etc/machine-id").value_or("")));
  long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  uint64_t mem_kib = static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) / 1024;

  std::string x = "<capabilities>\n\n  <host>\n";
  x += fmt::format("    <uuid>{}</uuid>\n", XmlEscape(uuid));
  x += "    <cpu>\n";
  x += fmt::format("      <arch>{}</arch>\n", cpu.arch);
  x += fmt::format("      <model>{}</model>\n", XmlEscape(cpu.model_name));
  x += fmt::format("      <vendor>{}</vendor>\n", XmlEscape(cpu.vendor));
  x += fmt::format("      <topology sockets='{}' dies='1' cores='{}' threads='{}'/>\n", cpu.sockets,
                   cpu.cores, cpu.threads);
  for (const auto& f : cpu.flags) x += fmt::format("      <feature name='{}'/>\n", XmlEscape(f));
  x += "    </cpu>\n";
  x += "    <topology>\n      <cells num='1'>\n        <cell id='0'>\n";
  x += fmt::format("          <memory unit='KiB'>{}</memory>\n", mem_kib);
  x += fmt::format("          <cpus num='{}'>\n", cpu.logical);
  for (int i = 0; i < cpu.logical; ++i) x += fmt::format("            <cpu id='{}'/>\n", i);
  x += "          </cpus>\n        </cell>\n      </cells>\n    </topology>\n";
  x += "  </host>\n\n  <guest>\n    <os_type>hvm</os_type>\n";
  x += "    <arch name='x86_64'>\n      <wordsize>64</wordsize>\n";
  x += fmt::format("      <emulator>{}</emulator>\n", XmlEscape(q.path));
  for (const auto& m : machines) {
    if (m.canonical.empty()) {
      x += fmt::format("      <machine>{}</machine>\n", XmlEscape(m.name));
    } else {
      x += fmt::format("      <machine canonical='{}'>{}</machine>\n", XmlEscape(m.canonical),
                       XmlEscape(m.name));
    }
  }
  x += "      <domain type='qemu'/>\n";
  if (kvm.usable) x += "      <domain type='kvm'/>\n";
  x += "    </arch>\n    <features>\n      <acpi default='on' toggle='yes'/>\n"
       "      <apic default='on' toggle='no'/>\n    </features>\n  </guest>\n\n</capabilities>\n";
  return x;
}

std::vector<HostCheck> ValidateHost(const std::filesystem::path& root) {
  std::vector<HostCheck> out;
  auto add = [&](std::string area, std::string what, CheckResult r, std::string note = {}) {
    out.push_back({std::move(area), std::move(what), r, std::move(note)});
  };
  HostCpu cpu = ParseCpuInfo(ReadFile(root / "proc/cpuinfo").value_or(""));
  add("QEMU", "Checking for hardware virtualization",
      cpu.hw_virt ? CheckResult::kPass : CheckResult::kFail,
      cpu.hw_virt ? "" : "no vmx or svm flag: only TCG (type='qemu') guests can run");
  bool dev_kvm = Exists(root / "dev/kvm");
  add("QEMU", "Checking if device /dev/kvm exists",
      dev_kvm ? CheckResult::kPass : CheckResult::kFail,
      dev_kvm ? "" : "load kvm_intel or kvm_amd");
  if (dev_kvm) {
    KvmStatus k = ProbeKvm(root, root / "dev/kvm");
    add("QEMU", "Checking if device /dev/kvm is usable",
        k.usable ? CheckResult::kPass : CheckResult::kFail, k.reason);
  }
  bool tun = Exists(root / "dev/net/tun");
  add("QEMU", "Checking if device /dev/net/tun exists",
      tun ? CheckResult::kPass : CheckResult::kFail,
      tun ? "" : "load the tun module: guests cannot have tap interfaces");
  bool vhost = Exists(root / "dev/vhost-net");
  add("QEMU", "Checking if device /dev/vhost-net exists",
      vhost ? CheckResult::kPass : CheckResult::kWarn,
      vhost ? "" : "load vhost_net for faster virtio networking");
  bool bridge = Exists(root / "sys/module/bridge");
  add("NET", "Checking for bridge support", bridge ? CheckResult::kPass : CheckResult::kWarn,
      bridge ? "" : "the bridge module is not loaded (it loads on first use)");
  bool nft = !FindProgram("nft").empty();
  add("NET", "Checking for nftables", nft ? CheckResult::kPass : CheckResult::kFail,
      nft ? "" : "install nftables: NAT and routed networks need it");
  bool dnsmasq = !FindProgram("dnsmasq").empty() || Exists(root / "usr/sbin/dnsmasq");
  add("NET", "Checking for dnsmasq", dnsmasq ? CheckResult::kPass : CheckResult::kFail,
      dnsmasq ? "" : "install dnsmasq-base: networks cannot serve DHCP and DNS");
  bool qemu = !FindProgram("qemu-system-x86_64").empty();
  add("QEMU", "Checking for qemu-system-x86_64", qemu ? CheckResult::kPass : CheckResult::kFail,
      qemu ? "" : "install qemu-system-x86");
  auto cg = root / "sys/fs/cgroup";
  bool v2 = Exists(cg / "cgroup.controllers");
  std::string v2_controllers = v2 ? ReadFile(cg / "cgroup.controllers").value_or("") : "";
  for (const char* c : {"cpu", "cpuacct", "cpuset", "memory", "devices", "blkio", "pids"}) {
    bool ok = v2 ? (v2_controllers.find(c) != std::string::npos || std::string(c) == "cpuacct" ||
                    std::string(c) == "devices")
                 : Exists(cg / c);
    if (v2 && std::string(c) == "blkio") ok = v2_controllers.find("io") != std::string::npos;
    add("CGROUP", fmt::format("Checking for cgroup '{}' controller support", c),
        ok ? CheckResult::kPass : CheckResult::kWarn,
        ok ? "" : fmt::format("cgroup '{}' controller is not mounted: resource limits need it", c));
  }
  return out;
}

std::string FormatHostChecks(const std::vector<HostCheck>& checks) {
  std::string o;
  for (const auto& c : checks) {
    const char* r = c.result == CheckResult::kPass   ? "PASS"
                    : c.result == CheckResult::kWarn ? "WARN"
                                                     : "FAIL";
    std::string left = fmt::format("{:>6}: {}", c.area, c.what);
    o += fmt::format("{:<76}: {}", left, r);
    if (!c.note.empty()) o += " (" + c.note + ")";
    o += "\n";
  }
  return o;
}

}  // namespace skiff::qemu
