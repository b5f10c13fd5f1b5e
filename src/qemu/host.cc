// Probing the host for QEMU and a usable KVM.
#include "skiff/qemu/host.h"

#include <fcntl.h>
#include <grp.h>
#include <linux/kvm.h>
#include <pwd.h>
#include <sys/ioctl.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <regex>

#include <spdlog/spdlog.h>

#include "skiff/base/fd.h"
#include "skiff/base/process.h"

namespace skiff::qemu {

Result<SpawnOptions::User> LookUpUser(const std::string& name) {
  std::vector<char> buf(16384);
  struct passwd pw {};
  struct passwd* found = nullptr;
  int e = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
  if (e != 0) return ErrnoError(e, fmt::format("look up user '{}'", name));
  if (!found) return NotFoundError("user '{}' does not exist", name);
  SpawnOptions::User u{pw.pw_uid, pw.pw_gid, {}};
  int n = 64;
  std::vector<gid_t> groups(static_cast<size_t>(n));
  while (::getgrouplist(name.c_str(), pw.pw_gid, groups.data(), &n) < 0) {
    groups.resize(static_cast<size_t>(n));
  }
  groups.resize(static_cast<size_t>(n));
  u.groups = std::move(groups);
  return u;
}

Result<QemuBinary> ParseQemuVersion(const std::string& path, const std::string& output) {
  static const std::regex re(R"(QEMU emulator version (\d+)\.(\d+)\.(\d+))");
  std::smatch m;
  if (!std::regex_search(output, m, re)) {
    return UnavailableError("'{}' did not report a QEMU version", path);
  }
  QemuBinary b;
  b.path = path;
  b.major = std::atoi(m[1].str().c_str());
  b.minor = std::atoi(m[2].str().c_str());
  b.micro = std::atoi(m[3].str().c_str());
  b.version = fmt::format("{}.{}.{}", b.major, b.minor, b.micro);
  return b;
}

const Result<QemuBinary>& InstalledQemu() {
  static std::once_flag once;
  static std::optional<Result<QemuBinary>> q;
  std::call_once(once, [] { q.emplace(FindQemu()); });
  return *q;
}

HostFacts ProbeHostFacts() {
  HostFacts f;
  utsname u{};
  if (::uname(&u) == 0) {
    f.arch = u.machine;
    f.kernel_release = u.release;
  }
  f.cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  struct sysinfo si {};
  if (::sysinfo(&si) == 0) f.memory_kib = static_cast<uint64_t>(si.totalram) * si.mem_unit / 1024;
  return f;
}

Result<QemuBinary> FindQemu() {
  const char* env = std::getenv("SKIFF_QEMU");
  std::string name = env && *env ? env : "qemu-system-x86_64";
  std::string path = FindProgram(name);
  if (path.empty()) {
    return NotFoundError("QEMU not found: '{}' is not in PATH (install qemu-system-x86)", name);
  }
  SKIFF_ASSIGN_OR_RETURN(RunResult rr, RunCommand({path, "--version"}, std::chrono::seconds(20)));
  if (!rr.ok()) return UnavailableError("'{} --version' failed: {}", path, rr.err);
  return ParseQemuVersion(path, rr.out);
}

bool QemuHasSandbox(const std::string& path) {
  static std::mutex mu;
  static std::map<std::string, bool> known;
  std::lock_guard l(mu);
  auto it = known.find(path);
  if (it != known.end()) return it->second;
  auto rr = RunCommand({path, "-sandbox", "on", "-machine", "help"}, std::chrono::seconds(20));
  bool has = rr.ok() && rr->ok();
  if (!has) spdlog::warn("'{}' has no seccomp sandbox (-sandbox): QEMU runs without it", path);
  known[path] = has;
  return has;
}

KvmStatus ProbeKvm(const std::filesystem::path& sys_root, const std::filesystem::path& dev_kvm) {
  KvmStatus s;
  auto has_module = [&](const char* m) {
    std::error_code ec;
    return std::filesystem::exists(sys_root / "sys/module" / m, ec);
  };
  if (has_module("kvm_pvm")) {
    s.module = "kvm_pvm";
    s.reason =
        "/dev/kvm is the paravirtual nested KVM (kvm_pvm), on which stock guests crash; "
        "use <domain type='qemu'> (TCG)";
    return s;
  }
  if (has_module("kvm_intel")) s.module = "kvm_intel";
  if (has_module("kvm_amd")) s.module = "kvm_amd";
  UniqueFd fd(::open(dev_kvm.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) {
    s.reason = fmt::format("cannot open {}: {}", dev_kvm.string(), std::strerror(errno));
    if (s.module.empty()) s.reason += " (no kvm_intel or kvm_amd module loaded)";
    return s;
  }
  int api = ::ioctl(fd.get(), KVM_GET_API_VERSION, 0);
  if (api != KVM_API_VERSION) {
    s.reason = fmt::format("{} reports KVM API version {}, expected {}", dev_kvm.string(), api,
                           KVM_API_VERSION);
    return s;
  }
  if (s.module.empty()) {
    s.reason = "neither kvm_intel nor kvm_amd is loaded";
    return s;
  }
  s.usable = true;
  return s;
}

std::string DescribeKvm(const KvmStatus& s) {
  if (s.usable) return fmt::format("usable ({})", s.module);
  return "not usable: " + s.reason;
}

}  // namespace skiff::qemu
