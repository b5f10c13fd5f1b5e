// DomainTuning: a domain's resources with virsh's --live/--config/--current
// (setmem, setvcpus, vcpucount, vcpuinfo, schedinfo, vcpupin, emulatorpin). The
// Service hands it out as tuning(). `ref` is a name, a UUID or a numeric id.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "skiff/base/status.h"
#include "skiff/conf/domain.h"
#include "skiff/daemon/service_types.h"

namespace skiff::daemon {

class DomainCore;
struct DomainObj;

class DomainTuning {
 public:
  explicit DomainTuning(DomainCore& core) : core_(core) {}

  // setmem / setmaxmem (`maximum`: only in the definition).
  Status SetMemory(const std::string& ref, uint64_t kib, bool maximum, const Scope& scope);
  Status SetVcpus(const std::string& ref, unsigned count, bool maximum, const Scope& scope);
  // vcpucount: maximum and current of the definition and (running) of the guest.
  Result<VcpuCounts> VcpuCount(const std::string& ref);
  // vcpuinfo: the running guest's vCPU threads.
  Result<std::vector<VcpuRuntime>> Vcpus(const std::string& ref);
  // schedinfo: cpu shares of the running domain's cgroup (live) or of its
  // definition's <cputune><shares> (config; 0 when unset). Queries take at most
  // one of live/config; neither: live when running.
  Result<uint64_t> CpuShares(const std::string& ref, const Scope& scope);
  Status SetCpuShares(const std::string& ref, uint64_t shares, const Scope& scope);
  // vcpupin / emulatorpin: the pinning of the live or persistent definition (as
  // libvirt: a vCPU without <vcpupin> shows <vcpu cpuset> or every host CPU).
  Result<CpuPinning> Pinning(const std::string& ref, const Scope& scope);
  Status PinVcpu(const std::string& ref, unsigned vcpu, const std::string& cpuset,
                 const Scope& scope);
  Status PinEmulator(const std::string& ref, const std::string& cpuset, const Scope& scope);

 private:
  // setmaxmem / setvcpus --maximum: `change` applied to the definition alone,
  // validated and written (a transient domain has none to change).
  Status ChangeMaximum(DomainObj& o, const std::function<void(conf::DomainDef&)>& change);

  DomainCore& core_;
};

}  // namespace skiff::daemon
