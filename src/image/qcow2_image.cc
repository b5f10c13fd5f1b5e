// qcow2 read/write path: mapping guest offsets through L1/L2, allocation with
// copy-on-write, zero and compressed clusters, and ordered metadata flushes
// (refcounts, then L2 tables, then L1, then deferred frees).
#include "image/qcow2_image.h"

#include <limits.h>
#include <stdlib.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include <spdlog/spdlog.h>

#include "image/endian.h"
#include "image/open.h"

namespace skiff::image {
namespace {
constexpr uint64_t kMaxHeaderRead = 2ull << 20;
constexpr uint64_t kL2CacheBudget = 32ull << 20;
// Allocating writes of whole clusters past the end of the file extend it this
// much at a time with fallocate (as QEMU's `preallocate` filter does), instead
// of one write at a time: on ext4 each extending write otherwise reserves
// delayed blocks and updates the inode's size, and the write-back allocates the
// blocks piecemeal. Close() truncates what no cluster used.
constexpr uint64_t kGrowStep = 64ull << 20;
constexpr uint64_t kGrowAlign = 1ull << 20;
}  // namespace

Qcow2Image::Qcow2Image(HostFile file, Qcow2Header header)
    : file_(std::move(file)),
      header_(std::move(header)),
      cluster_bits_(header_.cluster_bits),
      cluster_size_(header_.cluster_size()),
      l2_entries_(header_.cluster_size() / (header_.extended_l2() ? 16 : 8)),
      extended_l2_(header_.extended_l2()),
      subcluster_size_(header_.cluster_size() / (header_.extended_l2() ? 32 : 1)) {}

Qcow2Image::~Qcow2Image() {
  if (!closed_) {
    Status st = Close();
    if (!st.ok()) spdlog::error("closing '{}': {}", path(), st.ToString());
  }
}

Result<std::unique_ptr<Qcow2Image>> Qcow2Image::Open(const std::string& path,
                                                     const OpenOptions& opts,
                                                     std::set<std::string> chain) {
  SKIFF_ASSIGN_OR_RETURN(HostFile f, HostFile::Open(path, opts.writable));
  f.set_unsafe(opts.unsafe_cache);
  SKIFF_ASSIGN_OR_RETURN(uint64_t file_size, f.Size());
  // Cluster 0 only: its size comes from cluster_bits (clamped; the parser
  // rejects out-of-range values).
  uint8_t first[24] = {};
  SKIFF_TRY(f.ReadZeroFill(0, first));
  uint32_t bits = LoadBe32(first + 20);
  uint64_t want = (bits >= 9 && bits <= 21) ? (1ull << bits) : kMaxHeaderRead;
  std::vector<uint8_t> head(std::min(file_size, std::max<uint64_t>(want, 512)));
  SKIFF_TRY(f.ReadExact(0, head));
  SKIFF_ASSIGN_OR_RETURN(Qcow2Header h, ParseQcow2Header(head, file_size, path));
  if (opts.writable) {
    if ((h.incompatible_features & kIncompatCorrupt) && !opts.repair) {
      return FailedPreconditionError(
          "'{}': image is marked corrupt; repair it with 'skiff img check -r all'", path);
    }
  }
  std::unique_ptr<Qcow2Image> img(new Qcow2Image(std::move(f), std::move(h)));
  img->file_size_at_open_ = file_size;
  SKIFF_TRY(img->LoadMetadata(file_size));
  {
    // A read-only open (info, check, a backing file) survives a broken bitmap
    // directory: check reports it; writing needs it whole.
    std::lock_guard lk(img->mu_);
    Status bst = img->LoadBitmapsLocked(file_size, opts.writable);
    if (!bst.ok() && opts.writable && !opts.repair) return bst;
  }

  if (opts.open_backing && !img->header_.backing_file.empty()) {
    if (static_cast<int>(chain.size()) + 1 >= opts.max_chain_depth) {
      return FailedPreconditionError("'{}': backing chain is deeper than {} images", path,
                                     opts.max_chain_depth);
    }
    char real[PATH_MAX];
    if (::realpath(path.c_str(), real) != nullptr) chain.insert(real);
    std::string bpath = ResolveBackingPath(path, img->header_.backing_file);
    if (::realpath(bpath.c_str(), real) != nullptr && chain.count(real) != 0) {
      return CorruptionError("'{}': backing file loop: '{}' is already in the chain", path, bpath);
    }
    OpenOptions bo = opts;
    bo.writable = false;
    bo.format = img->header_.backing_format;
    auto b = OpenImageInChain(bpath, bo, chain);
    if (!b.ok()) return b.status().WithContext(fmt::format("'{}': backing file", path));
    img->backing_ = std::move(b).value();
  }

  if (opts.writable) {
    std::lock_guard lk(img->mu_);
    bool rewrite = false;
    if (img->header_.incompatible_features & kIncompatDirty) {
      // Refcounts were not kept up to date (lazy refcounts): rebuild them.
      SKIFF_TRY(img->RebuildRefcountsLocked(nullptr));
      img->header_.incompatible_features &= ~kIncompatDirty;
      rewrite = true;
    }
    if (img->bitmaps_stale_) {
      // Written by a program that does not know bitmaps: they are stale.
      SetBitmapExtension(img->header_, std::nullopt);
      rewrite = true;
    }
    // Of the autoclear features we maintain only the bitmaps.
    const uint64_t keep = img->bitmaps_.empty() ? 0 : kAutoclearBitmaps;
    if (img->header_.version == 3 && (img->header_.autoclear_features & ~keep) != 0) {
      img->header_.autoclear_features &= keep;
      rewrite = true;
    }
    if (rewrite) SKIFF_TRY(img->WriteHeaderLocked());
    img->lazy_ =
        img->header_.version == 3 && (img->header_.compatible_features & kCompatLazyRefcounts) != 0;
  }
  return img;
}

Status Qcow2Image::LoadMetadata(uint64_t file_size) {
  std::vector<uint8_t> raw(uint64_t{header_.l1_size} * 8);
  if (!raw.empty()) SKIFF_TRY(file_.ReadExact(header_.l1_table_offset, raw));
  l1_.resize(header_.l1_size);
  for (size_t i = 0; i < l1_.size(); ++i) l1_[i] = LoadBe64(raw.data() + i * 8);
  refcounts_ = std::make_unique<Qcow2Refcounts>(&file_, cluster_bits_, header_.refcount_order);
  SKIFF_TRY(
      refcounts_->Load(header_.refcount_table_offset, header_.refcount_table_clusters, file_size));
  refcounts_->set_table_moved([this](uint64_t off, uint32_t clusters) {
    header_.refcount_table_offset = off;
    header_.refcount_table_clusters = clusters;
    return WriteHeaderLocked();
  });
  l2_cache_ = std::make_unique<Qcow2L2Cache>(&file_, cluster_size_, kL2CacheBudget);
  l2_cache_->set_before_write([this]() -> Status {
    if (lazy_) return Status::Ok();
    SKIFF_TRY(refcounts_->WriteDirty());
    return file_.Sync();
  });
  return LoadSnapshotsLocked(file_size);
}

Status Qcow2Image::CheckWritable() const {
  if (closed_) return FailedPreconditionError("'{}' is closed", path());
  if (!file_.writable()) return FailedPreconditionError("'{}' is open read-only", path());
  return Status::Ok();
}

Status Qcow2Image::MarkDirtyForLazy() {
  if (!lazy_ || dirty_set_) return Status::Ok();
  header_.incompatible_features |= kIncompatDirty;
  SKIFF_TRY(WriteHeaderLocked());
  dirty_set_ = true;
  return Status::Ok();
}

Status Qcow2Image::WriteHeaderLocked() {
  SKIFF_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, SerializeQcow2Header(header_));
  // Clear the rest of cluster 0 too (an old, longer backing name), within the file.
  uint64_t pad = std::min<uint64_t>(cluster_size_, std::max<uint64_t>(bytes.size(), 4096));
  if (bytes.size() < pad) bytes.resize(pad, 0);
  SKIFF_TRY(file_.WriteAll(0, bytes));
  return file_.Sync();
}

Status Qcow2Image::CheckL2Offset(uint64_t l2, uint64_t l1_index) const {
  if (l2 % cluster_size_ != 0) {
    return CorruptionError("'{}': L2 table at 0x{:x} (L1 entry {}) is not cluster-aligned", path(),
                           l2, l1_index);
  }
  uint64_t end = std::max(file_size_at_open_, refcounts_->end_cluster() * cluster_size_);
  if (l2 + cluster_size_ > AlignUp(end, cluster_size_)) {
    return CorruptionError("'{}': L2 table at 0x{:x} (L1 entry {}) lies past the end of the file",
                           path(), l2, l1_index);
  }
  if (l2 == 0 || l2 < cluster_size_) {
    return CorruptionError("'{}': L2 table at 0x{:x} (L1 entry {}) overlaps the header", path(), l2,
                           l1_index);
  }
  return Status::Ok();
}

void Qcow2Image::CompressedRange(uint64_t entry, uint64_t* host, uint64_t* len) const {
  const uint32_t shift = 62 - (cluster_bits_ - 8);
  *host = entry & ((1ull << shift) - 1);
  uint64_t nb = (entry >> shift) & ((1ull << (cluster_bits_ - 8)) - 1);
  *len = (nb + 1) * 512 - (*host & 511);
}

Result<Qcow2Image::Mapping> Qcow2Image::MapLocked(uint64_t offset, uint64_t max_len) {
  Mapping m;
  const uint64_t gc = offset >> cluster_bits_;
  const uint64_t l1i = gc / l2_entries_;
  const uint64_t table_end = ((l1i + 1) * l2_entries_) << cluster_bits_;
  const uint64_t limit = std::min(max_len, table_end - offset);
  if (l1i >= l1_.size() || (l1_[l1i] & kL1OffsetMask) == 0) {
    m.kind = Mapping::kUnallocated;
    m.length = limit;
    return m;
  }
  const uint64_t l2off = l1_[l1i] & kL1OffsetMask;
  SKIFF_TRY(CheckL2Offset(l2off, l1i));
  SKIFF_ASSIGN_OR_RETURN(auto table, l2_cache_->Get(l2off));
  const uint64_t file_end = AlignUp(
      std::max(file_size_at_open_, refcounts_->end_cluster() * cluster_size_), cluster_size_);
  uint64_t pos = 0;
  bool first = true;
  while (pos < limit) {
    const uint64_t cur = offset + pos;
    const uint64_t idx = (cur >> cluster_bits_) % l2_entries_;
    const uint64_t cin = cur & (cluster_size_ - 1);
    Mapping p;
    uint64_t e = table->words[extended_l2_ ? idx * 2 : idx];
    uint64_t piece = cluster_size_ - cin;
    auto bad = [&](std::string what) {
      return CorruptionError("'{}': L2 table at 0x{:x} entry {}: {}", path(), l2off, idx, what);
    };
    if (e & kOflagCompressed) {
      if (header_.incompatible_features & kIncompatDataFile)
        return bad("compressed cluster with a data file");
      p.kind = Mapping::kCompressed;
      p.entry = e;
    } else {
      const uint64_t host = e & kL2OffsetMask;
      if (host != 0 && (host % cluster_size_ != 0)) {
        return bad(fmt::format("data cluster at 0x{:x} is not cluster-aligned", host));
      }
      if (host != 0 && host + cluster_size_ > file_end) {
        return bad(fmt::format("data cluster at 0x{:x} lies past the end of the file", host));
      }
      if (!extended_l2_) {
        if (header_.version >= 3 && (e & kOflagZero)) {
          p.kind = Mapping::kZero;
          p.host = host;
        } else if (host == 0) {
          p.kind = Mapping::kUnallocated;
        } else {
          p.kind = Mapping::kData;
          p.host = host + cin;
        }
      } else {
        const uint64_t bm = table->words[idx * 2 + 1];
        uint64_t sc = cin / subcluster_size_;
        auto state = [&](uint64_t s) -> int {
          bool a = (bm >> s) & 1, z = (bm >> (32 + s)) & 1;
          return a ? (z ? -1 : 1) : (z ? 2 : 0);
        };
        int st = state(sc);
        if (st < 0) return bad(fmt::format("subcluster {} is both allocated and zero", sc));
        if (st == 1 && host == 0)
          return bad(fmt::format("subcluster {} is allocated with no host offset", sc));
        uint64_t s = sc + 1;
        while (s < 32 && state(s) == st) ++s;
        piece = s * subcluster_size_ - cin;
        p.kind = st == 1 ? Mapping::kData : st == 2 ? Mapping::kZero : Mapping::kUnallocated;
        if (st == 1) p.host = host + cin;
      }
    }
    if (first) {
      m.kind = p.kind;
      m.host = p.host;
      m.entry = p.entry;
      first = false;
    } else if (p.kind != m.kind || p.kind == Mapping::kCompressed ||
               (p.kind == Mapping::kData && p.host != m.host + pos)) {
      break;
    }
    pos += std::min(piece, limit - pos);
    if (m.kind == Mapping::kCompressed) break;
  }
  m.length = pos;
  return m;
}

Status Qcow2Image::ReadCompressedLocked(uint64_t entry, std::vector<uint8_t>& out) {
  if (entry == decompressed_entry_ && out.size() == cluster_size_) return Status::Ok();
  uint64_t host, len;
  CompressedRange(entry, &host, &len);
  uint64_t file_end = std::max(file_size_at_open_, refcounts_->end_cluster() * cluster_size_);
  if (host >= file_end || host < cluster_size_) {
    return CorruptionError("'{}': compressed cluster at 0x{:x} lies outside the file", path(),
                           host);
  }
  len = std::min(len, file_end - host);
  std::vector<uint8_t> in(len);
  SKIFF_TRY(file_.ReadZeroFill(host, in));
  out.resize(cluster_size_);
  decompressed_entry_ = 0;
  Status st = DecompressCluster(compression_type(), in, out);
  if (!st.ok()) {
    return CorruptionError("'{}': compressed cluster at 0x{:x}: {}", path(), host, st.message());
  }
  decompressed_entry_ = entry;
  return Status::Ok();
}

Status Qcow2Image::Read(uint64_t offset, std::span<uint8_t> buf) {
  return ReadImpl(offset, buf, false);
}

Status Qcow2Image::ReadImpl(uint64_t offset, std::span<uint8_t> buf, bool locked) {
  if (offset > size() || buf.size() > size() - offset) {
    return InvalidArgumentError("'{}': read at 0x{:x} of {} bytes is beyond the end of the image",
                                path(), offset, buf.size());
  }
  std::unique_lock lk(mu_, std::defer_lock);
  if (!locked) lk.lock();
  uint64_t pos = 0;
  while (pos < buf.size()) {
    const uint64_t cur = offset + pos;
    SKIFF_ASSIGN_OR_RETURN(Mapping m, MapLocked(cur, buf.size() - pos));
    auto dst = buf.subspan(pos, m.length);
    switch (m.kind) {
      case Mapping::kData:
        if (!locked) lk.unlock();
        SKIFF_TRY(file_.ReadZeroFill(m.host, dst));
        if (!locked) lk.lock();
        break;
      case Mapping::kZero:
        std::memset(dst.data(), 0, dst.size());
        break;
      case Mapping::kUnallocated:
        if (backing_ && cur < backing_->size()) {
          uint64_t k = std::min<uint64_t>(dst.size(), backing_->size() - cur);
          SKIFF_TRY(backing_->Read(cur, dst.subspan(0, k)));
          std::memset(dst.data() + k, 0, dst.size() - k);
        } else {
          std::memset(dst.data(), 0, dst.size());
        }
        break;
      case Mapping::kCompressed: {
        SKIFF_TRY(ReadCompressedLocked(m.entry, decompressed_));
        std::memcpy(dst.data(), decompressed_.data() + (cur & (cluster_size_ - 1)), dst.size());
        break;
      }
    }
    pos += m.length;
  }
  return Status::Ok();
}

Result<BlockStatus> Qcow2Image::GetBlockStatus(uint64_t offset, uint64_t length) {
  if (offset >= size() || length == 0) {
    return InvalidArgumentError("'{}': block status at 0x{:x} is beyond the end of the image",
                                path(), offset);
  }
  std::lock_guard lk(mu_);
  SKIFF_ASSIGN_OR_RETURN(Mapping m, MapLocked(offset, std::min(length, size() - offset)));
  BlockStatus bs;
  bs.length = m.length;
  switch (m.kind) {
    case Mapping::kUnallocated:
      bs.allocation = Allocation::kUnallocated;
      break;
    case Mapping::kZero:
      bs.allocation = Allocation::kZero;
      if (m.host != 0) bs.host_offset = m.host + (offset & (cluster_size_ - 1));
      break;
    case Mapping::kData:
      bs.allocation = Allocation::kData;
      bs.host_offset = m.host;
      break;
    case Mapping::kCompressed:
      bs.allocation = Allocation::kData;
      bs.compressed = true;
      break;
  }
  return bs;
}

Result<Qcow2Image::L2Slot> Qcow2Image::LookupL2Locked(uint64_t gc) {
  const uint64_t l1i = gc / l2_entries_;
  L2Slot slot;
  slot.index = gc % l2_entries_;
  if (l1i >= l1_.size() || (l1_[l1i] & kL1OffsetMask) == 0) return slot;
  uint64_t l2 = l1_[l1i] & kL1OffsetMask;
  SKIFF_TRY(CheckL2Offset(l2, l1i));
  SKIFF_ASSIGN_OR_RETURN(slot.table, l2_cache_->Get(l2));
  return slot;
}

Result<Qcow2Image::L2Slot> Qcow2Image::WritableL2Locked(uint64_t gc) {
  const uint64_t l1i = gc / l2_entries_;
  if (l1i >= l1_.size()) {
    return InternalError("'{}': guest cluster {} beyond the L1 table", path(), gc);
  }
  L2Slot slot;
  slot.index = gc % l2_entries_;
  const uint64_t e1 = l1_[l1i];
  const uint64_t l2 = e1 & kL1OffsetMask;
  if (l2 == 0) {
    SKIFF_ASSIGN_OR_RETURN(uint64_t off, refcounts_->Allocate(1));
    SKIFF_ASSIGN_OR_RETURN(slot.table, l2_cache_->Create(off));
    l1_[l1i] = off | kOflagCopied;
    l1_dirty_ = true;
    return slot;
  }
  SKIFF_TRY(CheckL2Offset(l2, l1i));
  SKIFF_ASSIGN_OR_RETURN(auto table, l2_cache_->Get(l2));
  if (!(e1 & kOflagCopied)) {
    SKIFF_ASSIGN_OR_RETURN(uint64_t rc, refcounts_->Get(l2 / cluster_size_));
    if (rc == 1) {
      l1_[l1i] |= kOflagCopied;
    } else {
      // Shared with a snapshot: copy the table before changing it.
      SKIFF_ASSIGN_OR_RETURN(uint64_t off, refcounts_->Allocate(1));
      std::vector<uint64_t> words = table->words;
      SKIFF_ASSIGN_OR_RETURN(table, l2_cache_->Create(off));
      table->words = std::move(words);
      refcounts_->FreeLater(l2 / cluster_size_, 1);
      l1_[l1i] = off | kOflagCopied;
    }
    l1_dirty_ = true;
  }
  slot.table = std::move(table);
  return slot;
}

Status Qcow2Image::ReleaseEntryLocked(uint64_t entry) {
  if (entry & kOflagCompressed) {
    uint64_t host, len;
    CompressedRange(entry, &host, &len);
    uint64_t first = host / cluster_size_;
    uint64_t last = (host + len - 1) / cluster_size_;
    refcounts_->FreeLater(first, last - first + 1);
    return Status::Ok();
  }
  uint64_t host = entry & kL2OffsetMask;
  if (host != 0) refcounts_->FreeLater(host / cluster_size_, 1);
  return Status::Ok();
}

Status Qcow2Image::Write(uint64_t offset, std::span<const uint8_t> buf) {
  if (offset > size() || buf.size() > size() - offset) {
    return InvalidArgumentError("'{}': write at 0x{:x} of {} bytes is beyond the end of the image",
                                path(), offset, buf.size());
  }
  std::unique_lock lk(mu_);
  SKIFF_TRY(CheckWritable());
  SKIFF_TRY(MarkDirtyForLazy());
  SKIFF_TRY(NoteGuestChangeLocked(offset, buf.size()));
  if (extended_l2_) return WriteExtendedLocked(offset, buf);
  // Fast path: every cluster is ours alone (COPIED) and plain data, so the
  // mapping cannot change under us; write without holding the lock. Frees
  // and snapshot operations wait for such writes (WaitForInflightLocked).
  std::vector<std::pair<uint64_t, uint64_t>> segs;  // (host offset, buffer offset)
  bool in_place = true;
  for (uint64_t pos = 0; pos < buf.size() && in_place;) {
    const uint64_t cur = offset + pos;
    const uint64_t gc = cur >> cluster_bits_;
    const uint64_t cin = cur & (cluster_size_ - 1);
    const uint64_t n = std::min<uint64_t>(cluster_size_ - cin, buf.size() - pos);
    const uint64_t l1i = gc / l2_entries_;
    if (l1i >= l1_.size() || !(l1_[l1i] & kOflagCopied) || (l1_[l1i] & kL1OffsetMask) == 0) {
      in_place = false;
      break;
    }
    SKIFF_ASSIGN_OR_RETURN(L2Slot slot, LookupL2Locked(gc));
    const uint64_t e = slot.table->words[slot.index];
    const uint64_t host = e & kL2OffsetMask;
    if ((e & kOflagCompressed) || !(e & kOflagCopied) || host == 0 || (e & kOflagZero) ||
        host % cluster_size_ != 0) {
      in_place = false;
      break;
    }
    segs.emplace_back(host + cin, pos);
    pos += n;
  }
  if (!in_place) return WriteLocked(offset, buf);
  ++inflight_;
  lk.unlock();
  Status st;
  for (size_t i = 0; i < segs.size() && st.ok(); ++i) {
    // Merge runs that are contiguous on the host into one write.
    size_t j = i;
    uint64_t end_buf = (j + 1 < segs.size()) ? segs[j + 1].second : buf.size();
    while (j + 1 < segs.size() &&
           segs[j + 1].first == segs[i].first + (segs[j + 1].second - segs[i].second)) {
      ++j;
      end_buf = (j + 1 < segs.size()) ? segs[j + 1].second : buf.size();
    }
    st = file_.WriteAll(segs[i].first, buf.subspan(segs[i].second, end_buf - segs[i].second));
    i = j;
  }
  --inflight_;
  return st;
}

void Qcow2Image::GrowForLocked(uint64_t end) {
  if (grow_failed_ || (grown_to_ != 0 && end <= grown_to_)) return;
  uint64_t cur = grown_to_;
  if (cur == 0) {
    auto size = file_.Size();
    if (!size.ok()) {
      grow_failed_ = true;
      return;
    }
    cur = *size;
    if (end <= cur) return;  // writing inside the file: nothing to grow
  }
  const uint64_t want = AlignUp(end, kGrowAlign) + std::min(kGrowStep, AlignUp(size(), kGrowAlign));
  if (!file_.Extend(want)) {
    grow_failed_ = true;  // not a regular file, no fallocate, or no space: plain writes
    return;
  }
  if (size_before_growth_ == 0) size_before_growth_ = std::max<uint64_t>(cur, 1);
  grown_to_ = want;
}

Status Qcow2Image::TrimGrowthLocked() {
  if (grown_to_ == 0) return Status::Ok();
  const uint64_t keep = std::max(size_before_growth_, refcounts_->end_cluster() * cluster_size_);
  grown_to_ = 0;
  size_before_growth_ = 0;
  SKIFF_ASSIGN_OR_RETURN(uint64_t size, file_.Size());
  if (keep < size) SKIFF_TRY(file_.Truncate(keep));
  return Status::Ok();
}

void Qcow2Image::WaitForInflightLocked() {
  while (inflight_.load() > 0) {
    mu_.unlock();
    std::this_thread::yield();
    mu_.lock();
  }
}

Status Qcow2Image::WriteLocked(uint64_t offset, std::span<const uint8_t> buf) {
  uint64_t pos = 0;
  std::vector<uint8_t> cl;
  while (pos < buf.size()) {
    const uint64_t cur = offset + pos;
    const uint64_t gc = cur >> cluster_bits_;
    const uint64_t cin = cur & (cluster_size_ - 1);
    const uint64_t n = std::min<uint64_t>(cluster_size_ - cin, buf.size() - pos);
    SKIFF_ASSIGN_OR_RETURN(L2Slot slot, WritableL2Locked(gc));
    auto& words = slot.table->words;
    const uint64_t e = words[slot.index];
    const uint64_t host = e & kL2OffsetMask;
    const bool compressed = e & kOflagCompressed;
    const bool zero = header_.version >= 3 && (e & kOflagZero);
    if (!compressed && host != 0 && (e & kOflagCopied) && !zero) {
      SKIFF_TRY(file_.WriteAll(host + cin, buf.subspan(pos, n)));
      pos += n;
      continue;
    }
    if (!compressed && host == 0 && cin == 0 && n == cluster_size_) {
      // Whole unallocated clusters: allocate a contiguous run, one write.
      uint64_t k = 1;
      while (slot.index + k < l2_entries_ && pos + (k + 1) * cluster_size_ <= buf.size()) {
        uint64_t ek = words[slot.index + k];
        if ((ek & kOflagCompressed) || (ek & kL2OffsetMask) != 0) break;
        ++k;
      }
      SKIFF_ASSIGN_OR_RETURN(uint64_t off, refcounts_->Allocate(k));
      GrowForLocked(off + k * cluster_size_);
      SKIFF_TRY(file_.WriteAll(off, buf.subspan(pos, k * cluster_size_)));
      for (uint64_t j = 0; j < k; ++j)
        words[slot.index + j] = (off + j * cluster_size_) | kOflagCopied;
      slot.table->dirty = true;
      pos += k * cluster_size_;
      continue;
    }
    const uint64_t base = gc << cluster_bits_;
    const bool was_zero =
        !compressed && host == 0 &&
        (zero || header_.backing_file.empty() || (backing_ && base >= backing_->size()));
    if (was_zero) {
      // Nothing to copy: a cluster never written before (past the used end of
      // the file) reads as zeroes already, so only the new bytes are written.
      const uint64_t end_before = refcounts_->end_cluster();
      SKIFF_ASSIGN_OR_RETURN(uint64_t off, refcounts_->Allocate(1));
      if (off / cluster_size_ >= end_before) {
        SKIFF_TRY(file_.WriteAll(off + cin, buf.subspan(pos, n)));
      } else {
        cl.assign(cluster_size_, 0);
        std::memcpy(cl.data() + cin, buf.data() + pos, n);
        SKIFF_TRY(file_.WriteAll(off, cl));
      }
      words[slot.index] = off | kOflagCopied;
      slot.table->dirty = true;
      pos += n;
      continue;
    }
    // Copy-on-write / read-modify-write of one cluster.
    cl.assign(cluster_size_, 0);
    if (n < cluster_size_) {
      uint64_t valid = std::min<uint64_t>(cluster_size_, size() - base);
      SKIFF_TRY(ReadImpl(base, std::span<uint8_t>(cl.data(), valid), true));
    }
    std::memcpy(cl.data() + cin, buf.data() + pos, n);
    if (!compressed && host != 0 && zero && (e & kOflagCopied)) {
      SKIFF_TRY(file_.WriteAll(host, cl));
      words[slot.index] = host | kOflagCopied;
    } else {
      SKIFF_ASSIGN_OR_RETURN(uint64_t off, refcounts_->Allocate(1));
      SKIFF_TRY(file_.WriteAll(off, cl));
      SKIFF_TRY(ReleaseEntryLocked(e));
      words[slot.index] = off | kOflagCopied;
    }
    slot.table->dirty = true;
    if (decompressed_entry_ == e) decompressed_entry_ = 0;
    pos += n;
  }
  return Status::Ok();
}

Status Qcow2Image::WriteExtendedLocked(uint64_t offset, std::span<const uint8_t> buf) {
  uint64_t pos = 0;
  std::vector<uint8_t> tmp;
  while (pos < buf.size()) {
    const uint64_t cur = offset + pos;
    const uint64_t gc = cur >> cluster_bits_;
    const uint64_t base = gc << cluster_bits_;
    const uint64_t cin = cur & (cluster_size_ - 1);
    const uint64_t n = std::min<uint64_t>(cluster_size_ - cin, buf.size() - pos);
    SKIFF_ASSIGN_OR_RETURN(L2Slot slot, WritableL2Locked(gc));
    auto& words = slot.table->words;
    const uint64_t e = words[slot.index * 2];
    uint64_t bm = words[slot.index * 2 + 1];
    const uint64_t sc_first = cin / subcluster_size_;
    const uint64_t sc_last = (cin + n - 1) / subcluster_size_;
    uint64_t a = sc_first * subcluster_size_;
    uint64_t b = (sc_last + 1) * subcluster_size_;
    const bool compressed = e & kOflagCompressed;
    uint64_t host = e & kL2OffsetMask;
    if (compressed || (host != 0 && !(e & kOflagCopied))) {
      // Whole-cluster copy: decompress or un-share, then write every subcluster.
      a = 0;
      b = cluster_size_;
    }
    tmp.assign(b - a, 0);
    if (cin != a || cin + n != b) {
      uint64_t valid = std::min<uint64_t>(b - a, size() > base + a ? size() - base - a : 0);
      SKIFF_TRY(ReadImpl(base + a, std::span<uint8_t>(tmp.data(), valid), true));
    }
    std::memcpy(tmp.data() + (cin - a), buf.data() + pos, n);
    if (compressed) {
      SKIFF_ASSIGN_OR_RETURN(host, refcounts_->Allocate(1));
      SKIFF_TRY(ReleaseEntryLocked(e));
      bm = 0xffffffffull;
      if (decompressed_entry_ == e) decompressed_entry_ = 0;
    } else if (host != 0 && !(e & kOflagCopied)) {
      SKIFF_ASSIGN_OR_RETURN(uint64_t off, refcounts_->Allocate(1));
      SKIFF_TRY(ReleaseEntryLocked(e));
      host = off;
      bm = (bm & 0xffffffffull) | 0;  // the copy holds every subcluster as read
      bm = 0xffffffffull;
    } else if (host == 0) {
      SKIFF_ASSIGN_OR_RETURN(host, refcounts_->Allocate(1));
    }
    SKIFF_TRY(file_.WriteAll(host + a, tmp));
    for (uint64_t s = a / subcluster_size_; s < b / subcluster_size_; ++s) {
      bm |= 1ull << s;
      bm &= ~(1ull << (32 + s));
    }
    words[slot.index * 2] = host | kOflagCopied;
    words[slot.index * 2 + 1] = bm;
    slot.table->dirty = true;
    pos += n;
  }
  return Status::Ok();
}

Status Qcow2Image::ZeroClustersLocked(uint64_t first, uint64_t count, bool unmap) {
  for (uint64_t gc = first; gc < first + count; ++gc) {
    SKIFF_ASSIGN_OR_RETURN(L2Slot slot, WritableL2Locked(gc));
    auto& words = slot.table->words;
    if (extended_l2_) {
      uint64_t e = words[slot.index * 2];
      SKIFF_TRY(ReleaseEntryLocked(e));
      words[slot.index * 2] = 0;
      words[slot.index * 2 + 1] = 0xffffffffull << 32;
    } else {
      uint64_t e = words[slot.index];
      uint64_t ne;
      if (header_.version < 3) {
        ne = 0;  // only used without a backing file
        SKIFF_TRY(ReleaseEntryLocked(e));
      } else if (unmap || (e & kOflagCompressed) || !(e & kOflagCopied)) {
        SKIFF_TRY(ReleaseEntryLocked(e));
        ne = kOflagZero;
      } else {
        ne = (e & (kL2OffsetMask | kOflagCopied)) | kOflagZero;
      }
      if (decompressed_entry_ == e) decompressed_entry_ = 0;
      words[slot.index] = ne;
    }
    slot.table->dirty = true;
  }
  return Status::Ok();
}

Status Qcow2Image::WriteZeroes(uint64_t offset, uint64_t length, bool may_unmap) {
  if (offset > size() || length > size() - offset) {
    return InvalidArgumentError(
        "'{}': zero write at 0x{:x} of {} bytes is beyond the end of the image", path(), offset,
        length);
  }
  std::lock_guard lk(mu_);
  SKIFF_TRY(CheckWritable());
  SKIFF_TRY(MarkDirtyForLazy());
  SKIFF_TRY(NoteGuestChangeLocked(offset, length));
  const uint64_t end = offset + length;
  std::vector<uint8_t> zeros;
  auto write_zero_bytes = [&](uint64_t off, uint64_t len) -> Status {
    while (len > 0) {
      uint64_t n = std::min<uint64_t>(len, 1 << 20);
      zeros.assign(n, 0);
      SKIFF_TRY(extended_l2_ ? WriteExtendedLocked(off, zeros) : WriteLocked(off, zeros));
      off += n;
      len -= n;
    }
    return Status::Ok();
  };
  uint64_t pos = offset;
  while (pos < end) {
    uint64_t gc = pos >> cluster_bits_;
    uint64_t cstart = gc << cluster_bits_;
    uint64_t cend = std::min(cstart + cluster_size_, size());
    if (pos == cstart && end >= cend && !(header_.version < 3 && !header_.backing_file.empty())) {
      uint64_t k = 1;
      while (((gc + k) << cluster_bits_) < end &&
             std::min(((gc + k + 1) << cluster_bits_), size()) <= end) {
        ++k;
      }
      SKIFF_TRY(ZeroClustersLocked(gc, k, may_unmap));
      pos = std::min(end, (gc + k) << cluster_bits_);
    } else {
      uint64_t n = std::min(end, cend) - pos;
      SKIFF_TRY(write_zero_bytes(pos, n));
      pos += n;
    }
  }
  return Status::Ok();
}

Status Qcow2Image::Discard(uint64_t offset, uint64_t length) {
  if (offset > size() || length > size() - offset) {
    return InvalidArgumentError("'{}': discard at 0x{:x} is beyond the end of the image", path(),
                                offset);
  }
  std::lock_guard lk(mu_);
  SKIFF_TRY(CheckWritable());
  SKIFF_TRY(MarkDirtyForLazy());
  SKIFF_TRY(NoteGuestChangeLocked(offset, length));
  uint64_t first = DivRoundUp(offset, cluster_size_);
  uint64_t end = offset + length == size() ? DivRoundUp(size(), cluster_size_)
                                           : (offset + length) >> cluster_bits_;
  if (end <= first) return Status::Ok();
  return ZeroClustersLocked(first, end - first, true);
}

Result<uint64_t> Qcow2Image::AllocateBytesLocked(uint64_t len) {
  // Pack compressed data after the previous compressed cluster when it fits
  // in the same host cluster or the next clusters are free and contiguous.
  bool can_share = false;
  if (compressed_cursor_ != 0 && compressed_cursor_ % cluster_size_ != 0) {
    // A cluster whose refcount is at the maximum cannot take one more user.
    SKIFF_ASSIGN_OR_RETURN(uint64_t rc, refcounts_->Get(compressed_cursor_ / cluster_size_));
    can_share = rc < refcounts_->max_refcount();
  }
  if (!can_share) compressed_cursor_ = 0;
  if (compressed_cursor_ != 0) {
    uint64_t used_end = compressed_cursor_;
    uint64_t cl_end = AlignUp(used_end, cluster_size_);
    if (used_end % cluster_size_ != 0 && used_end + len <= cl_end) {
      SKIFF_TRY(refcounts_->Add(used_end / cluster_size_, 1, 1));
      compressed_cursor_ = used_end + len;
      return used_end;
    }
  }
  uint64_t n = DivRoundUp(len, cluster_size_);
  SKIFF_ASSIGN_OR_RETURN(uint64_t off, refcounts_->Allocate(n));
  if (compressed_cursor_ != 0 && compressed_cursor_ % cluster_size_ != 0 &&
      off == AlignUp(compressed_cursor_, cluster_size_)) {
    // Contiguous with the partly used cluster: start there instead.
    uint64_t start = compressed_cursor_;
    uint64_t needed_end = start + len;
    uint64_t alloc_end = off + n * cluster_size_;
    SKIFF_TRY(refcounts_->Add(start / cluster_size_, 1, 1));
    uint64_t excess = (alloc_end - AlignUp(needed_end, cluster_size_)) / cluster_size_;
    if (excess > 0) {
      SKIFF_TRY(refcounts_->Add(alloc_end / cluster_size_ - excess, excess, -1));
    }
    compressed_cursor_ = needed_end;
    return start;
  }
  compressed_cursor_ = off + len;
  return off;
}

Status Qcow2Image::WriteCompressedCluster(uint64_t offset, std::span<const uint8_t> data) {
  const CompressedWrite one{offset, data};
  return WriteCompressedClusters(std::span<const CompressedWrite>(&one, 1));
}

Status Qcow2Image::WriteCompressedClusters(std::span<const CompressedWrite> clusters) {
  std::lock_guard lk(mu_);
  SKIFF_TRY(CheckWritable());
  SKIFF_TRY(MarkDirtyForLazy());
  for (const auto& c : clusters) SKIFF_TRY(NoteGuestChangeLocked(c.offset, cluster_size_));
  struct Placed {
    L2Slot slot;
    uint64_t wi;
    uint64_t host;
    std::span<const uint8_t> data;
  };
  std::vector<Placed> placed;
  placed.reserve(clusters.size());
  for (size_t i = 0; i < clusters.size(); ++i) {
    const uint64_t offset = clusters[i].offset;
    if (offset % cluster_size_ != 0 || offset >= size()) {
      return InvalidArgumentError("'{}': compressed write at 0x{:x} is not a cluster of the image",
                                  path(), offset);
    }
    if (i > 0 && offset <= clusters[i - 1].offset) {
      return InvalidArgumentError("'{}': compressed writes at 0x{:x} are not in increasing order",
                                  path(), offset);
    }
    SKIFF_ASSIGN_OR_RETURN(L2Slot slot, WritableL2Locked(offset >> cluster_bits_));
    const uint64_t wi = extended_l2_ ? slot.index * 2 : slot.index;
    const uint64_t old = slot.table->words[wi];
    if ((old & kL2OffsetMask) != 0 || (old & kOflagCompressed)) {
      return FailedPreconditionError("'{}': compressed write to allocated cluster at 0x{:x}",
                                     path(), offset);
    }
    SKIFF_ASSIGN_OR_RETURN(uint64_t host, AllocateBytesLocked(clusters[i].data.size()));
    placed.push_back(Placed{std::move(slot), wi, host, clusters[i].data});
  }
  // Compressed clusters pack back to back: one write per contiguous run. The
  // L2 entries change only after their data is written.
  std::vector<uint8_t> run;
  for (size_t i = 0; i < placed.size();) {
    size_t j = i + 1;
    uint64_t end = placed[i].host + placed[i].data.size();
    while (j < placed.size() && placed[j].host == end) end += placed[j++].data.size();
    if (j == i + 1) {
      SKIFF_TRY(file_.WriteAll(placed[i].host, placed[i].data));
    } else {
      run.clear();
      for (size_t k = i; k < j; ++k)
        run.insert(run.end(), placed[k].data.begin(), placed[k].data.end());
      SKIFF_TRY(file_.WriteAll(placed[i].host, run));
    }
    i = j;
  }
  const uint32_t shift = 62 - (cluster_bits_ - 8);
  for (auto& p : placed) {
    uint64_t nb = ((p.host + p.data.size() - 1) >> 9) - (p.host >> 9);
    p.slot.table->words[p.wi] = kOflagCompressed | (nb << shift) | p.host;
    if (extended_l2_) p.slot.table->words[p.wi + 1] = 0;
    p.slot.table->dirty = true;
  }
  return Status::Ok();
}

Status Qcow2Image::WriteL1Locked() {
  std::vector<uint8_t> raw(l1_.size() * 8);
  for (size_t i = 0; i < l1_.size(); ++i) StoreBe64(raw.data() + i * 8, l1_[i]);
  SKIFF_TRY(file_.WriteAll(header_.l1_table_offset, raw));
  l1_dirty_ = false;
  return Status::Ok();
}

Status Qcow2Image::FlushLocked() {
  if (closed_ || !file_.writable()) return Status::Ok();
  WaitForInflightLocked();
  bool synced = false;
  if (!lazy_ && refcounts_->dirty()) {
    SKIFF_TRY(refcounts_->WriteDirty());
    SKIFF_TRY(file_.Sync());
    synced = true;
  }
  if (l2_cache_->dirty()) {
    if (!synced) SKIFF_TRY(file_.Sync());
    SKIFF_TRY(l2_cache_->WriteDirty());
    SKIFF_TRY(file_.Sync());
    synced = true;
  }
  if (l1_dirty_) {
    if (!synced) SKIFF_TRY(file_.Sync());
    SKIFF_TRY(WriteL1Locked());
    SKIFF_TRY(file_.Sync());
  }
  if (refcounts_->has_pending_frees()) {
    SKIFF_TRY(refcounts_->ApplyPendingFrees());
    if (!lazy_) {
      SKIFF_TRY(refcounts_->WriteDirty());
      SKIFF_TRY(file_.Sync());
    }
  }
  return file_.Sync();
}

Status Qcow2Image::Flush() {
  std::lock_guard lk(mu_);
  return FlushLocked();
}

Status Qcow2Image::Close() {
  std::lock_guard lk(mu_);
  if (closed_) return Status::Ok();
  Status st;
  if (file_.writable()) {
    st = FlushLocked();
    if (st.ok()) st = StoreBitmapsLocked();
    if (st.ok() && lazy_ && dirty_set_) {
      st = refcounts_->WriteDirty();
      if (st.ok()) st = file_.Sync();
      if (st.ok()) {
        header_.incompatible_features &= ~kIncompatDirty;
        st = WriteHeaderLocked();
        dirty_set_ = false;
      }
    }
    if (st.ok() && grown_to_ != 0) {
      st = TrimGrowthLocked();
      if (st.ok()) st = file_.Sync();
    }
  }
  closed_ = true;
  if (backing_) {
    Status b = backing_->Close();
    if (st.ok()) st = b;
  }
  return st;
}

Status Qcow2Image::GrowL1Locked(uint64_t min_entries) {
  if (min_entries <= l1_.size()) return Status::Ok();
  if (min_entries * 8 > kMaxL1Bytes) {
    return InvalidArgumentError("'{}': L1 table of {} entries would exceed the 32 MiB limit",
                                path(), min_entries);
  }
  SKIFF_TRY(FlushLocked());
  const uint64_t old_off = header_.l1_table_offset;
  const uint64_t old_clusters = DivRoundUp(l1_.size() * 8, cluster_size_);
  const uint64_t clusters = DivRoundUp(min_entries * 8, cluster_size_);
  SKIFF_ASSIGN_OR_RETURN(uint64_t off, refcounts_->Allocate(clusters));
  l1_.resize(min_entries, 0);
  std::vector<uint8_t> raw(clusters * cluster_size_, 0);
  for (size_t i = 0; i < l1_.size(); ++i) StoreBe64(raw.data() + i * 8, l1_[i]);
  SKIFF_TRY(file_.WriteAll(off, raw));
  SKIFF_TRY(refcounts_->WriteDirty());
  SKIFF_TRY(file_.Sync());
  header_.l1_table_offset = off;
  header_.l1_size = static_cast<uint32_t>(min_entries);
  SKIFF_TRY(WriteHeaderLocked());
  if (old_off != 0 && old_clusters > 0) {
    SKIFF_TRY(refcounts_->Add(old_off / cluster_size_, old_clusters, -1));
  }
  return FlushLocked();
}

Status Qcow2Image::Preallocate(uint64_t offset, uint64_t length, Preallocation mode) {
  std::lock_guard lk(mu_);
  SKIFF_TRY(CheckWritable());
  if (mode == Preallocation::kOff || length == 0) return Status::Ok();
  // With lazy refcounts the new clusters' refcounts are written only on close,
  // when the dirty bit says they are pending.
  SKIFF_TRY(MarkDirtyForLazy());
  uint64_t first = offset >> cluster_bits_;
  uint64_t end = DivRoundUp(offset + length, cluster_size_);
  std::vector<std::pair<uint64_t, uint64_t>> ranges;  // host ranges to fill
  for (uint64_t gc = first; gc < end;) {
    SKIFF_ASSIGN_OR_RETURN(L2Slot slot, WritableL2Locked(gc));
    uint64_t stride = extended_l2_ ? 2 : 1;
    uint64_t k = 0;
    while (gc + k < end && slot.index + k < l2_entries_) {
      uint64_t e = slot.table->words[(slot.index + k) * stride];
      if ((e & kL2OffsetMask) != 0 || (e & kOflagCompressed)) break;
      ++k;
    }
    if (k == 0) {
      ++gc;
      continue;
    }
    SKIFF_ASSIGN_OR_RETURN(uint64_t off, refcounts_->Allocate(k));
    for (uint64_t j = 0; j < k; ++j) {
      uint64_t& w = slot.table->words[(slot.index + j) * stride];
      // Plain data clusters, as QEMU preallocates: the host file reads zeroes there.
      w = (off + j * cluster_size_) | kOflagCopied;
      if (extended_l2_) slot.table->words[(slot.index + j) * 2 + 1] = 0xffffffffull;
    }
    slot.table->dirty = true;
    ranges.emplace_back(off, k * cluster_size_);
    gc += k;
  }
  for (auto [off, len] : ranges) {
    if (mode == Preallocation::kFull) {
      SKIFF_TRY(file_.WriteZeroBytes(off, len));
    } else if (mode == Preallocation::kFalloc) {
      SKIFF_TRY(file_.Allocate(off, len));
    }
  }
  SKIFF_ASSIGN_OR_RETURN(uint64_t fsize, file_.Size());
  uint64_t need = refcounts_->end_cluster() * cluster_size_;
  if (fsize < need) SKIFF_TRY(file_.Truncate(need));
  return FlushLocked();
}

Status Qcow2Image::Resize(uint64_t new_size, bool shrink, Preallocation prealloc) {
  std::lock_guard lk(mu_);
  SKIFF_TRY(CheckWritable());
  if (new_size % 512 != 0) {
    return InvalidArgumentError("'{}': new size {} is not a multiple of 512", path(), new_size);
  }
  const uint64_t old = header_.size;
  if (new_size < old && !shrink) {
    return InvalidArgumentError(
        "'{}': use --shrink to shrink the image from {} to {} bytes (data beyond the new end is "
        "lost)",
        path(), old, new_size);
  }
  if (new_size < old) {
    if (!snapshots_.empty()) {
      return FailedPreconditionError("'{}': cannot shrink an image with internal snapshots",
                                     path());
    }
    SKIFF_TRY(ResizeBitmapsLocked(new_size));
    // Drop every cluster past the new end; zero the tail of the boundary cluster.
    uint64_t first = DivRoundUp(new_size, cluster_size_);
    uint64_t end = DivRoundUp(old, cluster_size_);
    for (uint64_t gc = first; gc < end; ++gc) {
      SKIFF_ASSIGN_OR_RETURN(L2Slot slot, LookupL2Locked(gc));
      if (!slot.table) {
        gc = (gc / l2_entries_ + 1) * l2_entries_ - 1;
        continue;
      }
      SKIFF_ASSIGN_OR_RETURN(slot, WritableL2Locked(gc));
      uint64_t stride = extended_l2_ ? 2 : 1;
      uint64_t e = slot.table->words[slot.index * stride];
      SKIFF_TRY(ReleaseEntryLocked(e));
      slot.table->words[slot.index * stride] = 0;
      if (extended_l2_) slot.table->words[slot.index * 2 + 1] = 0;
      slot.table->dirty = true;
    }
    if (new_size % cluster_size_ != 0) {
      uint64_t tail = cluster_size_ - new_size % cluster_size_;
      std::vector<uint8_t> z(tail, 0);
      uint64_t saved = header_.size;
      Status st = extended_l2_ ? WriteExtendedLocked(new_size, z) : WriteLocked(new_size, z);
      header_.size = saved;
      SKIFF_TRY(st);
    }
    SKIFF_TRY(FlushLocked());
    header_.size = new_size;
    SKIFF_TRY(WriteHeaderLocked());
    return StoreBitmapsLocked();
  }
  uint64_t needed = DivRoundUp(new_size, cluster_size_ * l2_entries_);
  if (needed * 8 > kMaxL1Bytes) {
    return InvalidArgumentError("'{}': L1 table of {} entries would exceed the 32 MiB limit",
                                path(), needed);
  }
  if (new_size != old) SKIFF_TRY(ResizeBitmapsLocked(new_size));
  SKIFF_TRY(GrowL1Locked(needed));
  header_.size = new_size;
  SKIFF_TRY(WriteHeaderLocked());
  SKIFF_TRY(StoreBitmapsLocked());
  if (prealloc != Preallocation::kOff && new_size > old) {
    mu_.unlock();
    Status st = Preallocate(old, new_size - old, prealloc);
    mu_.lock();
    return st;
  }
  return Status::Ok();
}

Status Qcow2Image::SetBacking(const std::string& name, const std::string& format) {
  std::lock_guard lk(mu_);
  SKIFF_TRY(CheckWritable());
  SKIFF_TRY(FlushLocked());
  header_.backing_file = name;
  header_.backing_format = name.empty() ? "" : format;
  return WriteHeaderLocked();
}

Status Qcow2Image::MakeEmpty() {
  std::lock_guard lk(mu_);
  SKIFF_TRY(CheckWritable());
  WaitForInflightLocked();
  SKIFF_TRY(NoteGuestChangeLocked(0, header_.size));
  const uint64_t clusters = DivRoundUp(header_.size, cluster_size_);
  const uint64_t stride = extended_l2_ ? 2 : 1;
  for (uint64_t l1i = 0; l1i < l1_.size() && l1i * l2_entries_ < clusters; ++l1i) {
    if ((l1_[l1i] & kL1OffsetMask) == 0) continue;
    SKIFF_ASSIGN_OR_RETURN(L2Slot slot, WritableL2Locked(l1i * l2_entries_));
    for (uint64_t j = 0; j < l2_entries_; ++j) {
      uint64_t& e = slot.table->words[j * stride];
      if (e == 0 && (!extended_l2_ || slot.table->words[j * 2 + 1] == 0)) continue;
      SKIFF_TRY(ReleaseEntryLocked(e));
      e = 0;
      if (extended_l2_) slot.table->words[j * 2 + 1] = 0;
      slot.table->dirty = true;
    }
  }
  decompressed_entry_ = 0;
  return FlushLocked();
}

}  // namespace skiff::image
