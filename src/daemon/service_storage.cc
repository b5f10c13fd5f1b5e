// Service: the machinery of storage pools and volumes (pool start/build/refresh,
// volume create/clone/wipe/resize/upload/download) on the storage module.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "daemon/pool_obj.h"
#include "skiff/base/fd.h"
#include "skiff/base/fs.h"
#include "skiff/daemon/service.h"
#include "skiff/storage/pool.h"

namespace skiff::daemon {

namespace fs = std::filesystem;

namespace {

fs::path ActiveMarker(const Paths& p, const std::string& pool) {
  return p.run_dir / "pools" / (pool + ".active");
}

}  // namespace

Result<std::shared_ptr<Service::PoolObj>> Service::FindPool(const std::string& ref) {
  std::lock_guard l(mu_);
  auto it = pools_.find(ref);
  if (it != pools_.end()) return it->second;
  if (auto u = Uuid::Parse(ref); u.ok()) {
    for (auto& [n, o] : pools_) {
      if (o->def.uuid == *u) return o;
    }
  }
  return NotFoundError("storage pool '{}' not found", ref);
}

Result<std::shared_ptr<Service::PoolObj>> Service::FindActivePool(const std::string& ref) {
  SKIFF_ASSIGN_OR_RETURN(auto p, FindPool(ref));
  if (!p->active) return FailedPreconditionError("storage pool '{}' is not active", p->def.name);
  return p;
}

Status Service::StartPool(const std::string& ref) {
  SKIFF_ASSIGN_OR_RETURN(auto p, FindPool(ref));
  std::lock_guard l(p->mu);
  if (p->active) return FailedPreconditionError("storage pool '{}' is already active", p->def.name);
  SKIFF_TRY(storage::DirPool(p->def).Start());
  SKIFF_TRY(env_.CreateDirs(ActiveMarker(paths_, "").parent_path()));
  SKIFF_TRY(WriteFileAtomic(env_, ActiveMarker(paths_, p->def.name), ""));
  p->active = true;
  events_.Publish({{"type", "lifecycle"},
                   {"kind", "pool"},
                   {"name", p->def.name},
                   {"event", "started"},
                   {"detail", "started"}});
  return Status::Ok();
}

Status Service::DestroyPool(const std::string& ref) {
  SKIFF_ASSIGN_OR_RETURN(auto p, FindPool(ref));
  std::lock_guard l(p->mu);
  if (!p->active) return FailedPreconditionError("storage pool '{}' is not active", p->def.name);
  if (p->def.type == "fs") {
    // Unmounting under a running guest would fail anyway (busy); say which guest.
    std::string prefix = p->def.target_path + "/";
    std::string user;
    {
      std::lock_guard ml(mu_);
      for (const auto& [path, use] : disks_in_use_) {
        if (path.rfind(prefix, 0) == 0) user = use.first;
      }
    }
    if (!user.empty()) {
      return FailedPreconditionError("storage pool '{}' is in use by running domain '{}'",
                                     p->def.name, user);
    }
  }
  SKIFF_TRY(storage::DirPool(p->def).Stop());
  SKIFF_TRY(RemoveFileDurably(env_, ActiveMarker(paths_, p->def.name)));
  p->active = false;
  events_.Publish({{"type", "lifecycle"},
                   {"kind", "pool"},
                   {"name", p->def.name},
                   {"event", "stopped"},
                   {"detail", "destroyed"}});
  return Status::Ok();
}

Status Service::BuildPool(const std::string& ref, storage::BuildMode mode) {
  SKIFF_ASSIGN_OR_RETURN(auto p, FindPool(ref));
  std::lock_guard l(p->mu);
  if (p->active && p->def.type == "fs") {
    return FailedPreconditionError("storage pool '{}' is active: destroy it before building it",
                                   p->def.name);
  }
  SKIFF_TRY(storage::DirPool(p->def).Build(mode));
  spdlog::info("storage pool '{}' built", p->def.name);
  return Status::Ok();
}

Status Service::DeletePool(const std::string& ref) {
  SKIFF_ASSIGN_OR_RETURN(auto p, FindPool(ref));
  std::lock_guard l(p->mu);
  if (p->active) {
    return FailedPreconditionError("storage pool '{}' is active: destroy it first", p->def.name);
  }
  return storage::DirPool(p->def).Delete();
}

Result<PoolDetails> Service::PoolInfo(const std::string& ref) {
  SKIFF_ASSIGN_OR_RETURN(auto p, FindPool(ref));
  SKIFF_ASSIGN_OR_RETURN(PoolSummary s, GetPool(ref));
  PoolDetails d;
  d.summary = s;
  if (p->active) {
    std::lock_guard l(p->mu);
    SKIFF_ASSIGN_OR_RETURN(d.stats, storage::DirPool(p->def).Stats());
  }
  return d;
}

Result<std::vector<storage::VolumeInfo>> Service::ListVolumes(const std::string& pool) {
  SKIFF_ASSIGN_OR_RETURN(auto p, FindActivePool(pool));
  std::lock_guard l(p->mu);
  return storage::DirPool(p->def).ListVolumes();
}

Result<storage::VolumeInfo> Service::GetVolume(const std::string& pool, const std::string& vol) {
  SKIFF_ASSIGN_OR_RETURN(auto p, FindActivePool(pool));
  std::lock_guard l(p->mu);
  return storage::DirPool(p->def).GetVolume(vol);
}

Result<std::string> Service::VolumeXml(const std::string& pool, const std::string& vol) {
  SKIFF_ASSIGN_OR_RETURN(auto p, FindActivePool(pool));
  std::lock_guard l(p->mu);
  return storage::DirPool(p->def).VolumeXml(vol);
}

Result<std::pair<std::string, storage::VolumeInfo>> Service::FindVolumeByPath(
    const std::string& path) {
  std::error_code ec;
  fs::path want = fs::weakly_canonical(path, ec);
  std::vector<std::shared_ptr<PoolObj>> pools;
  {
    std::lock_guard l(mu_);
    for (auto& [n, o] : pools_) pools.push_back(o);
  }
  for (auto& p : pools) {
    if (!p->active) continue;
    fs::path dir = fs::weakly_canonical(p->def.target_path, ec);
    if (want.parent_path() != dir) continue;
    std::lock_guard l(p->mu);
    auto v = storage::DirPool(p->def).GetVolume(want.filename().string());
    if (v.ok()) return std::make_pair(p->def.name, *v);
  }
  return NotFoundError("no storage volume with path or key '{}'", path);
}

Result<std::string> Service::ResolveVolume(const std::string& pool, const std::string& vol) {
  SKIFF_ASSIGN_OR_RETURN(auto p, FindPool(pool));
  if (!p->active) {
    return FailedPreconditionError("storage pool '{}' of volume '{}' is not active", pool, vol);
  }
  std::lock_guard l(p->mu);
  return storage::DirPool(p->def).VolumePath(vol);
}

Result<storage::VolumeInfo> Service::CreateVolume(const std::string& pool, const std::string& xml,
                                                  bool prealloc_metadata) {
  SKIFF_ASSIGN_OR_RETURN(conf::VolumeDef def, conf::ParseVolumeXml(xml, "volume.xml"));
  SKIFF_ASSIGN_OR_RETURN(auto p, FindActivePool(pool));
  std::lock_guard l(p->mu);
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

Result<storage::VolumeInfo> Service::CloneVolume(const std::string& src_pool,
                                                 const std::string& src_vol,
                                                 const std::string& dst_pool,
                                                 const std::string& xml) {
  SKIFF_ASSIGN_OR_RETURN(conf::VolumeDef def, conf::ParseVolumeXml(xml, "volume.xml"));
  SKIFF_ASSIGN_OR_RETURN(std::string src_path, ResolveVolume(src_pool, src_vol));
  if (auto user = RunningDomainWriting(src_path); !user.empty()) {
    return FailedPreconditionError("volume '{}' is in use by running domain '{}'", src_vol, user);
  }
  SKIFF_ASSIGN_OR_RETURN(auto p, FindActivePool(dst_pool));
  std::lock_guard l(p->mu);
  return storage::DirPool(p->def).CreateVolumeFrom(def, src_path);
}

Status Service::DeleteVolume(const std::string& pool, const std::string& vol) {
  SKIFF_ASSIGN_OR_RETURN(std::string path, ResolveVolume(pool, vol));
  if (auto user = RunningDomainUsing(path); !user.empty()) {
    return FailedPreconditionError("volume '{}' is in use by running domain '{}'", vol, user);
  }
  SKIFF_ASSIGN_OR_RETURN(auto p, FindActivePool(pool));
  std::lock_guard l(p->mu);
  return storage::DirPool(p->def).DeleteVolume(vol);
}

Status Service::WipeVolume(const std::string& pool, const std::string& vol) {
  SKIFF_ASSIGN_OR_RETURN(std::string path, ResolveVolume(pool, vol));
  if (auto user = RunningDomainUsing(path); !user.empty()) {
    return FailedPreconditionError("volume '{}' is in use by running domain '{}'", vol, user);
  }
  SKIFF_ASSIGN_OR_RETURN(auto p, FindActivePool(pool));
  std::lock_guard l(p->mu);
  return storage::DirPool(p->def).WipeVolume(vol);
}

Status Service::ResizeVolume(const std::string& pool, const std::string& vol, uint64_t capacity,
                             bool shrink) {
  SKIFF_ASSIGN_OR_RETURN(std::string path, ResolveVolume(pool, vol));
  if (auto user = RunningDomainUsing(path); !user.empty()) {
    return FailedPreconditionError(
        "volume '{}' is in use by running domain '{}' (resize it with blockresize)", vol, user);
  }
  SKIFF_ASSIGN_OR_RETURN(auto p, FindActivePool(pool));
  std::lock_guard l(p->mu);
  return storage::DirPool(p->def).ResizeVolume(vol, capacity, shrink);
}

Result<VolumeExtents> Service::VolumeDataExtents(const std::string& pool, const std::string& vol,
                                                 uint64_t offset, uint64_t length) {
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

Result<std::string> Service::ReadVolumeBytes(const std::string& pool, const std::string& vol,
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

Status Service::WriteVolume(const std::string& pool, const std::string& vol, uint64_t offset,
                            std::string_view data, uint64_t zero_length, bool truncate_first,
                            std::optional<uint64_t> final_size) {
  SKIFF_ASSIGN_OR_RETURN(std::string path, ResolveVolume(pool, vol));
  if (auto user = RunningDomainUsing(path); !user.empty()) {
    return FailedPreconditionError("volume '{}' is in use by running domain '{}'", vol, user);
  }
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

void Service::LoadPoolState() {
  std::vector<std::shared_ptr<PoolObj>> pools;
  {
    std::lock_guard l(mu_);
    for (auto& [n, o] : pools_) pools.push_back(o);
  }
  for (auto& p : pools) {
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
      Status st = StartPool(p->def.name);
      if (!st.ok()) spdlog::error("autostart of pool '{}' failed: {}", p->def.name, st.ToString());
    }
  }
}

Status Service::EnsureDefaultPool() {
  // Like libvirt, the default pool is made once; an administrator who undefines it
  // is not overruled at the next start.
  fs::path marker = paths_.lib_dir / ".default-pool-defined";
  if (env_.FileExists(marker)) return Status::Ok();
  {
    std::lock_guard l(mu_);
    if (pools_.count("default")) return WriteFileAtomic(env_, marker, "");
  }
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

std::vector<std::pair<std::string, bool>> Service::DiskPaths(const conf::DomainDef& def) {
  std::vector<std::pair<std::string, bool>> out;
  for (const auto& d : def.devices.disks) {
    std::string path = d.source_path;
    if (d.type == conf::DiskType::kVolume)
      path = ResolveVolume(d.source_pool, d.source_volume).value_or("");
    if (!path.empty()) out.emplace_back(path, !d.readonly && !d.shareable);
  }
  return out;
}

void Service::TrackDisks(const std::string& domain, const conf::DomainDef* running_def) {
  std::vector<std::pair<std::string, bool>> paths;
  if (running_def) paths = DiskPaths(*running_def);
  std::lock_guard l(mu_);
  for (auto it = disks_in_use_.begin(); it != disks_in_use_.end();) {
    it = it->second.first == domain ? disks_in_use_.erase(it) : std::next(it);
  }
  for (auto& [path, writes] : paths) disks_in_use_.insert({path, {domain, writes}});
}

std::string Service::RunningDomainUsing(const std::string& path) {
  std::lock_guard l(mu_);
  auto it = disks_in_use_.find(path);
  return it == disks_in_use_.end() ? "" : it->second.first;
}

std::string Service::RunningDomainWriting(const std::string& path) {
  std::lock_guard l(mu_);
  auto [b, e] = disks_in_use_.equal_range(path);
  for (auto it = b; it != e; ++it) {
    if (it->second.second) return it->second.first;
  }
  return "";
}

}  // namespace skiff::daemon
