// Qcow2L2Cache: an LRU cache of L2 tables (decoded to host-endian words) with
// write-back of dirty tables; a hook runs before any dirty table is written so
// that the refcounts it depends on reach the disk first.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <unordered_map>
#include <vector>

#include "image/host_file.h"
#include "skiff/base/status.h"

namespace skiff::image {

struct L2Table {
  uint64_t offset = 0;
  std::vector<uint64_t> words;  // cluster_size / 8 words (entries, or entry+bitmap pairs)
  bool dirty = false;
};

class Qcow2L2Cache {
 public:
  Qcow2L2Cache(const HostFile* file, uint64_t cluster_size, uint64_t budget_bytes);

  // Runs before a dirty table is written on eviction (writes refcounts and syncs).
  void set_before_write(std::function<Status()> fn) { before_write_ = std::move(fn); }

  // The table at `offset`, loaded from the file if not cached.
  Result<std::shared_ptr<L2Table>> Get(uint64_t offset);
  // A new zero table at `offset` (not read from the file), marked dirty.
  Result<std::shared_ptr<L2Table>> Create(uint64_t offset);
  // Writes every dirty table (the caller orders this after the refcounts).
  Status WriteDirty();
  bool dirty() const;
  // Forgets a table (e.g. after its cluster was freed); drops unsaved changes.
  void Drop(uint64_t offset);
  void Clear();

 private:
  Status Insert(std::shared_ptr<L2Table> t);
  Status WriteTable(L2Table& t);

  const HostFile* file_;
  uint64_t cluster_size_;
  size_t max_tables_;
  std::list<std::shared_ptr<L2Table>> lru_;  // front = most recent
  std::unordered_map<uint64_t, std::list<std::shared_ptr<L2Table>>::iterator> map_;
  std::function<Status()> before_write_;
};

}  // namespace skiff::image
