// qcow2 consistency check and repair: recounts every reference (header, L1/L2,
// data, compressed, snapshots, refcount structures, bitmaps), compares with the
// stored refcounts and COPIED flags, and rebuilds refcounts on request.
#include <algorithm>
#include <cstring>

#include "image/endian.h"
#include "image/qcow2_image.h"

namespace skiff::image {

struct Qcow2Image::CheckState {
  uint64_t cluster_size = 0;
  uint64_t file_size = 0;
  uint64_t nclusters = 0;
  std::vector<uint32_t> refs;
  CheckReport report;
  // Active metadata with bad offsets, cleared by "-r all".
  std::vector<size_t> bad_l1;
  std::vector<std::pair<uint64_t, uint64_t>> bad_l2;   // (L2 table offset, entry index)
  std::vector<std::pair<size_t, uint64_t>> active_l2;  // (L1 index, L2 offset)
  uint64_t copied_errors = 0;
  uint64_t refcount_corruptions = 0;
  uint64_t highest = 0;  // one past the highest referenced cluster

  void Error(std::string msg) {
    report.messages.push_back(std::move(msg));
    ++report.corruptions;
  }
  // Counts a reference to each cluster that [off, off + len) touches. Returns
  // false, with an error, when the range runs past the end of the file.
  bool Ref(uint64_t off, uint64_t len, const char* what) {
    if (len == 0) return true;
    const uint64_t cs = cluster_size;
    uint64_t first = off / cs, last = (off + len - 1) / cs;
    if (last >= nclusters || off + len < off) {
      Error(fmt::format("ERROR {} at 0x{:x} (size 0x{:x}) is after the end of the image file", what,
                        off, len));
      return false;
    }
    for (uint64_t c = first; c <= last; ++c) {
      if (refs[c] != UINT32_MAX) ++refs[c];
      highest = std::max(highest, c + 1);
    }
    return true;
  }
};

namespace {
constexpr uint64_t kMaxCheckClusters = 1ull << 30;
}

// One pass: counts every reference to every cluster, then compares the counts
// with the stored refcounts and the COPIED flags.
Status Qcow2Image::CheckPassLocked(CheckState& st) {
  const uint64_t cs = cluster_size_;
  st.cluster_size = cs;
  SKIFF_ASSIGN_OR_RETURN(st.file_size, file_.Size());
  st.nclusters = DivRoundUp(st.file_size, cs);
  if (st.nclusters > kMaxCheckClusters) {
    return UnsupportedError("'{}': file of {} clusters is too large to check", path(),
                            st.nclusters);
  }
  st.refs.assign(st.nclusters, 0);

  st.Ref(0, cs, "header");
  if (header_.l1_size > 0)
    st.Ref(header_.l1_table_offset, uint64_t{header_.l1_size} * 8, "L1 table");
  SKIFF_TRY(CheckL1TableLocked(st, l1_, true));
  SKIFF_TRY(CheckSnapshotsLocked(st));
  CheckRefcountTableLocked(st);
  SKIFF_TRY(CheckBitmapsLocked(st));

  CompareRefcountsLocked(st);
  SKIFF_TRY(CheckCopiedFlagsLocked(st));
  st.report.image_end_offset = st.highest * cs;
  st.report.total_clusters = DivRoundUp(header_.size, cs);
  return Status::Ok();
}

// Counts the L2 tables that `l1` points to and the clusters they map; `active`
// (the image's own L1, not a snapshot's) also records bad entries for repair
// and the allocation statistics.
Status Qcow2Image::CheckL1TableLocked(CheckState& st, const std::vector<uint64_t>& l1,
                                      bool active) {
  const uint64_t cs = cluster_size_;
  for (size_t i = 0; i < l1.size(); ++i) {
    uint64_t l2 = l1[i] & kL1OffsetMask;
    if (l2 == 0) continue;
    if (l2 % cs != 0) {
      st.Error(fmt::format(
          "ERROR l2_offset=0x{:x}: Table is not cluster aligned; L1 entry corrupted", l2));
      if (active) st.bad_l1.push_back(i);
      continue;
    }
    if (!st.Ref(l2, cs, "L2 table")) {
      if (active) st.bad_l1.push_back(i);
      continue;
    }
    if (active) st.active_l2.emplace_back(i, l2);
    SKIFF_TRY(CheckL2TableLocked(st, l2, active));
  }
  return Status::Ok();
}

Status Qcow2Image::CheckL2TableLocked(CheckState& st, uint64_t l2, bool active) {
  const uint64_t cs = cluster_size_;
  auto& r = st.report;
  SKIFF_ASSIGN_OR_RETURN(auto table, l2_cache_->Get(l2));
  const std::vector<uint64_t> words = table->words;
  const uint64_t stride = extended_l2_ ? 2 : 1;
  uint64_t next_contig = 0;
  for (uint64_t j = 0; j < l2_entries_; ++j) {
    uint64_t e = words[j * stride];
    uint64_t bm = extended_l2_ ? words[j * 2 + 1] : 0;
    if (e & kOflagCompressed) {
      if (e & kOflagCopied) {
        st.Error(fmt::format("ERROR: coffset=0x{:x}: Compressed cluster has OFLAG_COPIED",
                             e & ~(3ull << 62)));
        if (active) st.bad_l2.emplace_back(l2, j);
        continue;
      }
      if (extended_l2_ && bm != 0) {
        st.Error(fmt::format(
            "ERROR compressed cluster {} in L2 table at 0x{:x} has a non-zero subcluster bitmap", j,
            l2));
      }
      uint64_t host, len;
      CompressedRange(e, &host, &len);
      if (!st.Ref(host & ~511ull, len + (host & 511), "compressed cluster")) {
        if (active) st.bad_l2.emplace_back(l2, j);
        continue;
      }
      if (active) {
        ++r.allocated_clusters;
        ++r.compressed_clusters;
        if (next_contig != 0 && (host & ~(cs - 1)) != next_contig) ++r.fragmented_clusters;
        next_contig = (host & ~(cs - 1)) + cs;
      }
      continue;
    }
    uint64_t host = e & kL2OffsetMask;
    if (extended_l2_) {
      if ((bm & 0xffffffffull) & (bm >> 32)) {
        st.Error(
            fmt::format("ERROR L2 table at 0x{:x} entry {}: subclusters both allocated and zero "
                        "(bitmap 0x{:x})",
                        l2, j, bm));
      }
      if ((bm & 0xffffffffull) != 0 && host == 0) {
        st.Error(fmt::format(
            "ERROR L2 table at 0x{:x} entry {}: allocated subclusters without a host cluster", l2,
            j));
      }
    }
    if (host == 0) continue;
    if (host % cs != 0) {
      st.Error(fmt::format(
          "ERROR offset=0x{:x}: Cluster is not properly aligned; L2 entry corrupted", host));
      if (active) st.bad_l2.emplace_back(l2, j);
      continue;
    }
    if (!st.Ref(host, cs, "data cluster")) {
      if (active) st.bad_l2.emplace_back(l2, j);
      continue;
    }
    if (active) {
      ++r.allocated_clusters;
      if (next_contig != 0 && host != next_contig) ++r.fragmented_clusters;
      next_contig = host + cs;
    }
  }
  return Status::Ok();
}

// The snapshots' L1 tables (and what they map) and the snapshot table.
Status Qcow2Image::CheckSnapshotsLocked(CheckState& st) {
  for (const auto& s : snapshots_) {
    if (s.l1_size == 0) continue;
    if (!st.Ref(s.l1_table_offset, uint64_t{s.l1_size} * 8, "snapshot L1 table")) continue;
    std::vector<uint8_t> raw(uint64_t{s.l1_size} * 8);
    SKIFF_TRY(file_.ReadExact(s.l1_table_offset, raw));
    std::vector<uint64_t> sl1(s.l1_size);
    for (size_t i = 0; i < sl1.size(); ++i) sl1[i] = LoadBe64(raw.data() + i * 8);
    SKIFF_TRY(CheckL1TableLocked(st, sl1, false));
  }
  if (header_.nb_snapshots > 0) {
    st.Ref(header_.snapshots_offset, SerializeSnapshotTable(snapshots_).size(), "snapshot table");
  }
  return Status::Ok();
}

// The refcount table and the refcount blocks it points to.
void Qcow2Image::CheckRefcountTableLocked(CheckState& st) {
  const uint64_t cs = cluster_size_;
  st.Ref(header_.refcount_table_offset, uint64_t{header_.refcount_table_clusters} * cs,
         "refcount table");
  const auto& table = refcounts_->table();
  for (size_t b = 0; b < table.size(); ++b) {
    uint64_t off = table[b] & ~0x1ffull;
    if (table[b] == 0) continue;
    if (off % cs != 0 || (table[b] & 0x1ff) != 0) {
      st.Error(fmt::format(
          "ERROR refcount block {} is not cluster aligned; refcount table entry corrupted", b));
      ++st.refcount_corruptions;
      continue;
    }
    if (off >= st.nclusters * cs) {
      st.Error(fmt::format("ERROR refcount block {} at 0x{:x} is outside image", b, off));
      ++st.refcount_corruptions;
      continue;
    }
    st.Ref(off, cs, "refcount block");
  }
}

// Persistent bitmaps: directory, bitmap tables and their data clusters.
Status Qcow2Image::CheckBitmapsLocked(CheckState& st) {
  const uint64_t cs = cluster_size_;
  for (const auto& [type, data] : header_.other_extensions) {
    if (type != kExtBitmaps || data.size() < 24) continue;
    const uint8_t* p = reinterpret_cast<const uint8_t*>(data.data());
    uint64_t dir_size = LoadBe64(p + 8), dir_off = LoadBe64(p + 16);
    if (dir_size > (64ull << 20) || dir_off % cs != 0) {
      st.Error(
          fmt::format("ERROR bitmap directory at 0x{:x} ({} bytes) is invalid", dir_off, dir_size));
      continue;
    }
    if (!st.Ref(dir_off, dir_size, "bitmap directory")) continue;
    std::vector<uint8_t> dir(dir_size);
    SKIFF_TRY(file_.ReadExact(dir_off, dir));
    for (uint64_t o = 0; o + 24 <= dir_size;) {
      uint64_t toff = LoadBe64(dir.data() + o);
      uint32_t tsize = LoadBe32(dir.data() + o + 8);
      uint16_t name_size = LoadBe16(dir.data() + o + 18);
      uint32_t extra = LoadBe32(dir.data() + o + 20);
      if (toff % cs == 0 && uint64_t{tsize} * 8 <= st.file_size &&
          st.Ref(toff, uint64_t{tsize} * 8, "bitmap table")) {
        std::vector<uint8_t> bt(uint64_t{tsize} * 8);
        SKIFF_TRY(file_.ReadExact(toff, bt));
        for (uint32_t k = 0; k < tsize; ++k) {
          uint64_t d = LoadBe64(bt.data() + k * 8) & kL2OffsetMask;
          if (d != 0) st.Ref(d, cs, "bitmap data cluster");
        }
      }
      o += BitmapDirectoryEntryBytes(name_size, extra);
    }
  }
  return Status::Ok();
}

// Stored refcounts against references, including refcounts past the end of
// the file (which can only be leaks).
void Qcow2Image::CompareRefcountsLocked(CheckState& st) {
  const auto& table = refcounts_->table();
  uint64_t covered = st.nclusters;
  for (size_t b = 0; b < table.size(); ++b) {
    if (table[b] != 0)
      covered = std::max<uint64_t>(covered, (b + 1) * refcounts_->entries_per_block());
  }
  for (uint64_t c = 0; c < covered; ++c) {
    auto rc_or = refcounts_->Get(c);
    if (!rc_or.ok()) {
      st.Error(fmt::format("ERROR cannot read the refcount of cluster {}: {}", c,
                           rc_or.status().message()));
      ++st.refcount_corruptions;
      c = (c / refcounts_->entries_per_block() + 1) * refcounts_->entries_per_block() - 1;
      continue;
    }
    uint64_t rc = *rc_or, refs = c < st.nclusters ? st.refs[c] : 0;
    if (rc == refs) continue;
    if (rc < refs) {
      st.Error(fmt::format("ERROR cluster {} refcount={} reference={}", c, rc, refs));
      ++st.refcount_corruptions;
    } else {
      st.report.messages.push_back(
          fmt::format("Leaked cluster {} refcount={} reference={}", c, rc, refs));
      ++st.report.leaks;
    }
  }
}

// COPIED flags of the active tables, against the stored refcounts.
Status Qcow2Image::CheckCopiedFlagsLocked(CheckState& st) {
  const uint64_t cs = cluster_size_;
  for (auto [i, l2] : st.active_l2) {
    SKIFF_ASSIGN_OR_RETURN(uint64_t rc, refcounts_->Get(l2 / cs));
    if ((rc == 1) != ((l1_[i] & kOflagCopied) != 0)) {
      st.Error(fmt::format("ERROR OFLAG_COPIED L2 cluster: l1_index={} l1_entry={:x} refcount={}",
                           i, l1_[i], rc));
      ++st.copied_errors;
    }
    SKIFF_ASSIGN_OR_RETURN(auto table, l2_cache_->Get(l2));
    const uint64_t stride = extended_l2_ ? 2 : 1;
    for (uint64_t j = 0; j < l2_entries_; ++j) {
      uint64_t e = table->words[j * stride];
      if (e & kOflagCompressed) continue;
      uint64_t host = e & kL2OffsetMask;
      if (host == 0 || host % cs != 0 || host / cs >= st.nclusters) continue;
      SKIFF_ASSIGN_OR_RETURN(uint64_t drc, refcounts_->Get(host / cs));
      if ((drc == 1) != ((e & kOflagCopied) != 0)) {
        st.Error(fmt::format("ERROR OFLAG_COPIED data cluster: l2_entry={:x} refcount={}", e, drc));
        ++st.copied_errors;
      }
    }
  }
  return Status::Ok();
}

Status Qcow2Image::RebuildRefcountsLocked(CheckReport* report) {
  CheckState st;
  SKIFF_TRY(CheckPassLocked(st));
  const uint64_t cs = cluster_size_;
  const uint64_t per_block = refcounts_->entries_per_block();
  const uint64_t max = refcounts_->max_refcount();
  // The old refcount table and blocks are replaced: they must end up free.
  auto drop = [&](uint64_t off, uint64_t len) {
    for (uint64_t c = off / cs; c < DivRoundUp(off + len, cs) && c < st.nclusters; ++c) {
      if (st.refs[c] > 0) --st.refs[c];
    }
  };
  drop(header_.refcount_table_offset, uint64_t{header_.refcount_table_clusters} * cs);
  for (uint64_t e : refcounts_->table()) {
    uint64_t off = e & ~0x1ffull;
    if (e != 0 && off % cs == 0 && off < st.nclusters * cs) drop(off, cs);
  }
  for (uint64_t c = 0; c < st.nclusters; ++c) {
    if (st.refs[c] > max) {
      return FailedPreconditionError(
          "'{}': cluster at 0x{:x} has {} references, more than {}-bit refcounts hold", path(),
          c * cs, st.refs[c], header_.refcount_bits());
    }
  }
  const uint64_t area = std::max(st.nclusters, st.highest);
  uint64_t blocks = 0, tclusters = 0;
  for (int i = 0; i < 64; ++i) {
    uint64_t nb = DivRoundUp(area + blocks + tclusters, per_block);
    uint64_t nt = DivRoundUp(nb * 8, cs);
    if (nb == blocks && nt == tclusters) break;
    blocks = nb;
    tclusters = nt;
  }
  if (tclusters * cs > kMaxRefcountTableBytes) {
    return FailedPreconditionError("'{}': rebuilt refcount table would exceed 8 MiB", path());
  }
  std::vector<uint8_t> blk(cs);
  std::vector<uint8_t> table(tclusters * cs, 0);
  const uint64_t end = area + blocks + tclusters;
  for (uint64_t b = 0; b < blocks; ++b) {
    std::fill(blk.begin(), blk.end(), 0);
    for (uint64_t k = 0; k < per_block; ++k) {
      uint64_t c = b * per_block + k;
      uint64_t v = c < st.nclusters ? st.refs[c] : (c >= area && c < end ? 1 : 0);
      if (v != 0) SetRefcountEntry(blk.data(), header_.refcount_order, k, v);
    }
    uint64_t off = (area + b) * cs;
    SKIFF_TRY(file_.WriteAll(off, blk));
    StoreBe64(table.data() + b * 8, off);
  }
  const uint64_t toff = (area + blocks) * cs;
  SKIFF_TRY(file_.WriteAll(toff, table));
  SKIFF_TRY(file_.Sync());
  header_.refcount_table_offset = toff;
  header_.refcount_table_clusters = static_cast<uint32_t>(tclusters);
  SKIFF_TRY(WriteHeaderLocked());
  SKIFF_ASSIGN_OR_RETURN(uint64_t fsize, file_.Size());
  SKIFF_TRY(refcounts_->Load(toff, static_cast<uint32_t>(tclusters), fsize));
  if (report != nullptr) report->messages.push_back("Rebuilding refcount structure");
  return Status::Ok();
}

Result<CheckReport> Qcow2Image::Check(RepairMode repair) {
  std::lock_guard lk(mu_);
  if (repair != RepairMode::kNone) {
    SKIFF_TRY(CheckWritable());
    SKIFF_TRY(FlushLocked());
  }
  CheckState st;
  SKIFF_TRY(CheckPassLocked(st));
  st.report.filename = path();
  st.report.format = "qcow2";
  if (repair == RepairMode::kNone || (st.report.corruptions == 0 && st.report.leaks == 0)) {
    if (repair == RepairMode::kAll && (header_.incompatible_features & kIncompatCorrupt)) {
      // Nothing is wrong after all: the image may be written again.
      header_.incompatible_features &= ~kIncompatCorrupt;
      SKIFF_TRY(WriteHeaderLocked());
    }
    return st.report;
  }
  const uint64_t before_corrupt = st.report.corruptions, before_leaks = st.report.leaks;
  std::vector<std::string> messages = st.report.messages;
  if (repair == RepairMode::kAll) {
    for (size_t i : st.bad_l1) {
      l1_[i] = 0;
      l1_dirty_ = true;
    }
    for (auto [l2, j] : st.bad_l2) {
      SKIFF_ASSIGN_OR_RETURN(auto table, l2_cache_->Get(l2));
      table->words[extended_l2_ ? j * 2 : j] = 0;
      if (extended_l2_) table->words[j * 2 + 1] = 0;
      table->dirty = true;
    }
    l2_cache_->set_before_write(nullptr);
    SKIFF_TRY(l2_cache_->WriteDirty());
    if (l1_dirty_) SKIFF_TRY(WriteL1Locked());
    SKIFF_TRY(file_.Sync());
    SKIFF_TRY(RebuildRefcountsLocked(nullptr));
    l2_cache_->set_before_write([this]() -> Status {
      if (lazy_) return Status::Ok();
      SKIFF_TRY(refcounts_->WriteDirty());
      return file_.Sync();
    });
    SKIFF_TRY(FixCopiedFlagsLocked());
    header_.incompatible_features &= ~(kIncompatCorrupt | kIncompatDirty);
    SKIFF_TRY(FlushLocked());
    SKIFF_TRY(WriteHeaderLocked());
  } else {
    // Leaks only: lower each leaked refcount to its reference count.
    uint64_t covered = st.nclusters;
    for (size_t b = 0; b < refcounts_->table().size(); ++b) {
      if (refcounts_->table()[b] != 0) {
        covered = std::max<uint64_t>(covered, (b + 1) * refcounts_->entries_per_block());
      }
    }
    for (uint64_t c = 0; c < covered; ++c) {
      auto rc_or = refcounts_->Get(c);
      if (!rc_or.ok()) continue;
      uint64_t refs = c < st.nclusters ? st.refs[c] : 0;
      if (*rc_or > refs) SKIFF_TRY(refcounts_->Add(c, 1, -static_cast<int64_t>(*rc_or - refs)));
    }
    SKIFF_TRY(refcounts_->WriteDirty());
    SKIFF_TRY(file_.Sync());
  }
  CheckState after;
  SKIFF_TRY(CheckPassLocked(after));
  after.report.filename = path();
  after.report.format = "qcow2";
  after.report.corruptions_fixed =
      before_corrupt > after.report.corruptions ? before_corrupt - after.report.corruptions : 0;
  after.report.leaks_fixed =
      before_leaks > after.report.leaks ? before_leaks - after.report.leaks : 0;
  std::vector<std::string> all;
  for (auto& m : messages) {
    if (m.rfind("Leaked", 0) == 0 || m.rfind("ERROR cluster", 0) == 0) {
      all.push_back("Repairing " + m.substr(m.find("cluster")));
    } else {
      all.push_back(m);
    }
  }
  for (auto& m : after.report.messages) all.push_back(m);
  after.report.messages = std::move(all);
  return after.report;
}

}  // namespace skiff::image
