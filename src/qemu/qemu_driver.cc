// QemuDriver's life cycle: BuildQemuArgv + QemuProcess per domain, live status
// in RUN_DIR/NAME.qemu.json so that a restarted daemon re-attaches; QMP events
// turned into guest events on a thread of their own; runtime queries, tuning,
// save and memory dumps. Hot-plug is in qemu_hotplug.cc.
#include "qemu/qemu_driver.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include <spdlog/spdlog.h>

#include "qemu/firmware.h"
#include "qemu/guest_helpers.h"
#include "qemu/qemu_address.h"
#include "qemu/qemu_files.h"
#include "qemu/vcpu_pin.h"
#include "skiff/base/fd.h"
#include "skiff/base/fs.h"
#include "skiff/base/size.h"
#include "skiff/base/strings.h"
#include "skiff/conf/cpuset.h"
#include "skiff/qemu/argv.h"
#include "skiff/qemu/host.h"
#include "skiff/qemu/qmp_commands.h"

namespace skiff::qemu {

namespace {
// The run file of a save in progress (QemuDriver::SavingFile).
constexpr std::string_view kSavingSuffix = ".saving";

// Removes a run file (a start's or a save's marker) when the step it marks ends,
// however it ends.
struct RemovedOnExit {
  const std::filesystem::path& path;
  ~RemovedOnExit() { (void)RemoveFileIfExists(path); }
};
}  // namespace

QemuDriver::QemuDriver(DriverPaths paths) : paths_(std::move(paths)) {
  ev_thread_ = std::thread([this] { DispatchLoop(); });
}

QemuDriver::~QemuDriver() {
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

void QemuDriver::OnQmpEvent(const std::string& name, const QmpEvent& ev, std::string* pause_why) {
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

void QemuDriver::Queue(const std::string& name, GuestEvent ev) {
  {
    std::lock_guard l(ev_mu_);
    ev_queue_.emplace_back(name, std::move(ev));
  }
  ev_cv_.notify_one();
}

void QemuDriver::Recheck(const std::string& name) {
  auto vm = Find(name);
  if (!vm.ok()) return;
  // A save the killed daemon did not see end: the guest goes back to the state it
  // was in before it (the daemon has dropped any image that save named).
  if (auto saving = ReadFile(SavingFile(name)); saving.ok()) {
    auto j = nlohmann::json::parse(*saving, nullptr, false);
    const bool resume = j.is_object() && j.value("resume", false);
    Status a = AbandonSave((*vm)->proc->qmp(), resume);
    if (a.ok()) {
      spdlog::warn("domain '{}': a save was cut off by a daemon restart; the guest is {}", name,
                   resume ? "running again" : "still paused");
    } else {
      spdlog::error("domain '{}': ending a save cut off by a daemon restart: {}", name,
                    a.ToString());
    }
    (void)RemoveFileIfExists(SavingFile(name));
  }
  auto st = QueryStatus((*vm)->proc->qmp());
  if (!st.ok()) {
    spdlog::warn("domain '{}': query-status after re-attach: {}", name, st.status().ToString());
    return;
  }
  switch (st->state) {
    case RunState::kRunning:
      Queue(name, {GuestEvent::Kind::kResumed, "unpaused"});
      break;
    case RunState::kPaused:
      Queue(name, {GuestEvent::Kind::kPaused, st->reason == "io-error" ? "ioerror" : st->reason});
      break;
    case RunState::kCrashed:
      if (st->reason == "panicked") {
        spdlog::warn("guest of domain '{}' panicked while skiffd was down", name);
        Queue(name, {GuestEvent::Kind::kPanicked, "panicked"});
      }
      break;
    default:
      break;
  }
}

void QemuDriver::DispatchLoop() {
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

std::string QemuDriver::Describe() const {
  auto q = FindQemu();
  return q.ok() ? "QEMU " + q->version : "QEMU (not found)";
}

std::filesystem::path QemuDriver::StatusFile(const std::string& name) const {
  return paths_.run_dir / (name + ".qemu.json");
}

std::filesystem::path QemuDriver::SavingFile(const std::string& name) const {
  return paths_.run_dir / (name + std::string(kSavingSuffix));
}

std::filesystem::path QemuDriver::ViewerSocket(const std::string& name) const {
  return paths_.run_dir / (name + ".console");
}

namespace {

LogLimits LogLimitsOf(const DriverPaths& paths) {
  return LogLimits{.max_bytes = paths.log_max_bytes,
                   .max_files = std::max(1U, paths.log_max_files)};
}

// Written before QEMU is spawned and removed once its status file explains it (or
// the start failed): a daemon that finds one was killed in between.
constexpr std::string_view kStartingSuffix = ".starting";
// The files a running domain has in the run directory besides the daemon's own.
constexpr std::array<std::string_view, 7> kRunFileSuffixes = {
    ".pid", ".qmp", ".serial", ".console", ".qemu.json", kStartingSuffix, kSavingSuffix};

// The QEMUs running under `run_dir`, by domain name: every QEMU whose
// environment names a QMP socket there (SKIFF_QMP_SOCKET=RUN_DIR/NAME.qmp), or,
// started by an older skiffd, whose command line does (path=RUN_DIR/NAME.qmp,
// commas doubled in NAME as QEMU's option syntax wants). Pid files are not enough: a daemon killed
// right after spawning QEMU leaves one that has not written its pid file yet.
std::map<std::string, std::vector<pid_t>> QemusUnder(const std::filesystem::path& run_dir) {
  std::map<std::string, std::vector<pid_t>> out;
  const std::string prefix = "path=" + run_dir.string() + "/";
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string pid_name = e.path().filename().string();
    auto pid = ParseUint(pid_name);
    if (!pid.ok() || *pid <= 1 || *pid >= (1u << 22)) continue;
    // Only a QEMU: never a shell or a tool that happens to name the socket.
    std::error_code exe_ec;
    const auto exe = std::filesystem::read_symlink(e.path() / "exe", exe_ec);
    if (exe_ec || exe.filename().string().find("qemu") == std::string::npos) continue;
    // QEMU's environment names its QMP socket (kQmpSocketEnv); one started by an
    // older skiffd names it on its command line only.
    if (auto sock = QmpSocketInEnvironment(static_cast<pid_t>(*pid))) {
      const std::string dir = run_dir.string() + "/";
      if (sock->starts_with(dir)) {
        std::string file = sock->substr(dir.size());
        if (file.size() > 4 && file.ends_with(".qmp") && file.find('/') == std::string::npos) {
          out[file.substr(0, file.size() - 4)].push_back(static_cast<pid_t>(*pid));
          continue;
        }
      }
    }
    auto cmdline = ReadFile(e.path() / "cmdline");
    if (!cmdline.ok()) continue;
    size_t at = cmdline->find(prefix);
    if (at == std::string::npos) continue;
    const size_t begin = at + prefix.size();
    size_t end = cmdline->find(".qmp", begin);
    while (end != std::string::npos && end + 4 < cmdline->size() && (*cmdline)[end + 4] != ',' &&
           (*cmdline)[end + 4] != '\0') {
      end = cmdline->find(".qmp", end + 4);
    }
    if (end == std::string::npos) continue;
    std::string name = cmdline->substr(begin, end - begin);
    for (size_t i = name.find(",,"); i != std::string::npos; i = name.find(",,", i + 1)) {
      name.erase(i, 1);
    }
    out[name].push_back(static_cast<pid_t>(*pid));
  }
  return out;
}

void KillAndWait(pid_t pid) {
  UniqueFd pidfd = PidfdOpen(pid);
  ::kill(pid, SIGKILL);
  if (pidfd) {
    pollfd p{pidfd.get(), POLLIN, 0};
    (void)::poll(&p, 1, 10000);
  }
}

}  // namespace

void QemuDriver::ReapOrphans() {
  std::set<std::string> names, starting;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(paths_.run_dir, ec)) {
    const std::string file = e.path().filename().string();
    for (std::string_view suffix : kRunFileSuffixes) {
      if (file.size() > suffix.size() && file.ends_with(suffix)) {
        names.insert(file.substr(0, file.size() - suffix.size()));
        if (suffix == kStartingSuffix) starting.insert(file.substr(0, file.size() - suffix.size()));
      }
    }
  }
  auto attached = [&](const std::string& name) {
    std::lock_guard l(mu_);
    return vms_.count(name) != 0;
  };
  // A start the previous daemon did not finish (its marker is there) may have a
  // QEMU that has not exec'd yet: look again for a moment.
  const auto deadline = std::chrono::steady_clock::now() +
                        (starting.empty() ? std::chrono::milliseconds(0) : std::chrono::seconds(2));
  while (true) {
    for (const auto& [name, pids] : QemusUnder(paths_.run_dir)) {
      if (attached(name)) continue;
      for (pid_t pid : pids) {
        // It holds the domain's pid file lock and its disks while nothing watches it.
        spdlog::warn(
            "domain '{}': killing QEMU {} that no domain state explains (skiffd was "
            "stopped while starting it)",
            name, pid);
        KillAndWait(pid);
      }
      names.insert(name);
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (const auto& name : names) {
    if (attached(name)) continue;  // its files are in use
    for (std::string_view suffix : kRunFileSuffixes) {
      (void)RemoveFileIfExists(paths_.run_dir / (name + std::string(suffix)));
    }
  }
}

void QemuDriver::Bury(std::shared_ptr<Vm> vm) {
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

Result<std::shared_ptr<QemuDriver::Vm>> QemuDriver::Find(const std::string& name) {
  std::lock_guard l(mu_);
  auto it = vms_.find(name);
  if (it == vms_.end()) return FailedPreconditionError("domain '{}' is not running", name);
  return it->second;
}

QemuCallbacks QemuDriver::Callbacks(const std::string& name,
                                    std::shared_ptr<std::atomic<bool>> done,
                                    std::shared_ptr<DomainResources> res) {
  QemuCallbacks cb;
  auto pause_why = std::make_shared<std::string>();  // only touched on the QMP reader thread
  // On the QMP reader thread: nothing here may wait for QMP (or a lock whose holder
  // does); the service handles each event on a thread of its own.
  cb.on_event = [this, name, pause_why](const QmpEvent& ev) {
    OnQmpEvent(name, ev, pause_why.get());
  };
  cb.on_exit = [this, name, done, res](const QemuExit& exit) {
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

namespace {

// Whether nothing listens on `port` of `addr` (a bind there succeeds).
bool PortFree(const std::string& addr, int port) {
  const bool v6 = addr.find(':') != std::string::npos;
  UniqueFd s(::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s) return false;
  if (v6) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(static_cast<uint16_t>(port));
    if (::inet_pton(AF_INET6, addr.c_str(), &a.sin6_addr) != 1) return false;
    return ::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, addr.c_str(), &a.sin_addr) != 1) return false;
  return ::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
}

}  // namespace

// SPICE cannot pick its own port: each SPICE display with autoport gets the first
// free one from 5900 up, as libvirt's remote display port range (VNC's QEMU picks).
Status QemuDriver::ChooseSpicePorts(const conf::DomainDef& def, ArgvContext& ctx) {
  int next = 5900;
  const auto& gs = def.devices.graphics;
  for (size_t i = 0; i < gs.size(); ++i) {
    if (gs[i].type != conf::GraphicsType::kSpice || !gs[i].autoport) continue;
    const std::string listen = gs[i].listen.empty() ? "127.0.0.1" : gs[i].listen;
    in6_addr probe{};
    if (::inet_pton(listen.find(':') != std::string::npos ? AF_INET6 : AF_INET, listen.c_str(),
                    &probe) != 1) {
      return InvalidArgumentError("domain '{}': graphics {}: spice listen '{}' is not an address",
                                  def.name, i, listen);
    }
    while (next <= 65535 && !PortFree(listen, next)) ++next;
    if (next > 65535) {
      return UnavailableError("domain '{}': no free port for its spice display on {}", def.name,
                              listen);
    }
    ctx.graphics_ports[i] = next++;
  }
  return Status::Ok();
}

Result<int> QemuDriver::Start(const conf::DomainDef& def, const StartOptions& options) {
  {
    std::lock_guard l(mu_);
    Bury(nullptr);
    if (vms_.count(def.name))
      return FailedPreconditionError("domain '{}' is already running", def.name);
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
  SKIFF_ASSIGN_OR_RETURN(QemuBinary bin, FindQemu());
  KvmStatus kvm = ProbeKvm();
  ArgvContext ctx;
  ctx.qemu_major = bin.major;
  ctx.qemu_minor = bin.minor;
  ctx.emulator = bin.path;
  ctx.sandbox = QemuHasSandbox(def.devices.emulator.empty() ? bin.path : def.devices.emulator);
  ctx.kvm_usable = kvm.usable;
  ctx.kvm_reason = kvm.reason;
  ctx.qmp_socket = (paths_.run_dir / (def.name + ".qmp")).string();
  ctx.console_socket = (paths_.run_dir / (def.name + ".serial")).string();
  ctx.log_file = (paths_.log_dir / "domains" / (def.name + ".log")).string();
  ctx.start_paused = true;
  ctx.volume_paths = options.volume_paths;
  // A restore starts QEMU waiting for the state (migrate-incoming below).
  if (restore) ctx.incoming = "defer";
  ctx.pci_addrs = std::move(pci_addrs);
  SKIFF_TRY(MakeDirs(paths_.log_dir / "domains"));
  SKIFF_TRY(ChooseSpicePorts(def, ctx));
  if (def.os.firmware == "efi" && !def.os.loader) {
    // Without a descriptor BuildQemuArgv says what is missing.
    if (auto fw = FindEfiFirmware(def)) {
      SKIFF_ASSIGN_OR_RETURN(ctx.efi.nvram, PrepareNvram(*fw, paths_.lib_dir / "nvram", def.name));
      ctx.efi.code = fw->code;
      ctx.efi.secure = fw->requires_smm;
    }
  }
  if (def.os.smbios_mode == "host") ctx.host_sysinfo = ReadHostSysinfo();
  // swtpm, virtiofsd: running before QEMU connects to them; stopped again if the
  // start fails (their destructor), else with the domain's resources.
  auto helpers = std::make_unique<GuestHelpers>();
  SKIFF_TRY(helpers->Start(def, {paths_.run_dir, paths_.lib_dir, paths_.log_dir / "domains"}, ctx)
                .WithContext(fmt::format("start domain '{}'", def.name)));
  // Taps: fd numbers from 100 up in QEMU, clear of stdio and whatever else it inherits.
  std::vector<std::pair<int, int>> pass_fds;
  std::vector<std::string> taps;
  for (const auto& t : options.taps) {
    int child_fd = 100 + static_cast<int>(pass_fds.size());
    ctx.tap_fds[t.index] = child_fd;
    pass_fds.emplace_back(t.fd, child_fd);
    taps.push_back(t.name);
  }
  // Every file and socket QEMU uses, opened here: QEMU has no right to any path.
  QemuFiles files;
  files.set_reader(paths_.qemu_user);
  SKIFF_TRY(HandOffFiles(def, ctx, files).WithContext(fmt::format("start domain '{}'", def.name)));
  pass_fds.insert(pass_fds.end(), files.pass_fds().begin(), files.pass_fds().end());
  SKIFF_ASSIGN_OR_RETURN(std::vector<std::string> argv, BuildQemuArgv(def, ctx));
  // Until the status file below explains the QEMU, this marker says a start is
  // under way: a daemon killed in between finds it and looks for the QEMU
  // (ReapOrphans), even one that has not written its pid file yet.
  const std::filesystem::path marker = paths_.run_dir / (def.name + std::string(kStartingSuffix));
  SKIFF_TRY(WriteFileAtomic(marker, "", 0600));
  RemovedOnExit remove_marker{marker};

  QemuStartOptions so;
  so.argv = std::move(argv);
  so.qmp_socket = ctx.qmp_socket;
  so.console_socket = ctx.console_socket;
  so.log_file = ctx.log_file;
  so.pid_file = paths_.run_dir / (def.name + ".pid");
  so.private_dev = true;
  so.dev_nodes = QemuDevNodes(def);
  // A 9p share is served with the host's file owners (accessmode passthrough
  // creates files as the guest's users): its QEMU keeps root and capabilities.
  auto share = std::find_if(def.devices.filesystems.begin(), def.devices.filesystems.end(),
                            [](const conf::FilesystemDef& f) { return f.driver != "virtiofs"; });
  if (share == def.devices.filesystems.end()) {
    so.run_as = paths_.qemu_user;
    so.no_capabilities = true;
  } else if (paths_.qemu_user) {
    spdlog::warn("domain '{}': qemu runs as root, with capabilities: its 9p share '{}' needs them",
                 def.name, share->target_dir);
  }
  so.sockets_handed_over = true;
  so.close_after_spawn = files.TakeFds();
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
  auto proc = QemuProcess::Start(std::move(so));
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
                              "qemu)",
                              st.message(), *def.memtune->hard_limit_kib));
    }
    return st.WithContext(fmt::format("start domain '{}'", def.name));
  }
  files.KeepSockets();  // QEMU has them; Bury removes them with its run files
  {
    std::lock_guard l(mu_);
    vm->proc = std::move(*proc);
  }
  vm->res->KeepHelpers(std::move(helpers));
  // Pinning and console relay before the vCPUs first run.
  Status setup = vm->res->Setup(def, *vm->proc, ViewerSocket(def.name), LogLimitsOf(paths_));
  if (setup.ok()) setup = SetGraphicsPasswords(vm->proc->qmp(), def);
  if (setup.ok() && !restore) setup = SetInitialBalloon(vm->proc->qmp(), def);
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
    Status st = RestoreState(vm->proc->qmp(), state_fd.get());
    if (st.ok()) st = SetInitialBalloon(vm->proc->qmp(), def);
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

std::shared_ptr<QemuDriver::Vm> QemuDriver::NewVm(const conf::DomainDef& def) {
  auto vm = std::make_shared<Vm>();
  vm->max_memory_kib = def.memory_kib;
  vm->vcpus = def.current_vcpus.value_or(def.vcpus);
  vm->q35 = def.IsQ35();
  vm->tcg = def.type == conf::DomainType::kQemu;
  return vm;
}

Status QemuDriver::WriteStatus(const std::string& name, const Vm& vm) {
  nlohmann::json j = QemuStatusToJson(vm.proc->status());
  if (vm.vcpu_unplugged) j["vcpu_unplugged"] = true;
  return WriteFileAtomic(StatusFile(name), j.dump() + "\n", 0600);
}

Status QemuDriver::Attach(const conf::DomainDef& def) {
  SKIFF_ASSIGN_OR_RETURN(std::string text, ReadFile(StatusFile(def.name)));
  SKIFF_ASSIGN_OR_RETURN(QemuStatus st, ParseQemuStatus(text));
  auto vm = NewVm(def);
  auto extra = nlohmann::json::parse(text, nullptr, false);
  vm->vcpu_unplugged = extra.is_object() && extra.contains("vcpu_unplugged") &&
                       extra.at("vcpu_unplugged").is_boolean() &&
                       extra.at("vcpu_unplugged").get<bool>();
  {
    std::lock_guard l(mu_);
    vms_[def.name] = vm;
  }
  auto proc = QemuProcess::Attach(st, Callbacks(def.name, vm->callback_done, vm->res));
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
  vm->res->Adopt(def, *vm->proc, cgroups_, ViewerSocket(def.name), LogLimitsOf(paths_));
  return Status::Ok();
}

Status QemuDriver::Shutdown(const std::string& name) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  return SystemPowerdown(vm->proc->qmp());
}

Status QemuDriver::Destroy(const std::string& name) {
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

Status QemuDriver::Reboot(const std::string& name) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  return SystemReset(vm->proc->qmp());
}

Status QemuDriver::Reset(const std::string& name) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  return SystemReset(vm->proc->qmp());
}

Status QemuDriver::Suspend(const std::string& name) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  return Pause(vm->proc->qmp());
}

Status QemuDriver::Resume(const std::string& name) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  return qemu::Resume(vm->proc->qmp());
}

Result<RuntimeStats> QemuDriver::Stats(const std::string& name) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  RuntimeStats s;
  s.pid = vm->proc->pid();
  s.vcpus_current = s.vcpus_maximum = vm->vcpus;
  s.balloon_maximum_kib = vm->max_memory_kib;
  s.balloon_current_kib = vm->max_memory_kib;
  auto bal = QueryBalloon(vm->proc->qmp());
  if (bal.ok()) s.balloon_current_kib = *bal / 1024;
  auto cpus = QueryCpusFast(vm->proc->qmp());
  if (cpus.ok() && !cpus->empty()) s.vcpus_current = static_cast<unsigned>(cpus->size());
  // Disks are found by their top node, which BuildQemuArgv names "fmt-<dev>" or "file-<dev>".
  auto blocks = QueryBlockStats(vm->proc->qmp());
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

Result<std::vector<InterfaceAddress>> QemuDriver::Addresses(const std::string& name) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  (void)vm;
  // The daemon answers domifaddr from the networks' DHCP leases (NetworkDriver).
  return UnsupportedError("domain '{}': addresses come from the networks' leases", name);
}

Status QemuDriver::SetMemory(const std::string& name, uint64_t kib) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  Status st = SetBalloon(vm->proc->qmp(), kib * 1024);
  if (st.code() == Code::kFailedPrecondition) {
    return FailedPreconditionError(
        "domain '{}' has no balloon device; its memory can change while it runs only with "
        "<memballoon model='virtio'/>",
        name);
  }
  return st;
}

Status QemuDriver::SetVcpus(const std::string& name, unsigned count) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  if (vm->vcpu_unplugged) {
    auto cpus = QueryCpusFast(vm->proc->qmp());
    if (cpus.ok() && count > cpus->size()) {
      return FailedPreconditionError(
          "domain '{}': vcpus cannot be plugged again after an unplug while qemu runs "
          "under TCG (QEMU 7.2 does not survive it); restart the domain first",
          name);
    }
  }
  const unsigned before = vm->vcpus;
  auto n = SetVcpuCount(vm->proc->qmp(), static_cast<int>(count));
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

Result<std::vector<VcpuRuntime>> QemuDriver::Vcpus(const std::string& name) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  SKIFF_ASSIGN_OR_RETURN(auto cpus, QueryCpusFast(vm->proc->qmp()));
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
    if (aff.ok()) v.affinity = conf::FormatCpuset(*aff);
    out.push_back(std::move(v));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.vcpu < b.vcpu; });
  return out;
}

Status QemuDriver::PinVcpu(const std::string& name, unsigned vcpu, const std::string& cpuset) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  SKIFF_ASSIGN_OR_RETURN(auto cpus, QueryCpusFast(vm->proc->qmp()));
  for (const auto& c : cpus) {
    if (c.cpu_index == static_cast<int>(vcpu)) {
      return PinThread(static_cast<pid_t>(c.thread_id), cpuset, fmt::format("vcpu {}", vcpu))
          .WithContext(fmt::format("domain '{}'", name));
    }
  }
  return NotFoundError("vcpu {} is not present in running domain '{}'", vcpu, name);
}

Status QemuDriver::PinEmulator(const std::string& name, const std::string& cpuset) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  SKIFF_ASSIGN_OR_RETURN(auto cpus, QueryCpusFast(vm->proc->qmp()));
  std::set<pid_t> vcpu_tids;
  for (const auto& c : cpus) vcpu_tids.insert(static_cast<pid_t>(c.thread_id));
  return PinThreadsExcept(vm->proc->pid(), vcpu_tids, cpuset, "emulator")
      .WithContext(fmt::format("domain '{}'", name));
}

Result<uint64_t> QemuDriver::CpuShares(const std::string& name) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  auto cg = vm->res->cgroup();
  if (!cg) return UnavailableError("domain '{}' has no cgroup", name);
  auto shares = cg->CpuShares();
  if (!shares.ok()) return shares.status().WithContext(fmt::format("domain '{}'", name));
  return shares;
}

Status QemuDriver::SetCpuShares(const std::string& name, uint64_t shares) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  auto cg = vm->res->cgroup();
  if (!cg) return UnavailableError("domain '{}' has no cgroup", name);
  CgroupLimits l;
  l.cpu_shares = shares;
  return cg->Apply(l).WithContext(fmt::format("domain '{}'", name));
}

Status QemuDriver::Save(const std::string& name, const std::string& path, const JobControl& job,
                        const std::function<Status()>& commit) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  // Whether the guest runs now: it runs on if the image cannot be named.
  SKIFF_ASSIGN_OR_RETURN(RunStatus before, QueryStatus(vm->proc->qmp()));
  // Kept while the save runs: a daemon killed meanwhile finds it at Recheck and
  // takes the guest back to where it was (AbandonSave), as libvirt recovers an
  // interrupted save job.
  const std::filesystem::path saving = SavingFile(name);
  SKIFF_TRY(WriteFileAtomic(saving, nlohmann::json{{"resume", before.running}}.dump(), 0600));
  RemovedOnExit remove_saving{saving};
  // Appended after the header the daemon wrote; QEMU writes from the fd's offset.
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(errno, fmt::format("open save file '{}'", path));
  off_t header_end = ::lseek(fd.get(), 0, SEEK_END);
  if (header_end < 0) return ErrnoError(errno, fmt::format("seek in save file '{}'", path));
  Status st =
      WriteAll(fd.get(), nlohmann::json{{"pci", PciLayout(vm->proc->qmp())}}.dump() + "\n", path);
  if (!st.ok()) {
    if (::ftruncate(fd.get(), header_end) != 0) {
      spdlog::warn("save of domain '{}': cannot truncate '{}'", name, path);
    }
    return st.WithContext(fmt::format("domain '{}': '{}'", name, path));
  }
  SaveOptions so;
  so.cancelled = job.cancelled;
  auto progress = [&job](const MigrationProgress& p) {
    if (p.total > 0) {
      uint64_t done = p.total > p.remaining ? p.total - p.remaining : 0;
      job.progress(static_cast<int>(std::min<uint64_t>(99, done * 100 / p.total)));
    }
  };
  st = SaveState(vm->proc->qmp(), fd.get(), so, progress);
  if (st.ok() && ::fdatasync(fd.get()) != 0) {
    st = ErrnoError(errno, fmt::format("sync save file '{}'", path));
  }
  // The image is named while QEMU still holds the guest: killed here, the daemon
  // leaves a whole image and a QEMU that the next daemon adopts.
  if (st.ok()) {
    st = commit();
    if (!st.ok() && before.running) (void)qemu::Resume(vm->proc->qmp());
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

Result<std::string> QemuDriver::ConsoleSocket(const std::string& name) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  if (std::string relay = vm->res->console_socket(); !relay.empty()) return relay;
  std::string s = vm->proc->status().console_socket.string();
  if (s.empty()) return NotFoundError("domain '{}' has no console socket", name);
  return s;
}

Status QemuDriver::DumpMemory(const std::string& name, const std::string& path) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoError(errno, fmt::format("create dump file '{}'", path));
  Status st = DumpGuestMemory(vm->proc->qmp(), fd.get());
  if (st.ok() && ::fsync(fd.get()) != 0) st = ErrnoError(errno, "sync dump file");
  if (!st.ok()) {
    (void)RemoveFileIfExists(path);
    return st.WithContext(fmt::format("domain '{}': dump to '{}'", name, path));
  }
  return Status::Ok();
}

namespace {

// The format nodes of the disks `targets` (BuildQemuArgv names them "fmt-vda").
std::vector<std::string> FormatNodes(const std::vector<std::string>& targets) {
  std::vector<std::string> nodes;
  for (const auto& t : targets) nodes.push_back("fmt-" + t);
  return nodes;
}

}  // namespace

Status QemuDriver::SaveSnapshot(const std::string& name, const std::string& tag,
                                const std::vector<std::string>& disks) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  return RunSnapshotJob(vm->proc->qmp(), "save", tag, FormatNodes(disks))
      .WithContext(fmt::format("domain '{}'", name));
}

Status QemuDriver::LoadSnapshot(const std::string& name, const std::string& tag,
                                const std::vector<std::string>& disks) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  return RunSnapshotJob(vm->proc->qmp(), "load", tag, FormatNodes(disks))
      .WithContext(fmt::format("domain '{}'", name));
}

Status QemuDriver::DeleteSnapshot(const std::string& name, const std::string& tag,
                                  const std::vector<std::string>& disks) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  return RunSnapshotJob(vm->proc->qmp(), "delete", tag, FormatNodes(disks))
      .WithContext(fmt::format("domain '{}'", name));
}

Status QemuDriver::ResizeDisk(const std::string& name, const std::string& target, uint64_t bytes) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  conf::DiskDef owner;
  owner.target_dev = target;
  DropReadOnlyFdsOverQmp(vm->proc->qmp(), DiskFdSetOwner(owner));
  // The format node ("fmt-vda", see argv.cc): QEMU grows the image and tells the guest.
  return ResizeBlockNode(vm->proc->qmp(), "fmt-" + target, bytes)
      .WithContext(fmt::format("domain '{}': disk '{}'", name, target));
}

Result<std::vector<std::pair<std::string, std::string>>> QemuDriver::DiskErrors(
    const std::string& name) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  SKIFF_ASSIGN_OR_RETURN(auto errs, QueryBlockIoErrors(vm->proc->qmp()));
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [node, status] : errs) {
    std::string target = node.rfind("fmt-", 0) == 0 ? node.substr(4) : node;
    out.emplace_back(target, status == "nospace" ? "no space" : "unspecified error");
  }
  return out;
}

void QemuDriver::SetExitCallback(ExitCallback cb) {
  std::lock_guard l(mu_);
  exit_cb_ = std::move(cb);
}

void QemuDriver::SetGuestEventCallback(GuestEventCallback cb) {
  std::lock_guard l(ev_cb_mu_);
  guest_cb_ = std::move(cb);
}

std::unique_ptr<hypervisor::Hypervisor> MakeQemuDriver(DriverPaths paths) {
  return std::make_unique<QemuDriver>(std::move(paths));
}

}  // namespace skiff::qemu
