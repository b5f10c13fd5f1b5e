// qcow2 refcount table and blocks: lookups, updates, allocation and growth.
#include "image/qcow2_refcount.h"

#include <algorithm>
#include <limits>
#include <set>

#include "image/endian.h"
#include "image/qcow2_header.h"

namespace skiff::image {

uint64_t GetRefcountEntry(const uint8_t* block, uint32_t order, uint64_t index) {
  switch (order) {
    case 3:
      return block[index];
    case 4:
      return LoadBe16(block + index * 2);
    case 5:
      return LoadBe32(block + index * 4);
    case 6:
      return LoadBe64(block + index * 8);
    default: {
      uint32_t bits = 1u << order;
      uint64_t bit = index * bits;
      return (block[bit / 8] >> (bit % 8)) & ((1u << bits) - 1);
    }
  }
}

void SetRefcountEntry(uint8_t* block, uint32_t order, uint64_t index, uint64_t value) {
  switch (order) {
    case 3:
      block[index] = static_cast<uint8_t>(value);
      return;
    case 4:
      StoreBe16(block + index * 2, static_cast<uint16_t>(value));
      return;
    case 5:
      StoreBe32(block + index * 4, static_cast<uint32_t>(value));
      return;
    case 6:
      StoreBe64(block + index * 8, value);
      return;
    default: {
      uint32_t bits = 1u << order;
      uint64_t bit = index * bits;
      uint8_t mask = static_cast<uint8_t>(((1u << bits) - 1) << (bit % 8));
      block[bit / 8] =
          static_cast<uint8_t>((block[bit / 8] & ~mask) | ((value << (bit % 8)) & mask));
      return;
    }
  }
}

Qcow2Refcounts::Qcow2Refcounts(const HostFile* file, uint32_t cluster_bits, uint32_t refcount_order)
    : file_(file),
      cluster_size_(1ull << cluster_bits),
      order_(refcount_order),
      per_block_((1ull << cluster_bits) * 8 >> refcount_order),
      max_(refcount_order == 6 ? std::numeric_limits<uint64_t>::max()
                               : (1ull << (1u << refcount_order)) - 1) {}

Status Qcow2Refcounts::Load(uint64_t table_offset, uint32_t table_clusters, uint64_t file_size) {
  table_offset_ = table_offset;
  table_clusters_ = table_clusters;
  file_size_ = file_size;
  std::vector<uint8_t> raw(uint64_t{table_clusters} * cluster_size_);
  SKIFF_TRY(file_->ReadZeroFill(table_offset, raw));
  table_.resize(raw.size() / 8);
  for (size_t i = 0; i < table_.size(); ++i) table_[i] = LoadBe64(raw.data() + i * 8);
  blocks_.clear();
  blocks_.resize(table_.size());
  end_cluster_ = DivRoundUp(file_size, cluster_size_);
  free_hint_ = 0;
  return Status::Ok();
}

void Qcow2Refcounts::InitEmpty(uint64_t table_offset, uint32_t table_clusters,
                               uint64_t end_cluster) {
  table_offset_ = table_offset;
  table_clusters_ = table_clusters;
  table_.assign(uint64_t{table_clusters} * cluster_size_ / 8, 0);
  blocks_.clear();
  blocks_.resize(table_.size());
  table_dirty_ = true;
  end_cluster_ = end_cluster;
  file_size_ = end_cluster * cluster_size_;
  free_hint_ = 0;
}

void Qcow2Refcounts::NoteEnd(uint64_t end_cluster) {
  end_cluster_ = std::max(end_cluster_, end_cluster);
}

bool Qcow2Refcounts::Covered(uint64_t c) const {
  uint64_t b = c / per_block_;
  return b < table_.size() && table_[b] != 0;
}

Result<Qcow2Refcounts::Block*> Qcow2Refcounts::LoadBlock(uint64_t b, bool create_missing) {
  if (b >= table_.size()) return nullptr;
  if (blocks_[b]) return blocks_[b].get();
  uint64_t entry = table_[b];
  if (entry == 0) return nullptr;
  uint64_t off = entry & ~0x1ffull;
  if ((entry & 0x1ff) != 0 || off % cluster_size_ != 0) {
    return CorruptionError(
        "'{}': refcount block at 0x{:x} (refcount table entry {}) is not cluster-aligned",
        file_->path(), entry, b);
  }
  if (off >= kMaxHostOffset || off >= std::max(file_size_, end_cluster_ * cluster_size_)) {
    return CorruptionError(
        "'{}': refcount block at 0x{:x} (refcount table entry {}) lies past the end of the file",
        file_->path(), off, b);
  }
  auto blk = std::make_unique<Block>();
  blk->data.resize(cluster_size_);
  SKIFF_TRY(file_->ReadZeroFill(off, blk->data));
  blocks_[b] = std::move(blk);
  return blocks_[b].get();
}

Result<uint64_t> Qcow2Refcounts::Get(uint64_t c) {
  uint64_t b = c / per_block_;
  SKIFF_ASSIGN_OR_RETURN(Block * blk, LoadBlock(b, false));
  if (blk == nullptr) return uint64_t{0};
  return GetRefcountEntry(blk->data.data(), order_, c % per_block_);
}

Status Qcow2Refcounts::Add(uint64_t c, uint64_t count, int64_t delta) {
  // Validate first so that a failure changes nothing.
  for (uint64_t i = c; i < c + count; ++i) {
    SKIFF_ASSIGN_OR_RETURN(uint64_t v, Get(i));
    if (delta < 0 && v < static_cast<uint64_t>(-delta)) {
      return CorruptionError("'{}': refcount of cluster at 0x{:x} would drop below zero",
                             file_->path(), i * cluster_size_);
    }
    if (delta > 0 && max_ - v < static_cast<uint64_t>(delta)) {
      return FailedPreconditionError(
          "'{}': refcount of cluster at 0x{:x} would overflow {}-bit refcounts", file_->path(),
          i * cluster_size_, 1u << order_);
    }
  }
  if (delta > 0) SKIFF_TRY(MakeCovered(c, count));
  for (uint64_t i = c; i < c + count; ++i) {
    uint64_t b = i / per_block_;
    SKIFF_ASSIGN_OR_RETURN(Block * blk, LoadBlock(b, false));
    if (blk == nullptr) continue;  // delta 0 on an uncovered cluster
    uint64_t v = GetRefcountEntry(blk->data.data(), order_, i % per_block_);
    uint64_t nv = delta < 0 ? v - static_cast<uint64_t>(-delta) : v + static_cast<uint64_t>(delta);
    SetRefcountEntry(blk->data.data(), order_, i % per_block_, nv);
    blk->dirty = true;
    if (nv == 0 && i < free_hint_) free_hint_ = i;
  }
  if (delta > 0) end_cluster_ = std::max(end_cluster_, c + count);
  return Status::Ok();
}

Result<uint64_t> Qcow2Refcounts::FindFree(uint64_t n) {
  uint64_t start = free_hint_;
  uint64_t run = 0;
  // Scanning stops at the end of the used area, past which everything is free.
  for (uint64_t c = start;; ++c) {
    if (c >= end_cluster_) return run > 0 ? c - run : c;
    SKIFF_ASSIGN_OR_RETURN(uint64_t v, Get(c));
    if (v == 0) {
      if (++run == n) return c + 1 - n;
    } else {
      run = 0;
      if (c == free_hint_) free_hint_ = c + 1;
    }
  }
}

Result<uint64_t> Qcow2Refcounts::Allocate(uint64_t n) {
  SKIFF_ASSIGN_OR_RETURN(uint64_t s, FindFree(n));
  if ((s + n) * cluster_size_ > kMaxHostOffset) {
    return FailedPreconditionError("'{}': image would grow past the qcow2 limit of 64 PiB",
                                   file_->path());
  }
  SKIFF_TRY(MakeCovered(s, n));
  SKIFF_TRY(Add(s, n, 1));
  if (s == free_hint_) free_hint_ = s + n;
  return s * cluster_size_;
}

// Creates refcount blocks for every uncovered cluster of [first, first+count),
// placing them (and a larger table, if needed) in a fresh area past the end
// that they themselves cover.
Status Qcow2Refcounts::MakeCovered(uint64_t first, uint64_t count) {
  std::set<uint64_t> want;
  for (uint64_t b = first / per_block_; b <= (first + count - 1) / per_block_; ++b) {
    if (b >= table_.size() || table_[b] == 0) want.insert(b);
  }
  if (want.empty()) return Status::Ok();
  const uint64_t area = std::max(end_cluster_, first + count);
  const uint64_t entries_per_table_cluster = cluster_size_ / 8;
  uint64_t nb = 0, tc = 0, new_entries = table_.size();
  std::set<uint64_t> all;
  for (int iter = 0;; ++iter) {
    if (iter > 64) return InternalError("refcount growth did not converge");
    all = want;
    uint64_t area_end = area + nb + tc;
    for (uint64_t b = area / per_block_; b <= (area_end - 1) / per_block_; ++b) {
      if (b >= table_.size() || table_[b] == 0) all.insert(b);
    }
    uint64_t need = std::max<uint64_t>(table_.size(), *all.rbegin() + 1);
    uint64_t ntc = 0;
    uint64_t entries = table_.size();
    if (need > table_.size()) {
      entries = AlignUp(std::max(need, table_.size() * 2), entries_per_table_cluster);
      ntc = entries / entries_per_table_cluster;
    }
    if (all.size() == nb && ntc == tc) {
      new_entries = entries;
      break;
    }
    nb = all.size();
    tc = ntc;
  }
  if (tc * cluster_size_ > kMaxRefcountTableBytes) {
    return FailedPreconditionError("'{}': refcount table would exceed 8 MiB", file_->path());
  }
  std::vector<uint64_t> new_table = table_;
  new_table.resize(new_entries, 0);
  blocks_.resize(new_entries);
  uint64_t i = 0;
  for (uint64_t b : all) {
    uint64_t off = (area + i++) * cluster_size_;
    new_table[b] = off;
    auto blk = std::make_unique<Block>();
    blk->data.assign(cluster_size_, 0);
    blk->dirty = true;
    blocks_[b] = std::move(blk);
  }
  const uint64_t old_table_offset = table_offset_;
  const uint64_t old_table_clusters = table_clusters_;
  table_ = std::move(new_table);
  end_cluster_ = area + nb + tc;
  // The area's own refcounts: all of its clusters are covered now.
  for (uint64_t c = area; c < area + nb + tc; ++c) {
    SKIFF_ASSIGN_OR_RETURN(Block * blk, LoadBlock(c / per_block_, false));
    if (blk == nullptr) return InternalError("refcount area not covered");
    SetRefcountEntry(blk->data.data(), order_, c % per_block_, 1);
    blk->dirty = true;
  }
  if (tc == 0) {
    table_dirty_ = true;
    return Status::Ok();
  }
  // A new table: write blocks and table, switch the header, then free the old one.
  table_offset_ = (area + nb) * cluster_size_;
  table_clusters_ = static_cast<uint32_t>(tc);
  if (!file_->writable()) return Status::Ok();  // building in memory (rebuild/dry run)
  if (table_moved_ == nullptr) {
    table_dirty_ = true;
    return Status::Ok();
  }
  table_dirty_ = true;
  SKIFF_TRY(WriteDirty());
  SKIFF_TRY(file_->Sync());
  SKIFF_TRY(table_moved_(table_offset_, table_clusters_));
  if (old_table_offset != 0) {
    SKIFF_TRY(Add(old_table_offset / cluster_size_, old_table_clusters, -1));
  }
  return Status::Ok();
}

void Qcow2Refcounts::FreeLater(uint64_t c, uint64_t count) {
  pending_frees_.emplace_back(c, count);
}

Status Qcow2Refcounts::ApplyPendingFrees() {
  auto frees = std::move(pending_frees_);
  pending_frees_.clear();
  for (auto [c, n] : frees) SKIFF_TRY(Add(c, n, -1));
  return Status::Ok();
}

bool Qcow2Refcounts::dirty() const {
  if (table_dirty_) return true;
  for (const auto& b : blocks_) {
    if (b && b->dirty) return true;
  }
  return false;
}

Status Qcow2Refcounts::WriteDirty() {
  for (size_t b = 0; b < blocks_.size(); ++b) {
    if (blocks_[b] && blocks_[b]->dirty) {
      SKIFF_TRY(file_->WriteAll(table_[b] & ~0x1ffull, blocks_[b]->data));
      blocks_[b]->dirty = false;
    }
  }
  if (table_dirty_) {
    SKIFF_TRY(file_->Sync());
    std::vector<uint8_t> raw(uint64_t{table_clusters_} * cluster_size_, 0);
    for (size_t i = 0; i < table_.size() && i * 8 < raw.size(); ++i)
      StoreBe64(raw.data() + i * 8, table_[i]);
    SKIFF_TRY(file_->WriteAll(table_offset_, raw));
    table_dirty_ = false;
  }
  return Status::Ok();
}

}  // namespace skiff::image
