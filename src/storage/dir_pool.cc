// Directory pools: volumes are image files in one directory, managed through the image engine.
#include "skiff/storage/pool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "skiff/base/fd.h"
#include "skiff/base/size.h"
#include "skiff/image/image.h"
#include "skiff/image/ops.h"
#include "storage/fs_pool.h"

namespace skiff::storage {
namespace fs = std::filesystem;

namespace {

// ISO 9660 images carry "CD001" at byte 0x8001 (the primary volume descriptor).
bool LooksLikeIso(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  char magic[5];
  return ::pread(fd.get(), magic, sizeof magic, 0x8001) == 5 && std::memcmp(magic, "CD001", 5) == 0;
}

Status ApplyPermissions(const std::string& path, const conf::Permissions& perms, mode_t def_mode) {
  mode_t mode = def_mode;
  if (!perms.mode.empty()) mode = static_cast<mode_t>(std::stoul(perms.mode, nullptr, 8));
  if (::chmod(path.c_str(), mode) != 0) return ErrnoError(errno, fmt::format("chmod '{}'", path));
  uid_t uid =
      perms.owner && *perms.owner >= 0 ? static_cast<uid_t>(*perms.owner) : static_cast<uid_t>(-1);
  gid_t gid =
      perms.group && *perms.group >= 0 ? static_cast<gid_t>(*perms.group) : static_cast<gid_t>(-1);
  if ((uid != static_cast<uid_t>(-1) || gid != static_cast<gid_t>(-1)) &&
      ::chown(path.c_str(), uid, gid) != 0) {
    return ErrnoError(errno, fmt::format("chown '{}'", path));
  }
  return Status::Ok();
}

Result<VolumeInfo> Describe(const std::string& name, const std::string& path) {
  VolumeInfo v;
  v.name = name;
  v.path = path;
  image::OpenOptions oo;
  oo.open_backing = false;
  auto img = image::OpenImage(path, oo);
  if (!img.ok()) {
    // A foreign image (vmdk, vdi, ...) is listed under its own format, with its
    // file size for capacity, as Skiff cannot read its virtual size.
    auto fmt = image::ProbeAnyFormat(path);
    if (!fmt.ok() || *fmt == "raw" || *fmt == "qcow2") return img.status();
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return ErrnoError(errno, fmt::format("stat '{}'", path));
    v.format = *fmt;
    v.capacity = static_cast<uint64_t>(st.st_size);
    v.allocation = static_cast<uint64_t>(st.st_blocks) * 512;
    return v;
  }
  v.format = std::string((*img)->format());
  if (v.format == "raw" && LooksLikeIso(path)) v.format = "iso";
  v.capacity = (*img)->size();
  SKIFF_ASSIGN_OR_RETURN(v.allocation, (*img)->AllocatedFileSize());
  if (!(*img)->backing_name().empty()) {
    v.backing_path = image::ResolveBackingPath(path, (*img)->backing_name());
    v.backing_format = (*img)->backing_format();
  }
  return v;
}

}  // namespace

Status ValidateVolumeName(std::string_view name) {
  if (name.empty()) return InvalidArgumentError("volume name is empty");
  if (name == "." || name == "..") return InvalidArgumentError("invalid volume name '{}'", name);
  if (name.size() > 255)
    return InvalidArgumentError("volume name '{}...' is longer than 255 bytes", name.substr(0, 32));
  if (name.find('/') != std::string_view::npos || name.find('\0') != std::string_view::npos) {
    return InvalidArgumentError("invalid volume name '{}': it must not contain '/'", name);
  }
  return Status::Ok();
}

std::string DirPool::PathOf(std::string_view name) const {
  return (fs::path(def_.target_path) / std::string(name)).string();
}

Status DirPool::Build(BuildMode mode) const {
  bool format = false;
  if (def_.type == "fs") {
    SKIFF_ASSIGN_OR_RETURN(format, internal::FsNeedsFormat(def_, mode));
  }
  std::error_code ec;
  fs::create_directories(def_.target_path, ec);
  if (ec) return IoError("pool '{}': create '{}': {}", def_.name, def_.target_path, ec.message());
  SKIFF_TRY(ApplyPermissions(def_.target_path, def_.permissions, 0755)
                .WithContext(fmt::format("pool '{}'", def_.name)));
  if (format) SKIFF_TRY(internal::MakeFilesystem(def_));
  return Status::Ok();
}

Status DirPool::Delete() const {
  if (::rmdir(def_.target_path.c_str()) != 0) {
    if (errno == ENOTEMPTY || errno == EEXIST) {
      return FailedPreconditionError("pool '{}': directory '{}' is not empty", def_.name,
                                     def_.target_path);
    }
    return ErrnoError(errno, fmt::format("pool '{}': remove '{}'", def_.name, def_.target_path));
  }
  return Status::Ok();
}

Status DirPool::CheckTarget() const {
  struct stat st {};
  if (::stat(def_.target_path.c_str(), &st) != 0) {
    return ErrnoError(errno, fmt::format("pool '{}': target '{}'", def_.name, def_.target_path))
        .WithContext("cannot start pool (run pool-build first?)");
  }
  if (!S_ISDIR(st.st_mode)) {
    return FailedPreconditionError("pool '{}': target '{}' is not a directory", def_.name,
                                   def_.target_path);
  }
  return Status::Ok();
}

Result<PoolStats> DirPool::Stats() const {
  struct statvfs sv {};
  if (::statvfs(def_.target_path.c_str(), &sv) != 0) {
    return ErrnoError(errno, fmt::format("pool '{}': statvfs '{}'", def_.name, def_.target_path));
  }
  PoolStats s;
  s.capacity = static_cast<uint64_t>(sv.f_blocks) * sv.f_frsize;
  s.available = static_cast<uint64_t>(sv.f_bavail) * sv.f_frsize;
  s.allocation = s.capacity - static_cast<uint64_t>(sv.f_bfree) * sv.f_frsize;
  return s;
}

Result<std::vector<VolumeInfo>> DirPool::ListVolumes() const {
  std::vector<VolumeInfo> out;
  std::error_code ec;
  fs::directory_iterator it(def_.target_path, ec);
  if (ec) return IoError("pool '{}': list '{}': {}", def_.name, def_.target_path, ec.message());
  for (const auto& e : it) {
    std::error_code fec;
    if (!e.is_regular_file(fec)) continue;
    std::string name = e.path().filename().string();
    // Temp files of an atomic write or an unfinished upload are not volumes.
    if (name.find(".tmp.") != std::string::npos) continue;
    auto v = Describe(name, e.path().string());
    if (v.ok()) {
      out.push_back(std::move(*v));
    } else {
      VolumeInfo raw;
      raw.name = name;
      raw.path = e.path().string();
      raw.format = "raw";
      raw.capacity = e.file_size(fec);
      out.push_back(raw);
    }
  }
  std::sort(out.begin(), out.end(),
            [](const VolumeInfo& a, const VolumeInfo& b) { return a.name < b.name; });
  return out;
}

Result<std::string> DirPool::VolumePath(std::string_view name) const {
  SKIFF_TRY(ValidateVolumeName(name));
  std::string p = PathOf(name);
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return NotFoundError("storage volume '{}' not found in pool '{}'", name, def_.name);
  }
  return p;
}

Result<std::string> DirPool::NewVolumePath(std::string_view name) const {
  SKIFF_TRY(ValidateVolumeName(name));
  std::string p = PathOf(name);
  struct stat st {};
  if (::lstat(p.c_str(), &st) == 0) {
    return AlreadyExistsError("storage volume '{}' already exists in pool '{}'", name, def_.name);
  }
  return p;
}

Result<VolumeInfo> DirPool::GetVolume(std::string_view name) const {
  SKIFF_ASSIGN_OR_RETURN(std::string p, VolumePath(name));
  return Describe(std::string(name), p);
}

Result<std::string> DirPool::VolumeXml(std::string_view name) const {
  SKIFF_ASSIGN_OR_RETURN(VolumeInfo v, GetVolume(name));
  conf::VolumeDef d;
  d.name = v.name;
  d.key = v.path;
  d.capacity = v.capacity;
  d.allocation = v.allocation;
  d.target_path = v.path;
  d.format = v.format;
  if (!v.backing_path.empty())
    d.backing = conf::VolumeBacking{v.backing_path, v.backing_format, {}};
  return conf::FormatVolumeXml(d);
}

Result<VolumeInfo> DirPool::CreateVolume(const conf::VolumeDef& def, const CreateVolumeOptions& o) {
  SKIFF_TRY(ValidateVolumeName(def.name));
  std::string p = PathOf(def.name);
  if (::access(p.c_str(), F_OK) == 0) {
    return AlreadyExistsError("storage volume '{}' already exists in pool '{}'", def.name,
                              def_.name);
  }
  image::CreateOptions co;
  co.format = def.format.empty() || def.format == "iso" ? "raw" : def.format;
  if (co.format != "raw" && co.format != "qcow2") {
    return UnsupportedError("volume '{}': format '{}' is not supported (raw, qcow2, iso)", def.name,
                            def.format);
  }
  co.size = def.capacity;
  co.size_given = def.capacity > 0 || !def.backing;
  if (def.backing) {
    if (co.format != "qcow2") {
      return InvalidArgumentError("volume '{}': a backing volume needs format qcow2", def.name);
    }
    co.backing_file = def.backing->path;
    co.backing_format = def.backing->format;
  }
  if (def.compat == "0.10") co.version = 2;
  if (def.cluster_size) co.cluster_size = static_cast<uint32_t>(*def.cluster_size);
  co.lazy_refcounts = def.lazy_refcounts;
  bool thick = def.allocation && def.capacity > 0 && *def.allocation >= def.capacity;
  if (thick) {
    co.preallocation = image::Preallocation::kFalloc;
  } else if (o.prealloc_metadata && co.format == "qcow2") {
    co.preallocation = image::Preallocation::kMetadata;
  }
  Status st = image::CreateImage(p, co);
  if (!st.ok()) {
    ::unlink(p.c_str());
    return st.WithContext(fmt::format("volume '{}'", def.name));
  }
  // A raw volume with a partial allocation gets that many bytes reserved up front, as libvirt does.
  if (co.format == "raw" && !thick && def.allocation && *def.allocation > 0) {
    UniqueFd fd(::open(p.c_str(), O_RDWR | O_CLOEXEC));
    if (!fd || ::fallocate(fd.get(), 0, 0, static_cast<off_t>(*def.allocation)) != 0) {
      Status e = ErrnoError(errno, fmt::format("allocate {} bytes in '{}'", *def.allocation, p));
      ::unlink(p.c_str());
      return e;
    }
  }
  if (Status ps = ApplyPermissions(p, def.permissions, 0600); !ps.ok()) {
    ::unlink(p.c_str());
    return ps;
  }
  return Describe(def.name, p);
}

Result<VolumeInfo> DirPool::CreateVolumeFrom(const conf::VolumeDef& def,
                                             const std::string& source_path,
                                             const std::function<void(double)>& progress) {
  SKIFF_TRY(ValidateVolumeName(def.name));
  std::string p = PathOf(def.name);
  if (::access(p.c_str(), F_OK) == 0) {
    return AlreadyExistsError("storage volume '{}' already exists in pool '{}'", def.name,
                              def_.name);
  }
  SKIFF_ASSIGN_OR_RETURN(std::string src_fmt, image::ProbeFormat(source_path));
  image::ConvertOptions co;
  co.source_format = src_fmt;
  co.target.format = def.format.empty() || def.format == "iso" ? src_fmt : def.format;
  co.progress = progress;
  Status st = image::ConvertImage(source_path, p, co);
  if (!st.ok()) {
    ::unlink(p.c_str());
    return st.WithContext(fmt::format("volume '{}'", def.name));
  }
  SKIFF_ASSIGN_OR_RETURN(VolumeInfo v, Describe(def.name, p));
  if (def.capacity > v.capacity) {
    SKIFF_TRY(ResizeVolume(def.name, def.capacity, false));
    return Describe(def.name, p);
  }
  return v;
}

Status DirPool::DeleteVolume(std::string_view name) {
  SKIFF_ASSIGN_OR_RETURN(std::string p, VolumePath(name));
  if (::unlink(p.c_str()) != 0) return ErrnoError(errno, fmt::format("delete volume '{}'", p));
  return Status::Ok();
}

Status DirPool::WipeVolume(std::string_view name) {
  SKIFF_ASSIGN_OR_RETURN(VolumeInfo v, GetVolume(name));
  image::OpenOptions oo;
  oo.writable = true;
  oo.open_backing = false;
  oo.format = v.format == "iso" ? "raw" : v.format;
  SKIFF_ASSIGN_OR_RETURN(auto img, image::OpenImage(v.path, oo));
  // A thick volume stays thick: zeroes are written, not holes punched.
  bool thick = v.allocation >= v.capacity && v.capacity > 0;
  SKIFF_TRY(img->WriteZeroes(0, v.capacity, !thick).WithContext(fmt::format("wipe '{}'", v.path)));
  return img->Close();
}

Status DirPool::ResizeVolume(std::string_view name, uint64_t capacity, bool shrink) {
  SKIFF_ASSIGN_OR_RETURN(VolumeInfo v, GetVolume(name));
  if (capacity < v.capacity && !shrink) {
    return InvalidArgumentError(
        "volume '{}': new capacity {} is smaller than the current {} (use --shrink)", name,
        capacity, v.capacity);
  }
  return image::ResizeImage(v.path, v.format == "iso" ? "raw" : v.format, std::to_string(capacity),
                            shrink, image::Preallocation::kOff);
}

}  // namespace skiff::storage
