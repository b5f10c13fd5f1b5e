// Qcow2Image: reading and writing qcow2 v2/v3 images (L1/L2, refcounts of any
// width, zero and compressed clusters, extended L2 entries, backing files,
// lazy refcounts) with crash-consistent metadata ordering.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "image/compression.h"
#include "image/host_file.h"
#include "image/qcow2_bitmap.h"
#include "image/qcow2_header.h"
#include "image/qcow2_l2_cache.h"
#include "image/qcow2_refcount.h"
#include "image/qcow2_snapshot.h"
#include "skiff/image/image.h"
#include "skiff/image/ops.h"

namespace skiff::image {

inline constexpr uint64_t kOflagCopied = 1ull << 63;
inline constexpr uint64_t kOflagCompressed = 1ull << 62;
inline constexpr uint64_t kOflagZero = 1ull;
inline constexpr uint64_t kL1OffsetMask = 0x00fffffffffffe00ull;
inline constexpr uint64_t kL2OffsetMask = 0x00fffffffffffe00ull;

class Qcow2Image final : public Image {
 public:
  // Opens an image; `chain` holds the canonical paths of the images above it
  // (for backing loop detection).
  static Result<std::unique_ptr<Qcow2Image>> Open(const std::string& path, const OpenOptions& opts,
                                                  std::set<std::string> chain = {});
  // Writes a new, empty image (metadata preallocation and beyond included).
  static Status Create(const std::string& path, const CreateOptions& opts);

  ~Qcow2Image() override;

  std::string_view format() const override { return "qcow2"; }
  const std::string& path() const override { return file_.path(); }
  uint64_t size() const override { return header_.size; }
  uint64_t cluster_size() const override { return cluster_size_; }
  Status Read(uint64_t offset, std::span<uint8_t> buf) override;
  Status Write(uint64_t offset, std::span<const uint8_t> buf) override;
  Status WriteZeroes(uint64_t offset, uint64_t length, bool may_unmap) override;
  Status Discard(uint64_t offset, uint64_t length) override;
  Result<BlockStatus> GetBlockStatus(uint64_t offset, uint64_t length) override;
  Status Flush() override;
  Status Close() override;
  Image* backing() const override { return backing_.get(); }
  std::string backing_name() const override { return header_.backing_file; }
  std::string backing_format() const override { return header_.backing_format; }
  Result<uint64_t> AllocatedFileSize() const override { return file_.AllocatedBytes(); }
  bool writable() const override { return file_.writable(); }

  const Qcow2Header& header() const { return header_; }
  const std::vector<Qcow2Snapshot>& snapshots() const { return snapshots_; }
  CompressionType compression_type() const {
    return static_cast<CompressionType>(header_.compression_type);
  }

  // Stores one guest cluster (cluster-aligned `offset`, currently unallocated in
  // this image) as compressed bytes from CompressCluster.
  Status WriteCompressedCluster(uint64_t offset, std::span<const uint8_t> compressed);
  struct CompressedWrite {
    uint64_t offset;                // guest offset, cluster-aligned
    std::span<const uint8_t> data;  // from CompressCluster
  };
  // Stores several clusters as WriteCompressedCluster does (offsets strictly
  // increasing), packed back to back in the file with one write per
  // contiguous run.
  Status WriteCompressedClusters(std::span<const CompressedWrite> clusters);
  // Grows (or with `shrink`, shrinks) the virtual size.
  Status Resize(uint64_t new_size, bool shrink, Preallocation prealloc);
  // Rewrites the backing file name and format in the header (no data changes).
  Status SetBacking(const std::string& name, const std::string& format);
  // Allocates every cluster of [offset, offset+length) as data (for
  // preallocation=metadata|falloc|full).
  Status Preallocate(uint64_t offset, uint64_t length, Preallocation mode);

  // Makes every cluster unallocated (reads fall through to the backing file).
  Status MakeEmpty();

  // Snapshots (qcow2_snapshot.cc).
  Status CreateSnapshot(const std::string& name);
  Status ApplySnapshot(const std::string& name_or_id);
  Status DeleteSnapshot(const std::string& name_or_id);

  // Persistent dirty bitmaps (qcow2_bitmap.cc). Writable opens load every
  // consistent bitmap; enabled ones then record guest writes. Edits stay in
  // memory until StoreBitmaps() or Close() writes them, all at once.
  std::vector<Qcow2BitmapEntry> bitmaps() const;
  // A bitmap's content (kFailedPrecondition when it is inconsistent: in use
  // when the image was last closed).
  Result<DirtyBitmap> ReadBitmap(const std::string& name);
  // `granularity` 0 picks QEMU's default for the cluster size.
  Status AddBitmap(const std::string& name, uint64_t granularity, bool enabled);
  Status RemoveBitmap(const std::string& name);
  Status ClearBitmap(const std::string& name);
  Status SetBitmapEnabled(const std::string& name, bool enabled);
  // Adds `source`'s dirty ranges to bitmap `target` (both over the same size).
  Status MergeBitmap(const std::string& target, const DirtyBitmap& source);
  Status StoreBitmaps();
  // Forgets edits not stored yet (not possible once writes were tracked).
  Status DiscardBitmapChanges();

  // Consistency check and repair (qcow2_check.cc).
  Result<CheckReport> Check(RepairMode repair);

 private:
  struct Mapping {
    enum Kind { kUnallocated, kZero, kData, kCompressed } kind = kUnallocated;
    uint64_t length = 0;
    uint64_t host = 0;   // kData: host byte offset; kZero: preallocated host cluster or 0
    uint64_t entry = 0;  // kCompressed: the L2 entry
  };
  struct L2Slot {
    std::shared_ptr<L2Table> table;
    uint64_t index = 0;  // entry index within the table
  };

  Qcow2Image(HostFile file, Qcow2Header header);

  Status LoadMetadata(uint64_t file_size);
  Result<Mapping> MapLocked(uint64_t offset, uint64_t max_len);
  Status ReadImpl(uint64_t offset, std::span<uint8_t> buf, bool locked);
  Status ReadCompressedLocked(uint64_t entry, std::vector<uint8_t>& out);
  Status CheckWritable() const;
  Status MarkDirtyForLazy();
  Status CheckL2Offset(uint64_t l2_offset, uint64_t l1_index) const;
  // The L2 slot for guest cluster `gc`, allocating or copying the L2 table so
  // that it may be modified.
  Result<L2Slot> WritableL2Locked(uint64_t gc);
  Result<L2Slot> LookupL2Locked(uint64_t gc);
  Status WriteLocked(uint64_t offset, std::span<const uint8_t> buf);
  Status WriteExtendedLocked(uint64_t offset, std::span<const uint8_t> buf);
  Status ZeroClustersLocked(uint64_t first, uint64_t count, bool unmap);
  // Releases what an L2 entry held (deferred until the metadata is durable).
  Status ReleaseEntryLocked(uint64_t entry);
  void CompressedRange(uint64_t entry, uint64_t* host, uint64_t* len) const;
  Status FlushLocked();
  Status WriteL1Locked();
  Status WriteHeaderLocked();
  Status GrowL1Locked(uint64_t min_entries);
  Status UpdateRefcountsForL1Locked(const std::vector<uint64_t>& l1, int64_t delta);
  Status FixCopiedFlagsLocked();
  Status LoadSnapshotsLocked(uint64_t file_size);
  // Bitmaps (qcow2_bitmap.cc).
  struct LiveBitmap {
    Qcow2BitmapEntry entry;           // as the file's directory holds it (flags: as edited)
    std::optional<DirtyBitmap> bits;  // loaded: consistent, on a writable image
    bool changed = false;             // bits differ from the stored table
  };
  Status LoadBitmapsLocked(uint64_t file_size, bool load_data);
  Result<DirtyBitmap> LoadBitmapDataLocked(const Qcow2BitmapEntry& e);
  Result<Qcow2BitmapEntry> WriteBitmapDataLocked(const DirtyBitmap& bits, Qcow2BitmapEntry e);
  Status FreeBitmapTableLocked(const Qcow2BitmapEntry& e);
  Status WriteBitmapDirectoryLocked(const std::vector<Qcow2BitmapEntry>& dir);
  bool BitmapsNeedStoreLocked() const;
  Status StoreBitmapsLocked();
  Status MarkBitmapsInUseLocked(bool all);
  // Records a change of guest bytes [offset, offset+length) in enabled bitmaps.
  Status NoteGuestChangeLocked(uint64_t offset, uint64_t length);
  Status ResizeBitmapsLocked(uint64_t new_size);
  LiveBitmap* FindBitmapLocked(const std::string& name);
  Result<LiveBitmap*> UsableBitmapLocked(const std::string& name);
  Status WriteSnapshotTableLocked(std::vector<Qcow2Snapshot> snaps);
  // Check (qcow2_check.cc): CheckPassLocked runs the steps below it in order.
  struct CheckState;
  Status CheckPassLocked(CheckState& st);
  Status CheckL1TableLocked(CheckState& st, const std::vector<uint64_t>& l1, bool active);
  Status CheckL2TableLocked(CheckState& st, uint64_t l2_offset, bool active);
  Status CheckSnapshotsLocked(CheckState& st);
  void CheckRefcountTableLocked(CheckState& st);
  Status CheckBitmapsLocked(CheckState& st);
  void CompareRefcountsLocked(CheckState& st);
  Status CheckCopiedFlagsLocked(CheckState& st);
  Status RebuildRefcountsLocked(CheckReport* report);
  Result<uint64_t> AllocateBytesLocked(uint64_t len);

  // Waits (dropping mu_ meanwhile) until no unlocked in-place write is running.
  void WaitForInflightLocked();
  // Before data is written to newly allocated clusters ending at host offset
  // `end`: extends the file ahead of the writes (see kGrowStep in the .cc).
  void GrowForLocked(uint64_t end);
  // On close: gives back what GrowForLocked allocated and no cluster used.
  Status TrimGrowthLocked();

  mutable std::mutex mu_;
  // In-place data writes to clusters we own (COPIED), done without mu_.
  std::atomic<int> inflight_{0};
  HostFile file_;
  Qcow2Header header_;
  uint32_t cluster_bits_;
  uint64_t cluster_size_;
  uint64_t l2_entries_;
  bool extended_l2_;
  uint64_t subcluster_size_;
  std::vector<uint64_t> l1_;
  bool l1_dirty_ = false;
  std::unique_ptr<Qcow2Refcounts> refcounts_;
  std::unique_ptr<Qcow2L2Cache> l2_cache_;
  std::vector<Qcow2Snapshot> snapshots_;
  std::vector<LiveBitmap> bitmaps_;
  std::vector<Qcow2BitmapEntry> bitmaps_removed_;  // tables to free at the next store
  bool bitmaps_dirty_ = false;                     // the directory differs from the file's
  bool bitmaps_marked_ = false;                    // we marked enabled bitmaps in use in the file
  bool bitmaps_stale_ = false;                     // an extension without its autoclear bit
  std::unique_ptr<Image> backing_;
  bool lazy_ = false;       // lazy refcounts: refcounts written only on close
  bool dirty_set_ = false;  // we set the dirty bit in the file
  bool closed_ = false;
  uint64_t file_size_at_open_ = 0;
  // GrowForLocked: the file's size before it first grew it (0: it never did),
  // and the size it grew it to.
  uint64_t size_before_growth_ = 0;
  uint64_t grown_to_ = 0;
  bool grow_failed_ = false;
  // Compressed writes pack into the tail of this host cluster.
  uint64_t compressed_cursor_ = 0;
  // The most recently decompressed cluster.
  uint64_t decompressed_entry_ = 0;
  std::vector<uint8_t> decompressed_;
};

// convert --bitmaps: whether every bitmap of `src` can be copied (an
// inconsistent one cannot, unless `skip_broken`), and the copy itself, which
// adds each bitmap to `dst` (of the same size) and stores them.
Status CheckBitmapsCopyable(const Qcow2Image& src, bool skip_broken);
Status CopyBitmaps(Qcow2Image& src, Qcow2Image& dst, bool skip_broken);

}  // namespace skiff::image
