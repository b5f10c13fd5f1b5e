// FakeHypervisor: a deterministic in-memory Hypervisor for the API and CLI tests
// (skiffd --fake-hypervisor). No processes: "running" is a map entry; pids count
// up from 4000. Like the QEMU driver it reports exits and guest events on a
// thread of its own, never on the caller's; what a guest does by itself (a
// panic, a pause at an I/O error, a reset from inside) is made with the
// ...ForTest calls below. Requests of the daemon's own are not reported back.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <optional>

#include "skiff/hypervisor/hypervisor.h"

namespace skiff::fake {

class FakeHypervisor : public hypervisor::Hypervisor {
 public:
  FakeHypervisor();
  ~FakeHypervisor() override;

  std::string Describe() const override { return "fake"; }
  Result<int> Start(const conf::DomainDef& def, const hypervisor::StartOptions& options) override;
  Status Attach(const conf::DomainDef& def) override;
  Status Shutdown(const std::string& name) override;
  Status Destroy(const std::string& name) override;
  Status Reboot(const std::string& name) override;
  Status Reset(const std::string& name) override;
  Status Suspend(const std::string& name) override;
  Status Resume(const std::string& name) override;
  Result<hypervisor::RuntimeStats> Stats(const std::string& name) override;
  Result<std::vector<hypervisor::InterfaceAddress>> Addresses(const std::string& name) override;
  Status SetMemory(const std::string& name, uint64_t kib) override;
  Status SetVcpus(const std::string& name, unsigned count) override;
  Result<std::vector<hypervisor::VcpuRuntime>> Vcpus(const std::string& name) override;
  Status PinVcpu(const std::string& name, unsigned vcpu, const std::string& cpuset) override;
  Status PinEmulator(const std::string& name, const std::string& cpuset) override;
  Result<uint64_t> CpuShares(const std::string& name) override;
  Status SetCpuShares(const std::string& name, uint64_t shares) override;
  Status AttachDisk(const std::string& name, const conf::DiskDef& disk) override;
  Status DetachDisk(const std::string& name, const conf::DiskDef& disk) override;
  Status AttachInterface(const std::string& name, const conf::InterfaceDef& nic,
                         const hypervisor::GuestTap& tap) override;
  Status DetachInterface(const std::string& name, const conf::InterfaceDef& nic) override;
  Status Save(const std::string& name, const std::string& path, const hypervisor::JobControl& job,
              const std::function<Status()>& commit) override;
  Result<std::string> ConsoleSocket(const std::string& name) override;
  // Writes a small file standing for the guest's memory (kAlreadyExists if `path` exists).
  Status DumpMemory(const std::string& name, const std::string& path) override;
  // Snapshots live in the fake's memory, by domain name, across restarts of a guest.
  Status SaveSnapshot(const std::string& name, const std::string& tag,
                      const std::vector<std::string>& disks) override;
  Status LoadSnapshot(const std::string& name, const std::string& tag,
                      const std::vector<std::string>& disks) override;
  Status DeleteSnapshot(const std::string& name, const std::string& tag,
                        const std::vector<std::string>& disks) override;
  // Records the new size (DiskSizeForTest); refuses an unknown target.
  Status BackupDisks(const std::string& name, const std::vector<DiskBackup>& disks,
                     const std::function<void(double)>& progress,
                     const std::function<bool()>& cancelled) override;
  Result<std::vector<std::string>> DiskBitmaps(const std::string& name,
                                               const std::string& target) override;
  Status RemoveDiskBitmap(const std::string& name, const std::string& target,
                          const std::string& bitmap) override;
  Status ResizeDisk(const std::string& name, const std::string& target, uint64_t bytes) override;
  Result<std::vector<std::pair<std::string, std::string>>> DiskErrors(
      const std::string& name) override;
  uint64_t DiskSizeForTest(const std::string& name, const std::string& target);
  void DiskErrorForTest(const std::string& name, const std::string& target,
                        const std::string& error);
  // Reports the guest's state as it is (running or paused), as the QEMU driver does.
  void Recheck(const std::string& name) override;
  // The fake's guests live in its memory and die with it: none is ever orphaned.
  void ReapOrphans() override {}
  void SetExitCallback(ExitCallback cb) override;
  void SetGuestEventCallback(GuestEventCallback cb) override;

  // Makes the guest `name` stop as if it crashed (tests of exit notices).
  void CrashForTest(const std::string& name);
  // Makes the guest `name` do what `ev` says by itself (kPaused: it is paused,
  // with ev.detail as the reason; kResumed; kReset; kPanicked: it is stopped and
  // kept, as QEMU keeps a panicked guest) and reports it.
  void GuestEventForTest(const std::string& name, hypervisor::GuestEvent ev);
  // Makes Start fail with `status` until cleared with an ok Status.
  void FailStartForTest(Status status);
  // Milliseconds each 10% step of Save takes (default 5).
  void SetSaveStepMsForTest(int ms);
  size_t RunningCountForTest();

 private:
  struct Vm {
    conf::DomainDef def;
    int pid = 0;
    bool paused = false;
    std::string pause_reason;  // "user" (Suspend), or what GuestEventForTest said
    bool panicked = false;     // stopped by a panic, kept for <on_crash>
    uint64_t memory_kib = 0;
    unsigned vcpus = 0;
    uint64_t cpu_shares = 1024;
    std::map<unsigned, std::string> pins;  // vcpu -> cpuset ("0-3" when unpinned)
    std::string emulator_pin = "0-3";
    std::map<std::string, uint64_t> disk_sizes;  // ResizeDisk
    std::vector<std::pair<std::string, std::string>> disk_errors;
  };
  Result<Vm*> Find(const std::string& name);
  // One report for the notifier thread: an exit or a guest event.
  struct Notice {
    std::string name;
    std::optional<hypervisor::ExitReason> exit;
    hypervisor::GuestEvent event;
  };
  void NotifyLater(Notice n);
  void NotifyExitLater(const std::string& name, hypervisor::ExitReason reason);

  std::mutex mu_;
  std::map<std::string, Vm> vms_;
  int next_pid_ = 4000;
  Status fail_start_;
  int save_step_ms_ = 5;
  std::map<std::string, std::set<std::string>> snapshots_;  // domain -> tags
  // The callbacks, guarded by cb_mu_, which is held while one runs: clearing
  // them (the daemon's destructor) waits for a report under way.
  std::mutex cb_mu_;
  ExitCallback exit_cb_;
  GuestEventCallback guest_cb_;
  // Exits and guest events are delivered in order by one thread, never under mu_.
  std::mutex notice_mu_;
  std::condition_variable notice_cv_;
  std::deque<Notice> notices_;
  bool stopping_ = false;
  std::thread notifier_;
};

}  // namespace skiff::fake
