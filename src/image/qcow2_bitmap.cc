// qcow2 persistent dirty bitmaps: the extension and directory formats, the
// in-memory bitmap, and the Qcow2Image side: loading, tracking guest writes
// (the in_use flag set before the first one), editing and storing them.
#include "image/qcow2_bitmap.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "image/endian.h"
#include "image/qcow2_image.h"

namespace skiff::image {
namespace {
constexpr uint32_t kBitmapTypeDirtyTracking = 1;
constexpr uint32_t kBitmapReservedFlags = ~(kBitmapFlagInUse | kBitmapFlagAuto);
}  // namespace

uint64_t BitmapDirectoryEntryBytes(uint64_t name_size, uint64_t extra_data_size) {
  return AlignUp(24 + name_size + extra_data_size, 8);
}

Result<std::optional<Qcow2BitmapExtension>> FindBitmapExtension(const Qcow2Header& h,
                                                                uint64_t file_size,
                                                                const std::string& name,
                                                                bool* stale) {
  *stale = false;
  for (const auto& [type, data] : h.other_extensions) {
    if (type != kExtBitmaps) continue;
    if (h.version < 3 || !(h.autoclear_features & kAutoclearBitmaps)) {
      *stale = true;
      return std::optional<Qcow2BitmapExtension>();
    }
    if (data.size() < 24) {
      return CorruptionError("'{}': bitmaps extension of {} bytes (needs 24)", name, data.size());
    }
    const uint8_t* p = reinterpret_cast<const uint8_t*>(data.data());
    Qcow2BitmapExtension e;
    e.nb_bitmaps = LoadBe32(p);
    e.directory_size = LoadBe64(p + 8);
    e.directory_offset = LoadBe64(p + 16);
    const uint64_t cs = h.cluster_size();
    if (LoadBe32(p + 4) != 0) {
      return CorruptionError("'{}': bitmaps extension: reserved field is not zero", name);
    }
    if (e.nb_bitmaps == 0 || e.nb_bitmaps > kMaxBitmaps) {
      return CorruptionError("'{}': bitmaps extension: {} bitmaps (1 to {} allowed)", name,
                             e.nb_bitmaps, kMaxBitmaps);
    }
    if (e.directory_size == 0 || e.directory_size > kMaxBitmapDirectoryBytes) {
      return CorruptionError("'{}': bitmap directory of {} bytes (1 to {} allowed)", name,
                             e.directory_size, kMaxBitmapDirectoryBytes);
    }
    if (e.directory_offset == 0 || e.directory_offset % cs != 0 ||
        e.directory_offset >= file_size || e.directory_size > file_size - e.directory_offset) {
      return CorruptionError(
          "'{}': bitmap directory at 0x{:x} ({} bytes) is not cluster-aligned or lies past the "
          "end of the file",
          name, e.directory_offset, e.directory_size);
    }
    return std::optional<Qcow2BitmapExtension>(e);
  }
  return std::optional<Qcow2BitmapExtension>();
}

void SetBitmapExtension(Qcow2Header& h, const std::optional<Qcow2BitmapExtension>& ext) {
  auto& exts = h.other_extensions;
  auto it =
      std::find_if(exts.begin(), exts.end(), [](const auto& e) { return e.first == kExtBitmaps; });
  if (!ext) {
    if (it != exts.end()) exts.erase(it);
    h.autoclear_features &= ~kAutoclearBitmaps;
    return;
  }
  std::string data(24, '\0');
  uint8_t* p = reinterpret_cast<uint8_t*>(data.data());
  StoreBe32(p, ext->nb_bitmaps);
  StoreBe64(p + 8, ext->directory_size);
  StoreBe64(p + 16, ext->directory_offset);
  // QEMU writes the bitmaps extension first of the ones it does not name.
  if (it != exts.end()) {
    it->second = std::move(data);
  } else {
    exts.insert(exts.begin(), {kExtBitmaps, std::move(data)});
  }
  h.autoclear_features |= kAutoclearBitmaps;
}

uint64_t BitmapTableEntries(uint64_t image_size, uint32_t granularity_bits, uint64_t cluster_size) {
  const uint64_t bits = DivRoundUp(image_size, 1ull << granularity_bits);
  return DivRoundUp(bits, cluster_size * 8);
}

Result<std::vector<Qcow2BitmapEntry>> ParseBitmapDirectory(std::span<const uint8_t> dir,
                                                           uint32_t nb, uint64_t cluster_size,
                                                           uint64_t image_size, uint64_t file_size,
                                                           const std::string& name) {
  std::vector<Qcow2BitmapEntry> out;
  uint64_t off = 0;
  while (off < dir.size()) {
    const size_t i = out.size();
    if (dir.size() - off < 24) {
      return CorruptionError("'{}': bitmap directory entry {} at offset {} overruns the directory",
                             name, i, off);
    }
    if (i >= nb) {
      return CorruptionError("'{}': bitmap directory holds more than the {} bitmaps of the header",
                             name, nb);
    }
    const uint8_t* p = dir.data() + off;
    Qcow2BitmapEntry e;
    e.table_offset = LoadBe64(p);
    e.table_size = LoadBe32(p + 8);
    e.flags = LoadBe32(p + 12);
    const uint8_t type = p[16];
    e.granularity_bits = p[17];
    const uint16_t name_size = LoadBe16(p + 18);
    const uint32_t extra = LoadBe32(p + 20);
    if (BitmapDirectoryEntryBytes(name_size, extra) > dir.size() - off) {
      return CorruptionError("'{}': bitmap directory entry {} at offset {} overruns the directory",
                             name, i, off);
    }
    e.name.assign(reinterpret_cast<const char*>(p + 24 + extra), name_size);
    auto bad = [&](const std::string& what) {
      return CorruptionError("'{}': bitmap '{}': {}", name, e.name, what);
    };
    if (extra != 0) return bad("extra data is not supported");
    if (type != kBitmapTypeDirtyTracking) return bad(fmt::format("unknown type {}", type));
    if (e.granularity_bits < kMinBitmapGranularityBits ||
        e.granularity_bits > kMaxBitmapGranularityBits) {
      return bad(fmt::format("granularity bits {} outside {}..{}", e.granularity_bits,
                             kMinBitmapGranularityBits, kMaxBitmapGranularityBits));
    }
    if (e.flags & kBitmapReservedFlags) return bad(fmt::format("reserved flags 0x{:x}", e.flags));
    if (name_size == 0 || name_size > kMaxBitmapNameSize) {
      return bad(fmt::format("name of {} bytes (1 to {} allowed)", name_size, kMaxBitmapNameSize));
    }
    if (e.table_size == 0 || e.table_size > kMaxBitmapTableEntries ||
        uint64_t{e.table_size} * cluster_size > kMaxBitmapBytes) {
      return bad(fmt::format("bitmap table of {} entries is invalid", e.table_size));
    }
    if (e.table_offset == 0 || e.table_offset % cluster_size != 0 || e.table_offset >= file_size ||
        uint64_t{e.table_size} * 8 > file_size - e.table_offset) {
      return bad(fmt::format(
          "bitmap table at 0x{:x} is not cluster-aligned or lies past the end of the file",
          e.table_offset));
    }
    if (!e.in_use() &&
        image_size > ((uint64_t{e.table_size} * cluster_size * 8) << e.granularity_bits)) {
      return bad(
          fmt::format("bitmap table of {} entries is too small for the image", e.table_size));
    }
    for (const auto& o : out) {
      if (o.name == e.name) return bad("name appears twice in the directory");
    }
    off += BitmapDirectoryEntryBytes(name_size, extra);
    out.push_back(std::move(e));
  }
  if (out.size() != nb) {
    return CorruptionError("'{}': bitmap directory holds {} bitmaps, the header says {}", name,
                           out.size(), nb);
  }
  return out;
}

std::vector<uint8_t> SerializeBitmapDirectory(const std::vector<Qcow2BitmapEntry>& entries) {
  std::vector<uint8_t> out;
  for (const auto& e : entries) {
    size_t at = out.size();
    out.resize(at + BitmapDirectoryEntryBytes(e.name.size()), 0);
    uint8_t* p = out.data() + at;
    StoreBe64(p, e.table_offset);
    StoreBe32(p + 8, e.table_size);
    StoreBe32(p + 12, e.flags);
    p[16] = kBitmapTypeDirtyTracking;
    p[17] = e.granularity_bits;
    StoreBe16(p + 18, static_cast<uint16_t>(e.name.size()));
    StoreBe32(p + 20, 0);
    std::memcpy(p + 24, e.name.data(), e.name.size());
  }
  return out;
}

Status ValidateNewBitmap(const std::string& name, uint64_t granularity, uint64_t image_size,
                         uint64_t cluster_size) {
  if (name.empty()) return InvalidArgumentError("bitmap name cannot be empty");
  if (name.size() > kMaxBitmapNameSize) {
    return InvalidArgumentError("bitmap name of {} bytes is longer than {}", name.size(),
                                kMaxBitmapNameSize);
  }
  if (!std::has_single_bit(granularity) || granularity < (1ull << kMinBitmapGranularityBits) ||
      granularity > (1ull << kMaxBitmapGranularityBits)) {
    return InvalidArgumentError(
        "bitmap '{}': granularity {} is not a power of 2 from 512 bytes to 2 GiB", name,
        granularity);
  }
  const uint32_t gbits = static_cast<uint32_t>(std::countr_zero(granularity));
  const uint64_t bytes = DivRoundUp(DivRoundUp(image_size, granularity), 8);
  if (bytes > kMaxBitmapBytes ||
      BitmapTableEntries(image_size, gbits, cluster_size) > kMaxBitmapTableEntries) {
    return InvalidArgumentError(
        "bitmap '{}': granularity {} needs a {}-byte bitmap (more than {}); use a larger one", name,
        granularity, bytes, kMaxBitmapBytes);
  }
  return Status::Ok();
}

uint64_t DefaultBitmapGranularity(uint64_t cluster_size) {
  return std::clamp<uint64_t>(cluster_size, 4096, 65536);
}

// ---- DirtyBitmap ----

DirtyBitmap::DirtyBitmap(uint64_t image_size, uint32_t granularity_bits)
    : size_(image_size),
      gbits_(granularity_bits),
      nbits_(DivRoundUp(image_size, 1ull << granularity_bits)),
      bytes_(DivRoundUp(nbits_, 8), 0) {}

void DirtyBitmap::Set(uint64_t offset, uint64_t length) {
  if (length == 0 || offset >= size_) return;
  uint64_t first = offset >> gbits_;
  uint64_t end = std::min(nbits_, DivRoundUp(std::min(size_, offset + length), 1ull << gbits_));
  while (first < end && first % 8 != 0) {
    bytes_[first / 8] |= static_cast<uint8_t>(1u << (first % 8));
    ++first;
  }
  if (end - first >= 8) {
    std::memset(bytes_.data() + first / 8, 0xff, (end - first) / 8);
    first += (end - first) / 8 * 8;
  }
  for (; first < end; ++first) bytes_[first / 8] |= static_cast<uint8_t>(1u << (first % 8));
}

void DirtyBitmap::SetAll() {
  std::fill(bytes_.begin(), bytes_.end(), 0xff);
  MaskTail();
}

void DirtyBitmap::Clear() { std::fill(bytes_.begin(), bytes_.end(), 0); }

void DirtyBitmap::MaskTail() {
  if (nbits_ % 8 != 0 && !bytes_.empty()) {
    bytes_.back() &= static_cast<uint8_t>((1u << (nbits_ % 8)) - 1);
  }
}

void DirtyBitmap::Merge(const DirtyBitmap& other) {
  if (other.gbits_ == gbits_) {
    for (size_t i = 0; i < std::min(bytes_.size(), other.bytes_.size()); ++i) {
      bytes_[i] |= other.bytes_[i];
    }
    MaskTail();
    return;
  }
  for (auto [off, len] : other.DirtyRanges()) Set(off, len);
}

void DirtyBitmap::Resize(uint64_t image_size, bool dirty_new) {
  const uint64_t old = size_;
  const uint64_t old_bits = nbits_;
  size_ = image_size;
  nbits_ = DivRoundUp(image_size, 1ull << gbits_);
  bytes_.resize(DivRoundUp(nbits_, 8), 0);
  if (nbits_ < old_bits) {
    MaskTail();
  } else {
    // Bits past the old end that shared its last byte were zero (masked).
    if (dirty_new && image_size > old) Set(old, image_size - old);
  }
}

std::vector<std::pair<uint64_t, uint64_t>> DirtyBitmap::DirtyRanges() const {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  const uint64_t g = 1ull << gbits_;
  uint64_t bit = 0;
  while (bit < nbits_) {
    if (bit % 8 == 0 && bytes_[bit / 8] == 0) {
      bit += 8;
      continue;
    }
    if (!Get(bit)) {
      ++bit;
      continue;
    }
    const uint64_t start = bit;
    while (bit < nbits_) {
      if (bit % 8 == 0 && bit + 8 <= nbits_ && bytes_[bit / 8] == 0xff) {
        bit += 8;
        continue;
      }
      if (!Get(bit)) break;
      ++bit;
    }
    const uint64_t s = start * g;
    out.emplace_back(s, std::min(size_, bit * g) - s);
  }
  return out;
}

uint64_t DirtyBitmap::DirtyBytes() const {
  uint64_t n = 0;
  for (auto [off, len] : DirtyRanges()) n += len;
  return n;
}

bool DirtyBitmap::ChunkIsZero(uint64_t chunk, uint64_t cluster_size) const {
  const uint64_t at = chunk * cluster_size;
  if (at >= bytes_.size()) return true;
  return IsZero(bytes_.data() + at, std::min<uint64_t>(cluster_size, bytes_.size() - at));
}

void DirtyBitmap::ReadChunk(uint64_t chunk, uint64_t cluster_size, std::span<uint8_t> out) const {
  std::fill(out.begin(), out.end(), 0);
  const uint64_t at = chunk * cluster_size;
  if (at >= bytes_.size()) return;
  std::memcpy(out.data(), bytes_.data() + at,
              std::min<uint64_t>({cluster_size, out.size(), bytes_.size() - at}));
}

void DirtyBitmap::WriteChunk(uint64_t chunk, uint64_t cluster_size, std::span<const uint8_t> in) {
  const uint64_t at = chunk * cluster_size;
  if (at >= bytes_.size()) return;
  std::memcpy(bytes_.data() + at, in.data(),
              std::min<uint64_t>({cluster_size, in.size(), bytes_.size() - at}));
  MaskTail();
}

void DirtyBitmap::FillChunk(uint64_t chunk, uint64_t cluster_size) {
  const uint64_t at = chunk * cluster_size;
  if (at >= bytes_.size()) return;
  std::memset(bytes_.data() + at, 0xff, std::min<uint64_t>(cluster_size, bytes_.size() - at));
  MaskTail();
}

// ---- Qcow2Image: loading ----

Status Qcow2Image::LoadBitmapsLocked(uint64_t file_size, bool load_data) {
  bitmaps_.clear();
  bool stale = false;
  SKIFF_ASSIGN_OR_RETURN(auto ext, FindBitmapExtension(header_, file_size, path(), &stale));
  bitmaps_stale_ = stale;
  if (!ext) return Status::Ok();
  std::vector<uint8_t> raw(ext->directory_size);
  SKIFF_TRY(file_.ReadExact(ext->directory_offset, raw));
  SKIFF_ASSIGN_OR_RETURN(auto entries, ParseBitmapDirectory(raw, ext->nb_bitmaps, cluster_size_,
                                                            header_.size, file_size, path()));
  for (auto& e : entries) {
    LiveBitmap b;
    b.entry = std::move(e);
    if (load_data && !b.entry.in_use()) {
      SKIFF_ASSIGN_OR_RETURN(DirtyBitmap bits, LoadBitmapDataLocked(b.entry));
      b.bits = std::move(bits);
    }
    bitmaps_.push_back(std::move(b));
  }
  return Status::Ok();
}

Result<DirtyBitmap> Qcow2Image::LoadBitmapDataLocked(const Qcow2BitmapEntry& e) {
  DirtyBitmap bits(header_.size, e.granularity_bits);
  const uint64_t n = BitmapTableEntries(header_.size, e.granularity_bits, cluster_size_);
  if (e.table_size != n) {
    return CorruptionError("'{}': bitmap '{}' has a table of {} entries, the image needs {}",
                           path(), e.name, e.table_size, n);
  }
  std::vector<uint8_t> table(uint64_t{e.table_size} * 8);
  SKIFF_TRY(file_.ReadExact(e.table_offset, table));
  SKIFF_ASSIGN_OR_RETURN(uint64_t file_size, file_.Size());
  std::vector<uint8_t> cluster(cluster_size_);
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t entry = LoadBe64(table.data() + i * 8);
    const uint64_t off = entry & kBitmapTableOffsetMask;
    if ((entry & kBitmapTableReservedMask) || (off != 0 && (entry & kBitmapTableAllOnes)) ||
        off % cluster_size_ != 0 ||
        (off != 0 && off + cluster_size_ > AlignUp(file_size, cluster_size_))) {
      return CorruptionError("'{}': bitmap '{}': table entry {} (0x{:x}) is invalid", path(),
                             e.name, i, entry);
    }
    if (off != 0) {
      SKIFF_TRY(file_.ReadZeroFill(off, cluster));
      bits.WriteChunk(i, cluster_size_, cluster);
    } else if (entry & kBitmapTableAllOnes) {
      bits.FillChunk(i, cluster_size_);
    }
  }
  return bits;
}

// ---- Qcow2Image: storing ----

Result<Qcow2BitmapEntry> Qcow2Image::WriteBitmapDataLocked(const DirtyBitmap& bits,
                                                           Qcow2BitmapEntry e) {
  const uint64_t n = BitmapTableEntries(bits.image_size(), bits.granularity_bits(), cluster_size_);
  std::vector<uint64_t> table(n, 0);
  std::vector<uint8_t> cluster(cluster_size_);
  for (uint64_t i = 0; i < n; ++i) {
    if (bits.ChunkIsZero(i, cluster_size_)) continue;
    SKIFF_ASSIGN_OR_RETURN(table[i], refcounts_->Allocate(1));
    bits.ReadChunk(i, cluster_size_, cluster);
    SKIFF_TRY(file_.WriteAll(table[i], cluster));
  }
  const uint64_t clusters = DivRoundUp(n * 8, cluster_size_);
  SKIFF_ASSIGN_OR_RETURN(uint64_t off, refcounts_->Allocate(clusters));
  std::vector<uint8_t> raw(clusters * cluster_size_, 0);
  for (uint64_t i = 0; i < n; ++i) StoreBe64(raw.data() + i * 8, table[i]);
  SKIFF_TRY(file_.WriteAll(off, raw));
  e.table_offset = off;
  e.table_size = static_cast<uint32_t>(n);
  e.granularity_bits = static_cast<uint8_t>(bits.granularity_bits());
  return e;
}

Status Qcow2Image::FreeBitmapTableLocked(const Qcow2BitmapEntry& e) {
  if (e.table_offset == 0 || e.table_size == 0) return Status::Ok();
  std::vector<uint8_t> table(uint64_t{e.table_size} * 8);
  SKIFF_TRY(file_.ReadExact(e.table_offset, table));
  for (uint32_t i = 0; i < e.table_size; ++i) {
    const uint64_t off = LoadBe64(table.data() + uint64_t{i} * 8) & kBitmapTableOffsetMask;
    if (off != 0 && off % cluster_size_ == 0)
      SKIFF_TRY(refcounts_->Add(off / cluster_size_, 1, -1));
  }
  return refcounts_->Add(e.table_offset / cluster_size_,
                         DivRoundUp(uint64_t{e.table_size} * 8, cluster_size_), -1);
}

Status Qcow2Image::WriteBitmapDirectoryLocked(const std::vector<Qcow2BitmapEntry>& dir) {
  bool stale = false;
  SKIFF_ASSIGN_OR_RETURN(uint64_t file_size, file_.Size());
  auto old = FindBitmapExtension(
      header_, std::max(file_size, refcounts_->end_cluster() * cluster_size_), path(), &stale);
  std::optional<Qcow2BitmapExtension> ext;
  if (!dir.empty()) {
    std::vector<uint8_t> raw = SerializeBitmapDirectory(dir);
    const uint64_t clusters = DivRoundUp(raw.size(), cluster_size_);
    Qcow2BitmapExtension e;
    e.nb_bitmaps = static_cast<uint32_t>(dir.size());
    e.directory_size = raw.size();
    SKIFF_ASSIGN_OR_RETURN(e.directory_offset, refcounts_->Allocate(clusters));
    raw.resize(clusters * cluster_size_, 0);
    SKIFF_TRY(file_.WriteAll(e.directory_offset, raw));
    ext = e;
  }
  SKIFF_TRY(refcounts_->WriteDirty());
  SKIFF_TRY(file_.Sync());
  // A failed header write leaves the file's header (and ours) as it was; the
  // new directory's cluster is then only a leak.
  const Qcow2Header before = header_;
  SetBitmapExtension(header_, ext);
  if (Status st = WriteHeaderLocked(); !st.ok()) {
    header_ = before;
    return st;
  }
  if (old.ok() && *old) {
    SKIFF_TRY(refcounts_->Add((*old)->directory_offset / cluster_size_,
                              DivRoundUp((*old)->directory_size, cluster_size_), -1));
  }
  return Status::Ok();
}

bool Qcow2Image::BitmapsNeedStoreLocked() const {
  if (bitmaps_dirty_ || bitmaps_marked_) return true;
  return std::any_of(bitmaps_.begin(), bitmaps_.end(),
                     [](const LiveBitmap& b) { return b.changed; });
}

Status Qcow2Image::StoreBitmapsLocked() {
  if (!BitmapsNeedStoreLocked()) return Status::Ok();
  SKIFF_TRY(FlushLocked());
  std::vector<Qcow2BitmapEntry> to_free = std::move(bitmaps_removed_);
  bitmaps_removed_.clear();
  std::vector<Qcow2BitmapEntry> dir;
  for (auto& b : bitmaps_) {
    Qcow2BitmapEntry e = b.entry;
    if (b.bits && (b.changed || e.table_offset == 0)) {
      if (e.table_offset != 0) to_free.push_back(e);
      SKIFF_ASSIGN_OR_RETURN(e, WriteBitmapDataLocked(*b.bits, e));
    }
    // A bitmap we hold in memory is consistent once stored; one that was in
    // use when we opened the image stays marked (its content is unknown).
    if (b.bits) e.flags &= ~kBitmapFlagInUse;
    dir.push_back(std::move(e));
  }
  SKIFF_TRY(WriteBitmapDirectoryLocked(dir));
  for (size_t i = 0; i < bitmaps_.size(); ++i) {
    bitmaps_[i].entry = dir[i];
    bitmaps_[i].changed = false;
  }
  bitmaps_dirty_ = false;
  bitmaps_marked_ = false;
  for (const auto& e : to_free) SKIFF_TRY(FreeBitmapTableLocked(e));
  return FlushLocked();
}

// Before the first guest write that enabled bitmaps must record: they are
// marked in use in the file, so that a crash before Close stores them leaves
// them known to be stale rather than silently wrong.
Status Qcow2Image::MarkBitmapsInUseLocked(bool all) {
  SKIFF_TRY(StoreBitmapsLocked());  // pending edits first (it does nothing without them)
  std::vector<Qcow2BitmapEntry> dir;
  for (const auto& b : bitmaps_) {
    Qcow2BitmapEntry e = b.entry;
    if (b.bits && (all || e.enabled())) e.flags |= kBitmapFlagInUse;
    dir.push_back(std::move(e));
  }
  SKIFF_TRY(WriteBitmapDirectoryLocked(dir));
  for (size_t i = 0; i < bitmaps_.size(); ++i) bitmaps_[i].entry = dir[i];
  bitmaps_marked_ = true;
  return Status::Ok();
}

Status Qcow2Image::NoteGuestChangeLocked(uint64_t offset, uint64_t length) {
  bool tracking = false;
  for (const auto& b : bitmaps_) tracking |= b.bits && b.entry.enabled();
  if (!tracking || length == 0) return Status::Ok();
  if (!bitmaps_marked_) SKIFF_TRY(MarkBitmapsInUseLocked(false));
  for (auto& b : bitmaps_) {
    if (b.bits && b.entry.enabled()) {
      b.bits->Set(offset, length);
      b.changed = true;
    }
  }
  return Status::Ok();
}

Status Qcow2Image::ResizeBitmapsLocked(uint64_t new_size) {
  if (bitmaps_.empty()) return Status::Ok();
  for (const auto& b : bitmaps_) {
    if (!b.bits) {
      return FailedPreconditionError(
          "'{}': bitmap '{}' is inconsistent; remove it ('skiff img bitmap --remove') before "
          "resizing",
          path(), b.entry.name);
    }
  }
  SKIFF_TRY(MarkBitmapsInUseLocked(true));
  for (auto& b : bitmaps_) {
    // Grown space is dirty for enabled bitmaps: an incremental copy must take it.
    b.bits->Resize(new_size, b.entry.enabled());
    b.changed = true;
  }
  return Status::Ok();
}

// ---- Qcow2Image: the public operations ----

Qcow2Image::LiveBitmap* Qcow2Image::FindBitmapLocked(const std::string& name) {
  for (auto& b : bitmaps_) {
    if (b.entry.name == name) return &b;
  }
  return nullptr;
}

std::vector<Qcow2BitmapEntry> Qcow2Image::bitmaps() const {
  std::lock_guard lk(mu_);
  std::vector<Qcow2BitmapEntry> out;
  for (const auto& b : bitmaps_) out.push_back(b.entry);
  return out;
}

Result<Qcow2Image::LiveBitmap*> Qcow2Image::UsableBitmapLocked(const std::string& name) {
  SKIFF_TRY(CheckWritable());
  LiveBitmap* b = FindBitmapLocked(name);
  if (b == nullptr) return NotFoundError("'{}': no bitmap '{}'", path(), name);
  if (!b->bits) {
    return FailedPreconditionError(
        "'{}': bitmap '{}' is inconsistent (in use when the image was last closed); remove it",
        path(), name);
  }
  return b;
}

Result<DirtyBitmap> Qcow2Image::ReadBitmap(const std::string& name) {
  std::lock_guard lk(mu_);
  LiveBitmap* b = FindBitmapLocked(name);
  if (b == nullptr) return NotFoundError("'{}': no bitmap '{}'", path(), name);
  if (b->bits) return *b->bits;
  if (b->entry.in_use()) {
    return FailedPreconditionError(
        "'{}': bitmap '{}' is inconsistent (in use when the image was last closed)", path(), name);
  }
  return LoadBitmapDataLocked(b->entry);
}

Status Qcow2Image::AddBitmap(const std::string& name, uint64_t granularity, bool enabled) {
  std::lock_guard lk(mu_);
  SKIFF_TRY(CheckWritable());
  if (header_.version < 3) {
    return FailedPreconditionError("'{}': cannot store dirty bitmaps in qcow2 v2 files", path());
  }
  {
    // Refused now rather than when Close writes the header (after allocating
    // the tables): with 512-byte clusters the v3 header and its feature table
    // leave no room for the bitmaps extension.
    Qcow2Header probe = header_;
    SetBitmapExtension(probe, Qcow2BitmapExtension{1, 1, cluster_size_});
    if (!SerializeQcow2Header(probe).ok()) {
      return FailedPreconditionError(
          "'{}': the {}-byte header cluster has no room for the bitmaps extension", path(),
          cluster_size_);
    }
  }
  if (granularity == 0) granularity = DefaultBitmapGranularity(cluster_size_);
  SKIFF_TRY(ValidateNewBitmap(name, granularity, header_.size, cluster_size_));
  if (FindBitmapLocked(name) != nullptr) {
    return AlreadyExistsError("'{}': bitmap '{}' already exists", path(), name);
  }
  if (bitmaps_.size() >= kMaxBitmaps) {
    return FailedPreconditionError("'{}': too many bitmaps (at most {})", path(), kMaxBitmaps);
  }
  LiveBitmap b;
  b.entry.name = name;
  b.entry.granularity_bits = static_cast<uint8_t>(std::countr_zero(granularity));
  b.entry.flags = enabled ? kBitmapFlagAuto : 0;
  b.bits = DirtyBitmap(header_.size, b.entry.granularity_bits);
  b.changed = true;
  bitmaps_.push_back(std::move(b));
  bitmaps_dirty_ = true;
  return Status::Ok();
}

Status Qcow2Image::RemoveBitmap(const std::string& name) {
  std::lock_guard lk(mu_);
  SKIFF_TRY(CheckWritable());
  LiveBitmap* b = FindBitmapLocked(name);
  if (b == nullptr) return NotFoundError("'{}': no bitmap '{}'", path(), name);
  if (b->entry.table_offset != 0) bitmaps_removed_.push_back(b->entry);
  bitmaps_.erase(bitmaps_.begin() + (b - bitmaps_.data()));
  bitmaps_dirty_ = true;
  return Status::Ok();
}

Status Qcow2Image::ClearBitmap(const std::string& name) {
  std::lock_guard lk(mu_);
  SKIFF_ASSIGN_OR_RETURN(LiveBitmap * b, UsableBitmapLocked(name));
  b->bits->Clear();
  b->changed = true;
  return Status::Ok();
}

Status Qcow2Image::SetBitmapEnabled(const std::string& name, bool enabled) {
  std::lock_guard lk(mu_);
  SKIFF_ASSIGN_OR_RETURN(LiveBitmap * b, UsableBitmapLocked(name));
  const uint32_t flags =
      enabled ? (b->entry.flags | kBitmapFlagAuto) : (b->entry.flags & ~kBitmapFlagAuto);
  if (flags != b->entry.flags) {
    b->entry.flags = flags;
    bitmaps_dirty_ = true;
  }
  return Status::Ok();
}

Status Qcow2Image::MergeBitmap(const std::string& target, const DirtyBitmap& source) {
  std::lock_guard lk(mu_);
  SKIFF_ASSIGN_OR_RETURN(LiveBitmap * b, UsableBitmapLocked(target));
  if (source.image_size() != header_.size) {
    return InvalidArgumentError(
        "'{}': bitmaps are of different sizes (bitmap '{}' covers {} bytes, the source {}) and "
        "cannot be merged",
        path(), target, header_.size, source.image_size());
  }
  b->bits->Merge(source);
  b->changed = true;
  return Status::Ok();
}

Status Qcow2Image::StoreBitmaps() {
  std::lock_guard lk(mu_);
  SKIFF_TRY(CheckWritable());
  return StoreBitmapsLocked();
}

Status Qcow2Image::DiscardBitmapChanges() {
  std::lock_guard lk(mu_);
  SKIFF_TRY(CheckWritable());
  if (bitmaps_marked_) {
    return FailedPreconditionError("'{}': bitmaps track writes already made; cannot discard",
                                   path());
  }
  bitmaps_removed_.clear();
  bitmaps_dirty_ = false;
  SKIFF_ASSIGN_OR_RETURN(uint64_t file_size, file_.Size());
  return LoadBitmapsLocked(std::max(file_size, refcounts_->end_cluster() * cluster_size_), true);
}

}  // namespace skiff::image
