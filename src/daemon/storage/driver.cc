// StorageDriver: storage pools (definitions, start/stop/build) and the volume
// machinery of the storage module.
#include "daemon/storage/driver.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "daemon/definitions.h"
#include "skiff/base/fd.h"
#include "skiff/base/fs.h"

namespace skiff::daemon {

namespace fs = std::filesystem;

namespace {

fs::path ActiveMarker(const Paths& p, const std::string& pool) {
  return p.run_dir / "pools" / (pool + ".active");
}

// `path` with symbolic links resolved (as far as it exists) and no trailing '/'.
std::string Directory(const std::string& path) {
  std::error_code ec;
  std::string out = fs::weakly_canonical(path, ec).string();
  if (ec) out = fs::path(path).lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

PoolSummary Summarize(const StorageDriver::Pool& o) {
  return {o.def.name, o.def.uuid, o.active, o.autostart, true, o.def.type, o.def.target_path};
}

}  // namespace

StorageDriver::StorageDriver(Paths paths, EventBus& events, DiskUsage& disks, Env& env)
    : paths_(std::move(paths)), env_(env), events_(events), disks_(disks) {}

void StorageDriver::Emit(const std::string& name, const char* event, const char* detail) {
  events_.Publish(api::Event::Lifecycle("pool", name, event, detail));
}

// ---------------------------------------------------------------- loading

void StorageDriver::LoadDefinitions() {
  RemoveStaleTempFiles(env_, paths_.pools_dir);
  LoadDefinitionsInto(env_, paths_.pools_dir, "pool", conf::ParsePoolXml, pools_);
}

void StorageDriver::Activate() {
  for (auto& p : pools_.List()) {
    std::unique_lock l(p->mu);
    p->active = env_.FileExists(ActiveMarker(paths_, p->def.name));
    if (p->active && p->def.type == "fs" && !storage::DirPool(p->def).IsMounted()) {
      // Active before, unmounted since (a host reboot with a kept run dir): mount again.
      Status st = storage::DirPool(p->def).Start();
      if (!st.ok()) {
        spdlog::error("pool '{}' was active but cannot be mounted again: {}", p->def.name,
                      st.ToString());
        (void)env_.RemoveFile(ActiveMarker(paths_, p->def.name));
        p->active = false;
      }
    }
    if (!p->active && p->autostart) {
      std::string name = p->def.name;
      l.unlock();
      Status st = StartPool(name);
      if (!st.ok()) spdlog::error("autostart of pool '{}' failed: {}", name, st.ToString());
    }
  }
  if (Status st = EnsureDefaultPool(); !st.ok()) {
    spdlog::error("cannot set up the default storage pool: {}", st.ToString());
  }
}

Status StorageDriver::EnsureDefaultPool() {
  // Like libvirt, the default pool is made once; an administrator who undefines it
  // is not overruled at the next start.
  fs::path marker = paths_.lib_dir / ".default-pool-defined";
  if (env_.FileExists(marker)) return Status::Ok();
  if (pools_.Contains("default")) return WriteFileAtomic(env_, marker, "");
  std::string xml = fmt::format(
      "<pool type='dir'>\n  <name>default</name>\n  <target>\n    <path>{}</path>\n  </target>\n"
      "</pool>\n",
      (paths_.lib_dir / "images").string());
  SKIFF_TRY(DefinePool(xml, "default pool").status());
  SKIFF_TRY(BuildPool("default"));
  SKIFF_TRY(SetPoolAutostart("default", true));
  SKIFF_TRY(StartPool("default"));
  spdlog::info("defined and started the default storage pool at '{}'",
               (paths_.lib_dir / "images").string());
  return WriteFileAtomic(env_, marker, "");
}

// ---------------------------------------------------------------- definitions

std::vector<PoolSummary> StorageDriver::ListPools() {
  std::vector<PoolSummary> out;
  for (auto& o : pools_.List()) {
    std::lock_guard l(o->mu);
    if (!o->removed) out.push_back(Summarize(*o));
  }
  return out;
}

Result<PoolSummary> StorageDriver::DefinePool(const std::string& xml, const std::string& source) {
  SKIFF_ASSIGN_OR_RETURN(conf::PoolDef def, conf::ParsePoolXml(xml, source));
  // Two pools on one directory would each think they own its volumes (libvirt
  // refuses this too).
  const std::string target = Directory(def.target_path);
  for (auto& other : pools_.List()) {
    std::lock_guard l(other->mu);
    if (other->removed || other->def.name == def.name) continue;
    if (Directory(other->def.target_path) == target) {
      return AlreadyExistsError("storage pool '{}': target '{}' is already used by pool '{}'",
                                def.name, def.target_path, other->def.name);
    }
  }
  // No uuid in the input: a redefinition keeps the existing one, as libvirt does.
  SKIFF_ASSIGN_OR_RETURN(auto slot, pools_.FindOrAdd(def, xml.find("<uuid") != std::string::npos,
                                                     [] { return std::make_shared<Pool>(); }));
  auto& [o, fresh, lock] = slot;
  if (!fresh && o->active) {
    // The machinery works on the definition: an active pool keeps where it lives.
    const conf::PoolDef& now = o->def;
    if (now.type != def.type || now.target_path != def.target_path ||
        now.source_device != def.source_device || now.source_format != def.source_format) {
      return FailedPreconditionError(
          "storage pool '{}' is active: destroy it before changing its type, source or target",
          def.name);
    }
  }
  Status st = WriteDefinitionFile(env_, paths_.pools_dir, def.name, conf::FormatPoolXml(def));
  if (!st.ok()) {
    if (fresh) pools_.Remove(o);
    return st;
  }
  o->def = std::move(def);
  Emit(o->def.name, "defined", fresh ? "added" : "updated");
  return Summarize(*o);
}

Result<PoolSummary> StorageDriver::GetPool(const std::string& ref) {
  SKIFF_ASSIGN_OR_RETURN(auto held, pools_.Acquire(ref));
  return Summarize(*held.first);
}

Result<std::string> StorageDriver::PoolXml(const std::string& ref) {
  SKIFF_ASSIGN_OR_RETURN(auto held, pools_.Acquire(ref));
  return conf::FormatPoolXml(held.first->def);
}

Status StorageDriver::UndefinePool(const std::string& ref) {
  SKIFF_ASSIGN_OR_RETURN(auto held, pools_.Acquire(ref));
  auto& o = held.first;
  if (o->active) {
    return FailedPreconditionError("storage pool '{}' is active: destroy it first", o->def.name);
  }
  SKIFF_TRY(RemoveDefinitionFile(env_, paths_.pools_dir, o->def.name));
  (void)SetAutostartLink(env_, paths_.pools_dir, o->def.name, false);
  pools_.Remove(o);
  Emit(o->def.name, "undefined", "removed");
  return Status::Ok();
}

Status StorageDriver::SetPoolAutostart(const std::string& ref, bool enabled) {
  SKIFF_ASSIGN_OR_RETURN(auto held, pools_.Acquire(ref));
  auto& o = held.first;
  SKIFF_TRY(SetAutostartLink(env_, paths_.pools_dir, o->def.name, enabled));
  o->autostart = enabled;
  return Status::Ok();
}

// ---------------------------------------------------------------- pool machinery

Result<StorageDriver::Held> StorageDriver::AcquireActive(const std::string& ref) {
  SKIFF_ASSIGN_OR_RETURN(auto held, pools_.Acquire(ref));
  if (!held.first->active) {
    return FailedPreconditionError("storage pool '{}' is not active", held.first->def.name);
  }
  return held;
}

Status StorageDriver::StartPool(const std::string& ref) {
  SKIFF_ASSIGN_OR_RETURN(auto held, pools_.Acquire(ref));
  Pool& p = *held.first;
  if (p.active) return FailedPreconditionError("storage pool '{}' is already active", p.def.name);
  SKIFF_TRY(storage::DirPool(p.def).Start());
  SKIFF_TRY(env_.CreateDirs(ActiveMarker(paths_, "").parent_path()));
  SKIFF_TRY(WriteFileAtomic(env_, ActiveMarker(paths_, p.def.name), ""));
  p.active = true;
  Emit(p.def.name, "started", "started");
  return Status::Ok();
}

Status StorageDriver::DestroyPool(const std::string& ref) {
  SKIFF_ASSIGN_OR_RETURN(auto held, pools_.Acquire(ref));
  auto& p = held.first;
  if (!p->active) return FailedPreconditionError("storage pool '{}' is not active", p->def.name);
  if (p->def.type == "fs") {
    // Unmounting under a running guest would fail anyway (busy); say which guest.
    std::string user = disks_.UserUnder(p->def.target_path + "/");
    if (!user.empty()) {
      return FailedPreconditionError("storage pool '{}' is in use by running domain '{}'",
                                     p->def.name, user);
    }
  }
  SKIFF_TRY(storage::DirPool(p->def).Stop());
  SKIFF_TRY(RemoveFileDurably(env_, ActiveMarker(paths_, p->def.name)));
  p->active = false;
  Emit(p->def.name, "stopped", "destroyed");
  return Status::Ok();
}

Status StorageDriver::BuildPool(const std::string& ref, storage::BuildMode mode) {
  SKIFF_ASSIGN_OR_RETURN(auto held, pools_.Acquire(ref));
  auto& p = held.first;
  if (p->active && p->def.type == "fs") {
    return FailedPreconditionError("storage pool '{}' is active: destroy it before building it",
                                   p->def.name);
  }
  SKIFF_TRY(storage::DirPool(p->def).Build(mode));
  spdlog::info("storage pool '{}' built", p->def.name);
  return Status::Ok();
}

Status StorageDriver::DeletePool(const std::string& ref) {
  SKIFF_ASSIGN_OR_RETURN(auto held, pools_.Acquire(ref));
  auto& p = held.first;
  if (p->active) {
    return FailedPreconditionError("storage pool '{}' is active: destroy it first", p->def.name);
  }
  return storage::DirPool(p->def).Delete();
}

Result<PoolDetails> StorageDriver::PoolInfo(const std::string& ref) {
  SKIFF_ASSIGN_OR_RETURN(auto held, pools_.Acquire(ref));
  Pool& p = *held.first;
  PoolDetails d;
  d.summary = Summarize(p);
  if (p.active) {
    SKIFF_ASSIGN_OR_RETURN(d.stats, storage::DirPool(p.def).Stats());
  }
  return d;
}

// ---------------------------------------------------------------- volumes

Result<std::vector<storage::VolumeInfo>> StorageDriver::ListVolumes(const std::string& pool) {
  SKIFF_ASSIGN_OR_RETURN(auto held, AcquireActive(pool));
  return storage::DirPool(held.first->def).ListVolumes();
}

Result<storage::VolumeInfo> StorageDriver::GetVolume(const std::string& pool,
                                                     const std::string& vol) {
  SKIFF_ASSIGN_OR_RETURN(auto held, AcquireActive(pool));
  return storage::DirPool(held.first->def).GetVolume(vol);
}

Result<std::string> StorageDriver::VolumeXml(const std::string& pool, const std::string& vol) {
  SKIFF_ASSIGN_OR_RETURN(auto held, AcquireActive(pool));
  return storage::DirPool(held.first->def).VolumeXml(vol);
}

Result<std::pair<std::string, storage::VolumeInfo>> StorageDriver::FindVolumeByPath(
    const std::string& path) {
  std::error_code ec;
  fs::path want = fs::weakly_canonical(path, ec);
  for (auto& p : pools_.List()) {
    std::lock_guard l(p->mu);
    if (p->removed || !p->active) continue;
    fs::path dir = fs::weakly_canonical(p->def.target_path, ec);
    if (want.parent_path() != dir) continue;
    auto v = storage::DirPool(p->def).GetVolume(want.filename().string());
    if (v.ok()) return std::make_pair(p->def.name, *v);
  }
  return NotFoundError("no storage volume with path or key '{}'", path);
}

Result<std::string> StorageDriver::ResolveVolume(const std::string& pool, const std::string& vol) {
  SKIFF_ASSIGN_OR_RETURN(auto held, pools_.Acquire(pool));
  if (!held.first->active) {
    return FailedPreconditionError("storage pool '{}' of volume '{}' is not active", pool, vol);
  }
  return storage::DirPool(held.first->def).VolumePath(vol);
}

Result<std::string> StorageDriver::NewVolumePath(const std::string& pool, const std::string& vol) {
  SKIFF_ASSIGN_OR_RETURN(auto held, AcquireActive(pool));
  return storage::DirPool(held.first->def).NewVolumePath(vol);
}

Result<std::string> StorageDriver::IdleVolumePath(const std::string& pool, const std::string& vol,
                                                  bool writers_only, std::string_view hint) {
  SKIFF_ASSIGN_OR_RETURN(std::string path, ResolveVolume(pool, vol));
  std::string user = writers_only ? disks_.Writer(path) : disks_.User(path);
  if (!user.empty()) {
    return FailedPreconditionError("volume '{}' is in use by running domain '{}'{}", vol, user,
                                   hint);
  }
  return path;
}

Result<storage::VolumeInfo> StorageDriver::CreateVolume(const std::string& pool,
                                                        const std::string& xml,
                                                        bool prealloc_metadata) {
  SKIFF_ASSIGN_OR_RETURN(conf::VolumeDef def, conf::ParseVolumeXml(xml, "volume.xml"));
  SKIFF_ASSIGN_OR_RETURN(auto held, AcquireActive(pool));
  auto& p = held.first;
  storage::CreateVolumeOptions o;
  o.prealloc_metadata = prealloc_metadata;
  if (def.backing && !def.backing->path.empty() &&
      def.backing->path.find('/') == std::string::npos) {
    // --backing-vol NAME: a volume of the same pool, as virsh resolves it.
    SKIFF_ASSIGN_OR_RETURN(def.backing->path,
                           storage::DirPool(p->def).VolumePath(def.backing->path));
  }
  if (def.backing && def.backing->format.empty()) {
    auto b = storage::DirPool(p->def).GetVolume(fs::path(def.backing->path).filename().string());
    if (b.ok()) def.backing->format = b->format == "iso" ? "raw" : b->format;
  }
  SKIFF_ASSIGN_OR_RETURN(auto v, storage::DirPool(p->def).CreateVolume(def, o));
  spdlog::info("volume '{}' created in pool '{}' ({} bytes, {})", v.name, pool, v.capacity,
               v.format);
  return v;
}

Result<storage::VolumeInfo> StorageDriver::CloneVolume(const std::string& src_pool,
                                                       const std::string& src_vol,
                                                       const std::string& dst_pool,
                                                       const std::string& xml) {
  SKIFF_ASSIGN_OR_RETURN(conf::VolumeDef def, conf::ParseVolumeXml(xml, "volume.xml"));
  SKIFF_ASSIGN_OR_RETURN(std::string src_path, IdleVolumePath(src_pool, src_vol, true));
  SKIFF_ASSIGN_OR_RETURN(auto held, AcquireActive(dst_pool));
  return storage::DirPool(held.first->def).CreateVolumeFrom(def, src_path);
}

Status StorageDriver::DeleteVolume(const std::string& pool, const std::string& vol) {
  SKIFF_TRY(IdleVolumePath(pool, vol, false).status());
  SKIFF_ASSIGN_OR_RETURN(auto held, AcquireActive(pool));
  return storage::DirPool(held.first->def).DeleteVolume(vol);
}

Status StorageDriver::WipeVolume(const std::string& pool, const std::string& vol) {
  SKIFF_TRY(IdleVolumePath(pool, vol, false).status());
  SKIFF_ASSIGN_OR_RETURN(auto held, AcquireActive(pool));
  return storage::DirPool(held.first->def).WipeVolume(vol);
}

Status StorageDriver::ResizeVolume(const std::string& pool, const std::string& vol,
                                   uint64_t capacity, bool shrink) {
  SKIFF_TRY(IdleVolumePath(pool, vol, false, " (resize it with blockresize)").status());
  SKIFF_ASSIGN_OR_RETURN(auto held, AcquireActive(pool));
  return storage::DirPool(held.first->def).ResizeVolume(vol, capacity, shrink);
}

Result<VolumeExtents> StorageDriver::VolumeDataExtents(const std::string& pool,
                                                       const std::string& vol, uint64_t offset,
                                                       uint64_t length) {
  SKIFF_ASSIGN_OR_RETURN(std::string path, ResolveVolume(pool, vol));
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoError(errno, fmt::format("open volume '{}'", path));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoError(errno, fmt::format("stat '{}'", path));
  VolumeExtents e;
  e.file_size = static_cast<uint64_t>(st.st_size);
  uint64_t end = length > e.file_size ? e.file_size : std::min(e.file_size, offset + length);
  for (uint64_t pos = offset; pos < end;) {
    off_t data = ::lseek(fd.get(), static_cast<off_t>(pos), SEEK_DATA);
    if (data < 0 && errno == ENXIO) break;  // only a hole is left
    if (data < 0) return ErrnoError(errno, fmt::format("seek '{}'", path));
    if (static_cast<uint64_t>(data) >= end) break;
    off_t hole = ::lseek(fd.get(), data, SEEK_HOLE);
    if (hole < 0) return ErrnoError(errno, fmt::format("seek '{}'", path));
    uint64_t stop = std::min<uint64_t>(static_cast<uint64_t>(hole), end);
    e.extents.emplace_back(static_cast<uint64_t>(data), stop - static_cast<uint64_t>(data));
    pos = stop;
  }
  return e;
}

Result<std::string> StorageDriver::ReadVolumeBytes(const std::string& pool, const std::string& vol,
                                                   uint64_t offset, uint64_t length) {
  SKIFF_ASSIGN_OR_RETURN(std::string path, ResolveVolume(pool, vol));
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoError(errno, fmt::format("open volume '{}'", path));
  std::string data(length, '\0');
  size_t got = 0;
  while (got < length) {
    ssize_t n =
        ::pread(fd.get(), data.data() + got, length - got, static_cast<off_t>(offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, fmt::format("read '{}'", path));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  data.resize(got);
  return data;
}

Status StorageDriver::WriteVolume(const std::string& pool, const std::string& vol, uint64_t offset,
                                  std::string_view data, uint64_t zero_length, bool truncate_first,
                                  std::optional<uint64_t> final_size) {
  SKIFF_ASSIGN_OR_RETURN(std::string path, IdleVolumePath(pool, vol, false));
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return ErrnoError(errno, fmt::format("open volume '{}'", path));
  if (truncate_first) {
    // The first chunk of an upload replaces the file's content.
    if (::ftruncate(fd.get(), 0) != 0) return ErrnoError(errno, fmt::format("truncate '{}'", path));
  }
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd.get(), data.data() + done, data.size() - done,
                         static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, fmt::format("write '{}'", path));
    done += static_cast<size_t>(n);
  }
  uint64_t end = offset + data.size() + zero_length;
  if (final_size) end = *final_size;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoError(errno, fmt::format("stat '{}'", path));
  // Zero ranges are left as holes: extend the file over them instead of writing.
  if (final_size || static_cast<uint64_t>(st.st_size) < end) {
    if (::ftruncate(fd.get(), static_cast<off_t>(end)) != 0) {
      return ErrnoError(errno, fmt::format("resize '{}'", path));
    }
  }
  if (final_size && ::fsync(fd.get()) != 0)
    return ErrnoError(errno, fmt::format("fsync '{}'", path));
  return Status::Ok();
}

}  // namespace skiff::daemon
