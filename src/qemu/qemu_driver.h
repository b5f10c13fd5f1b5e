// QemuDriver: the Hypervisor driver that runs each domain as one QEMU process,
// built on BuildQemuArgv and QemuProcess. Others make one with MakeQemuDriver
// (include/skiff/qemu/qemu_driver.h). Life cycle and guest events are in
// qemu_driver.cc, hot-plug in qemu_hotplug.cc, PCI addressing in qemu_address.cc.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "qemu/cgroup.h"
#include "qemu/domain_resources.h"
#include "skiff/hypervisor/hypervisor.h"
#include "skiff/qemu/qemu_driver.h"
#include "skiff/qemu/qemu_process.h"

namespace skiff::qemu {

using hypervisor::BlockIoStats;
using hypervisor::ExitReason;
using hypervisor::GuestEvent;
using hypervisor::GuestTap;
using hypervisor::InterfaceAddress;
using hypervisor::JobControl;
using hypervisor::RuntimeStats;
using hypervisor::StartOptions;
using hypervisor::VcpuRuntime;

class QemuDriver : public hypervisor::Hypervisor {
 public:
  explicit QemuDriver(DriverPaths paths);
  ~QemuDriver() override;  // detaches: QEMUs keep running

  std::string Describe() const override;
  Result<int> Start(const conf::DomainDef& def, const StartOptions& options) override;
  Status Attach(const conf::DomainDef& def) override;
  Status Shutdown(const std::string& name) override;
  Status Destroy(const std::string& name) override;
  Status Reboot(const std::string& name) override;
  Status Reset(const std::string& name) override;
  Status Suspend(const std::string& name) override;
  Status Resume(const std::string& name) override;
  Result<RuntimeStats> Stats(const std::string& name) override;
  Result<std::vector<InterfaceAddress>> Addresses(const std::string& name) override;
  Status SetMemory(const std::string& name, uint64_t kib) override;
  Status SetVcpus(const std::string& name, unsigned count) override;
  Result<std::vector<VcpuRuntime>> Vcpus(const std::string& name) override;
  Status PinVcpu(const std::string& name, unsigned vcpu, const std::string& cpuset) override;
  Status PinEmulator(const std::string& name, const std::string& cpuset) override;
  Result<uint64_t> CpuShares(const std::string& name) override;
  Status SetCpuShares(const std::string& name, uint64_t shares) override;
  Status AttachDisk(const std::string& name, const conf::DiskDef& disk) override;
  Status DetachDisk(const std::string& name, const conf::DiskDef& disk) override;
  Status AttachInterface(const std::string& name, const conf::InterfaceDef& nic,
                         const GuestTap& tap) override;
  Status DetachInterface(const std::string& name, const conf::InterfaceDef& nic) override;
  Status Save(const std::string& name, const std::string& path, const JobControl& job,
              const std::function<Status()>& commit) override;
  Result<std::string> ConsoleSocket(const std::string& name) override;
  void SetExitCallback(ExitCallback cb) override;
  void SetGuestEventCallback(GuestEventCallback cb) override;
  Status DumpMemory(const std::string& name, const std::string& path) override;
  Status SaveSnapshot(const std::string& name, const std::string& tag,
                      const std::vector<std::string>& disks) override;
  Status LoadSnapshot(const std::string& name, const std::string& tag,
                      const std::vector<std::string>& disks) override;
  Status DeleteSnapshot(const std::string& name, const std::string& tag,
                        const std::vector<std::string>& disks) override;
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
  void Recheck(const std::string& name) override;
  void ReapOrphans() override;

 private:
  static Status ChooseSpicePorts(const conf::DomainDef& def, ArgvContext& ctx);
  struct Vm {
    std::unique_ptr<QemuProcess> proc;
    std::shared_ptr<std::atomic<bool>> callback_done = std::make_shared<std::atomic<bool>>(false);
    // Cgroup and console relay; released by the exit callback.
    std::shared_ptr<DomainResources> res = std::make_shared<DomainResources>();
    uint64_t max_memory_kib = 0;
    unsigned vcpus = 0;
    bool q35 = false;  // hot-plugged PCI devices go to free pcie-root-ports
    bool tcg = false;  // <domain type='qemu'>
    // Under TCG a vCPU was unplugged: no vCPU is plugged again while this QEMU runs
    // (QEMU 7.2 under TCG dies when a freed vCPU slot is plugged again). Kept in
    // the status file, so that it holds after a daemon restart.
    bool vcpu_unplugged = false;
  };
  // A started or re-attached QEMU's entry, with what it needs from the definition.
  static std::shared_ptr<Vm> NewVm(const conf::DomainDef& def);
  // Writes the status file of a started or changed QEMU: its process (QemuStatus)
  // and vcpu_unplugged.
  Status WriteStatus(const std::string& name, const Vm& vm);
  Result<std::shared_ptr<Vm>> Find(const std::string& name);
  QemuCallbacks Callbacks(const std::string& name, std::shared_ptr<std::atomic<bool>> done,
                          std::shared_ptr<DomainResources> res);
  // Turns a QMP event into a GuestEvent for the dispatch thread (QMP reader thread).
  void OnQmpEvent(const std::string& name, const QmpEvent& ev, std::string* pause_why);
  void DispatchLoop();
  void Queue(const std::string& name, GuestEvent ev);
  void Bury(std::shared_ptr<Vm> vm);  // needs mu_; frees finished processes
  std::filesystem::path StatusFile(const std::string& name) const;
  // NAME.saving: present while Save runs, with whether the guest ran before it.
  std::filesystem::path SavingFile(const std::string& name) const;
  // Where console viewers connect (the daemon's relay; QEMU's own is NAME.serial).
  std::filesystem::path ViewerSocket(const std::string& name) const;

  DriverPaths paths_;
  CgroupManager cgroups_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<Vm>> vms_;
  std::vector<std::shared_ptr<Vm>> graveyard_;
  ExitCallback exit_cb_;

  // Guest events are handed to the callback on this thread, never on a QMP reader:
  // the callback takes the service's domain locks, whose holders may be waiting for
  // a QMP reply.
  std::mutex ev_mu_;
  std::condition_variable ev_cv_;
  std::deque<std::pair<std::string, GuestEvent>> ev_queue_;
  bool ev_stop_ = false;
  std::mutex ev_cb_mu_;  // held while the callback runs, so that clearing it waits
  GuestEventCallback guest_cb_;
  std::thread ev_thread_;
};

}  // namespace skiff::qemu
