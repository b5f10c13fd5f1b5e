// DomainSnapshots: internal snapshots (create, list, dumpxml, revert, delete) and
// their metadata under ROOT/var/lib/skiff/snapshots/DOMAIN.
#include "skiff/daemon/domain_snapshots.h"

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <map>
#include <set>

#include <spdlog/spdlog.h>

#include "daemon/domain_core.h"
#include "daemon/storage/driver.h"
#include "skiff/base/fs.h"
#include "skiff/image/ops.h"

namespace skiff::daemon {

namespace fs = std::filesystem;

namespace {

constexpr const char* kCurrentFile = ".current";

Status CheckName(const std::string& name) {
  if (name.empty()) return InvalidArgumentError("snapshot name is empty");
  if (name.find('/') != std::string::npos || name[0] == '.' || name.size() > 200 ||
      std::any_of(name.begin(), name.end(), [](char c) { return c >= 0 && c < 0x20; })) {
    return InvalidArgumentError(
        "invalid snapshot name '{}': it may not contain '/' or control characters, start "
        "with '.', or be longer than 200 bytes",
        name);
  }
  return Status::Ok();
}

Status NoSuchSnapshot(const std::string& domain, const std::string& name) {
  return NotFoundError("domain '{}' has no snapshot named '{}'", domain, name);
}

// One qcow2 image a snapshot lives in: the disk's target and its file.
struct SnapDisk {
  std::string target;
  std::string path;
};

}  // namespace

// The metadata of one domain's snapshots, read from its directory on each use (so
// it survives any restart of the daemon and nothing is cached to go stale).
struct DomainSnapshots::Store {
  Env& env;
  fs::path dir;
  std::string domain;

  Result<std::vector<conf::SnapshotDef>> All() const {
    std::vector<conf::SnapshotDef> out;
    if (!env.FileExists(dir)) return out;
    SKIFF_ASSIGN_OR_RETURN(auto names, env.ListDir(dir));
    for (const auto& f : names) {
      if (f.size() < 5 || f.substr(f.size() - 4) != ".xml" || f[0] == '.') continue;
      SKIFF_ASSIGN_OR_RETURN(std::string xml, env.ReadFile(dir / f));
      auto def = conf::ParseSnapshotXml(xml, (dir / f).string());
      if (!def.ok()) {
        spdlog::warn("domain '{}': snapshot metadata skipped: {}", domain, def.status().ToString());
        continue;
      }
      out.push_back(std::move(*def));
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
      return std::pair(a.creation_time.value_or(0), a.name) <
             std::pair(b.creation_time.value_or(0), b.name);
    });
    // Creation times have whole seconds: within one, a parent still comes before
    // its children (each pass takes, in that order, those whose parent is out).
    std::vector<conf::SnapshotDef> ordered;
    std::set<std::string> known, placed;
    for (const auto& d : out) known.insert(d.name);
    while (ordered.size() < out.size()) {
      size_t before = ordered.size();
      for (auto& d : out) {
        if (placed.count(d.name)) continue;
        if (!d.parent.empty() && known.count(d.parent) && !placed.count(d.parent)) continue;
        placed.insert(d.name);
        ordered.push_back(d);
      }
      if (ordered.size() == before) {  // a parent cycle (hand-edited files): as sorted
        for (auto& d : out) {
          if (placed.insert(d.name).second) ordered.push_back(d);
        }
      }
    }
    return ordered;
  }
  Result<conf::SnapshotDef> Get(const std::string& name) const {
    SKIFF_TRY(CheckName(name));
    const fs::path f = dir / (name + ".xml");
    if (!env.FileExists(f)) return NoSuchSnapshot(domain, name);
    SKIFF_ASSIGN_OR_RETURN(std::string xml, env.ReadFile(f));
    return conf::ParseSnapshotXml(xml, f.string());
  }
  bool Has(const std::string& name) const { return env.FileExists(dir / (name + ".xml")); }
  std::string Current() const {
    auto c = env.ReadFile(dir / kCurrentFile);
    if (!c.ok()) return "";
    std::string name = *c;
    while (!name.empty() && name.back() == '\n') name.pop_back();
    return Has(name) ? name : "";
  }
  Status Put(const conf::SnapshotDef& def) const {
    SKIFF_TRY(env.CreateDirs(dir));
    return WriteFileAtomic(env, dir / (def.name + ".xml"), conf::FormatSnapshotXml(def), 0600);
  }
  Status SetCurrent(const std::string& name) const {
    if (name.empty()) return RemoveFileDurably(env, dir / kCurrentFile);
    SKIFF_TRY(env.CreateDirs(dir));
    return WriteFileAtomic(env, dir / kCurrentFile, name + "\n", 0600);
  }
  fs::path Nvram(const std::string& name) const { return dir / (name + ".nvram"); }
  Status Remove(const std::string& name) const {
    SKIFF_TRY(RemoveFileDurably(env, dir / (name + ".xml")));
    return RemoveFileDurably(env, Nvram(name));
  }
};

namespace {

Result<std::string> DiskPath(DomainCore& core, const conf::DiskDef& d) { return core.DiskPath(d); }

// The disks of `def` an internal snapshot covers: every writable disk (not
// cdroms, not read-only ones) unless `request` says snapshot='no' for it. Each
// must be qcow2. `request` may name a disk by target or by file.
Result<std::vector<SnapDisk>> InternalDisks(DomainCore& core, const conf::DomainDef& def,
                                            const conf::SnapshotDef& request) {
  std::map<std::string, const conf::SnapshotDisk*> asked;
  for (const auto& d : request.disks) asked[d.name] = &d;
  std::vector<SnapDisk> out;
  for (const auto& d : def.devices.disks) {
    SKIFF_ASSIGN_OR_RETURN(std::string path, DiskPath(core, d));
    const conf::SnapshotDisk* a = nullptr;
    for (const std::string& key : {d.target_dev, path}) {
      auto it = asked.find(key);
      if (it == asked.end()) continue;
      a = it->second;
      asked.erase(it);
    }
    if (d.device != conf::DiskDevice::kDisk || d.readonly || path.empty()) {
      if (a && a->snapshot != "no" && a->snapshot != "") {
        return InvalidArgumentError(
            "disk '{}' is read-only or has no media: it cannot be in a "
            "snapshot (snapshot='no')",
            d.target_dev);
      }
      continue;
    }
    if (a && a->snapshot == "no") continue;
    if (a && (a->snapshot == "external" || a->snapshot == "manual")) {
      return UnsupportedError(
          "disk '{}': {} snapshots are not supported yet; Skiff takes internal snapshots of "
          "qcow2 disks",
          d.target_dev, a->snapshot);
    }
    if (d.format() != "qcow2") {
      return FailedPreconditionError(
          "disk '{}' ('{}') is {}: an internal snapshot needs qcow2; leave the disk out with "
          "--diskspec {},snapshot=no or convert it",
          d.target_dev, path, d.format(), d.target_dev);
    }
    out.push_back({d.target_dev, path});
  }
  if (!asked.empty()) {
    return InvalidArgumentError("snapshot disk '{}' is not a disk of domain '{}'",
                                asked.begin()->first, def.name);
  }
  if (out.empty()) {
    return FailedPreconditionError("domain '{}' has no qcow2 disk to hold a snapshot", def.name);
  }
  return out;
}

// The internal disks the snapshot `snap` lives in, read from its <domain>.
Result<std::vector<SnapDisk>> SnapshotDisks(DomainCore& core, const conf::SnapshotDef& snap,
                                            const conf::DomainDef& taken_of) {
  std::vector<SnapDisk> out;
  for (const auto& sd : snap.disks) {
    if (sd.snapshot != "internal") continue;
    auto it = std::find_if(taken_of.devices.disks.begin(), taken_of.devices.disks.end(),
                           [&](const conf::DiskDef& d) { return d.target_dev == sd.name; });
    if (it == taken_of.devices.disks.end()) {
      return CorruptionError("snapshot '{}': disk '{}' is not in its domain", snap.name, sd.name);
    }
    SKIFF_ASSIGN_OR_RETURN(std::string path, DiskPath(core, *it));
    out.push_back({sd.name, path});
  }
  return out;
}

Result<conf::DomainDef> TakenOf(const conf::SnapshotDef& snap, const std::string& domain) {
  if (snap.domain_xml.empty()) {
    return CorruptionError("snapshot '{}' of domain '{}' has no <domain> in its metadata",
                           snap.name, domain);
  }
  return conf::ParseDomainXml(snap.domain_xml, fmt::format("snapshot '{}'", snap.name));
}

std::vector<std::string> Targets(const std::vector<SnapDisk>& disks) {
  std::vector<std::string> t;
  for (const auto& d : disks) t.push_back(d.target);
  return t;
}

std::vector<std::string> Files(const std::vector<SnapDisk>& disks) {
  std::vector<std::string> p;
  for (const auto& d : disks) p.push_back(d.path);
  return p;
}

bool Contains(const std::vector<image::SnapshotInfo>& snaps, const std::string& name) {
  return std::any_of(snaps.begin(), snaps.end(), [&](const auto& s) { return s.name == name; });
}

}  // namespace

Status DomainSnapshots::CheckImagesFree(const std::string& domain,
                                        const std::vector<std::string>& paths) {
  SKIFF_TRY(busy_(domain));
  for (const auto& p : paths) {
    std::string other = core_.DiskHolder(p, /*writes=*/true);
    if (!other.empty() && other != domain) {
      return FailedPreconditionError("image '{}' is in use by running domain '{}'", p, other);
    }
  }
  return Status::Ok();
}

// ------------------------------------------------------------------ create

Result<std::string> DomainSnapshots::Create(const std::string& ref, const std::string& xml,
                                            const std::string& source,
                                            const SnapshotCreateOptions& options) {
  SKIFF_ASSIGN_OR_RETURN(conf::SnapshotDef snap,
                         conf::ParseSnapshotXml(xml, source.empty() ? "<request>" : source));
  SKIFF_ASSIGN_OR_RETURN(auto held, core_.Acquire(ref));
  return CreateLocked(*held.first, std::move(snap), options);
}

Result<std::string> DomainSnapshots::CreateLocked(DomainObj& obj, conf::SnapshotDef snap,
                                                  const SnapshotCreateOptions& options) {
  const std::string domain = obj.def.name;
  Store store{core_.env(), core_.paths().snapshots(domain), domain};
  if (options.redefine) {
    SKIFF_ASSIGN_OR_RETURN(conf::SnapshotDef old, store.Get(snap.name));
    conf::SnapshotDef want = old;
    want.description = snap.description;
    if (!(want == snap)) {
      return InvalidArgumentError("snapshot '{}': a redefinition may change only its <description>",
                                  snap.name);
    }
    SKIFF_TRY(store.Put(snap));
    if (options.current) SKIFF_TRY(store.SetCurrent(snap.name));
    return snap.name;
  }
  if (!obj.persistent) {
    return FailedPreconditionError("cannot snapshot transient domain '{}'", domain);
  }
  if (options.disk_only || snap.memory_snapshot == "external" || snap.memory_snapshot == "manual") {
    return UnsupportedError(
        "external snapshots are not supported yet: Skiff takes internal snapshots (drop "
        "--disk-only, and --memspec/--diskspec with snapshot=external)");
  }
  if (!snap.domain_xml.empty() || !snap.parent.empty() || !snap.state.empty()) {
    return InvalidArgumentError(
        "snapshot '{}': <domain>, <parent> and <state> are set by Skiff (or by --redefine)",
        snap.name);
  }
  const bool active = obj.status.active();
  if (active && snap.memory_snapshot == "no") {
    return UnsupportedError(
        "domain '{}' is running: its internal snapshot holds its memory too (drop "
        "<memory snapshot='no'/>, or shut the domain off first)",
        domain);
  }
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  if (snap.name.empty()) snap.name = std::to_string(now);
  SKIFF_TRY(CheckName(snap.name));
  if (store.Has(snap.name)) {
    return AlreadyExistsError("domain '{}' already has a snapshot named '{}'", domain, snap.name);
  }
  const conf::DomainDef& def = active && obj.live ? *obj.live : obj.def;
  SKIFF_ASSIGN_OR_RETURN(std::vector<SnapDisk> disks, InternalDisks(core_, def, snap));
  const std::string nvram = def.os.nvram;
  std::string nvram_copy;
  bool have_nvram = false;
  if (active) {
    // The NVRAM is copied while the guest is paused, beside its memory.
    const bool was_running = obj.status.state() == DomainState::kRunning;
    if (was_running && !nvram.empty()) SKIFF_TRY(core_.hv().Suspend(domain));
    const Status saved = core_.hv().SaveSnapshot(domain, snap.name, Targets(disks));
    Status st = saved;
    if (st.ok() && !nvram.empty() && core_.env().FileExists(nvram)) {
      auto data = core_.env().ReadFile(nvram);
      if (data.ok()) {
        nvram_copy = std::move(*data);
        have_nvram = true;
      } else {
        st = data.status();
      }
    }
    if (was_running && !nvram.empty()) {
      Status r = core_.hv().Resume(domain);
      if (st.ok()) st = r;
    }
    if (!st.ok()) {
      // Only a snapshot this request made is taken back (never one of the same
      // name that QEMU refused to overwrite).
      if (saved.ok() && core_.hv().DeleteSnapshot(domain, snap.name, Targets(disks)).ok()) {
        spdlog::info("domain '{}': snapshot '{}' taken back", domain, snap.name);
      }
      return st;
    }
    snap.state = was_running ? "running" : "paused";
    snap.memory_snapshot = "internal";
  } else {
    SKIFF_TRY(CheckImagesFree(domain, Files(disks)));
    if (!obj.def.os.nvram.empty() && core_.env().FileExists(nvram)) {
      SKIFF_ASSIGN_OR_RETURN(nvram_copy, core_.env().ReadFile(nvram));
      have_nvram = true;
    }
    for (size_t i = 0; i < disks.size(); ++i) {
      SKIFF_ASSIGN_OR_RETURN(auto existing, image::ListSnapshots(disks[i].path));
      Status st = Contains(existing, snap.name)
                      ? AlreadyExistsError("image '{}' already holds a snapshot named '{}'",
                                           disks[i].path, snap.name)
                      : image::CreateSnapshot(disks[i].path, snap.name);
      if (!st.ok()) {
        for (size_t j = 0; j < i; ++j) (void)image::DeleteSnapshot(disks[j].path, snap.name);
        return st.WithContext(fmt::format("disk '{}'", disks[i].target));
      }
    }
    snap.state = "shutoff";
    snap.memory_snapshot = "no";
  }
  snap.creation_time = now;
  if (options.no_metadata) return snap.name;
  snap.parent = store.Current();
  snap.disks.clear();
  std::set<std::string> in;
  for (const auto& d : disks) in.insert(d.target);
  for (const auto& d : def.devices.disks) {
    if (d.device != conf::DiskDevice::kDisk) continue;
    snap.disks.push_back({d.target_dev, in.count(d.target_dev) ? "internal" : "no", "", "", ""});
  }
  // The definition the snapshot was taken of; the backing chains that a start
  // filled in from the images stay out of it (the next start reads them again).
  conf::DomainDef taken_of = def;
  for (auto& d : taken_of.devices.disks) {
    auto it = std::find_if(obj.def.devices.disks.begin(), obj.def.devices.disks.end(),
                           [&](const conf::DiskDef& p) { return p.target_dev == d.target_dev; });
    if (it == obj.def.devices.disks.end() || it->backing_chain.empty()) d.backing_chain.clear();
  }
  snap.domain_xml = conf::FormatDomainXml(taken_of);
  if (have_nvram) {
    SKIFF_TRY(core_.env().CreateDirs(store.dir));
    SKIFF_TRY(WriteFileAtomic(core_.env(), store.Nvram(snap.name), nvram_copy, 0600));
  }
  SKIFF_TRY(store.Put(snap));
  SKIFF_TRY(store.SetCurrent(snap.name));
  spdlog::info("domain '{}': snapshot '{}' created ({}, {} disk(s))", domain, snap.name, snap.state,
               disks.size());
  return snap.name;
}

// ------------------------------------------------------------------ list, xml

Result<std::vector<SnapshotSummary>> DomainSnapshots::List(const std::string& ref) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_.Acquire(ref));
  const std::string domain = held.first->def.name;
  Store store{core_.env(), core_.paths().snapshots(domain), domain};
  SKIFF_ASSIGN_OR_RETURN(auto all, store.All());
  const std::string current = store.Current();
  std::map<std::string, std::vector<std::string>> kids;
  for (const auto& s : all) kids[s.parent].push_back(s.name);
  std::vector<SnapshotSummary> out;
  for (auto& s : all) {
    SnapshotSummary sum;
    sum.location = "internal";
    sum.current = s.name == current;
    sum.children = static_cast<unsigned>(kids[s.name].size());
    std::vector<std::string> todo = kids[s.name];
    while (!todo.empty()) {
      std::string n = todo.back();
      todo.pop_back();
      ++sum.descendants;
      for (const auto& k : kids[n]) todo.push_back(k);
    }
    s.domain_xml.clear();
    sum.def = std::move(s);
    out.push_back(std::move(sum));
  }
  return out;
}

Result<std::string> DomainSnapshots::Xml(const std::string& ref, const std::string& name,
                                         bool secure) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_.Acquire(ref));
  const std::string domain = held.first->def.name;
  Store store{core_.env(), core_.paths().snapshots(domain), domain};
  SKIFF_ASSIGN_OR_RETURN(conf::SnapshotDef s, store.Get(name));
  if (!s.domain_xml.empty()) {
    SKIFF_ASSIGN_OR_RETURN(conf::DomainDef taken_of, TakenOf(s, domain));
    s.domain_xml = ShownXml(taken_of, secure);
  }
  return conf::FormatSnapshotXml(s);
}

// ------------------------------------------------------------------ revert

Status DomainSnapshots::Revert(const std::string& ref, const std::string& name,
                               const SnapshotRevertOptions& options) {
  if (options.running && options.paused) {
    return InvalidArgumentError("--running and --paused are mutually exclusive");
  }
  SKIFF_ASSIGN_OR_RETURN(auto held, core_.Acquire(ref));
  DomainObj& obj = *held.first;
  Store store{core_.env(), core_.paths().snapshots(obj.def.name), obj.def.name};
  SKIFF_ASSIGN_OR_RETURN(conf::SnapshotDef snap, store.Get(name));
  return RevertLocked(obj, snap, options);
}

Status DomainSnapshots::RevertLocked(DomainObj& obj, const conf::SnapshotDef& snap,
                                     const SnapshotRevertOptions& options) {
  const std::string domain = obj.def.name;
  Store store{core_.env(), core_.paths().snapshots(domain), domain};
  if (!obj.persistent) {
    return FailedPreconditionError("cannot revert transient domain '{}'", domain);
  }
  if (core_.env().FileExists(core_.paths().managed_save(domain))) {
    return FailedPreconditionError(
        "domain '{}' has a managed save image; remove it first (managedsave-remove)", domain);
  }
  SKIFF_ASSIGN_OR_RETURN(conf::DomainDef taken_of, TakenOf(snap, domain));
  taken_of.name = domain;
  taken_of.uuid = obj.def.uuid;
  SKIFF_ASSIGN_OR_RETURN(std::vector<SnapDisk> disks, SnapshotDisks(core_, snap, taken_of));
  const bool with_memory = snap.memory_snapshot == "internal";
  // Every image must hold the snapshot before anything changes (a shut-off
  // domain's; a running one's are checked by QEMU when it loads them).
  if (!with_memory) {
    SKIFF_TRY(CheckImagesFree(domain, Files(disks)));
    for (const auto& d : disks) {
      SKIFF_ASSIGN_OR_RETURN(auto have, image::ListSnapshots(d.path));
      if (!Contains(have, snap.name)) {
        return FailedPreconditionError("snapshot '{}': image '{}' of disk '{}' does not hold it",
                                       snap.name, d.path, d.target);
      }
    }
  }
  std::optional<std::string> nvram;
  if (core_.env().FileExists(store.Nvram(snap.name)) && !taken_of.os.nvram.empty()) {
    SKIFF_ASSIGN_OR_RETURN(nvram, core_.env().ReadFile(store.Nvram(snap.name)));
  }
  if (obj.status.active()) SKIFF_TRY(stop_(obj));
  // The definition becomes the snapshot's, as libvirt's revert does.
  conf::DomainDef before = obj.def;
  SKIFF_TRY(core_.WriteDefinition(taken_of));
  obj.def = taken_of;
  auto undo_definition = [&] {
    obj.def = before;
    (void)core_.WriteDefinition(before);
  };
  if (nvram) {
    Status st = WriteFileAtomic(core_.env(), taken_of.os.nvram, *nvram, 0600);
    if (!st.ok()) {
      undo_definition();
      return st.WithContext("restore NVRAM");
    }
  }
  if (!with_memory) {
    for (const auto& d : disks) {
      Status st = image::ApplySnapshot(d.path, snap.name);
      if (!st.ok()) return st.WithContext(fmt::format("disk '{}'", d.target));
    }
    SKIFF_TRY(store.SetCurrent(snap.name));
    if (options.running || options.paused) SKIFF_TRY(start_(obj, options.paused).status());
    spdlog::info("domain '{}': reverted to snapshot '{}' (disks)", domain, snap.name);
    return Status::Ok();
  }
  // Memory: a new QEMU, paused before the guest runs, loads the snapshot.
  auto started = start_(obj, true);
  if (!started.ok()) {
    undo_definition();
    return started.status();
  }
  Status loaded = core_.hv().LoadSnapshot(domain, snap.name, Targets(disks));
  if (!loaded.ok()) {
    (void)stop_(obj);
    undo_definition();
    return loaded;
  }
  SKIFF_TRY(store.SetCurrent(snap.name));
  const bool run = options.running || (!options.paused && snap.state == "running");
  if (run) {
    SKIFF_TRY(core_.hv().Resume(domain));
    core_.MarkActive(obj, DomainStatus::Running(RunningReason::kFromSnapshot), "resumed",
                     "from-snapshot");
  } else {
    core_.MarkActive(obj, DomainStatus::Paused(PausedReason::kFromSnapshot), "suspended",
                     "from-snapshot");
  }
  spdlog::info("domain '{}': reverted to snapshot '{}' (memory and disks)", domain, snap.name);
  return Status::Ok();
}

// ------------------------------------------------------------------ delete

Result<std::vector<std::string>> DomainSnapshots::Delete(const std::string& ref,
                                                         const std::string& name,
                                                         const SnapshotDeleteOptions& options) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_.Acquire(ref));
  DomainObj& obj = *held.first;
  const std::string domain = obj.def.name;
  Store store{core_.env(), core_.paths().snapshots(domain), domain};
  SKIFF_TRY(store.Get(name).status());
  SKIFF_ASSIGN_OR_RETURN(auto all, store.All());
  std::map<std::string, conf::SnapshotDef> by_name;
  for (auto& s : all) by_name[s.name] = s;
  // The snapshots to delete, children before their parents.
  std::vector<std::string> order;
  if (options.children || options.children_only) {
    std::vector<std::string> todo = {name};
    for (size_t i = 0; i < todo.size(); ++i) {
      for (const auto& s : all) {
        if (s.parent == todo[i]) todo.push_back(s.name);
      }
    }
    order.assign(todo.rbegin(), todo.rend());
    if (options.children_only) order.pop_back();
  } else {
    order = {name};
  }
  std::string current = store.Current();
  std::vector<std::string> deleted;
  for (const auto& n : order) {
    const conf::SnapshotDef& s = by_name[n];
    if (!options.metadata_only) {
      SKIFF_ASSIGN_OR_RETURN(conf::DomainDef taken_of, TakenOf(s, domain));
      SKIFF_ASSIGN_OR_RETURN(std::vector<SnapDisk> disks, SnapshotDisks(core_, s, taken_of));
      // Images the running guest holds are QEMU's to change; the others are ours.
      std::vector<std::string> live_targets;
      for (const auto& d : disks) {
        bool held_by_guest = false;
        if (obj.status.active() && obj.live) {
          for (const auto& ld : obj.live->devices.disks) {
            auto p = DiskPath(core_, ld);
            if (p.ok() && *p == d.path && ld.target_dev == d.target) held_by_guest = true;
          }
        }
        if (held_by_guest) {
          live_targets.push_back(d.target);
          continue;
        }
        SKIFF_TRY(CheckImagesFree(domain, {d.path}));
        SKIFF_ASSIGN_OR_RETURN(auto have, image::ListSnapshots(d.path));
        if (!Contains(have, n)) continue;  // gone already (an interrupted delete)
        Status st = image::DeleteSnapshot(d.path, n);
        if (!st.ok()) return st.WithContext(fmt::format("snapshot '{}', disk '{}'", n, d.target));
      }
      if (!live_targets.empty()) SKIFF_TRY(core_.hv().DeleteSnapshot(domain, n, live_targets));
    }
    // Its children now hang from its parent; so does "current".
    for (auto& [cn, c] : by_name) {
      if (c.parent != n || std::find(order.begin(), order.end(), cn) != order.end()) continue;
      c.parent = s.parent;
      SKIFF_TRY(store.Put(c));
    }
    if (current == n) {
      current = s.parent;
      SKIFF_TRY(store.SetCurrent(current));
    }
    SKIFF_TRY(store.Remove(n));
    deleted.push_back(n);
    spdlog::info("domain '{}': snapshot '{}' deleted{}", domain, n,
                 options.metadata_only ? " (metadata only)" : "");
  }
  return deleted;
}

// ------------------------------------------------------------------ undefine

size_t DomainSnapshots::CountLocked(const std::string& domain) {
  Store store{core_.env(), core_.paths().snapshots(domain), domain};
  auto all = store.All();
  return all.ok() ? all->size() : 0;
}

Status DomainSnapshots::RemoveAllMetadataLocked(const std::string& domain) {
  const fs::path dir = core_.paths().snapshots(domain);
  if (!core_.env().FileExists(dir)) return Status::Ok();
  SKIFF_ASSIGN_OR_RETURN(auto names, core_.env().ListDir(dir));
  for (const auto& f : names) SKIFF_TRY(RemoveFileDurably(core_.env(), dir / f));
  std::error_code ec;
  fs::remove(dir, ec);
  return Status::Ok();
}

}  // namespace skiff::daemon
