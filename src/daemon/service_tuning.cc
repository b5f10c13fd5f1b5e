// Service: tuning of a domain's resources with virsh's --live/--config (memory,
// vcpus, cpu shares, vcpu and emulator pinning).
#include <unistd.h>

#include <algorithm>

#include "daemon/domain_obj.h"
#include "skiff/conf/cpuset.h"

namespace skiff::daemon {

// A settings change with virsh's --live/--config: `edit` changes the live definition
// (before `apply_live` does it on the guest; an error there changes nothing) and a
// copy of the persistent one, which is validated and written before it is kept.
Status Service::ChangeSettings(DomainObj& o, const Scope& scope,
                               const std::function<Status(conf::DomainDef&, bool live)>& edit,
                               const std::function<Status()>& apply_live) {
  SKIFF_ASSIGN_OR_RETURN(auto sc, ResolveScope(scope, o.status.active(), o.persistent, o.def.name));
  auto [live, config] = sc;
  if (live) {
    conf::DomainDef d = *o.live;
    SKIFF_TRY(edit(d, true));
    SKIFF_TRY(apply_live());
    *o.live = std::move(d);
    (void)WriteLiveStatus(o);
  }
  if (config) {
    conf::DomainDef d = o.def;
    SKIFF_TRY(edit(d, false));
    SKIFF_TRY(conf::ValidateDomain(d));
    SKIFF_TRY(WriteDefinition(d));
    o.def = std::move(d);
  }
  return Status::Ok();
}

Status Service::SetMemory(const std::string& ref, uint64_t kib, bool maximum, const Scope& scope) {
  SKIFF_ASSIGN_OR_RETURN(auto held, Acquire(ref));
  DomainObj& o = *held.first;
  if (kib == 0) return InvalidArgumentError("memory size must be greater than zero");
  bool active = o.status.active();
  if (maximum) {
    if (scope.live || (!scope.config && active)) {
      return FailedPreconditionError(
          "cannot resize the maximum memory of running domain '{}'; use --config", o.def.name);
    }
    SKIFF_ASSIGN_OR_RETURN(auto sc,
                           ResolveScope(Scope{false, true}, active, o.persistent, o.def.name));
    (void)sc;
    conf::DomainDef d = o.def;
    d.memory_kib = kib;
    if (d.current_memory_kib > kib || d.current_memory_kib == 0) d.current_memory_kib = kib;
    SKIFF_TRY(conf::ValidateDomain(d));
    SKIFF_TRY(WriteDefinition(d));
    o.def = std::move(d);
    return Status::Ok();
  }
  return ChangeSettings(
      o, scope,
      [kib](conf::DomainDef& d, bool) -> Status {
        if (kib > d.memory_kib) {
          return InvalidArgumentError("requested memory {} KiB exceeds the maximum {} KiB", kib,
                                      d.memory_kib);
        }
        d.current_memory_kib = kib;
        return Status::Ok();
      },
      [&] { return hv_.SetMemory(o.def.name, kib); });
}

Status Service::SetVcpus(const std::string& ref, unsigned count, bool maximum, const Scope& scope) {
  SKIFF_ASSIGN_OR_RETURN(auto held, Acquire(ref));
  DomainObj& o = *held.first;
  if (count == 0) return InvalidArgumentError("vcpu count must be greater than zero");
  bool active = o.status.active();
  if (maximum) {
    if (scope.live || (!scope.config && active)) {
      return FailedPreconditionError(
          "cannot change the maximum vcpus of running domain '{}'; use --config", o.def.name);
    }
    conf::DomainDef d = o.def;
    d.vcpus = count;
    if (d.current_vcpus && *d.current_vcpus > count) d.current_vcpus = count;
    if (d.current_vcpus == d.vcpus) d.current_vcpus.reset();
    SKIFF_TRY(conf::ValidateDomain(d));
    SKIFF_TRY(WriteDefinition(d));
    o.def = std::move(d);
    return Status::Ok();
  }
  SKIFF_ASSIGN_OR_RETURN(auto sc, ResolveScope(scope, active, o.persistent, o.def.name));
  auto [live, config] = sc;
  if (live) {
    if (count > o.live->vcpus) {
      return InvalidArgumentError("requested vcpus {} exceed the maximum {}", count, o.live->vcpus);
    }
    Status st = hv_.SetVcpus(o.def.name, count);
    unsigned now = count;
    if (!st.ok()) {
      // An unplug may have removed some vCPUs before one was not released.
      auto stats = hv_.Stats(o.def.name);
      if (!stats.ok() || stats->vcpus_current == 0) return st;
      now = stats->vcpus_current;
    }
    o.live->current_vcpus = now == o.live->vcpus ? std::nullopt : std::optional<unsigned>(now);
    (void)WriteLiveStatus(o);
    SKIFF_TRY(st);
  }
  if (config) {
    if (count > o.def.vcpus) {
      return InvalidArgumentError("requested vcpus {} exceed the maximum {}", count, o.def.vcpus);
    }
    conf::DomainDef d = o.def;
    d.current_vcpus = count == d.vcpus ? std::nullopt : std::optional<unsigned>(count);
    SKIFF_TRY(WriteDefinition(d));
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

Result<VcpuCounts> Service::VcpuCount(const std::string& ref) {
  SKIFF_ASSIGN_OR_RETURN(auto held, Acquire(ref));
  DomainObj& o = *held.first;
  VcpuCounts c;
  c.maximum_config = o.def.vcpus;
  c.current_config = o.def.current_vcpus.value_or(o.def.vcpus);
  if (o.status.active() && o.live) {
    c.maximum_live = o.live->vcpus;
    c.current_live = o.live->current_vcpus.value_or(o.live->vcpus);
    auto st = hv_.Stats(o.def.name);
    if (st.ok() && st->vcpus_current) c.current_live = st->vcpus_current;
  }
  return c;
}

Result<std::vector<VcpuRuntime>> Service::DomainVcpus(const std::string& ref) {
  SKIFF_ASSIGN_OR_RETURN(auto held, Acquire(ref));
  DomainObj& o = *held.first;
  if (!o.status.active()) return NotRunning(o.def.name);
  return hv_.Vcpus(o.def.name);
}

Result<uint64_t> Service::CpuShares(const std::string& ref, const Scope& scope) {
  SKIFF_ASSIGN_OR_RETURN(auto held, Acquire(ref));
  DomainObj& o = *held.first;
  SKIFF_ASSIGN_OR_RETURN(bool live, QueryLive(scope, o.status.active(), o.def.name));
  if (live) return hv_.CpuShares(o.def.name);
  return o.def.cputune && o.def.cputune->shares ? *o.def.cputune->shares : 0;
}

Status Service::SetCpuShares(const std::string& ref, uint64_t shares, const Scope& scope) {
  SKIFF_ASSIGN_OR_RETURN(auto held, Acquire(ref));
  DomainObj& o = *held.first;
  if (shares < 2 || shares > 262144) {
    return InvalidArgumentError("cpu_shares {} is out of range 2..262144", shares);
  }
  return ChangeSettings(
      o, scope,
      [shares](conf::DomainDef& d, bool) {
        if (!d.cputune) d.cputune.emplace();
        d.cputune->shares = shares;
        return Status::Ok();
      },
      [&] { return hv_.SetCpuShares(o.def.name, shares); });
}

Result<CpuPinning> Service::Pinning(const std::string& ref, const Scope& scope) {
  SKIFF_ASSIGN_OR_RETURN(auto held, Acquire(ref));
  DomainObj& o = *held.first;
  SKIFF_ASSIGN_OR_RETURN(bool live, QueryLive(scope, o.status.active(), o.def.name));
  return PinningOf(live && o.live ? *o.live : o.def);
}

Status Service::PinVcpu(const std::string& ref, unsigned vcpu, const std::string& cpuset,
                        const Scope& scope) {
  SKIFF_ASSIGN_OR_RETURN(auto held, Acquire(ref));
  DomainObj& o = *held.first;
  SKIFF_ASSIGN_OR_RETURN(std::string cpus, NormalCpuset(cpuset));
  return ChangeSettings(
      o, scope,
      [vcpu, &cpus](conf::DomainDef& d, bool live) -> Status {
        if (vcpu >= d.vcpus) {
          return InvalidArgumentError("vcpu {} is out of range of the {} vcpu count {}", vcpu,
                                      live ? "live" : "persistent", d.vcpus);
        }
        SetPin(d, vcpu, cpus);
        return Status::Ok();
      },
      [&] { return hv_.PinVcpu(o.def.name, vcpu, cpus); });
}

Status Service::PinEmulator(const std::string& ref, const std::string& cpuset, const Scope& scope) {
  SKIFF_ASSIGN_OR_RETURN(auto held, Acquire(ref));
  DomainObj& o = *held.first;
  SKIFF_ASSIGN_OR_RETURN(std::string cpus, NormalCpuset(cpuset));
  return ChangeSettings(
      o, scope,
      [&cpus](conf::DomainDef& d, bool) {
        if (!d.cputune) d.cputune.emplace();
        d.cputune->emulatorpin = cpus;
        return Status::Ok();
      },
      [&] { return hv_.PinEmulator(o.def.name, cpus); });
}

}  // namespace skiff::daemon
