// qcow2 internal snapshots: the snapshot table, and create/apply/delete, which
// move refcounts between the active L1 table and the saved ones.
#include "image/qcow2_snapshot.h"

#include <time.h>

#include <algorithm>
#include <cstring>

#include "image/endian.h"
#include "image/qcow2_header.h"
#include "image/qcow2_image.h"

namespace skiff::image {
namespace {
constexpr uint64_t kMaxSnapshotTableBytes = 64ull << 20;
}

Result<std::vector<Qcow2Snapshot>> ParseSnapshotTable(std::span<const uint8_t> t, uint32_t nb,
                                                      uint32_t version, uint64_t cluster_size,
                                                      uint64_t file_size, uint64_t table_offset,
                                                      const std::string& name,
                                                      uint64_t* table_bytes) {
  std::vector<Qcow2Snapshot> out;
  uint64_t off = 0;
  for (uint32_t i = 0; i < nb; ++i) {
    // Each entry starts 8-aligned; the last one's padding need not exist (QEMU
    // does not write it when the table ends the file).
    off = AlignUp(off, 8);
    auto overrun = [&](const char* what) {
      return CorruptionError("'{}': snapshot table entry {} at 0x{:x}: {} overruns the table", name,
                             i, table_offset + off, what);
    };
    if (off > t.size() || t.size() - off < 40) return overrun("header");
    const uint8_t* p = t.data() + off;
    Qcow2Snapshot s;
    s.l1_table_offset = LoadBe64(p);
    s.l1_size = LoadBe32(p + 8);
    uint16_t id_len = LoadBe16(p + 12);
    uint16_t name_len = LoadBe16(p + 14);
    s.date_sec = LoadBe32(p + 16);
    s.date_nsec = LoadBe32(p + 20);
    s.vm_clock_nsec = LoadBe64(p + 24);
    s.vm_state_size = LoadBe32(p + 32);
    uint32_t extra_len = LoadBe32(p + 36);
    if (extra_len > t.size() - off - 40) return overrun("extra data");
    const uint8_t* x = p + 40;
    if (extra_len >= 8) s.vm_state_size = LoadBe64(x);
    if (extra_len >= 16) s.disk_size = LoadBe64(x + 8);
    if (extra_len >= 24) s.icount = static_cast<int64_t>(LoadBe64(x + 16));
    if (extra_len > 24) s.extra.assign(reinterpret_cast<const char*>(x + 24), extra_len - 24);
    if (version >= 3 && extra_len < 16) {
      return CorruptionError(
          "'{}': snapshot table entry {} at 0x{:x} has {} bytes of extra data (v3 needs 16)", name,
          i, table_offset + off, extra_len);
    }
    uint64_t strings = 40 + uint64_t{extra_len};
    if (uint64_t{id_len} + name_len > t.size() - off - strings) return overrun("id and name");
    s.id.assign(reinterpret_cast<const char*>(p + strings), id_len);
    s.name.assign(reinterpret_cast<const char*>(p + strings + id_len), name_len);
    off += strings + id_len + name_len;
    if (s.l1_table_offset % cluster_size != 0) {
      return CorruptionError("'{}': snapshot '{}' L1 table at 0x{:x} is not cluster-aligned", name,
                             s.name, s.l1_table_offset);
    }
    if (uint64_t{s.l1_size} * 8 > kMaxL1Bytes) {
      return CorruptionError("'{}': snapshot '{}' L1 table of {} entries exceeds the 32 MiB limit",
                             name, s.name, s.l1_size);
    }
    if (s.l1_size > 0 && (s.l1_table_offset >= file_size ||
                          uint64_t{s.l1_size} * 8 > file_size - s.l1_table_offset)) {
      return CorruptionError("'{}': snapshot '{}' L1 table at 0x{:x} lies past the end of the file",
                             name, s.name, s.l1_table_offset);
    }
    out.push_back(std::move(s));
  }
  *table_bytes = off;
  return out;
}

std::vector<uint8_t> SerializeSnapshotTable(const std::vector<Qcow2Snapshot>& snaps) {
  std::vector<uint8_t> out;
  // As QEMU lays it out: each entry 8-aligned, no padding after the last one (the
  // table's size in refcounts and checks is QEMU's).
  for (const auto& s : snaps) {
    size_t at = AlignUp(out.size(), 8);
    uint32_t extra_len = static_cast<uint32_t>(24 + s.extra.size());
    size_t len = 40 + extra_len + s.id.size() + s.name.size();
    out.resize(at + len, 0);
    uint8_t* p = out.data() + at;
    StoreBe64(p, s.l1_table_offset);
    StoreBe32(p + 8, s.l1_size);
    StoreBe16(p + 12, static_cast<uint16_t>(s.id.size()));
    StoreBe16(p + 14, static_cast<uint16_t>(s.name.size()));
    StoreBe32(p + 16, s.date_sec);
    StoreBe32(p + 20, s.date_nsec);
    StoreBe64(p + 24, s.vm_clock_nsec);
    StoreBe32(p + 32, static_cast<uint32_t>(std::min<uint64_t>(s.vm_state_size, 0xffffffffu)));
    StoreBe32(p + 36, extra_len);
    StoreBe64(p + 40, s.vm_state_size);
    StoreBe64(p + 48, s.disk_size);
    StoreBe64(p + 56, static_cast<uint64_t>(s.icount));
    std::memcpy(p + 64, s.extra.data(), s.extra.size());
    std::memcpy(p + 40 + extra_len, s.id.data(), s.id.size());
    std::memcpy(p + 40 + extra_len + s.id.size(), s.name.data(), s.name.size());
  }
  return out;
}

Status Qcow2Image::LoadSnapshotsLocked(uint64_t file_size) {
  snapshots_.clear();
  if (header_.nb_snapshots == 0) return Status::Ok();
  const uint64_t avail = std::min(file_size - header_.snapshots_offset, kMaxSnapshotTableBytes);
  // The table's size is not recorded: read what its entries usually take and
  // more only when they overrun it (a table in the middle of a large file would
  // otherwise cost a 64 MiB read at every open).
  uint64_t want =
      std::min<uint64_t>(avail, std::max<uint64_t>(64 * 1024, header_.nb_snapshots * 1024ull));
  for (;;) {
    std::vector<uint8_t> raw(want);
    SKIFF_TRY(file_.ReadExact(header_.snapshots_offset, raw));
    uint64_t bytes = 0;
    auto parsed = ParseSnapshotTable(raw, header_.nb_snapshots, header_.version, cluster_size_,
                                     file_size, header_.snapshots_offset, path(), &bytes);
    if (parsed.ok()) {
      snapshots_ = std::move(*parsed);
      return Status::Ok();
    }
    if (want >= avail) return parsed.status();
    want = std::min(avail, want * 8);
  }
}

Status Qcow2Image::WriteSnapshotTableLocked(std::vector<Qcow2Snapshot> snaps) {
  std::vector<uint8_t> raw = SerializeSnapshotTable(snaps);
  const uint64_t old_off = header_.snapshots_offset;
  uint64_t old_bytes = 0;
  if (header_.nb_snapshots > 0) {
    old_bytes = SerializeSnapshotTable(snapshots_).size();
  }
  uint64_t off = 0;
  if (!raw.empty()) {
    uint64_t clusters = DivRoundUp(raw.size(), cluster_size_);
    SKIFF_ASSIGN_OR_RETURN(off, refcounts_->Allocate(clusters));
    raw.resize(clusters * cluster_size_, 0);
    SKIFF_TRY(file_.WriteAll(off, raw));
  }
  SKIFF_TRY(refcounts_->WriteDirty());
  SKIFF_TRY(file_.Sync());
  header_.nb_snapshots = static_cast<uint32_t>(snaps.size());
  header_.snapshots_offset = off;
  SKIFF_TRY(WriteHeaderLocked());
  if (old_off != 0 && old_bytes > 0) {
    SKIFF_TRY(refcounts_->Add(old_off / cluster_size_, DivRoundUp(old_bytes, cluster_size_), -1));
  }
  snapshots_ = std::move(snaps);
  return Status::Ok();
}

// Adds `delta` (+1 now, or -1 deferred) to every cluster an L1 table reaches.
Status Qcow2Image::UpdateRefcountsForL1Locked(const std::vector<uint64_t>& l1, int64_t delta) {
  auto apply = [&](uint64_t c, uint64_t n) -> Status {
    if (delta < 0) {
      refcounts_->FreeLater(c, n);
      return Status::Ok();
    }
    return refcounts_->Add(c, n, delta);
  };
  for (size_t i = 0; i < l1.size(); ++i) {
    uint64_t l2 = l1[i] & kL1OffsetMask;
    if (l2 == 0) continue;
    SKIFF_TRY(CheckL2Offset(l2, i));
    SKIFF_TRY(apply(l2 / cluster_size_, 1));
    SKIFF_ASSIGN_OR_RETURN(auto table, l2_cache_->Get(l2));
    std::vector<uint64_t> words = table->words;
    uint64_t stride = extended_l2_ ? 2 : 1;
    for (uint64_t j = 0; j < l2_entries_; ++j) {
      uint64_t e = words[j * stride];
      if (e & kOflagCompressed) {
        uint64_t host, len;
        CompressedRange(e, &host, &len);
        uint64_t first = host / cluster_size_, last = (host + len - 1) / cluster_size_;
        SKIFF_TRY(apply(first, last - first + 1));
      } else if ((e & kL2OffsetMask) != 0) {
        SKIFF_TRY(apply((e & kL2OffsetMask) / cluster_size_, 1));
      }
    }
  }
  return Status::Ok();
}

Status Qcow2Image::FixCopiedFlagsLocked() {
  for (size_t i = 0; i < l1_.size(); ++i) {
    uint64_t l2 = l1_[i] & kL1OffsetMask;
    if (l2 == 0) {
      if (l1_[i] != 0) {
        l1_[i] = 0;
        l1_dirty_ = true;
      }
      continue;
    }
    SKIFF_ASSIGN_OR_RETURN(uint64_t rc, refcounts_->Get(l2 / cluster_size_));
    uint64_t ne = rc == 1 ? (l1_[i] | kOflagCopied) : (l1_[i] & ~kOflagCopied);
    if (ne != l1_[i]) {
      l1_[i] = ne;
      l1_dirty_ = true;
    }
    SKIFF_ASSIGN_OR_RETURN(auto table, l2_cache_->Get(l2));
    uint64_t stride = extended_l2_ ? 2 : 1;
    for (uint64_t j = 0; j < l2_entries_; ++j) {
      uint64_t& e = table->words[j * stride];
      if (e & kOflagCompressed) continue;
      uint64_t host = e & kL2OffsetMask;
      uint64_t want = e & ~kOflagCopied;
      if (host != 0) {
        SKIFF_ASSIGN_OR_RETURN(uint64_t drc, refcounts_->Get(host / cluster_size_));
        if (drc == 1) want |= kOflagCopied;
      }
      if (want != e) {
        e = want;
        table->dirty = true;
      }
    }
  }
  return Status::Ok();
}

Status Qcow2Image::CreateSnapshot(const std::string& name) {
  std::lock_guard lk(mu_);
  SKIFF_TRY(CheckWritable());
  if (name.empty() || name.size() > 65535) {
    return InvalidArgumentError("'{}': invalid snapshot name '{}'", path(), name);
  }
  for (const auto& s : snapshots_) {
    if (s.name == name)
      return AlreadyExistsError("'{}': snapshot '{}' already exists", path(), name);
  }
  if (header_.refcount_order == 0) {
    return FailedPreconditionError("'{}': snapshots need refcount_bits of 2 or more (image has 1)",
                                   path());
  }
  if (snapshots_.size() >= kMaxSnapshots) {
    return FailedPreconditionError("'{}': too many snapshots", path());
  }
  SKIFF_TRY(FlushLocked());
  uint64_t max_id = 0;
  for (const auto& s : snapshots_) {
    uint64_t v = 0;
    bool numeric =
        !s.id.empty() && s.id.size() < 19 &&
        std::all_of(s.id.begin(), s.id.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (numeric) v = std::stoull(s.id);
    max_id = std::max(max_id, v);
  }
  Qcow2Snapshot snap;
  snap.id = std::to_string(max_id + 1);
  snap.name = name;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  snap.date_sec = static_cast<uint32_t>(ts.tv_sec);
  snap.date_nsec = static_cast<uint32_t>(ts.tv_nsec);
  snap.disk_size = header_.size;
  snap.icount = -1;
  snap.l1_size = static_cast<uint32_t>(l1_.size());
  // Take references first: a crash before the table is written only leaks.
  SKIFF_TRY(UpdateRefcountsForL1Locked(l1_, 1));
  if (!l1_.empty()) {
    uint64_t clusters = DivRoundUp(l1_.size() * 8, cluster_size_);
    SKIFF_ASSIGN_OR_RETURN(snap.l1_table_offset, refcounts_->Allocate(clusters));
    std::vector<uint8_t> raw(clusters * cluster_size_, 0);
    for (size_t i = 0; i < l1_.size(); ++i) StoreBe64(raw.data() + i * 8, l1_[i] & ~kOflagCopied);
    SKIFF_TRY(file_.WriteAll(snap.l1_table_offset, raw));
  }
  SKIFF_TRY(FixCopiedFlagsLocked());
  SKIFF_TRY(FlushLocked());
  std::vector<Qcow2Snapshot> snaps = snapshots_;
  snaps.push_back(std::move(snap));
  SKIFF_TRY(WriteSnapshotTableLocked(std::move(snaps)));
  return FlushLocked();
}

namespace {
int FindSnapshot(const std::vector<Qcow2Snapshot>& snaps, const std::string& key) {
  for (size_t i = 0; i < snaps.size(); ++i) {
    if (snaps[i].id == key) return static_cast<int>(i);
  }
  for (size_t i = 0; i < snaps.size(); ++i) {
    if (snaps[i].name == key) return static_cast<int>(i);
  }
  return -1;
}
}  // namespace

Status Qcow2Image::ApplySnapshot(const std::string& key) {
  std::lock_guard lk(mu_);
  SKIFF_TRY(CheckWritable());
  int idx = FindSnapshot(snapshots_, key);
  if (idx < 0) return NotFoundError("'{}': no snapshot '{}'", path(), key);
  const Qcow2Snapshot snap = snapshots_[idx];
  if (snap.disk_size != 0 && snap.disk_size != header_.size && !bitmaps_.empty()) {
    return FailedPreconditionError(
        "'{}': snapshot '{}' has another disk size; remove the image's bitmaps to apply it", path(),
        key);
  }
  // Every guest byte may change: enabled bitmaps take the whole disk.
  SKIFF_TRY(NoteGuestChangeLocked(0, header_.size));
  SKIFF_TRY(FlushLocked());
  std::vector<uint8_t> raw(uint64_t{snap.l1_size} * 8);
  SKIFF_TRY(file_.ReadExact(snap.l1_table_offset, raw));
  std::vector<uint64_t> sl1(snap.l1_size);
  for (size_t i = 0; i < sl1.size(); ++i) sl1[i] = LoadBe64(raw.data() + i * 8) & ~kOflagCopied;
  if (snap.disk_size != 0 && snap.disk_size != header_.size) {
    uint64_t need = DivRoundUp(snap.disk_size, cluster_size_ * l2_entries_);
    if (need > l1_.size()) SKIFF_TRY(GrowL1Locked(need));
  }
  if (sl1.size() > l1_.size()) SKIFF_TRY(GrowL1Locked(sl1.size()));
  SKIFF_TRY(UpdateRefcountsForL1Locked(sl1, 1));
  std::vector<uint64_t> old = l1_;
  std::fill(l1_.begin(), l1_.end(), 0);
  std::copy(sl1.begin(), sl1.end(), l1_.begin());
  l1_dirty_ = true;
  SKIFF_TRY(UpdateRefcountsForL1Locked(old, -1));
  SKIFF_TRY(FlushLocked());
  if (snap.disk_size != 0 && snap.disk_size != header_.size) {
    header_.size = snap.disk_size;
    SKIFF_TRY(WriteHeaderLocked());
  }
  SKIFF_TRY(FixCopiedFlagsLocked());
  decompressed_entry_ = 0;
  return FlushLocked();
}

Status Qcow2Image::DeleteSnapshot(const std::string& key) {
  std::lock_guard lk(mu_);
  SKIFF_TRY(CheckWritable());
  int idx = FindSnapshot(snapshots_, key);
  if (idx < 0) return NotFoundError("'{}': no snapshot '{}'", path(), key);
  const Qcow2Snapshot snap = snapshots_[idx];
  SKIFF_TRY(FlushLocked());
  std::vector<uint8_t> raw(uint64_t{snap.l1_size} * 8);
  SKIFF_TRY(file_.ReadExact(snap.l1_table_offset, raw));
  std::vector<uint64_t> sl1(snap.l1_size);
  for (size_t i = 0; i < sl1.size(); ++i) sl1[i] = LoadBe64(raw.data() + i * 8);
  std::vector<Qcow2Snapshot> snaps = snapshots_;
  snaps.erase(snaps.begin() + idx);
  SKIFF_TRY(WriteSnapshotTableLocked(std::move(snaps)));
  SKIFF_TRY(UpdateRefcountsForL1Locked(sl1, -1));
  if (snap.l1_size > 0) {
    refcounts_->FreeLater(snap.l1_table_offset / cluster_size_,
                          DivRoundUp(uint64_t{snap.l1_size} * 8, cluster_size_));
  }
  SKIFF_TRY(FlushLocked());
  SKIFF_TRY(FixCopiedFlagsLocked());
  return FlushLocked();
}

}  // namespace skiff::image
