// Service: the life cycle of domains (define, start, stop); the registry and
// persistence they share are DomainCore (domain_core.h), policy service_policy.cc,
// save and restore DomainSaves (domain_saves.cc).
#include "skiff/daemon/service.h"

#include <algorithm>
#include <atomic>
#include <system_error>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "daemon/definitions.h"
#include "daemon/disk_format.h"
#include "daemon/disk_usage.h"
#include "daemon/domain_core.h"
#include "daemon/network/driver.h"
#include "daemon/save_file.h"
#include "daemon/storage/driver.h"
#include "skiff/base/fs.h"

namespace skiff::daemon {

namespace fs = std::filesystem;

Paths::Paths(const fs::path& r) : root(r) {
  domains_dir = root / "etc/skiff/domains";
  autostart_dir = domains_dir / "autostart";
  networks_dir = root / "etc/skiff/networks";
  pools_dir = root / "etc/skiff/pools";
  run_dir = root / "run/skiff";
  run_domains = run_dir / "domains";
  lib_dir = root / "var/lib/skiff";
  save_dir = lib_dir / "save";
  dump_dir = lib_dir / "dump";
  snapshot_dir = lib_dir / "snapshots";
  log_dir = root / "var/log/skiff";
  socket = run_dir / "skiffd.sock";
}

Status Paths::Create() const {
  for (const auto& d : {domains_dir, autostart_dir, networks_dir, pools_dir, run_domains, save_dir,
                        dump_dir, snapshot_dir, lib_dir / "images", log_dir / "domains"}) {
    SKIFF_TRY(MakeDirs(d, 0755));
  }
  return Status::Ok();
}

namespace {

// Whether a definition's text names its UUID (a redefinition without one keeps it).
bool HasUuid(const std::string& xml) { return xml.find("<uuid") != std::string::npos; }

// Makes the registry's new domain objects: persistent (define) or transient.
auto NewDomain(bool persistent) {
  return [persistent] { return NewDomainObj(persistent); };
}

}  // namespace

Service::Service(Paths paths, Hypervisor& hypervisor, EventBus& events,
                 NetworkBackend* network_backend, NetworkOptions network_options, Env& env)
    : paths_(std::move(paths)), env_(env), hv_(hypervisor), events_(events), jobs_(events) {
  if (network_backend == nullptr) {
    // Tests that build a Service by hand: the fake backend, with libvirt's `default`.
    own_network_backend_ = MakeFakeNetworkBackend();
    network_backend = own_network_backend_.get();
    network_options.default_network = DefaultNetwork::kAuto;
  }
  net_ = std::make_unique<NetworkDriver>(paths_, *network_backend, events_, network_options, env_);
  disks_ = std::make_unique<DiskUsage>();
  storage_ = std::make_unique<StorageDriver>(paths_, events_, *disks_, env_);
  core_ = std::make_unique<DomainCore>(paths_, env_, hv_, events_, *net_, *storage_, *disks_);
  tuning_ = std::make_unique<DomainTuning>(*core_);
  devices_ = std::make_unique<DomainDevices>(*core_);
  saves_ = std::make_unique<DomainSaves>(
      *core_, jobs_, [this](DomainObj& o, bool paused, const std::string& restore_from) {
        return StartLocked(o, paused, restore_from);
      });
  auto define = [this](const std::string& xml, const std::string& source) {
    return DefineDomain(xml, source);
  };
  clones_ = std::make_unique<DomainClones>(*core_, jobs_, busy_, define);
  backups_ = std::make_unique<DomainBackups>(*core_, jobs_, busy_, define);
  snapshots_ = std::make_unique<DomainSnapshots>(
      *core_, [this](DomainObj& o, bool paused) { return StartLocked(o, paused, ""); },
      [this](DomainObj& o) -> Status {
        SKIFF_TRY(hv_.Destroy(o.def.name));
        core_->MarkStopped(o, ShutoffReason::kFromSnapshot);
        return Status::Ok();
      },
      [this](const std::string& domain) { return busy_.Check(domain); });
  hv_.SetExitCallback([this](const std::string& name, ExitReason r) { OnDomainExit(name, r); });
  hv_.SetGuestEventCallback(
      [this](const std::string& name, const GuestEvent& ev) { OnGuestEvent(name, ev); });
}

Service::~Service() {
  hv_.SetGuestEventCallback(nullptr);
  hv_.SetExitCallback(nullptr);
  // Jobs (save, <on_crash>, ...) use the maps and locks below jobs_; they end first.
  jobs_.StopAll();
}

void Service::LoadDomains() {
  for (const auto& dir : {paths_.domains_dir, paths_.run_domains, paths_.save_dir}) {
    RemoveStaleTempFiles(env_, dir);
  }
  LoadDefinitionsInto(env_, paths_.domains_dir, "domain", conf::ParseDomainXml, core_->domains());
  // Re-attach the domains that were running when the daemon stopped.
  std::vector<std::string> reattached;
  for (const auto& entry : env_.ListDir(paths_.run_domains).value_or(std::vector<std::string>{})) {
    const fs::path file = paths_.run_domains / entry;
    if (file.extension() != ".xml") continue;
    std::string name = file.stem().string();
    auto text = env_.ReadFile(file);
    if (!text.ok() && text.status().code() == Code::kNotFound) continue;
    auto status_text = env_.ReadFile(paths_.run_domains / (name + ".status.json"));
    Result<conf::DomainDef> def = text.ok() ? conf::ParseDomainXml(*text, file.string())
                                            : Result<conf::DomainDef>(text.status());
    nlohmann::json st =
        status_text.ok() ? nlohmann::json::parse(*status_text, nullptr, false) : nlohmann::json();
    if (!def.ok() || !st.is_object()) {
      spdlog::error("dropping live status of domain '{}': {}", name,
                    def.ok() ? "status file is unreadable" : def.status().ToString());
      core_->RemoveLiveStatus(name);
      continue;
    }
    Status a = hv_.Attach(*def);
    std::shared_ptr<DomainObj> obj = core_->domains().Find(name);
    if (obj && obj->def.name != name) obj = nullptr;  // a UUID or id that looks like a name
    if (!a.ok()) {
      spdlog::info("domain '{}' stopped while skiffd was down: {}", name, a.ToString());
      core_->RemoveLiveStatus(name);
      continue;
    }
    bool fresh = !obj;
    if (fresh) {
      obj = std::make_shared<DomainObj>();
      obj->def = *def;
      obj->persistent = false;
    }
    obj->live = std::move(*def);
    obj->id = st.value("id", -1);
    obj->pid = st.value("pid", 0);
    core_->SetStatus(*obj, DomainStatus::FromStatusFile(st.value("state", 1), st.value("reason", 1),
                                                        st.value("reason_name", "booted")));
    if (Status added = fresh ? core_->domains().Add(obj) : Status::Ok(); !added.ok()) {
      spdlog::error("running domain '{}' not re-attached: {}", name, added.ToString());
      continue;
    }
    core_->SeenId(obj->id.load());
    spdlog::info("re-attached running domain '{}' (id {}, pid {})", name, obj->id.load(), obj->pid);
    reattached.push_back(name);
    // A running guest has moved on from any managed save image (a daemon killed
    // after the image was complete but before the guest stopped): starting from it
    // later would roll the guest's memory back behind its disks.
    if (const fs::path managed = paths_.managed_save(name); env_.FileExists(managed)) {
      spdlog::warn("domain '{}' is running: its managed save image is stale and is removed", name);
      (void)RemoveFileDurably(env_, managed);
    }
  }
  // QEMUs of ours that no domain explains are stopped, stale run files go.
  hv_.ReapOrphans();
  // What the guests did while the daemon was down (the driver reports it as events,
  // handled once the registry is complete).
  for (const auto& name : reattached) hv_.Recheck(name);
}

Status Service::Load() {
  SKIFF_TRY(paths_.Create());
  LoadDomains();
  clones_->RecoverInterrupted();
  backups_->RecoverInterrupted();
  storage_->LoadDefinitions();
  // Networks and pools are adopted or autostarted before autostart domains need them.
  if (Status st = net_->Load(); !st.ok()) spdlog::error("networks: {}", st.ToString());
  storage_->Activate();
  std::vector<std::string> autostart;
  for (auto& o : core_->domains().List()) {
    std::lock_guard l(o->mu);
    if (!o->removed && o->autostart && !o->status.active()) autostart.push_back(o->def.name);
  }
  for (const auto& name : autostart) {
    auto r = StartDomain(name, false);
    if (!r.ok()) spdlog::error("autostart of domain '{}' failed: {}", name, r.status().ToString());
  }
  spdlog::info("loaded {} domains, {} networks, {} pools", core_->domains().size(),
               net_->List().size(), storage_->size());
  return Status::Ok();
}

// ---------------------------------------------------------------- queries

std::vector<DomainSummary> Service::ListDomains() {
  std::vector<std::shared_ptr<DomainObj>> objs = core_->domains().List();
  std::vector<DomainSummary> out;
  out.reserve(objs.size());
  for (auto& o : objs) {
    std::lock_guard l(o->mu);
    if (!o->removed) out.push_back(core_->Summarize(*o));
  }
  return out;
}

Result<DomainInfo> Service::GetDomain(const std::string& ref) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_->Acquire(ref));
  DomainObj& o = *held.first;
  DomainInfo info;
  info.summary = core_->Summarize(o);
  const conf::DomainDef& d = o.live ? *o.live : o.def;
  info.os_type = d.os.type;
  info.vcpus = d.current_vcpus.value_or(d.vcpus);
  info.max_memory_kib = d.memory_kib;
  info.used_memory_kib = d.current_memory_kib ? d.current_memory_kib : d.memory_kib;
  if (o.status.active()) {
    auto st = hv_.Stats(o.def.name);
    if (st.ok()) {
      info.cpu_time_ns = st->cpu_time_ns;
      if (st->balloon_current_kib) info.used_memory_kib = st->balloon_current_kib;
      if (st->vcpus_current) info.vcpus = st->vcpus_current;
    }
  }
  return info;
}

Result<std::string> Service::DomainXml(const std::string& ref, bool inactive, bool secure) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_->Acquire(ref));
  DomainObj& o = *held.first;
  return ShownXml(o.live && !inactive ? *o.live : o.def, secure);
}

namespace {

// A tap's counters from sysfs, seen from the guest: what the tap sends, the guest receives.
NetIoStats TapStats(const std::string& tap) {
  auto counter = [&](const char* name) -> uint64_t {
    auto text = ReadFile(fs::path("/sys/class/net") / tap / "statistics" / name);
    return text.ok() ? std::strtoull(text->c_str(), nullptr, 10) : 0;
  };
  NetIoStats n;
  n.name = tap;
  n.rx_bytes = counter("tx_bytes");
  n.rx_pkts = counter("tx_packets");
  n.rx_drop = counter("tx_dropped");
  n.tx_bytes = counter("rx_bytes");
  n.tx_pkts = counter("rx_packets");
  n.tx_drop = counter("rx_dropped");
  return n;
}

}  // namespace

Result<RuntimeStats> Service::DomainStats(const std::string& ref, DomainSummary* summary) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_->Acquire(ref));
  DomainObj& o = *held.first;
  *summary = core_->Summarize(o);
  RuntimeStats s;
  const conf::DomainDef& d = o.live ? *o.live : o.def;
  s.vcpus_maximum = d.vcpus;
  s.vcpus_current = d.current_vcpus.value_or(d.vcpus);
  s.balloon_maximum_kib = d.memory_kib;
  s.balloon_current_kib = d.current_memory_kib ? d.current_memory_kib : d.memory_kib;
  if (o.status.active()) {
    SKIFF_ASSIGN_OR_RETURN(s, hv_.Stats(o.def.name));
    for (const auto& nic : d.devices.interfaces) {
      if (!nic.target_dev.empty()) s.nets.push_back(TapStats(nic.target_dev));
    }
  }
  return s;
}

Result<std::string> Service::NetworkDiagram(const std::string& ref, bool svg) {
  // Tap -> guest names from the running domains, taken before the network's lock.
  std::map<std::string, std::string> guests;
  for (auto& o : core_->domains().List()) {
    std::lock_guard l(o->mu);
    if (o->removed || !o->live) continue;
    for (const auto& nic : o->live->devices.interfaces) {
      if (!nic.target_dev.empty()) guests[nic.target_dev] = o->live->name;
    }
  }
  return net_->Diagram(ref, svg, guests);
}

Result<std::string> Service::ConsoleSocket(const std::string& ref) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_->Acquire(ref));
  DomainObj& o = *held.first;
  if (!o.status.active()) return NotRunning(o.def.name);
  return hv_.ConsoleSocket(o.def.name);
}

// ---------------------------------------------------------------- define / undefine

Result<DomainSummary> Service::DefineDomain(const std::string& xml, const std::string& source) {
  SKIFF_ASSIGN_OR_RETURN(conf::DomainDef def, conf::ParseDomainXml(xml, source));
  // No uuid in the input: a redefinition keeps the existing one, as libvirt does.
  SKIFF_ASSIGN_OR_RETURN(auto slot, core_->domains().FindOrAdd(def, HasUuid(xml), NewDomain(true)));
  auto& [obj, fresh, lock] = slot;
  Status st = core_->WriteDefinition(def);
  if (!st.ok()) {
    if (fresh) core_->Forget(obj);
    return st;
  }
  obj->def = std::move(def);
  obj->persistent = true;
  if (obj->status.active()) (void)core_->WriteLiveStatus(*obj);
  spdlog::info("domain '{}' defined", obj->def.name);
  core_->Emit(*obj, "defined", fresh ? "added" : "updated");
  return core_->Summarize(*obj);
}

Status Service::UndefineDomain(const std::string& ref, const UndefineOptions& options) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_->Acquire(ref));
  auto& [obj, lock] = held;
  if (!obj->persistent) {
    return FailedPreconditionError("cannot undefine transient domain '{}'", obj->def.name);
  }
  SKIFF_TRY(busy_.Check(obj->def.name));
  std::error_code ec;
  fs::path managed = paths_.managed_save(obj->def.name);
  if (fs::exists(managed, ec) && !options.managed_save) {
    return FailedPreconditionError(
        "domain '{}' has a managed save image; use --managed-save to remove it", obj->def.name);
  }
  // As virsh: a domain's snapshots are not dropped silently.
  if (size_t n = snapshots_->CountLocked(obj->def.name); n > 0) {
    if (!options.snapshots_metadata) {
      return FailedPreconditionError(
          "cannot undefine domain '{}' with {} snapshot(s); use --snapshots-metadata to remove "
          "their metadata (the images keep the data)",
          obj->def.name, n);
    }
  }
  std::vector<std::string> removed_storage;
  if (options.remove_all_storage) {
    for (const auto& d : obj->def.devices.disks) {
      if (d.device == conf::DiskDevice::kDisk && d.type == conf::DiskType::kFile &&
          !d.source_path.empty() && !d.readonly && !d.shareable) {
        removed_storage.push_back(d.source_path);
      }
    }
  }
  SKIFF_TRY(RemoveDefinitionFile(env_, paths_.domains_dir, obj->def.name));
  (void)SetAutostartLink(env_, paths_.domains_dir, obj->def.name, false);
  (void)RemoveFileIfExists(managed);
  if (options.snapshots_metadata) {
    Status st = snapshots_->RemoveAllMetadataLocked(obj->def.name);
    if (!st.ok()) spdlog::warn("undefine '{}': {}", obj->def.name, st.ToString());
  }
  for (const auto& p : removed_storage) {
    Status st = RemoveFileIfExists(p);
    if (!st.ok()) spdlog::warn("undefine '{}': {}", obj->def.name, st.ToString());
  }
  obj->autostart = false;
  spdlog::info("domain '{}' undefined", obj->def.name);
  core_->Emit(*obj, "undefined", "removed");
  if (obj->status.active()) {
    obj->persistent = false;  // keeps running as a transient domain
    (void)core_->WriteLiveStatus(*obj);
    return Status::Ok();
  }
  core_->Forget(obj);
  return Status::Ok();
}

// ---------------------------------------------------------------- life cycle

Result<DomainSummary> Service::StartLocked(DomainObj& o, bool paused,
                                           const std::string& restore_from) {
  if (o.status.active()) {
    return FailedPreconditionError("domain '{}' is already running", o.def.name);
  }
  SKIFF_TRY(busy_.Check(o.def.name));
  StartOptions opts;
  opts.paused = paused;
  opts.restore_from = restore_from;
  for (const auto& d : o.def.devices.disks) {
    if (d.type != conf::DiskType::kVolume) continue;
    auto path = storage_->ResolveVolume(d.source_pool, d.source_volume);
    if (!path.ok()) return path.status().WithContext(fmt::format("disk '{}'", d.target_dev));
    opts.volume_paths[d.target_dev] = *path;
  }
  // Two running domains never write one image (QEMU's own locking is the second line).
  for (const auto& d : o.def.devices.disks) {
    std::string path =
        d.type == conf::DiskType::kVolume ? opts.volume_paths[d.target_dev] : d.source_path;
    if (path.empty()) continue;
    if (d.driver.type.empty()) SKIFF_TRY(CheckUnnamedDiskFormat(d, path, /*hotplug=*/false));
    bool writes = !d.readonly && !d.shareable;
    std::string other = core_->DiskHolder(path, writes);
    if (!other.empty() && other != o.def.name) {
      return FailedPreconditionError("disk '{}': image '{}' is in use by running domain '{}'",
                                     d.target_dev, path, other);
    }
  }
  fs::path managed = paths_.managed_save(o.def.name);
  std::error_code ec;
  bool from_managed = restore_from.empty() && fs::exists(managed, ec);
  if (from_managed) opts.restore_from = managed.string();
  conf::DomainDef live = o.def;
  if (!opts.restore_from.empty()) {
    SKIFF_ASSIGN_OR_RETURN(SaveHeader h, ReadSaveHeader(opts.restore_from));
    opts.restore_offset = h.state_offset;
    // A guest saved paused comes back paused (RestoreDomain decided for a restore).
    if (from_managed && h.paused) paused = opts.paused = true;
    if (from_managed) {
      // The guest resumes with the devices it had when saved (live changes included).
      live = std::move(h.def);
      live.name = o.def.name;
      live.uuid = o.def.uuid;
    }
  }
  // QEMU is handed every layer of each disk (it may open no path): the chains
  // its images record, unless the definition gives them.
  for (auto& d : live.devices.disks) {
    auto vp = opts.volume_paths.find(d.target_dev);
    SKIFF_TRY(FillBackingChain(d, vp != opts.volume_paths.end() ? vp->second : d.source_path));
  }
  // Taps for the guest's network interfaces: QEMU gets their fds; ours close when
  // `taps` goes out of scope, so the kernel removes them once QEMU is gone.
  SKIFF_ASSIGN_OR_RETURN(PreparedTaps taps, net_->PrepareInterfaces(live));
  opts.taps = taps.taps;
  auto started = hv_.Start(live, opts);
  if (!started.ok()) {
    net_->ReleaseInterfaces(live);
    return started.status();
  }
  int pid = *started;
  if (from_managed) (void)RemoveFileIfExists(managed);
  o.id = core_->NextId();
  o.pid = pid;
  o.live = std::move(live);
  core_->TrackDisks(o.def.name, &*o.live);
  bool restored = !opts.restore_from.empty();
  core_->SetStatus(o, paused     ? DomainStatus::Paused(PausedReason::kUser)
                      : restored ? DomainStatus::Running(RunningReason::kRestored)
                                 : DomainStatus::Running(RunningReason::kBooted));
  Status st = core_->WriteLiveStatus(o);
  if (!st.ok()) spdlog::error("domain '{}': {}", o.def.name, st.ToString());
  spdlog::info("domain '{}' started (id {}, pid {})", o.def.name, o.id.load(), pid);
  core_->Emit(o, "started", restored ? "restored" : "booted");
  if (paused) core_->Emit(o, "suspended", "paused");
  return core_->Summarize(o);
}

Result<DomainSummary> Service::CreateDomain(const std::string& xml, const std::string& source,
                                            bool paused) {
  SKIFF_ASSIGN_OR_RETURN(conf::DomainDef def, conf::ParseDomainXml(xml, source));
  SKIFF_ASSIGN_OR_RETURN(auto slot,
                         core_->domains().FindOrAdd(def, HasUuid(xml), NewDomain(false)));
  auto& [obj, fresh, lock] = slot;
  if (!fresh) {
    // Starting a defined domain from new XML runs that XML and keeps the definition.
    if (obj->status.active()) {
      return FailedPreconditionError("domain '{}' is already running", def.name);
    }
    def.uuid = obj->def.uuid;
    conf::DomainDef saved = obj->def;
    obj->def = def;
    auto r = StartLocked(*obj, paused, "");
    obj->def = std::move(saved);
    if (r.ok()) (void)core_->WriteLiveStatus(*obj);
    return r;
  }
  auto r = StartLocked(*obj, paused, "");
  if (!r.ok()) {
    core_->Forget(obj);
  }
  return r;
}

Result<DomainSummary> Service::StartDomain(const std::string& ref, bool paused) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_->Acquire(ref));
  return StartLocked(*held.first, paused, "");
}

// A request whose outcome the guest reports later (or that changes no state): the
// hypervisor's `op` on a running domain, announced as `event` with `detail`.
Status Service::RequestOnRunning(const std::string& ref,
                                 Status (Hypervisor::*op)(const std::string&), const char* event,
                                 const char* detail) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_->Acquire(ref));
  DomainObj& o = *held.first;
  if (!o.status.active()) return NotRunning(o.def.name);
  SKIFF_TRY((hv_.*op)(o.def.name));
  core_->Emit(o, event, detail);
  return Status::Ok();
}

Status Service::ShutdownDomain(const std::string& ref) {
  return RequestOnRunning(ref, &Hypervisor::Shutdown, "shutdown", "requested");
}

Status Service::DestroyDomain(const std::string& ref) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_->Acquire(ref));
  auto& [obj, lock] = held;
  if (!obj->status.active()) return NotRunning(obj->def.name);
  SKIFF_TRY(hv_.Destroy(obj->def.name));
  core_->MarkStopped(*obj, ShutoffReason::kDestroyed);
  if (!obj->persistent) {
    core_->Forget(obj);
  }
  return Status::Ok();
}

Status Service::RebootDomain(const std::string& ref) {
  return RequestOnRunning(ref, &Hypervisor::Reboot, "rebooted", "requested");
}

Status Service::ResetDomain(const std::string& ref) {
  return RequestOnRunning(ref, &Hypervisor::Reset, "reset", "reset");
}

Status Service::SuspendDomain(const std::string& ref) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_->Acquire(ref));
  DomainObj& o = *held.first;
  if (!o.status.active()) return NotRunning(o.def.name);
  if (o.status.state() == DomainState::kPaused) return Status::Ok();
  SKIFF_TRY(hv_.Suspend(o.def.name));
  core_->MarkActive(o, DomainStatus::Paused(PausedReason::kUser), "suspended", "paused");
  return Status::Ok();
}

Status Service::ResumeDomain(const std::string& ref) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_->Acquire(ref));
  DomainObj& o = *held.first;
  if (!o.status.active()) return NotRunning(o.def.name);
  if (o.status.state() != DomainState::kPaused) {
    return FailedPreconditionError("domain '{}' is not paused", o.def.name);
  }
  SKIFF_TRY(busy_.Check(o.def.name));
  SKIFF_TRY(hv_.Resume(o.def.name));
  core_->MarkActive(o, DomainStatus::Running(RunningReason::kUnpaused), "resumed", "unpaused");
  return Status::Ok();
}

Status Service::SetAutostart(const std::string& ref, bool enabled) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_->Acquire(ref));
  DomainObj& o = *held.first;
  if (!o.persistent) {
    return FailedPreconditionError("cannot set autostart for transient domain '{}'", o.def.name);
  }
  SKIFF_TRY(SetAutostartLink(env_, paths_.domains_dir, o.def.name, enabled));
  o.autostart = enabled;
  return Status::Ok();
}

}  // namespace skiff::daemon
