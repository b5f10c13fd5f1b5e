// Qcow2Refcounts: the two-level refcount structure (table -> blocks) of a qcow2
// image: lookups, updates of any refcount width (1..64 bits), cluster
// allocation, and growth of the table and blocks as the file grows.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "image/host_file.h"
#include "skiff/base/status.h"

namespace skiff::image {

// Reads and writes the refcount entry `index` of a refcount block with entries
// of 2^order bits (sub-byte entries are packed from the least significant bit).
uint64_t GetRefcountEntry(const uint8_t* block, uint32_t order, uint64_t index);
void SetRefcountEntry(uint8_t* block, uint32_t order, uint64_t index, uint64_t value);

class Qcow2Refcounts {
 public:
  // Called when the table moved: must make the header point at it durably.
  using TableMovedFn = std::function<Status(uint64_t offset, uint32_t clusters)>;

  Qcow2Refcounts(const HostFile* file, uint32_t cluster_bits, uint32_t refcount_order);

  // Loads the table. Entries are checked lazily (when their block is loaded).
  Status Load(uint64_t table_offset, uint32_t table_clusters, uint64_t file_size);
  // Starts from an in-memory, empty structure (used when building a new image
  // or rebuilding): `table_offset` is where it will be written.
  void InitEmpty(uint64_t table_offset, uint32_t table_clusters, uint64_t end_cluster);
  void set_table_moved(TableMovedFn fn) { table_moved_ = std::move(fn); }

  uint64_t max_refcount() const { return max_; }
  uint64_t table_offset() const { return table_offset_; }
  uint32_t table_clusters() const { return table_clusters_; }
  // One past the highest host cluster we know to be in use or allocated.
  uint64_t end_cluster() const { return end_cluster_; }
  void NoteEnd(uint64_t end_cluster);

  // Refcount of host cluster `c`; 0 when no block covers it.
  Result<uint64_t> Get(uint64_t c);
  // Adds `delta` to the refcounts of `count` clusters from `c`. Fails on
  // overflow (kFailedPrecondition) or underflow (kCorruption), changing nothing.
  Status Add(uint64_t c, uint64_t count, int64_t delta);
  // Allocates `n` contiguous free clusters with refcount 1; returns the byte offset.
  Result<uint64_t> Allocate(uint64_t n);
  // Frees clusters after the next metadata flush has made their last users
  // durable (so that a crash never sees a reused cluster still referenced).
  void FreeLater(uint64_t c, uint64_t count);
  bool has_pending_frees() const { return !pending_frees_.empty(); }
  Status ApplyPendingFrees();

  // Writes dirty blocks, then (after a sync) the table if its entries changed.
  Status WriteDirty();
  bool dirty() const;
  // Every loaded/created block, for the checker: block index -> offset (0 = none).
  const std::vector<uint64_t>& table() const { return table_; }
  uint64_t entries_per_block() const { return per_block_; }

 private:
  struct Block {
    std::vector<uint8_t> data;
    bool dirty = false;
  };
  Result<Block*> LoadBlock(uint64_t b, bool create_missing);
  bool Covered(uint64_t c) const;
  Status MakeCovered(uint64_t first, uint64_t count);
  Result<uint64_t> FindFree(uint64_t n);

  const HostFile* file_;
  uint64_t cluster_size_;
  uint32_t order_;
  uint64_t per_block_;
  uint64_t max_;
  uint64_t table_offset_ = 0;
  uint32_t table_clusters_ = 0;
  uint64_t file_size_ = 0;
  std::vector<uint64_t> table_;
  std::vector<std::unique_ptr<Block>> blocks_;
  bool table_dirty_ = false;
  uint64_t end_cluster_ = 0;
  uint64_t free_hint_ = 0;
  std::vector<std::pair<uint64_t, uint64_t>> pending_frees_;
  TableMovedFn table_moved_;
};

}  // namespace skiff::image
