// StorageDriver: the daemon's storage pools and their volumes. Owns the pool
// registry (definitions in ROOT/etc/skiff/pools, active markers in
// ROOT/run/skiff/pools), makes the `default` pool once, and runs the volume
// machinery of the storage module (create, clone, wipe, resize, upload,
// download). It refuses to touch a file a running domain holds (DiskUsage).
//
// Threads: any thread may call any method. Each pool has its own lock, which
// serialises the machinery on it; the registry's lock is a leaf.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "daemon/disk_usage.h"
#include "skiff/base/env.h"
#include "skiff/base/status.h"
#include "skiff/conf/pool.h"
#include "skiff/daemon/events.h"
#include "skiff/daemon/object_registry.h"
#include "skiff/daemon/service.h"
#include "skiff/storage/pool.h"

namespace skiff::daemon {

class StorageDriver {
 public:
  // Definitions, autostart links and active markers go through `env`; `env`,
  // `events` and `disks` must outlive the driver.
  StorageDriver(Paths paths, EventBus& events, DiskUsage& disks, Env& env);

  // Reads the definitions (a file that does not parse is logged and kept).
  void LoadDefinitions();
  // Marks the pools that were active (mounting an fs pool again if needed),
  // starts autostart ones, and defines the default pool on the first start.
  void Activate();

  // --- pools. `ref` is a name or a UUID. ---
  std::vector<PoolSummary> ListPools();
  Result<PoolSummary> DefinePool(const std::string& xml, const std::string& source);
  Result<PoolSummary> GetPool(const std::string& ref);
  Result<std::string> PoolXml(const std::string& ref);
  Status UndefinePool(const std::string& ref);
  Status SetPoolAutostart(const std::string& ref, bool enabled);
  Status StartPool(const std::string& ref);
  Status DestroyPool(const std::string& ref);
  // dir: mkdir the target; fs: also mkfs on the device as `mode` allows.
  Status BuildPool(const std::string& ref, storage::BuildMode mode = storage::BuildMode::kDefault);
  Status DeletePool(const std::string& ref);  // removes the (empty) target directory
  Result<PoolDetails> PoolInfo(const std::string& ref);
  size_t size() const { return pools_.size(); }

  // --- volumes of active pools ---
  Result<std::vector<storage::VolumeInfo>> ListVolumes(const std::string& pool);
  Result<storage::VolumeInfo> GetVolume(const std::string& pool, const std::string& vol);
  Result<std::string> VolumeXml(const std::string& pool, const std::string& vol);
  // The pool and volume whose file is `path` (vol-name, vol-info by key or path).
  Result<std::pair<std::string, storage::VolumeInfo>> FindVolumeByPath(const std::string& path);
  // The file behind pool/vol; the pool must be active. Used for disks of type volume.
  Result<std::string> ResolveVolume(const std::string& pool, const std::string& vol);
  // The file a new volume pool/vol would be; kAlreadyExists when it is there.
  Result<std::string> NewVolumePath(const std::string& pool, const std::string& vol);
  Result<storage::VolumeInfo> CreateVolume(const std::string& pool, const std::string& xml,
                                           bool prealloc_metadata);
  // vol-clone / vol-create-from: a copy of src_pool/src_vol in dst_pool named by `xml`.
  Result<storage::VolumeInfo> CloneVolume(const std::string& src_pool, const std::string& src_vol,
                                          const std::string& dst_pool, const std::string& xml);
  // Delete, wipe and resize refuse a volume that a running domain uses.
  Status DeleteVolume(const std::string& pool, const std::string& vol);
  Status WipeVolume(const std::string& pool, const std::string& vol);
  Status ResizeVolume(const std::string& pool, const std::string& vol, uint64_t capacity,
                      bool shrink);
  // vol-download / vol-upload, one piece at a time: the data extents of the file,
  // its raw bytes, and writes. The first upload piece (`truncate_first`) empties
  // the file; `final_size` ends the upload.
  Result<VolumeExtents> VolumeDataExtents(const std::string& pool, const std::string& vol,
                                          uint64_t offset, uint64_t length);
  Result<std::string> ReadVolumeBytes(const std::string& pool, const std::string& vol,
                                      uint64_t offset, uint64_t length);
  Status WriteVolume(const std::string& pool, const std::string& vol, uint64_t offset,
                     std::string_view data, uint64_t zero_length, bool truncate_first,
                     std::optional<uint64_t> final_size);

  struct Pool {
    std::mutex mu;
    bool removed = false;  // dropped from the registry
    conf::PoolDef def;
    bool autostart = false;
    bool active = false;  // started; kept across daemon restarts in ROOT/run/skiff/pools
  };

 private:
  using Held = ObjectRegistry<Pool>::Held;
  Result<Held> AcquireActive(const std::string& ref);
  // The path of pool/vol, refused when a running domain uses (or, `writers_only`,
  // writes) it; `what` ends the error ("" or a hint).
  Result<std::string> IdleVolumePath(const std::string& pool, const std::string& vol,
                                     bool writers_only, std::string_view hint = "");
  Status EnsureDefaultPool();
  void Emit(const std::string& name, const char* event, const char* detail);

  Paths paths_;
  Env& env_;
  EventBus& events_;
  DiskUsage& disks_;
  ObjectRegistry<Pool> pools_{"storage pool"};
};

}  // namespace skiff::daemon
