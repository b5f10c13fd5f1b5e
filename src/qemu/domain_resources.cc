// DomainResources: cgroup, CPU pinning and console relay of one running QEMU,
// set up at start, found again after a daemon restart, released at exit.
#include "qemu/domain_resources.h"

#include <atomic>

#include <spdlog/spdlog.h>

#include "qemu/vcpu_pin.h"
#include "skiff/qemu/qmp_commands.h"

namespace skiff::qemu {

namespace {

// Hosts without cgroups get one warning per daemon, not one per domain.
void WarnNoCgroups(const std::string& why) {
  static std::atomic<bool> warned{false};
  if (!warned.exchange(true)) {
    spdlog::warn("domains run without their own cgroups (no cpu/memory limits possible): {}", why);
  }
}

}  // namespace

Result<std::vector<std::filesystem::path>> DomainResources::Prepare(const conf::DomainDef& def,
                                                                    const CgroupManager& cgroups) {
  CgroupLimits limits = LimitsFromDef(def);
  auto cg = cgroups.mode() == CgroupMode::kNone
                ? Result<DomainCgroup>(UnavailableError("{}", cgroups.unavailable_reason()))
                : cgroups.Create(def.name);
  if (!cg.ok()) {
    if (limits.any()) {
      return FailedPreconditionError(
          "domain '{}' asks for cpu or memory limits (<cputune><shares>, <memtune>) but its "
          "cgroup cannot be made: {}",
          def.name, cg.status().message());
    }
    WarnNoCgroups(cg.status().message());
    return std::vector<std::filesystem::path>{};
  }
  // Limits first, so that QEMU never runs in the cgroup without them.
  Status st = cg->Apply(limits);
  if (!st.ok()) {
    (void)cg->Remove();
    return st.WithContext(fmt::format("domain '{}'", def.name));
  }
  std::vector<std::filesystem::path> procs;
  for (const auto& d : cg->dirs()) procs.push_back(d / "cgroup.procs");
  std::lock_guard l(mu_);
  cgroup_ = *cg;
  return procs;
}

Status DomainResources::Setup(const conf::DomainDef& def, qemu::QemuProcess& proc,
                              const std::filesystem::path& viewer_socket,
                              const LogLimits& log_limits) {
  if (WantsPinning(def)) {
    SKIFF_ASSIGN_OR_RETURN(auto cpus, qemu::QueryCpusFast(proc.qmp()));
    std::vector<VcpuThread> threads;
    for (const auto& c : cpus) threads.push_back({c.cpu_index, static_cast<pid_t>(c.thread_id)});
    SKIFF_TRY(
        ApplyPinning(proc.pid(), def, threads).WithContext(fmt::format("domain '{}'", def.name)));
  }

  StartConsole(def, proc, viewer_socket, std::chrono::seconds(5), log_limits);
  return Status::Ok();
}

void DomainResources::Adopt(const conf::DomainDef& def, qemu::QemuProcess& proc,
                            const CgroupManager& cgroups,
                            const std::filesystem::path& viewer_socket,
                            const LogLimits& log_limits) {
  if (cgroups.mode() != CgroupMode::kNone) {
    auto cg = cgroups.FindForProcess(def.name, proc.pid());
    if (cg.ok()) {
      std::lock_guard l(mu_);
      if (!released_) cgroup_ = *cg;
    } else {
      spdlog::info("domain '{}': {}", def.name, cg.status().message());
    }
  }
  StartConsole(def, proc, viewer_socket, std::chrono::seconds(2), log_limits);
}

void DomainResources::StartConsole(const conf::DomainDef& def, qemu::QemuProcess& proc,
                                   const std::filesystem::path& viewer_socket,
                                   std::chrono::milliseconds timeout, const LogLimits& log_limits) {
  const auto& qemu_console = proc.status().console_socket;
  if (qemu_console.empty() || qemu_console == viewer_socket) return;
  // A log that outgrew its limit while no relay watched (skiffd was down) is
  // rotated now.
  const auto& log = proc.status().log_file;
  if (!log.empty()) {
    if (auto r = RotateLogIfLarge(log, log_limits); !r.ok()) {
      spdlog::warn("domain '{}': {}", def.name, r.status().ToString());
    }
  }
  auto mux = ConsoleMux::Start(qemu_console, viewer_socket, timeout, log, log_limits);
  if (!mux.ok()) {
    // The guest runs without an interactive console; its output still goes to the log.
    spdlog::warn("domain '{}': no console relay: {}", def.name, mux.status().ToString());
    return;
  }
  std::lock_guard l(mu_);
  if (!released_) console_ = std::move(*mux);
}

void DomainResources::KeepHelpers(std::unique_ptr<GuestHelpers> helpers) {
  std::lock_guard l(mu_);
  if (released_) return;  // QEMU is gone already: `helpers` stop as it goes
  helpers_ = std::move(helpers);
}

void DomainResources::Release() {
  std::unique_ptr<ConsoleMux> console;
  std::unique_ptr<GuestHelpers> helpers;
  std::optional<DomainCgroup> cg;
  {
    std::lock_guard l(mu_);
    released_ = true;
    console.swap(console_);
    helpers.swap(helpers_);
    cg.swap(cgroup_);
  }
  console.reset();
  helpers.reset();  // stops what QEMU's exit did not end
  if (cg) {
    Status st = cg->Remove();
    if (!st.ok()) spdlog::warn("{}", st.ToString());
  }
}

std::string DomainResources::console_socket() const {
  std::lock_guard l(mu_);
  if (!console_ || !console_->connected()) return "";
  return console_->viewer_socket().string();
}

std::optional<DomainCgroup> DomainResources::cgroup() const {
  std::lock_guard l(mu_);
  return cgroup_;
}

}  // namespace skiff::qemu
