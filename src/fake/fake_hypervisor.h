// FakeHypervisor: a deterministic in-memory Hypervisor for the API and CLI tests.
// No processes: "running" is a map entry; pids count up from 4000.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "skiff/daemon/hypervisor.h"

namespace skiff::fake {

class FakeHypervisor : public daemon::Hypervisor {
 public:
  FakeHypervisor();
  ~FakeHypervisor() override;

  std::string Describe() const override { return "fake"; }
  Result<int> Start(const conf::DomainDef& def, const daemon::StartOptions& options) override;
  Status Attach(const conf::DomainDef& def) override;
  Status Shutdown(const std::string& name) override;
  Status Destroy(const std::string& name) override;
  Status Reboot(const std::string& name) override;
  Status Reset(const std::string& name) override;
  Status Suspend(const std::string& name) override;
  Status Resume(const std::string& name) override;
  Result<daemon::RuntimeStats> Stats(const std::string& name) override;
  Result<std::vector<daemon::InterfaceAddress>> Addresses(const std::string& name) override;
  Status SetMemory(const std::string& name, uint64_t kib) override;
  Status SetVcpus(const std::string& name, unsigned count) override;
  Result<std::vector<daemon::VcpuRuntime>> Vcpus(const std::string& name) override;
  Status PinVcpu(const std::string& name, unsigned vcpu, const std::string& cpuset) override;
  Status PinEmulator(const std::string& name, const std::string& cpuset) override;
  Result<uint64_t> CpuShares(const std::string& name) override;
  Status SetCpuShares(const std::string& name, uint64_t shares) override;
  Status AttachDisk(const std::string& name, const conf::DiskDef& disk) override;
  Status DetachDisk(const std::string& name, const conf::DiskDef& disk) override;
  Status AttachInterface(const std::string& name, const conf::InterfaceDef& nic,
                         const daemon::GuestTap& tap) override;
  Status DetachInterface(const std::string& name, const conf::InterfaceDef& nic) override;
  Status Save(const std::string& name, const std::string& path,
              const daemon::JobControl& job) override;
  Result<std::string> ConsoleSocket(const std::string& name) override;
  void SetExitCallback(ExitCallback cb) override;

  // Makes the guest `name` stop as if it crashed (tests of exit notices).
  void CrashForTest(const std::string& name);
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
    uint64_t memory_kib = 0;
    unsigned vcpus = 0;
    uint64_t cpu_shares = 1024;
    std::map<unsigned, std::string> pins;  // vcpu -> cpuset ("0-3" when unpinned)
    std::string emulator_pin = "0-3";
  };
  Result<Vm*> Find(const std::string& name);
  void NotifyExitLater(const std::string& name, daemon::ExitReason reason);

  std::mutex mu_;
  std::map<std::string, Vm> vms_;
  int next_pid_ = 4000;
  Status fail_start_;
  int save_step_ms_ = 5;
  ExitCallback exit_cb_;
  // Exit notices are delivered in order by one thread, never under mu_.
  std::mutex notice_mu_;
  std::condition_variable notice_cv_;
  std::deque<std::pair<std::string, daemon::ExitReason>> notices_;
  bool stopping_ = false;
  std::thread notifier_;
};

}  // namespace skiff::fake
