// QemuHypervisor: BuildQemuArgv + QemuProcess per domain; live status in
// ROOT/run/skiff/domains/NAME.qemu.json so that a restarted daemon re-attaches.
#include "daemon/qemu_hypervisor.h"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "skiff/base/fs.h"
#include "skiff/qemu/argv.h"
#include "skiff/qemu/host.h"
#include "skiff/qemu/qmp_commands.h"

namespace skiff::daemon {

QemuHypervisor::QemuHypervisor(Paths paths) : paths_(std::move(paths)) {}

QemuHypervisor::~QemuHypervisor() {
  std::map<std::string, std::shared_ptr<Vm>> vms;
  {
    std::lock_guard l(mu_);
    vms.swap(vms_);
    exit_cb_ = nullptr;
  }
  for (auto& [n, vm] : vms) vm->proc->Detach();
}

std::string QemuHypervisor::Describe() const {
  auto q = qemu::FindQemu();
  return q.ok() ? "QEMU " + q->version : "QEMU (not found)";
}

std::filesystem::path QemuHypervisor::StatusFile(const std::string& name) const {
  return paths_.run_domains / (name + ".qemu.json");
}

void QemuHypervisor::Bury(std::shared_ptr<Vm> vm) {
  if (vm) graveyard_.push_back(std::move(vm));
  // A process whose exit callback has finished can be freed (its destructor joins
  // the monitor thread, which must not be blocked in our callback).
  std::vector<std::shared_ptr<Vm>> keep;
  for (auto& v : graveyard_) {
    if (v->callback_done->load()) continue;  // dropped: destructor runs here, safely
    keep.push_back(v);
  }
  graveyard_.swap(keep);
}

Result<std::shared_ptr<QemuHypervisor::Vm>> QemuHypervisor::Find(const std::string& name) {
  std::lock_guard l(mu_);
  auto it = vms_.find(name);
  if (it == vms_.end()) return FailedPreconditionError("domain '{}' is not running", name);
  return it->second;
}

qemu::QemuCallbacks QemuHypervisor::Callbacks(const std::string& name,
                                              std::shared_ptr<std::atomic<bool>> done) {
  qemu::QemuCallbacks cb;
  cb.on_exit = [this, name, done](const qemu::QemuExit& exit) {
    pid_t exit_pid = -1;
    ExitCallback notify;
    std::shared_ptr<Vm> me;
    {
      std::lock_guard l(mu_);
      auto it = vms_.find(name);
      // Only the current process of `name` reports; a destroyed one is gone from vms_.
      if (it != vms_.end() && it->second->proc && it->second->proc->exited()) {
        me = it->second;
        exit_pid = me->proc->pid();
        vms_.erase(it);
        graveyard_.push_back(me);
        notify = exit_cb_;
      }
    }
    (void)RemoveFileIfExists(StatusFile(name));
    if (me) {
      spdlog::info("qemu of domain '{}' {}", name, exit.Describe());
      ExitReason why = exit.guest_initiated || exit.shutdown_reason == "guest-shutdown"
                           ? ExitReason::kShutdown
                           : (exit.term_signal ? ExitReason::kCrashed : ExitReason::kShutdown);
      if (notify) notify(name, why);
    }
    (void)exit_pid;
    done->store(true);
  };
  return cb;
}

Result<int> QemuHypervisor::Start(const conf::DomainDef& def, const StartOptions& options) {
  {
    std::lock_guard l(mu_);
    Bury(nullptr);
    if (vms_.count(def.name)) return FailedPreconditionError("domain '{}' is already running", def.name);
  }
  if (!options.restore_from.empty()) {
    return UnsupportedError("restoring a saved qemu guest is not implemented yet");
  }
  SKIFF_ASSIGN_OR_RETURN(qemu::QemuBinary bin, qemu::FindQemu());
  qemu::KvmStatus kvm = qemu::ProbeKvm();
  qemu::ArgvContext ctx;
  ctx.qemu_major = bin.major;
  ctx.qemu_minor = bin.minor;
  ctx.emulator = bin.path;
  ctx.kvm_usable = kvm.usable;
  ctx.kvm_reason = kvm.reason;
  ctx.qmp_socket = (paths_.run_domains / (def.name + ".qmp")).string();
  ctx.console_socket = (paths_.run_domains / (def.name + ".console")).string();
  ctx.log_file = (paths_.log_dir / "domains" / (def.name + ".log")).string();
  ctx.start_paused = true;
  ctx.volume_paths = options.volume_paths;
  ctx.pidfile = (paths_.run_domains / (def.name + ".pid")).string();
  SKIFF_TRY(MakeDirs(paths_.log_dir / "domains"));
  // Taps: fd numbers from 100 up in QEMU, clear of stdio and whatever else it inherits.
  std::vector<std::pair<int, int>> pass_fds;
  std::vector<std::string> taps;
  for (const auto& t : options.taps) {
    int child_fd = 100 + static_cast<int>(pass_fds.size());
    ctx.tap_fds[t.index] = child_fd;
    pass_fds.emplace_back(t.fd, child_fd);
    taps.push_back(t.name);
  }
  SKIFF_ASSIGN_OR_RETURN(std::vector<std::string> argv, qemu::BuildQemuArgv(def, ctx));

  qemu::QemuStartOptions so;
  so.argv = std::move(argv);
  so.qmp_socket = ctx.qmp_socket;
  so.console_socket = ctx.console_socket;
  so.log_file = ctx.log_file;
  so.start_paused = options.paused;
  so.pass_fds = std::move(pass_fds);
  so.taps = std::move(taps);
  auto vm = std::make_shared<Vm>();
  vm->max_memory_kib = def.memory_kib;
  vm->vcpus = def.current_vcpus.value_or(def.vcpus);
  so.callbacks = Callbacks(def.name, vm->callback_done);
  {
    // Registered before QEMU starts so that an early exit finds its entry.
    std::lock_guard l(mu_);
    vms_[def.name] = vm;
  }
  auto proc = qemu::QemuProcess::Start(std::move(so));
  if (!proc.ok()) {
    std::lock_guard l(mu_);
    vms_.erase(def.name);
    return proc.status().WithContext(fmt::format("start domain '{}'", def.name));
  }
  {
    std::lock_guard l(mu_);
    vm->proc = std::move(*proc);
  }
  SKIFF_TRY(WriteFileAtomic(StatusFile(def.name),
                            qemu::QemuStatusToJson(vm->proc->status()).dump() + "\n", 0600));
  return static_cast<int>(vm->proc->pid());
}

Status QemuHypervisor::Attach(const conf::DomainDef& def) {
  SKIFF_ASSIGN_OR_RETURN(std::string text, ReadFile(StatusFile(def.name)));
  SKIFF_ASSIGN_OR_RETURN(qemu::QemuStatus st, qemu::ParseQemuStatus(text));
  auto vm = std::make_shared<Vm>();
  vm->max_memory_kib = def.memory_kib;
  vm->vcpus = def.current_vcpus.value_or(def.vcpus);
  {
    std::lock_guard l(mu_);
    vms_[def.name] = vm;
  }
  auto proc = qemu::QemuProcess::Attach(st, Callbacks(def.name, vm->callback_done));
  if (!proc.ok()) {
    std::lock_guard l(mu_);
    vms_.erase(def.name);
    (void)RemoveFileIfExists(StatusFile(def.name));
    return proc.status();
  }
  std::lock_guard l(mu_);
  vm->proc = std::move(*proc);
  return Status::Ok();
}

Status QemuHypervisor::Shutdown(const std::string& name) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  return qemu::SystemPowerdown(vm->proc->qmp());
}

Status QemuHypervisor::Destroy(const std::string& name) {
  std::shared_ptr<Vm> vm;
  {
    std::lock_guard l(mu_);
    auto it = vms_.find(name);
    if (it == vms_.end()) return FailedPreconditionError("domain '{}' is not running", name);
    vm = it->second;
    vms_.erase(it);  // its exit callback now stays silent
  }
  Status st = vm->proc->Destroy(std::chrono::milliseconds(0), std::chrono::seconds(3));
  (void)RemoveFileIfExists(StatusFile(name));
  std::lock_guard l(mu_);
  Bury(std::move(vm));
  return st;
}

Status QemuHypervisor::Reboot(const std::string& name) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  return qemu::SystemReset(vm->proc->qmp());
}

Status QemuHypervisor::Reset(const std::string& name) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  return qemu::SystemReset(vm->proc->qmp());
}

Status QemuHypervisor::Suspend(const std::string& name) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  return qemu::Pause(vm->proc->qmp());
}

Status QemuHypervisor::Resume(const std::string& name) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  return qemu::Resume(vm->proc->qmp());
}

Result<RuntimeStats> QemuHypervisor::Stats(const std::string& name) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  RuntimeStats s;
  s.pid = vm->proc->pid();
  s.vcpus_current = s.vcpus_maximum = vm->vcpus;
  s.balloon_maximum_kib = vm->max_memory_kib;
  s.balloon_current_kib = vm->max_memory_kib;
  auto bal = qemu::QueryBalloon(vm->proc->qmp());
  if (bal.ok()) s.balloon_current_kib = *bal / 1024;
  // utime + stime of the QEMU process, in clock ticks (fields 14 and 15 of stat).
  auto stat = ReadFile("/proc/" + std::to_string(s.pid) + "/stat");
  if (stat.ok()) {
    size_t p = stat->rfind(')');
    std::istringstream in(p == std::string::npos ? "" : stat->substr(p + 2));
    std::string f;
    unsigned long long ut = 0, st = 0;
    for (int i = 3; i <= 15 && in >> f; ++i) {
      if (i == 14) ut = std::strtoull(f.c_str(), nullptr, 10);
      if (i == 15) st = std::strtoull(f.c_str(), nullptr, 10);
    }
    long hz = ::sysconf(_SC_CLK_TCK);
    if (hz > 0) s.cpu_time_ns = (ut + st) * 1000000000ull / static_cast<unsigned long long>(hz);
  }
  return s;
}

Result<std::vector<InterfaceAddress>> QemuHypervisor::Addresses(const std::string& name) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  (void)vm;
  // The daemon answers domifaddr from the networks' DHCP leases (NetworkDriver).
  return UnsupportedError("domain '{}': addresses come from the networks' leases", name);
}

Status QemuHypervisor::SetMemory(const std::string& name, uint64_t kib) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  return qemu::SetBalloon(vm->proc->qmp(), kib * 1024);
}

Status QemuHypervisor::SetVcpus(const std::string& name, unsigned count) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  SKIFF_ASSIGN_OR_RETURN(int n, qemu::SetVcpuCount(vm->proc->qmp(), static_cast<int>(count)));
  vm->vcpus = static_cast<unsigned>(n);
  return Status::Ok();
}

Status QemuHypervisor::AttachDisk(const std::string& name, const conf::DiskDef&) {
  SKIFF_TRY(Find(name));
  return UnsupportedError("live disk attach is not wired yet; use --config");
}

Status QemuHypervisor::DetachDisk(const std::string& name, const conf::DiskDef&) {
  SKIFF_TRY(Find(name));
  return UnsupportedError("live disk detach is not wired yet; use --config");
}

Status QemuHypervisor::AttachInterface(const std::string& name, const conf::InterfaceDef&) {
  SKIFF_TRY(Find(name));
  return UnsupportedError("live interface attach is not wired yet; use --config");
}

Status QemuHypervisor::DetachInterface(const std::string& name, const conf::InterfaceDef&) {
  SKIFF_TRY(Find(name));
  return UnsupportedError("live interface detach is not wired yet; use --config");
}

Status QemuHypervisor::Save(const std::string& name, const std::string&, const JobControl&) {
  SKIFF_TRY(Find(name));
  return UnsupportedError("save of a qemu guest is not implemented yet");
}

Result<std::string> QemuHypervisor::ConsoleSocket(const std::string& name) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  std::string s = vm->proc->status().console_socket.string();
  if (s.empty()) return NotFoundError("domain '{}' has no console socket", name);
  return s;
}

void QemuHypervisor::SetExitCallback(ExitCallback cb) {
  std::lock_guard l(mu_);
  exit_cb_ = std::move(cb);
}

}  // namespace skiff::daemon
