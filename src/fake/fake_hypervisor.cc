// FakeHypervisor: guests as map entries; exit notices on a helper thread, like a real driver.
#include "skiff/fake/fake_hypervisor.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "skiff/base/fd.h"
#include "skiff/base/fs.h"

namespace skiff::fake {

namespace {
constexpr std::string_view kSaveMagic = "SKIFF-FAKE-SAVE\n";
}

FakeHypervisor::FakeHypervisor() {
  notifier_ = std::thread([this] {
    std::unique_lock l(notice_mu_);
    while (true) {
      notice_cv_.wait(l, [this] { return stopping_ || !notices_.empty(); });
      if (notices_.empty()) return;
      Notice n = std::move(notices_.front());
      notices_.pop_front();
      l.unlock();
      {
        // Held while a callback runs, so that clearing one waits for it.
        std::lock_guard cb(cb_mu_);
        if (n.exit && exit_cb_) exit_cb_(n.name, *n.exit);
        if (!n.exit && guest_cb_) guest_cb_(n.name, n.event);
      }
      l.lock();
    }
  });
}

FakeHypervisor::~FakeHypervisor() {
  {
    std::lock_guard l(notice_mu_);
    stopping_ = true;
  }
  notice_cv_.notify_all();
  notifier_.join();
}

Result<FakeHypervisor::Vm*> FakeHypervisor::Find(const std::string& name) {
  auto it = vms_.find(name);
  if (it == vms_.end()) return FailedPreconditionError("domain '{}' is not running", name);
  return &it->second;
}

Result<int> FakeHypervisor::Start(const conf::DomainDef& def, const hypervisor::StartOptions& o) {
  std::lock_guard l(mu_);
  if (!fail_start_.ok()) return fail_start_;
  if (vms_.count(def.name))
    return FailedPreconditionError("domain '{}' is already running", def.name);
  if (!o.restore_from.empty()) {
    auto data = ReadFile(o.restore_from);
    if (!data.ok()) return data.status();
    if (o.restore_offset > data->size() ||
        data->compare(o.restore_offset, kSaveMagic.size(), kSaveMagic) != 0) {
      return InvalidArgumentError("'{}' is not a saved guest state", o.restore_from);
    }
  }
  Vm vm;
  vm.def = def;
  vm.pid = next_pid_++;
  vm.paused = o.paused;
  vm.memory_kib = def.current_memory_kib ? def.current_memory_kib : def.memory_kib;
  vm.vcpus = def.current_vcpus.value_or(def.vcpus);
  if (def.cputune) {
    if (def.cputune->shares) vm.cpu_shares = *def.cputune->shares;
    for (const auto& p : def.cputune->vcpupins) vm.pins[p.vcpu] = p.cpuset;
    if (!def.cputune->emulatorpin.empty()) vm.emulator_pin = def.cputune->emulatorpin;
  }
  int pid = vm.pid;
  vms_[def.name] = std::move(vm);
  return pid;
}

Status FakeHypervisor::Attach(const conf::DomainDef& def) {
  std::lock_guard l(mu_);
  if (!vms_.count(def.name)) return NotFoundError("domain '{}' is not running", def.name);
  return Status::Ok();
}

void FakeHypervisor::NotifyLater(Notice n) {
  // The callbacks run on the notifier thread so that they may take the daemon's
  // object lock, which our caller holds.
  {
    std::lock_guard l(notice_mu_);
    notices_.push_back(std::move(n));
  }
  notice_cv_.notify_one();
}

void FakeHypervisor::NotifyExitLater(const std::string& name, hypervisor::ExitReason reason) {
  NotifyLater({name, reason, {}});
}

Status FakeHypervisor::Shutdown(const std::string& name) {
  std::lock_guard l(mu_);
  SKIFF_ASSIGN_OR_RETURN(Vm * vm, Find(name));
  if (vm->paused) return Status::Ok();  // a paused guest ignores the power button
  vms_.erase(name);
  NotifyExitLater(name, hypervisor::ExitReason::kShutdown);
  return Status::Ok();
}

Status FakeHypervisor::Destroy(const std::string& name) {
  std::lock_guard l(mu_);
  SKIFF_ASSIGN_OR_RETURN(Vm * vm, Find(name));
  (void)vm;
  vms_.erase(name);
  return Status::Ok();
}

Status FakeHypervisor::Reboot(const std::string& name) {
  std::lock_guard l(mu_);
  SKIFF_ASSIGN_OR_RETURN(Vm * vm, Find(name));
  (void)vm;
  return Status::Ok();
}

Status FakeHypervisor::Reset(const std::string& name) { return Reboot(name); }

Status FakeHypervisor::Suspend(const std::string& name) {
  std::lock_guard l(mu_);
  SKIFF_ASSIGN_OR_RETURN(Vm * vm, Find(name));
  vm->paused = true;
  vm->pause_reason = "user";
  return Status::Ok();
}

Status FakeHypervisor::Resume(const std::string& name) {
  std::lock_guard l(mu_);
  SKIFF_ASSIGN_OR_RETURN(Vm * vm, Find(name));
  vm->paused = false;
  vm->panicked = false;
  return Status::Ok();
}

Result<hypervisor::RuntimeStats> FakeHypervisor::Stats(const std::string& name) {
  std::lock_guard l(mu_);
  SKIFF_ASSIGN_OR_RETURN(Vm * vm, Find(name));
  hypervisor::RuntimeStats s;
  s.cpu_time_ns = 1500000000ull;  // 1.5 s, fixed so that transcripts are stable
  s.balloon_current_kib = vm->memory_kib;
  s.balloon_maximum_kib = vm->def.memory_kib;
  s.vcpus_current = vm->vcpus;
  s.vcpus_maximum = vm->def.vcpus;
  s.pid = vm->pid;
  for (const auto& d : vm->def.devices.disks) s.blocks.push_back({d.target_dev});
  return s;
}

Result<std::vector<hypervisor::InterfaceAddress>> FakeHypervisor::Addresses(
    const std::string& name) {
  std::lock_guard l(mu_);
  SKIFF_ASSIGN_OR_RETURN(Vm * vm, Find(name));
  std::vector<hypervisor::InterfaceAddress> out;
  int i = 0;
  for (const auto& nic : vm->def.devices.interfaces) {
    out.push_back(
        {fmt::format("vnet{}", i), nic.mac, "ipv4", fmt::format("192.168.122.{}/24", 10 + i)});
    ++i;
  }
  return out;
}

Status FakeHypervisor::SetMemory(const std::string& name, uint64_t kib) {
  std::lock_guard l(mu_);
  SKIFF_ASSIGN_OR_RETURN(Vm * vm, Find(name));
  vm->memory_kib = kib;
  return Status::Ok();
}

Status FakeHypervisor::SetVcpus(const std::string& name, unsigned count) {
  std::lock_guard l(mu_);
  SKIFF_ASSIGN_OR_RETURN(Vm * vm, Find(name));
  if (count > vm->def.vcpus) {
    return InvalidArgumentError("requested vcpus {} exceed the maximum {}", count, vm->def.vcpus);
  }
  unsigned boot = vm->def.current_vcpus.value_or(vm->def.vcpus);
  if (count < boot) {
    return FailedPreconditionError(
        "vcpu count {}: only hot-plugged vcpus can be unplugged; {} of the {} present were "
        "there at boot",
        count, boot, vm->vcpus);
  }
  vm->vcpus = count;
  return Status::Ok();
}

// A fake host with CPUs 0-3: vCPUs and the emulator may run anywhere until pinned.
Result<std::vector<hypervisor::VcpuRuntime>> FakeHypervisor::Vcpus(const std::string& name) {
  std::lock_guard l(mu_);
  SKIFF_ASSIGN_OR_RETURN(Vm * vm, Find(name));
  std::vector<hypervisor::VcpuRuntime> out;
  for (unsigned i = 0; i < vm->vcpus; ++i) {
    hypervisor::VcpuRuntime v;
    v.vcpu = i;
    v.thread_id = vm->pid + 1 + static_cast<int>(i);
    v.cpu = static_cast<int>(i % 4);
    v.cpu_time_ns = 500000000ull;  // 0.5 s, fixed for stable transcripts
    auto it = vm->pins.find(i);
    v.affinity = it == vm->pins.end() ? "0-3" : it->second;
    out.push_back(std::move(v));
  }
  return out;
}

Status FakeHypervisor::PinVcpu(const std::string& name, unsigned vcpu, const std::string& cpuset) {
  std::lock_guard l(mu_);
  SKIFF_ASSIGN_OR_RETURN(Vm * vm, Find(name));
  if (vcpu >= vm->vcpus) return NotFoundError("vcpu {} is not present in domain '{}'", vcpu, name);
  vm->pins[vcpu] = cpuset;
  return Status::Ok();
}

Status FakeHypervisor::PinEmulator(const std::string& name, const std::string& cpuset) {
  std::lock_guard l(mu_);
  SKIFF_ASSIGN_OR_RETURN(Vm * vm, Find(name));
  vm->emulator_pin = cpuset;
  return Status::Ok();
}

Result<uint64_t> FakeHypervisor::CpuShares(const std::string& name) {
  std::lock_guard l(mu_);
  SKIFF_ASSIGN_OR_RETURN(Vm * vm, Find(name));
  return vm->cpu_shares;
}

Status FakeHypervisor::SetCpuShares(const std::string& name, uint64_t shares) {
  std::lock_guard l(mu_);
  SKIFF_ASSIGN_OR_RETURN(Vm * vm, Find(name));
  vm->cpu_shares = shares;
  return Status::Ok();
}

Status FakeHypervisor::AttachDisk(const std::string& name, const conf::DiskDef& disk) {
  std::lock_guard l(mu_);
  SKIFF_ASSIGN_OR_RETURN(Vm * vm, Find(name));
  vm->def.devices.disks.push_back(disk);
  return Status::Ok();
}

Status FakeHypervisor::DetachDisk(const std::string& name, const conf::DiskDef& disk) {
  std::lock_guard l(mu_);
  SKIFF_ASSIGN_OR_RETURN(Vm * vm, Find(name));
  std::erase_if(vm->def.devices.disks,
                [&](const auto& d) { return d.target_dev == disk.target_dev; });
  return Status::Ok();
}

Status FakeHypervisor::AttachInterface(const std::string& name, const conf::InterfaceDef& nic,
                                       const hypervisor::GuestTap&) {
  std::lock_guard l(mu_);
  SKIFF_ASSIGN_OR_RETURN(Vm * vm, Find(name));
  vm->def.devices.interfaces.push_back(nic);
  return Status::Ok();
}

Status FakeHypervisor::DetachInterface(const std::string& name, const conf::InterfaceDef& nic) {
  std::lock_guard l(mu_);
  SKIFF_ASSIGN_OR_RETURN(Vm * vm, Find(name));
  std::erase_if(vm->def.devices.interfaces, [&](const auto& n) { return n.mac == nic.mac; });
  return Status::Ok();
}

Status FakeHypervisor::Save(const std::string& name, const std::string& path,
                            const hypervisor::JobControl& job,
                            const std::function<Status()>& commit) {
  int step_ms;
  {
    std::lock_guard l(mu_);
    SKIFF_ASSIGN_OR_RETURN(Vm * vm, Find(name));
    (void)vm;
    step_ms = save_step_ms_;
  }
  for (int p = 0; p <= 100; p += 10) {
    if (job.is_cancelled()) return CancelledError("save of domain '{}' was cancelled", name);
    job.progress(p);
    std::this_thread::sleep_for(std::chrono::milliseconds(step_ms));
  }
  // Appended after the daemon's header, as QEMU's state is.
  SKIFF_ASSIGN_OR_RETURN(std::string header, ReadFile(path));
  SKIFF_TRY(WriteFileAtomic(path, header + std::string(kSaveMagic) + name + "\n", 0600));
  SKIFF_TRY(commit());
  std::lock_guard l(mu_);
  vms_.erase(name);
  return Status::Ok();
}

Result<std::string> FakeHypervisor::ConsoleSocket(const std::string& name) {
  return UnsupportedError("domain '{}': the fake hypervisor has no console", name);
}

Status FakeHypervisor::DumpMemory(const std::string& name, const std::string& path) {
  {
    std::lock_guard l(mu_);
    SKIFF_ASSIGN_OR_RETURN(Vm * vm, Find(name));
    (void)vm;
  }
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoError(errno, fmt::format("create dump file '{}'", path));
  return WriteAll(fd.get(), "SKIFF-FAKE-CORE\n" + name + "\n", path);
}

Status FakeHypervisor::SaveSnapshot(const std::string& name, const std::string& tag,
                                    const std::vector<std::string>& disks) {
  std::lock_guard l(mu_);
  SKIFF_ASSIGN_OR_RETURN(Vm * vm, Find(name));
  (void)vm;
  if (disks.empty()) return InvalidArgumentError("snapshot '{}': no disk to save it on", tag);
  if (!snapshots_[name].insert(tag).second) {
    return AlreadyExistsError("domain '{}': snapshot '{}' exists", name, tag);
  }
  return Status::Ok();
}

Status FakeHypervisor::LoadSnapshot(const std::string& name, const std::string& tag,
                                    const std::vector<std::string>& disks) {
  std::lock_guard l(mu_);
  SKIFF_ASSIGN_OR_RETURN(Vm * vm, Find(name));
  (void)vm;
  (void)disks;
  if (!snapshots_[name].count(tag)) {
    return FailedPreconditionError("domain '{}': snapshot '{}' not found", name, tag);
  }
  return Status::Ok();
}

Status FakeHypervisor::DeleteSnapshot(const std::string& name, const std::string& tag,
                                      const std::vector<std::string>& disks) {
  std::lock_guard l(mu_);
  SKIFF_ASSIGN_OR_RETURN(Vm * vm, Find(name));
  (void)vm;
  (void)disks;
  snapshots_[name].erase(tag);
  return Status::Ok();
}

Status FakeHypervisor::ResizeDisk(const std::string& name, const std::string& target,
                                  uint64_t bytes) {
  std::lock_guard l(mu_);
  SKIFF_ASSIGN_OR_RETURN(Vm * vm, Find(name));
  bool known = false;
  for (const auto& d : vm->def.devices.disks) known |= d.target_dev == target;
  if (!known) return NotFoundError("domain '{}' has no disk '{}'", name, target);
  vm->disk_sizes[target] = bytes;
  return Status::Ok();
}

// The fake runs no QEMU whose disks could be copied while they change.
Status FakeHypervisor::BackupDisks(const std::string& name, const std::vector<DiskBackup>&,
                                   const std::function<void(double)>&,
                                   const std::function<bool()>&) {
  std::lock_guard l(mu_);
  SKIFF_TRY(Find(name).status());
  return UnsupportedError("the fake hypervisor backs up no running domain");
}

Result<std::vector<std::string>> FakeHypervisor::DiskBitmaps(const std::string& name,
                                                             const std::string&) {
  std::lock_guard l(mu_);
  SKIFF_TRY(Find(name).status());
  return std::vector<std::string>{};
}

Status FakeHypervisor::RemoveDiskBitmap(const std::string& name, const std::string&,
                                        const std::string& bitmap) {
  std::lock_guard l(mu_);
  SKIFF_TRY(Find(name).status());
  return NotFoundError("no bitmap '{}'", bitmap);
}

Result<std::vector<std::pair<std::string, std::string>>> FakeHypervisor::DiskErrors(
    const std::string& name) {
  std::lock_guard l(mu_);
  SKIFF_ASSIGN_OR_RETURN(Vm * vm, Find(name));
  return vm->disk_errors;
}

uint64_t FakeHypervisor::DiskSizeForTest(const std::string& name, const std::string& target) {
  std::lock_guard l(mu_);
  auto vm = Find(name);
  if (!vm.ok()) return 0;
  auto it = (*vm)->disk_sizes.find(target);
  return it == (*vm)->disk_sizes.end() ? 0 : it->second;
}

void FakeHypervisor::DiskErrorForTest(const std::string& name, const std::string& target,
                                      const std::string& error) {
  std::lock_guard l(mu_);
  auto vm = Find(name);
  if (vm.ok()) (*vm)->disk_errors.emplace_back(target, error);
}

void FakeHypervisor::Recheck(const std::string& name) {
  std::lock_guard l(mu_);
  auto vm = Find(name);
  if (!vm.ok()) return;
  using Kind = hypervisor::GuestEvent::Kind;
  if ((*vm)->panicked) {
    NotifyLater({name, std::nullopt, {Kind::kPanicked, "panicked"}});
  } else if ((*vm)->paused) {
    NotifyLater({name, std::nullopt, {Kind::kPaused, (*vm)->pause_reason}});
  } else {
    NotifyLater({name, std::nullopt, {Kind::kResumed, "unpaused"}});
  }
}

void FakeHypervisor::SetExitCallback(ExitCallback cb) {
  std::lock_guard l(cb_mu_);
  exit_cb_ = std::move(cb);
}

void FakeHypervisor::SetGuestEventCallback(GuestEventCallback cb) {
  std::lock_guard l(cb_mu_);
  guest_cb_ = std::move(cb);
}

void FakeHypervisor::GuestEventForTest(const std::string& name, hypervisor::GuestEvent ev) {
  std::lock_guard l(mu_);
  auto vm = Find(name);
  if (!vm.ok()) return;
  using Kind = hypervisor::GuestEvent::Kind;
  switch (ev.kind) {
    case Kind::kPaused:
      (*vm)->paused = true;
      (*vm)->pause_reason = ev.detail;
      break;
    case Kind::kResumed:
      (*vm)->paused = false;
      break;
    case Kind::kReset:
      break;
    case Kind::kPanicked:
      (*vm)->paused = true;
      (*vm)->panicked = true;
      break;
  }
  NotifyLater({name, std::nullopt, std::move(ev)});
}

void FakeHypervisor::CrashForTest(const std::string& name) {
  std::lock_guard l(mu_);
  if (vms_.erase(name)) NotifyExitLater(name, hypervisor::ExitReason::kCrashed);
}

void FakeHypervisor::FailStartForTest(Status status) {
  std::lock_guard l(mu_);
  fail_start_ = std::move(status);
}

void FakeHypervisor::SetSaveStepMsForTest(int ms) {
  std::lock_guard l(mu_);
  save_step_ms_ = ms;
}

size_t FakeHypervisor::RunningCountForTest() {
  std::lock_guard l(mu_);
  return vms_.size();
}

}  // namespace skiff::fake
