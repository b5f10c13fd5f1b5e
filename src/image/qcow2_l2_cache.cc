// LRU cache of qcow2 L2 tables with ordered write-back.
#include "image/qcow2_l2_cache.h"

#include <algorithm>

#include "image/endian.h"

namespace skiff::image {

Qcow2L2Cache::Qcow2L2Cache(const HostFile* file, uint64_t cluster_size, uint64_t budget_bytes)
    : file_(file),
      cluster_size_(cluster_size),
      max_tables_(static_cast<size_t>(std::max<uint64_t>(16, budget_bytes / cluster_size))) {}

Result<std::shared_ptr<L2Table>> Qcow2L2Cache::Get(uint64_t offset) {
  auto it = map_.find(offset);
  if (it != map_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    return *it->second;
  }
  std::vector<uint8_t> raw(cluster_size_);
  SKIFF_TRY(file_->ReadExact(offset, raw));
  auto t = std::make_shared<L2Table>();
  t->offset = offset;
  t->words.resize(cluster_size_ / 8);
  for (size_t i = 0; i < t->words.size(); ++i) t->words[i] = LoadBe64(raw.data() + i * 8);
  SKIFF_TRY(Insert(t));
  return t;
}

Result<std::shared_ptr<L2Table>> Qcow2L2Cache::Create(uint64_t offset) {
  Drop(offset);
  auto t = std::make_shared<L2Table>();
  t->offset = offset;
  t->words.assign(cluster_size_ / 8, 0);
  t->dirty = true;
  SKIFF_TRY(Insert(t));
  return t;
}

Status Qcow2L2Cache::Insert(std::shared_ptr<L2Table> t) {
  while (lru_.size() >= max_tables_) {
    auto victim = lru_.back();
    if (victim->dirty) {
      if (before_write_) SKIFF_TRY(before_write_());
      SKIFF_TRY(WriteTable(*victim));
    }
    map_.erase(victim->offset);
    lru_.pop_back();
  }
  lru_.push_front(t);
  map_[t->offset] = lru_.begin();
  return Status::Ok();
}

Status Qcow2L2Cache::WriteTable(L2Table& t) {
  std::vector<uint8_t> raw(cluster_size_);
  for (size_t i = 0; i < t.words.size(); ++i) StoreBe64(raw.data() + i * 8, t.words[i]);
  SKIFF_TRY(file_->WriteAll(t.offset, raw));
  t.dirty = false;
  return Status::Ok();
}

Status Qcow2L2Cache::WriteDirty() {
  for (auto& t : lru_) {
    if (t->dirty) SKIFF_TRY(WriteTable(*t));
  }
  return Status::Ok();
}

bool Qcow2L2Cache::dirty() const {
  return std::any_of(lru_.begin(), lru_.end(), [](const auto& t) { return t->dirty; });
}

void Qcow2L2Cache::Drop(uint64_t offset) {
  auto it = map_.find(offset);
  if (it == map_.end()) return;
  lru_.erase(it->second);
  map_.erase(it);
}

void Qcow2L2Cache::Clear() {
  lru_.clear();
  map_.clear();
}

}  // namespace skiff::image
