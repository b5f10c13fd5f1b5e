// DomainTuning: tuning of a domain's resources with virsh's --live/--config (memory,
// vcpus, cpu shares, vcpu and emulator pinning).
#include "skiff/daemon/domain_tuning.h"

#include <unistd.h>

#include <algorithm>

#include "daemon/domain_core.h"
#include "skiff/conf/cpuset.h"

namespace skiff::daemon {

Status DomainTuning::ChangeMaximum(DomainObj& o,
                                   const std::function<void(conf::DomainDef&)>& change) {
  // Only the definition: a running guest keeps the maximum it was started with.
  return core_.ChangeSettings(
      o, Scope{false, true},
      [&](conf::DomainDef& d, bool) {
        change(d);
        return Status::Ok();
      },
      [] { return Status::Ok(); });
}

Status DomainTuning::SetMemory(const std::string& ref, uint64_t kib, bool maximum,
                               const Scope& scope) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_.Acquire(ref));
  DomainObj& o = *held.first;
  if (kib == 0) return InvalidArgumentError("memory size must be greater than zero");
  bool active = o.status.active();
  if (maximum) {
    if (scope.live || (!scope.config && active)) {
      return FailedPreconditionError(
          "cannot resize the maximum memory of running domain '{}'; use --config", o.def.name);
    }
    return ChangeMaximum(o, [kib](conf::DomainDef& d) {
      d.memory_kib = kib;
      if (d.current_memory_kib > kib || d.current_memory_kib == 0) d.current_memory_kib = kib;
    });
  }
  return core_.ChangeSettings(
      o, scope,
      [kib](conf::DomainDef& d, bool) -> Status {
        if (kib > d.memory_kib) {
          return InvalidArgumentError("requested memory {} KiB exceeds the maximum {} KiB", kib,
                                      d.memory_kib);
        }
        d.current_memory_kib = kib;
        return Status::Ok();
      },
      [&] { return core_.hv().SetMemory(o.def.name, kib); });
}

Status DomainTuning::SetVcpus(const std::string& ref, unsigned count, bool maximum,
                              const Scope& scope) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_.Acquire(ref));
  DomainObj& o = *held.first;
  if (count == 0) return InvalidArgumentError("vcpu count must be greater than zero");
  bool active = o.status.active();
  if (maximum) {
    if (scope.live || (!scope.config && active)) {
      return FailedPreconditionError(
          "cannot change the maximum vcpus of running domain '{}'; use --config", o.def.name);
    }
    return ChangeMaximum(o, [count](conf::DomainDef& d) {
      d.vcpus = count;
      if (d.current_vcpus && *d.current_vcpus > count) d.current_vcpus = count;
      if (d.current_vcpus == d.vcpus) d.current_vcpus.reset();
    });
  }
  SKIFF_ASSIGN_OR_RETURN(auto sc, ResolveScope(scope, active, o.persistent, o.def.name));
  auto [live, config] = sc;
  if (live) {
    if (count > o.live->vcpus) {
      return InvalidArgumentError("requested vcpus {} exceed the maximum {}", count, o.live->vcpus);
    }
    Status st = core_.hv().SetVcpus(o.def.name, count);
    unsigned now = count;
    if (!st.ok()) {
      // An unplug may have removed some vCPUs before one was not released.
      auto stats = core_.hv().Stats(o.def.name);
      if (!stats.ok() || stats->vcpus_current == 0) return st;
      now = stats->vcpus_current;
    }
    o.live->current_vcpus = now == o.live->vcpus ? std::nullopt : std::optional<unsigned>(now);
    (void)core_.WriteLiveStatus(o);
    SKIFF_TRY(st);
  }
  if (config) {
    if (count > o.def.vcpus) {
      return InvalidArgumentError("requested vcpus {} exceed the maximum {}", count, o.def.vcpus);
    }
    conf::DomainDef d = o.def;
    d.current_vcpus = count == d.vcpus ? std::nullopt : std::optional<unsigned>(count);
    SKIFF_TRY(core_.WriteDefinition(d));
    o.def = std::move(d);
  }
  return Status::Ok();
}

// ---------------------------------------------------------------- vcpus, cpu shares, pinning

namespace {

// The scope of a query: live or config, not both; neither: live while running.
Result<bool> QueryLive(const Scope& s, bool active, const std::string& name) {
  if (s.live && s.config) {
    return InvalidArgumentError("--live and --config cannot be used together for a query");
  }
  bool live = s.live || (!s.config && active);
  if (live && !active) return NotRunning(name);
  return live;
}

std::string AllHostCpus() {
  long n = ::sysconf(_SC_NPROCESSORS_CONF);
  return n > 1 ? fmt::format("0-{}", n - 1) : "0";
}

// A cpuset in its shortest form ("0,1,2" -> "0-2"); kInvalidArgument when malformed.
Result<std::string> NormalCpuset(const std::string& text) {
  SKIFF_ASSIGN_OR_RETURN(auto cpus, conf::ParseCpuset(text));
  return conf::FormatCpuset(cpus);
}

CpuPinning PinningOf(const conf::DomainDef& d) {
  CpuPinning p;
  std::string all = d.vcpu_cpuset.empty() ? AllHostCpus() : d.vcpu_cpuset;
  p.vcpus.assign(d.vcpus, all);
  p.emulator = all;
  if (d.cputune) {
    for (const auto& pin : d.cputune->vcpupins) {
      if (pin.vcpu < p.vcpus.size()) p.vcpus[pin.vcpu] = pin.cpuset;
    }
    if (!d.cputune->emulatorpin.empty()) p.emulator = d.cputune->emulatorpin;
  }
  return p;
}

void SetPin(conf::DomainDef& d, unsigned vcpu, const std::string& cpuset) {
  if (!d.cputune) d.cputune.emplace();
  auto& pins = d.cputune->vcpupins;
  for (auto& p : pins) {
    if (p.vcpu == vcpu) {
      p.cpuset = cpuset;
      return;
    }
  }
  pins.push_back({vcpu, cpuset});
  std::sort(pins.begin(), pins.end(), [](const auto& a, const auto& b) { return a.vcpu < b.vcpu; });
}

}  // namespace

Result<VcpuCounts> DomainTuning::VcpuCount(const std::string& ref) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_.Acquire(ref));
  DomainObj& o = *held.first;
  VcpuCounts c;
  c.maximum_config = o.def.vcpus;
  c.current_config = o.def.current_vcpus.value_or(o.def.vcpus);
  if (o.status.active() && o.live) {
    c.maximum_live = o.live->vcpus;
    c.current_live = o.live->current_vcpus.value_or(o.live->vcpus);
    auto st = core_.hv().Stats(o.def.name);
    if (st.ok() && st->vcpus_current) c.current_live = st->vcpus_current;
  }
  return c;
}

Result<std::vector<VcpuRuntime>> DomainTuning::Vcpus(const std::string& ref) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_.Acquire(ref));
  DomainObj& o = *held.first;
  if (!o.status.active()) return NotRunning(o.def.name);
  return core_.hv().Vcpus(o.def.name);
}

Result<uint64_t> DomainTuning::CpuShares(const std::string& ref, const Scope& scope) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_.Acquire(ref));
  DomainObj& o = *held.first;
  SKIFF_ASSIGN_OR_RETURN(bool live, QueryLive(scope, o.status.active(), o.def.name));
  if (live) return core_.hv().CpuShares(o.def.name);
  return o.def.cputune && o.def.cputune->shares ? *o.def.cputune->shares : 0;
}

Status DomainTuning::SetCpuShares(const std::string& ref, uint64_t shares, const Scope& scope) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_.Acquire(ref));
  DomainObj& o = *held.first;
  if (shares < 2 || shares > 262144) {
    return InvalidArgumentError("cpu_shares {} is out of range 2..262144", shares);
  }
  return core_.ChangeSettings(
      o, scope,
      [shares](conf::DomainDef& d, bool) {
        if (!d.cputune) d.cputune.emplace();
        d.cputune->shares = shares;
        return Status::Ok();
      },
      [&] { return core_.hv().SetCpuShares(o.def.name, shares); });
}

Result<CpuPinning> DomainTuning::Pinning(const std::string& ref, const Scope& scope) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_.Acquire(ref));
  DomainObj& o = *held.first;
  SKIFF_ASSIGN_OR_RETURN(bool live, QueryLive(scope, o.status.active(), o.def.name));
  return PinningOf(live && o.live ? *o.live : o.def);
}

Status DomainTuning::PinVcpu(const std::string& ref, unsigned vcpu, const std::string& cpuset,
                             const Scope& scope) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_.Acquire(ref));
  DomainObj& o = *held.first;
  SKIFF_ASSIGN_OR_RETURN(std::string cpus, NormalCpuset(cpuset));
  return core_.ChangeSettings(
      o, scope,
      [vcpu, &cpus](conf::DomainDef& d, bool live) -> Status {
        if (vcpu >= d.vcpus) {
          return InvalidArgumentError("vcpu {} is out of range of the {} vcpu count {}", vcpu,
                                      live ? "live" : "persistent", d.vcpus);
        }
        SetPin(d, vcpu, cpus);
        return Status::Ok();
      },
      [&] { return core_.hv().PinVcpu(o.def.name, vcpu, cpus); });
}

Status DomainTuning::PinEmulator(const std::string& ref, const std::string& cpuset,
                                 const Scope& scope) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_.Acquire(ref));
  DomainObj& o = *held.first;
  SKIFF_ASSIGN_OR_RETURN(std::string cpus, NormalCpuset(cpuset));
  return core_.ChangeSettings(
      o, scope,
      [&cpus](conf::DomainDef& d, bool) {
        if (!d.cputune) d.cputune.emplace();
        d.cputune->emulatorpin = cpus;
        return Status::Ok();
      },
      [&] { return core_.hv().PinEmulator(o.def.name, cpus); });
}

}  // namespace skiff::daemon
