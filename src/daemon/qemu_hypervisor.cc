// QemuHypervisor: BuildQemuArgv + QemuProcess per domain; live status in
// ROOT/run/skiff/domains/NAME.qemu.json so that a restarted daemon re-attaches.
#include "daemon/qemu_hypervisor.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <set>

#include <spdlog/spdlog.h>

#include "daemon/vcpu_pin.h"
#include "skiff/base/fs.h"
#include "skiff/qemu/argv.h"
#include "skiff/qemu/host.h"
#include "skiff/qemu/qmp_commands.h"

namespace skiff::daemon {

namespace {

std::string LowerMac(std::string mac) {
  std::transform(mac.begin(), mac.end(), mac.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return mac;
}

// The first line of QEMU's part of a save file: where each device sat on the root
// PCI bus, by device id ("mac:..." for NICs, whose ids change with the interface
// list), so that the restore pins them there (hot-plugged ones took free slots).
nlohmann::json PciLayout(qemu::QmpClient& qmp) {
  nlohmann::json out = nlohmann::json::object();
  auto buses = qmp.Execute("query-pci");
  if (!buses.ok() || !buses->is_array()) return out;
  // `prefix` is "" on the root bus, "pci.N:" behind the bridge (root port) pci.N.
  auto add = [&](const nlohmann::json& devices, const std::string& prefix, auto& self) -> void {
    for (const auto& dev : devices) {
      if (!dev.is_object()) continue;
      std::string id = dev.value("qdev_id", "");
      if (id.empty()) continue;
      int slot = dev.value("slot", -1), fn = dev.value("function", 0);
      if (slot < 0) continue;
      std::string addr = fn ? fmt::format("{:#x}.{:#x}", slot, fn) : fmt::format("{:#x}", slot);
      auto mac = qmp.Execute("qom-get", nlohmann::json{{"path", "/machine/peripheral/" + id},
                                                       {"property", "mac"}});
      std::string key = mac.ok() && mac->is_string() ? "mac:" + LowerMac(mac->get<std::string>())
                                                     : id;
      out[key] = prefix + addr;
      if (prefix.empty() && dev.contains("pci_bridge") && dev["pci_bridge"].is_object() &&
          dev["pci_bridge"].contains("devices") && dev["pci_bridge"]["devices"].is_array()) {
        self(dev["pci_bridge"]["devices"], id + ":", self);
      }
    }
  };
  for (const auto& bus : *buses) {
    if (!bus.is_object() || bus.value("bus", -1) != 0 || !bus.contains("devices")) continue;
    if (bus["devices"].is_array()) add(bus["devices"], "", add);
  }
  return out;
}

Status WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, "write save file");
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

// Reads QEMU's line (see PciLayout) from `fd`, leaving it at the migration stream.
// Returns the slots by device id for `def` (NICs by their index's id, net<i>).
Result<std::map<std::string, std::string>> ReadPciLayout(int fd, const conf::DomainDef& def,
                                                         const std::string& file) {
  std::string line;
  char c;
  for (;;) {
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, fmt::format("read save file '{}'", file));
    if (n == 0 || line.size() > (1u << 20)) {
      return InvalidArgumentError("save file '{}' holds no qemu state", file);
    }
    if (c == '\n') break;
    line += c;
  }
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (!j.is_object() || !j.contains("pci") || !j["pci"].is_object()) {
    return InvalidArgumentError("save file '{}' holds no qemu state", file);
  }
  std::map<std::string, std::string> out;
  for (const auto& [key, addr] : j["pci"].items()) {
    if (!addr.is_string()) continue;
    if (key.rfind("mac:", 0) == 0) {
      const auto& nics = def.devices.interfaces;
      for (size_t i = 0; i < nics.size(); ++i) {
        if (LowerMac(nics[i].mac) == key.substr(4)) out[fmt::format("net{}", i)] = addr;
      }
    } else {
      out[key] = addr.get<std::string>();
    }
  }
  return out;
}

}  // namespace

QemuHypervisor::QemuHypervisor(Paths paths) : paths_(std::move(paths)) {
  ev_thread_ = std::thread([this] { DispatchLoop(); });
}

QemuHypervisor::~QemuHypervisor() {
  std::map<std::string, std::shared_ptr<Vm>> vms;
  {
    std::lock_guard l(mu_);
    vms.swap(vms_);
    exit_cb_ = nullptr;
  }
  for (auto& [n, vm] : vms) vm->proc->Detach();
  {
    std::lock_guard l(ev_mu_);
    ev_stop_ = true;
  }
  ev_cv_.notify_all();
  ev_thread_.join();
}

void QemuHypervisor::OnQmpEvent(const std::string& name, const qemu::QmpEvent& ev,
                                std::string* pause_why) {
  auto action = [&ev] {
    auto it = ev.data.find("action");
    return it != ev.data.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  // QEMU sends the cause first, then STOP.
  if (ev.name == "BLOCK_IO_ERROR" && action() == "stop") *pause_why = "ioerror";
  if (ev.name == "WATCHDOG" && action() == "pause") *pause_why = "watchdog";
  // A panic's STOP belongs to <on_crash> (the panic event), not to a plain pause.
  std::optional<GuestEvent> ge;
  if (ev.name == "GUEST_PANICKED") {
    *pause_why = "panicked";
    spdlog::warn("guest of domain '{}' panicked ({})", name, ev.data.dump());
    ge = GuestEvent{GuestEvent::Kind::kPanicked, "panicked"};
  } else if (ev.name == "STOP" && *pause_why == "panicked") {
    pause_why->clear();
  } else if (ev.name == "STOP") {
    ge = GuestEvent{GuestEvent::Kind::kPaused, pause_why->empty() ? "unknown" : *pause_why};
    pause_why->clear();
  } else if (ev.name == "RESUME") {
    ge = GuestEvent{GuestEvent::Kind::kResumed, "unpaused"};
  } else if (ev.name == "RESET") {
    auto it = ev.data.find("guest");
    bool guest = it != ev.data.end() && it->is_boolean() && it->get<bool>();
    ge = GuestEvent{GuestEvent::Kind::kReset, guest ? "guest" : "host"};
  }
  if (ge) Queue(name, std::move(*ge));
}

void QemuHypervisor::Queue(const std::string& name, GuestEvent ev) {
  {
    std::lock_guard l(ev_mu_);
    ev_queue_.emplace_back(name, std::move(ev));
  }
  ev_cv_.notify_one();
}

void QemuHypervisor::Recheck(const std::string& name) {
  auto vm = Find(name);
  if (!vm.ok()) return;
  auto st = qemu::QueryStatus((*vm)->proc->qmp());
  if (!st.ok()) {
    spdlog::warn("domain '{}': query-status after re-attach: {}", name, st.status().ToString());
    return;
  }
  switch (st->state) {
    case qemu::RunState::kRunning:
      Queue(name, {GuestEvent::Kind::kResumed, "unpaused"});
      break;
    case qemu::RunState::kPaused:
      Queue(name, {GuestEvent::Kind::kPaused, st->reason == "io-error" ? "ioerror" : st->reason});
      break;
    case qemu::RunState::kCrashed:
      if (st->reason == "panicked") {
        spdlog::warn("guest of domain '{}' panicked while skiffd was down", name);
        Queue(name, {GuestEvent::Kind::kPanicked, "panicked"});
      }
      break;
    default:
      break;
  }
}

void QemuHypervisor::DispatchLoop() {
  std::unique_lock l(ev_mu_);
  for (;;) {
    ev_cv_.wait(l, [this] { return ev_stop_ || !ev_queue_.empty(); });
    if (ev_stop_) return;
    auto [name, ev] = std::move(ev_queue_.front());
    ev_queue_.pop_front();
    l.unlock();
    {
      std::lock_guard cb(ev_cb_mu_);
      if (guest_cb_) guest_cb_(name, ev);
    }
    l.lock();
  }
}

std::string QemuHypervisor::Describe() const {
  auto q = qemu::FindQemu();
  return q.ok() ? "QEMU " + q->version : "QEMU (not found)";
}

std::filesystem::path QemuHypervisor::StatusFile(const std::string& name) const {
  return paths_.run_domains / (name + ".qemu.json");
}

std::filesystem::path QemuHypervisor::ViewerSocket(const std::string& name) const {
  return paths_.run_domains / (name + ".console");
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
                                              std::shared_ptr<std::atomic<bool>> done,
                                              std::shared_ptr<DomainResources> res) {
  qemu::QemuCallbacks cb;
  auto pause_why = std::make_shared<std::string>();  // only touched on the QMP reader thread
  // On the QMP reader thread: nothing here may wait for QMP (or a lock whose holder
  // does); the service handles each event on a thread of its own.
  cb.on_event = [this, name, pause_why](const qemu::QmpEvent& ev) {
    OnQmpEvent(name, ev, pause_why.get());
  };
  cb.on_exit = [this, name, done, res](const qemu::QemuExit& exit) {
    res->Release();  // also for a destroyed or saved QEMU, which is gone from vms_
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
  const bool restore = !options.restore_from.empty();
  UniqueFd state_fd;
  std::map<std::string, std::string> pci_addrs;
  if (restore) {
    // Opened before QEMU starts: a missing or short file fails without a QEMU.
    state_fd = UniqueFd(::open(options.restore_from.c_str(), O_RDONLY | O_CLOEXEC));
    if (!state_fd.valid()) {
      return ErrnoError(errno, fmt::format("open save file '{}'", options.restore_from));
    }
    off_t end = ::lseek(state_fd.get(), 0, SEEK_END);
    if (end < 0 || static_cast<uint64_t>(end) <= options.restore_offset) {
      return InvalidArgumentError("save file '{}' holds no guest state", options.restore_from);
    }
    if (::lseek(state_fd.get(), static_cast<off_t>(options.restore_offset), SEEK_SET) < 0) {
      return ErrnoError(errno, fmt::format("seek in save file '{}'", options.restore_from));
    }
    SKIFF_ASSIGN_OR_RETURN(pci_addrs, ReadPciLayout(state_fd.get(), def, options.restore_from));
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
  ctx.console_socket = (paths_.run_domains / (def.name + ".serial")).string();
  ctx.log_file = (paths_.log_dir / "domains" / (def.name + ".log")).string();
  ctx.start_paused = true;
  ctx.volume_paths = options.volume_paths;
  ctx.pidfile = (paths_.run_domains / (def.name + ".pid")).string();
  // A restore starts QEMU waiting for the state (migrate-incoming below).
  if (restore) ctx.incoming = "defer";
  ctx.pci_addrs = std::move(pci_addrs);
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
  so.start_paused = true;  // resumed below, once in its cgroup
  so.pass_fds = std::move(pass_fds);
  so.taps = std::move(taps);
  auto vm = NewVm(def);
  so.callbacks = Callbacks(def.name, vm->callback_done, vm->res);
  {
    // Registered before QEMU starts so that an early exit finds its entry.
    std::lock_guard l(mu_);
    vms_[def.name] = vm;
  }
  // QEMU starts inside its cgroup: its memory is charged there from the first page.
  auto procs = vm->res->Prepare(def, cgroups_);
  if (!procs.ok()) {
    std::lock_guard l(mu_);
    vms_.erase(def.name);
    return procs.status().WithContext(fmt::format("start domain '{}'", def.name));
  }
  so.cgroup_procs = std::move(*procs);
  auto proc = qemu::QemuProcess::Start(std::move(so));
  if (!proc.ok()) {
    vm->res->Release();  // its cgroup (QEMU was reaped: the cgroup is empty)
    {
      std::lock_guard l(mu_);
      vms_.erase(def.name);
    }
    Status st = proc.status();
    if (def.memtune && def.memtune->hard_limit_kib &&
        (st.message().find("(signal 9)") != std::string::npos ||
         st.message().find("annot allocate memory") != std::string::npos)) {
      // The kernel's OOM killer of the domain's cgroup, most likely.
      st = Status(st.code(),
                  fmt::format("{} (its <memtune><hard_limit> of {} KiB may be too small for "
                              "qemu)", st.message(), *def.memtune->hard_limit_kib));
    }
    return st.WithContext(fmt::format("start domain '{}'", def.name));
  }
  {
    std::lock_guard l(mu_);
    vm->proc = std::move(*proc);
  }
  // Pinning and console relay before the vCPUs first run.
  Status setup = vm->res->Setup(def, *vm->proc, ViewerSocket(def.name));
  if (setup.ok() && !restore && !options.paused) setup = qemu::Resume(vm->proc->qmp());
  if (!setup.ok()) {
    {
      std::lock_guard l(mu_);
      vms_.erase(def.name);
    }
    (void)vm->proc->Destroy(std::chrono::milliseconds(0), std::chrono::seconds(3));
    std::lock_guard l(mu_);
    Bury(vm);
    return setup.WithContext(fmt::format("start domain '{}'", def.name));
  }
  if (restore) {
    Status st = qemu::RestoreState(vm->proc->qmp(), state_fd.get());
    if (st.ok() && !options.paused) st = qemu::Resume(vm->proc->qmp());
    if (!st.ok()) {
      {
        std::lock_guard l(mu_);
        vms_.erase(def.name);  // its exit callback now stays silent
      }
      (void)vm->proc->Destroy(std::chrono::milliseconds(0), std::chrono::seconds(3));
      std::lock_guard l(mu_);
      Bury(vm);
      return st.WithContext(
          fmt::format("restore domain '{}' from '{}'", def.name, options.restore_from));
    }
  }
  SKIFF_TRY(WriteStatus(def.name, *vm));
  return static_cast<int>(vm->proc->pid());
}

std::shared_ptr<QemuHypervisor::Vm> QemuHypervisor::NewVm(const conf::DomainDef& def) {
  auto vm = std::make_shared<Vm>();
  vm->max_memory_kib = def.memory_kib;
  vm->vcpus = def.current_vcpus.value_or(def.vcpus);
  vm->q35 = def.IsQ35();
  vm->tcg = def.type == conf::DomainType::kQemu;
  return vm;
}

Status QemuHypervisor::WriteStatus(const std::string& name, const Vm& vm) {
  nlohmann::json j = qemu::QemuStatusToJson(vm.proc->status());
  if (vm.vcpu_unplugged) j["vcpu_unplugged"] = true;
  return WriteFileAtomic(StatusFile(name), j.dump() + "\n", 0600);
}

Status QemuHypervisor::Attach(const conf::DomainDef& def) {
  SKIFF_ASSIGN_OR_RETURN(std::string text, ReadFile(StatusFile(def.name)));
  SKIFF_ASSIGN_OR_RETURN(qemu::QemuStatus st, qemu::ParseQemuStatus(text));
  auto vm = NewVm(def);
  auto extra = nlohmann::json::parse(text, nullptr, false);
  vm->vcpu_unplugged = extra.is_object() && extra.contains("vcpu_unplugged") &&
                       extra.at("vcpu_unplugged").is_boolean() &&
                       extra.at("vcpu_unplugged").get<bool>();
  {
    std::lock_guard l(mu_);
    vms_[def.name] = vm;
  }
  auto proc = qemu::QemuProcess::Attach(st, Callbacks(def.name, vm->callback_done, vm->res));
  if (!proc.ok()) {
    std::lock_guard l(mu_);
    vms_.erase(def.name);
    (void)RemoveFileIfExists(StatusFile(def.name));
    return proc.status();
  }
  {
    std::lock_guard l(mu_);
    vm->proc = std::move(*proc);
  }
  vm->res->Adopt(def, *vm->proc, cgroups_, ViewerSocket(def.name));
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
  auto cpus = qemu::QueryCpusFast(vm->proc->qmp());
  if (cpus.ok() && !cpus->empty()) s.vcpus_current = static_cast<unsigned>(cpus->size());
  // Disks are found by their top node, which BuildQemuArgv names "fmt-<dev>" or "file-<dev>".
  auto blocks = qemu::QueryBlockStats(vm->proc->qmp());
  if (blocks.ok()) {
    for (const auto& b : *blocks) {
      BlockIoStats io;
      io.name = b.node_name.empty() ? b.qdev : b.node_name.substr(b.node_name.find('-') + 1);
      io.rd_reqs = b.rd_operations;
      io.rd_bytes = b.rd_bytes;
      io.wr_reqs = b.wr_operations;
      io.wr_bytes = b.wr_bytes;
      io.fl_reqs = b.flush_operations;
      s.blocks.push_back(std::move(io));
    }
  }
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
  Status st = qemu::SetBalloon(vm->proc->qmp(), kib * 1024);
  if (st.code() == Code::kFailedPrecondition) {
    return FailedPreconditionError(
        "domain '{}' has no balloon device; its memory can change while it runs only with "
        "<memballoon model='virtio'/>", name);
  }
  return st;
}

Status QemuHypervisor::SetVcpus(const std::string& name, unsigned count) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  if (vm->vcpu_unplugged) {
    auto cpus = qemu::QueryCpusFast(vm->proc->qmp());
    if (cpus.ok() && count > cpus->size()) {
      return FailedPreconditionError(
          "domain '{}': vcpus cannot be plugged again after an unplug while qemu runs "
          "under TCG (QEMU 7.2 does not survive it); restart the domain first", name);
    }
  }
  const unsigned before = vm->vcpus;
  auto n = qemu::SetVcpuCount(vm->proc->qmp(), static_cast<int>(count));
  if (vm->tcg && !vm->vcpu_unplugged &&
      ((n.ok() && static_cast<unsigned>(*n) < before) ||
       (!n.ok() && n.status().code() == Code::kUnavailable))) {
    vm->vcpu_unplugged = true;  // also a pending unplug the guest may still carry out
    Status st = WriteStatus(name, *vm);
    if (!st.ok()) spdlog::warn("domain '{}': {}", name, st.ToString());
  }
  SKIFF_TRY(n.status());
  vm->vcpus = static_cast<unsigned>(*n);
  return Status::Ok();
}

Result<std::vector<VcpuRuntime>> QemuHypervisor::Vcpus(const std::string& name) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  SKIFF_ASSIGN_OR_RETURN(auto cpus, qemu::QueryCpusFast(vm->proc->qmp()));
  std::vector<VcpuRuntime> out;
  for (const auto& c : cpus) {
    VcpuRuntime v;
    v.vcpu = static_cast<unsigned>(std::max(c.cpu_index, 0));
    v.thread_id = static_cast<int>(c.thread_id);
    auto use = ThreadCpuUsage(vm->proc->pid(), v.thread_id);
    if (use.ok()) {
      v.cpu = use->cpu;
      v.cpu_time_ns = use->cpu_time_ns;
    }
    auto aff = ThreadAffinity(v.thread_id);
    if (aff.ok()) v.affinity = FormatCpuset(*aff);
    out.push_back(std::move(v));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.vcpu < b.vcpu; });
  return out;
}

Status QemuHypervisor::PinVcpu(const std::string& name, unsigned vcpu, const std::string& cpuset) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  SKIFF_ASSIGN_OR_RETURN(auto cpus, qemu::QueryCpusFast(vm->proc->qmp()));
  for (const auto& c : cpus) {
    if (c.cpu_index == static_cast<int>(vcpu)) {
      return PinThread(static_cast<pid_t>(c.thread_id), cpuset, fmt::format("vcpu {}", vcpu))
          .WithContext(fmt::format("domain '{}'", name));
    }
  }
  return NotFoundError("vcpu {} is not present in running domain '{}'", vcpu, name);
}

Status QemuHypervisor::PinEmulator(const std::string& name, const std::string& cpuset) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  SKIFF_ASSIGN_OR_RETURN(auto cpus, qemu::QueryCpusFast(vm->proc->qmp()));
  std::set<pid_t> vcpu_tids;
  for (const auto& c : cpus) vcpu_tids.insert(static_cast<pid_t>(c.thread_id));
  return PinThreadsExcept(vm->proc->pid(), vcpu_tids, cpuset, "emulator")
      .WithContext(fmt::format("domain '{}'", name));
}

Result<uint64_t> QemuHypervisor::CpuShares(const std::string& name) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  auto cg = vm->res->cgroup();
  if (!cg) return UnavailableError("domain '{}' has no cgroup", name);
  auto shares = cg->CpuShares();
  if (!shares.ok()) return shares.status().WithContext(fmt::format("domain '{}'", name));
  return shares;
}

Status QemuHypervisor::SetCpuShares(const std::string& name, uint64_t shares) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  auto cg = vm->res->cgroup();
  if (!cg) return UnavailableError("domain '{}' has no cgroup", name);
  CgroupLimits l;
  l.cpu_shares = shares;
  return cg->Apply(l).WithContext(fmt::format("domain '{}'", name));
}

namespace {

// QEMU's refusal to hot-plug, with what the definition needs for it.
Status HotplugHint(Status st) {
  if (st.ok() || st.message().find("does not support hotplugging") == std::string::npos) {
    return st;
  }
  return Status(st.code(), st.message() +
                               " (hot-plug needs <acpi/> in <features> on machine pc, and a "
                               "free pcie-root-port controller on q35)");
}

// The id of a hot-plugged NIC's device, from its MAC ("net-525400a1b2c3"); its
// netdev is "host" + the device id, as for the boot-time net0/hostnet0.
std::string HotplugNicId(const std::string& mac) {
  std::string id = "net-";
  for (char c : mac) {
    if (c != ':') id += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return id;
}

bool SameMac(const std::string& a, const std::string& b) { return LowerMac(a) == LowerMac(b); }

// Finds the device id of the NIC with `mac` among QEMU's user-created devices.
Result<std::string> FindNicDevice(qemu::QmpClient& qmp, const std::string& mac) {
  SKIFF_ASSIGN_OR_RETURN(nlohmann::json list,
                         qmp.Execute("qom-list", nlohmann::json{{"path", "/machine/peripheral"}}));
  if (list.is_array()) {
    for (const auto& e : list) {
      if (!e.is_object() || !e.contains("name") || !e["name"].is_string()) continue;
      std::string type = e.value("type", "");
      if (type.rfind("child<", 0) != 0) continue;
      std::string id = e["name"].get<std::string>();
      auto m = qmp.Execute("qom-get", nlohmann::json{{"path", "/machine/peripheral/" + id},
                                                     {"property", "mac"}});
      if (m.ok() && m->is_string() && SameMac(m->get<std::string>(), mac)) return id;
    }
  }
  return NotFoundError("no network device with mac {} in qemu", mac);
}

// The ids of QEMU's user-created devices ("/machine/peripheral") with their QOM
// types ("pcie-root-port").
Result<std::map<std::string, std::string>> PeripheralTypes(qemu::QmpClient& qmp) {
  SKIFF_ASSIGN_OR_RETURN(nlohmann::json list,
                         qmp.Execute("qom-list", nlohmann::json{{"path", "/machine/peripheral"}}));
  std::map<std::string, std::string> out;
  if (!list.is_array()) return out;
  for (const auto& e : list) {
    if (!e.is_object() || !e.contains("name") || !e["name"].is_string()) continue;
    std::string type = e.value("type", "");
    if (type.rfind("child<", 0) != 0 || type.back() != '>') continue;
    out[e["name"].get<std::string>()] = type.substr(6, type.size() - 7);
  }
  return out;
}

// The first pcie-root-port (by index, pci.N) with no device behind it: where a
// hot-plugged PCI device goes on q35, whose pcie.0 takes none (as libvirt does).
Result<std::string> FreeRootPort(qemu::QmpClient& qmp, const std::string& domain) {
  SKIFF_ASSIGN_OR_RETURN(auto types, PeripheralTypes(qmp));
  SKIFF_ASSIGN_OR_RETURN(nlohmann::json buses, qmp.Execute("query-pci"));
  std::set<std::string> used;
  if (buses.is_array()) {
    for (const auto& bus : buses) {
      if (!bus.is_object() || !bus.contains("devices") || !bus["devices"].is_array()) continue;
      for (const auto& dev : bus["devices"]) {
        if (!dev.is_object() || !dev.contains("pci_bridge")) continue;
        const auto& br = dev["pci_bridge"];
        if (br.is_object() && br.contains("devices") && br["devices"].is_array() &&
            !br["devices"].empty()) {
          used.insert(dev.value("qdev_id", ""));
        }
      }
    }
  }
  std::optional<std::pair<unsigned long, std::string>> best;
  for (const auto& [id, type] : types) {
    if (type != "pcie-root-port" || used.count(id) || id.rfind("pci.", 0) != 0) continue;
    unsigned long n = std::strtoul(id.c_str() + 4, nullptr, 10);
    if (!best || n < best->first) best = std::pair{n, id};
  }
  if (!best) {
    return FailedPreconditionError(
        "domain '{}' has no free pcie-root-port for a hot-plugged device (on q35 each one needs "
        "its own; define spare <controller type='pci' model='pcie-root-port'/>)", domain);
  }
  return best->second;
}

// A SCSI disk needs the controller scsi0; like libvirt, one is hot-plugged when the
// domain has none (virtio-scsi, on a free root port on q35).
Status EnsureScsiController(qemu::QmpClient& qmp, bool q35, const std::string& domain) {
  SKIFF_ASSIGN_OR_RETURN(auto types, PeripheralTypes(qmp));
  if (types.count("scsi0")) return Status::Ok();
  nlohmann::json dev = {{"driver", "virtio-scsi-pci"}, {"id", "scsi0"}};
  if (q35) { SKIFF_ASSIGN_OR_RETURN(dev["bus"], FreeRootPort(qmp, domain)); }
  return qmp.Execute("device_add", dev).status().WithContext("scsi controller 'scsi0'");
}

std::string NicDriver(conf::NicModel m) {
  switch (m) {
    case conf::NicModel::kVirtio: return "virtio-net-pci";
    case conf::NicModel::kE1000: return "e1000";
    case conf::NicModel::kE1000e: return "e1000e";
    case conf::NicModel::kRtl8139: return "rtl8139";
  }
  return "virtio-net-pci";
}

}  // namespace

Status QemuHypervisor::AttachDisk(const std::string& name, const conf::DiskDef& disk) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  const std::string what = fmt::format("domain '{}'", name);
  SKIFF_TRY(qemu::CheckDiskHotplug(disk, false).WithContext(what));
  if (disk.type == conf::DiskType::kVolume && disk.source_path.empty()) {
    return InvalidArgumentError("{}: disk '{}': volume '{}' of pool '{}' was not resolved to a path",
                                what, disk.target_dev, disk.source_volume, disk.source_pool);
  }
  qemu::QmpClient& qmp = vm->proc->qmp();
  std::string pci_bus;
  if (disk.bus == conf::DiskBus::kScsi) {
    SKIFF_TRY(HotplugHint(EnsureScsiController(qmp, vm->q35, name)).WithContext(what));
  } else if (disk.bus == conf::DiskBus::kUsb) {
    SKIFF_ASSIGN_OR_RETURN(auto types, PeripheralTypes(qmp));
    if (!types.count("usb")) {
      return FailedPreconditionError("{}: usb disk '{}' needs a usb controller", what,
                                     disk.target_dev);
    }
  } else if (vm->q35) {
    SKIFF_ASSIGN_OR_RETURN(pci_bus, FreeRootPort(qmp, name));
  }
  SKIFF_ASSIGN_OR_RETURN(qemu::DiskHotplug h,
                         qemu::BuildDiskHotplug(disk, disk.source_path, pci_bus));
  return HotplugHint(qemu::AttachDisk(qmp, h.blockdev, h.device)).WithContext(what);
}

Status QemuHypervisor::DetachDisk(const std::string& name, const conf::DiskDef& disk) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  SKIFF_TRY(qemu::CheckDiskHotplug(disk, true).WithContext(fmt::format("domain '{}'", name)));
  std::vector<std::string> nodes = qemu::DiskNodeNames(disk);
  qemu::QmpClient& qmp = vm->proc->qmp();
  if (disk.source_path.empty() && disk.type != conf::DiskType::kVolume) {
    // An empty drive (cdrom without media) has no nodes to remove.
    auto r = qmp.Execute("device_del", nlohmann::json{{"id", qemu::DiskDeviceId(disk)}});
    return r.status().WithContext(fmt::format("domain '{}': disk '{}'", name, disk.target_dev));
  }
  SKIFF_TRY(qemu::DetachDisk(qmp, qemu::DiskDeviceId(disk), nodes[0])
                .WithContext(fmt::format("domain '{}': disk '{}'", name, disk.target_dev)));
  // Nodes BuildQemuArgv added on their own (file and backing layers) outlive the top
  // node; a hot-plugged disk's file node went with it, so "not found" is expected.
  for (size_t i = 1; i < nodes.size(); ++i) {
    (void)qmp.Execute("blockdev-del", nlohmann::json{{"node-name", nodes[i]}});
  }
  return Status::Ok();
}

Status QemuHypervisor::AttachInterface(const std::string& name, const conf::InterfaceDef& nic,
                                       const GuestTap& tap) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  qemu::QmpClient& qmp = vm->proc->qmp();
  const std::string id = HotplugNicId(nic.mac);
  nlohmann::json device = {
      {"driver", NicDriver(nic.model)}, {"id", id}, {"netdev", "host" + id}, {"mac", nic.mac}};
  const std::string what = fmt::format("domain '{}': interface {}", name, nic.mac);
  if (vm->q35) { SKIFF_ASSIGN_OR_RETURN(device["bus"], FreeRootPort(qmp, name)); }
  if (nic.type == conf::InterfaceType::kUser) {
    SKIFF_TRY(qmp.Execute("netdev_add", nlohmann::json{{"type", "user"}, {"id", "host" + id}})
                  .status()
                  .WithContext(what));
    auto dev = qmp.Execute("device_add", device);
    if (!dev.ok()) {
      (void)qmp.Execute("netdev_del", nlohmann::json{{"id", "host" + id}});
      return HotplugHint(dev.status()).WithContext(what);
    }
    return Status::Ok();
  }
  if (tap.fd < 0) return InvalidArgumentError("{}: no tap was provided", what);
  return HotplugHint(qemu::AttachNic(qmp, tap.fd,
                                     nlohmann::json{{"type", "tap"}, {"id", "host" + id}}, device))
      .WithContext(what);
}

Status QemuHypervisor::DetachInterface(const std::string& name, const conf::InterfaceDef& nic) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  qemu::QmpClient& qmp = vm->proc->qmp();
  const std::string what = fmt::format("domain '{}': interface {}", name, nic.mac);
  auto id = FindNicDevice(qmp, nic.mac);
  if (!id.ok()) return id.status().WithContext(what);
  return qemu::DetachNic(qmp, *id, "host" + *id).WithContext(what);
}

Status QemuHypervisor::Save(const std::string& name, const std::string& path,
                            const JobControl& job) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  // Appended after the header the daemon wrote; QEMU writes from the fd's offset.
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(errno, fmt::format("open save file '{}'", path));
  off_t header_end = ::lseek(fd.get(), 0, SEEK_END);
  if (header_end < 0) return ErrnoError(errno, fmt::format("seek in save file '{}'", path));
  Status st = WriteAll(fd.get(), nlohmann::json{{"pci", PciLayout(vm->proc->qmp())}}.dump() + "\n");
  if (!st.ok()) {
    if (::ftruncate(fd.get(), header_end) != 0) {
      spdlog::warn("save of domain '{}': cannot truncate '{}'", name, path);
    }
    return st.WithContext(fmt::format("domain '{}': '{}'", name, path));
  }
  qemu::SaveOptions so;
  so.cancelled = job.cancelled;
  auto progress = [&job](const qemu::MigrationProgress& p) {
    if (p.total > 0) {
      uint64_t done = p.total > p.remaining ? p.total - p.remaining : 0;
      job.progress(static_cast<int>(std::min<uint64_t>(99, done * 100 / p.total)));
    }
  };
  st = qemu::SaveState(vm->proc->qmp(), fd.get(), so, progress);
  if (st.ok() && ::fdatasync(fd.get()) != 0) {
    st = ErrnoError(errno, fmt::format("sync save file '{}'", path));
  }
  if (!st.ok()) {
    // Leave the file as it was (the header only); the guest keeps running.
    if (::ftruncate(fd.get(), header_end) != 0) {
      spdlog::warn("save of domain '{}': cannot truncate '{}'", name, path);
    }
    return st.WithContext(fmt::format("domain '{}'", name));
  }
  {
    std::lock_guard l(mu_);
    vms_.erase(name);  // its exit callback now stays silent: the daemon marks it saved
  }
  Status d = vm->proc->Destroy(std::chrono::seconds(5), std::chrono::seconds(3));
  if (!d.ok()) spdlog::warn("save of domain '{}': stopping qemu: {}", name, d.ToString());
  (void)RemoveFileIfExists(StatusFile(name));
  std::lock_guard l(mu_);
  Bury(std::move(vm));
  return Status::Ok();
}

Result<std::string> QemuHypervisor::ConsoleSocket(const std::string& name) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  if (std::string relay = vm->res->console_socket(); !relay.empty()) return relay;
  std::string s = vm->proc->status().console_socket.string();
  if (s.empty()) return NotFoundError("domain '{}' has no console socket", name);
  return s;
}

Status QemuHypervisor::DumpMemory(const std::string& name, const std::string& path) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoError(errno, fmt::format("create dump file '{}'", path));
  Status st = qemu::DumpGuestMemory(vm->proc->qmp(), fd.get());
  if (st.ok() && ::fsync(fd.get()) != 0) st = ErrnoError(errno, "sync dump file");
  if (!st.ok()) {
    (void)RemoveFileIfExists(path);
    return st.WithContext(fmt::format("domain '{}': dump to '{}'", name, path));
  }
  return Status::Ok();
}

void QemuHypervisor::SetExitCallback(ExitCallback cb) {
  std::lock_guard l(mu_);
  exit_cb_ = std::move(cb);
}

void QemuHypervisor::SetGuestEventCallback(GuestEventCallback cb) {
  std::lock_guard l(ev_cb_mu_);
  guest_cb_ = std::move(cb);
}

}  // namespace skiff::daemon
