// Storage pools of type dir and fs and their volumes, on top of the image engine.
// A pool is a directory; a volume is an image file in it (raw, qcow2 or iso). An fs
// pool's directory is the mount point of a block device or image file that the pool
// formats (pool-build) and mounts (pool-start).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "skiff/base/status.h"
#include "skiff/conf/pool.h"
#include "skiff/conf/volume.h"

namespace skiff::storage {

// What vol-info / vol-list --details show.
struct VolumeInfo {
  std::string name;
  std::string path;
  std::string type = "file";
  std::string format;       // raw, qcow2, iso
  uint64_t capacity = 0;    // guest-visible bytes
  uint64_t allocation = 0;  // bytes the file occupies on the host (du)
  std::string backing_path;
  std::string backing_format;
};

// What pool-info shows.
struct PoolStats {
  uint64_t capacity = 0;    // file system size
  uint64_t allocation = 0;  // used (capacity - available)
  uint64_t available = 0;   // free to unprivileged users
};

// Options of vol-create-as beyond the XML: `--prealloc-metadata`.
struct CreateVolumeOptions {
  bool prealloc_metadata = false;
};

// How pool-build treats an existing filesystem on an fs pool's device.
enum class BuildMode {
  kDefault,      // format a blank device; keep a filesystem of the pool's format
  kOverwrite,    // --overwrite: always format (the device's data is lost)
  kNoOverwrite,  // --no-overwrite: refuse when the device has any filesystem
};

// The filesystem type on a device or image file, as blkid probes it ("ext4",
// "xfs", ...); "" when it carries none.
Result<std::string> ProbeFilesystem(const std::string& device);

// Checks a volume name: not empty, no '/', not "." or "..", no NUL, at most 255
// bytes. Returns kInvalidArgument naming the name.
Status ValidateVolumeName(std::string_view name);

// A directory or fs pool. Not thread-safe: the daemon holds the pool's lock around calls.
class DirPool {
 public:
  explicit DirPool(conf::PoolDef def) : def_(std::move(def)) {}

  const conf::PoolDef& def() const { return def_; }
  const std::string& path() const { return def_.target_path; }

  // pool-build: creates the target directory (and parents) with the
  // definition's mode (default 0755), owner and group. An fs pool also formats its
  // device (mkfs.<format>) as `mode` allows; a mounted pool is refused.
  Status Build(BuildMode mode = BuildMode::kDefault) const;
  // pool-start: the target must exist and be a directory; an fs pool's device is
  // mounted there (nodev,nosuid; image files through a loop device). Starting an fs
  // pool that is already mounted at its target is a no-op.
  Status Start() const;
  // pool-destroy: an fs pool's target is unmounted (kFailedPrecondition when busy).
  Status Stop() const;
  // An fs pool: is its target a mount point now (/proc/self/mountinfo)?
  bool IsMounted() const;
  // pool-delete: removes the target directory; kFailedPrecondition when it is not empty.
  Status Delete() const;
  // pool-start: the target must exist and be a directory.
  Status CheckTarget() const;
  // pool-info: statvfs of the target.
  Result<PoolStats> Stats() const;

  // pool-refresh / vol-list: every regular file in the target, probed.
  // Files that cannot be probed are listed as raw.
  Result<std::vector<VolumeInfo>> ListVolumes() const;
  Result<VolumeInfo> GetVolume(std::string_view name) const;
  // vol-dumpxml: the volume as libvirt's <volume> XML, from the file itself.
  Result<std::string> VolumeXml(std::string_view name) const;

  // vol-create / vol-create-as. The allocation, when given, selects thick
  // provisioning: allocation >= capacity gives preallocation=full (falloc for
  // qcow2 metadata + data), otherwise thin. kAlreadyExists when the name is taken.
  Result<VolumeInfo> CreateVolume(const conf::VolumeDef& def, const CreateVolumeOptions& opts = {});
  // vol-create-from / vol-clone: a new volume whose content equals `source_path`
  // (any format), written sparse, in def.format (default: the source's format).
  Result<VolumeInfo> CreateVolumeFrom(const conf::VolumeDef& def, const std::string& source_path,
                                      const std::function<void(double)>& progress = {});
  // vol-delete: removes the file.
  Status DeleteVolume(std::string_view name);
  // vol-wipe: afterwards the guest reads zeroes everywhere; the format, size
  // and allocation mode of the volume are kept.
  Status WipeVolume(std::string_view name);
  // vol-resize: grows (or with `shrink`, shrinks) to `capacity` bytes. Shrinking a
  // qcow2 with data beyond the new end is refused by the engine.
  Status ResizeVolume(std::string_view name, uint64_t capacity, bool shrink);
  // The file of a volume, for vol-path, vol-upload and vol-download.
  Result<std::string> VolumePath(std::string_view name) const;
  // Where a new volume `name` would be (a restore writes it there); kAlreadyExists
  // when there is one.
  Result<std::string> NewVolumePath(std::string_view name) const;

 private:
  std::string PathOf(std::string_view name) const;
  conf::PoolDef def_;
};

}  // namespace skiff::storage
