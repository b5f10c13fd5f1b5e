// Persistent dirty bitmaps of qcow2 v3 images (spec section "Bitmaps"): the
// bitmaps header extension, the bitmap directory, and the in-memory bitmap
// whose clusters are the on-disk bitmap data. Reading, tracking writes and
// storing them are Qcow2Image methods (qcow2_bitmap.cc).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "image/qcow2_header.h"
#include "skiff/base/status.h"

namespace skiff::image {

inline constexpr uint32_t kBitmapFlagInUse = 1u << 0;
inline constexpr uint32_t kBitmapFlagAuto = 1u << 1;
inline constexpr uint32_t kBitmapFlagExtraDataCompatible = 1u << 2;
// QEMU's limits, shared so that images move both ways.
inline constexpr uint32_t kMaxBitmaps = 65535;
inline constexpr uint32_t kMaxBitmapNameSize = 1023;
inline constexpr uint64_t kMaxBitmapDirectoryBytes = 1024ull * kMaxBitmaps;
inline constexpr uint32_t kMinBitmapGranularityBits = 9;
inline constexpr uint32_t kMaxBitmapGranularityBits = 31;
inline constexpr uint64_t kMaxBitmapTableEntries = 0x8000000;
inline constexpr uint64_t kMaxBitmapBytes = 0x20000000;
inline constexpr uint64_t kBitmapTableOffsetMask = 0x00fffffffffffe00ull;
inline constexpr uint64_t kBitmapTableReservedMask = 0xff000000000001feull;
inline constexpr uint64_t kBitmapTableAllOnes = 1ull;

// The bitmaps header extension (24 bytes).
struct Qcow2BitmapExtension {
  uint32_t nb_bitmaps = 0;
  uint64_t directory_size = 0;
  uint64_t directory_offset = 0;
};

// The extension of `h`, checked against the file (nullopt: none). An extension
// without the autoclear bit is stale (a program that does not know bitmaps
// wrote the image): nullopt too, with `*stale` set.
Result<std::optional<Qcow2BitmapExtension>> FindBitmapExtension(const Qcow2Header& h,
                                                                uint64_t file_size,
                                                                const std::string& name,
                                                                bool* stale);
// Replaces (or with nullopt removes) the extension, and sets or clears the
// autoclear bit to match.
void SetBitmapExtension(Qcow2Header& h, const std::optional<Qcow2BitmapExtension>& ext);

// One bitmap directory entry.
struct Qcow2BitmapEntry {
  uint64_t table_offset = 0;
  uint32_t table_size = 0;  // entries
  uint32_t flags = 0;
  uint8_t granularity_bits = 16;
  std::string name;

  uint64_t granularity() const { return 1ull << granularity_bits; }
  bool in_use() const { return flags & kBitmapFlagInUse; }
  bool enabled() const { return flags & kBitmapFlagAuto; }
};

// Bytes one directory entry takes (padded to 8).
uint64_t BitmapDirectoryEntryBytes(uint64_t name_size, uint64_t extra_data_size = 0);

// Entries of the bitmap table a bitmap of `granularity_bits` needs on an image
// of `image_size` bytes with `cluster_size` clusters.
uint64_t BitmapTableEntries(uint64_t image_size, uint32_t granularity_bits, uint64_t cluster_size);

// Parses a directory of `nb` entries, checking each as QEMU does (type,
// granularity, flags, name size, table alignment and size, extra data) and
// its table against the file. Errors name the image and the entry.
Result<std::vector<Qcow2BitmapEntry>> ParseBitmapDirectory(std::span<const uint8_t> dir,
                                                           uint32_t nb, uint64_t cluster_size,
                                                           uint64_t image_size, uint64_t file_size,
                                                           const std::string& name);
std::vector<uint8_t> SerializeBitmapDirectory(const std::vector<Qcow2BitmapEntry>& entries);

// Checks a new bitmap's name and granularity for an image (QEMU's constraints);
// kInvalidArgument naming the problem.
Status ValidateNewBitmap(const std::string& name, uint64_t granularity, uint64_t image_size,
                         uint64_t cluster_size);
// QEMU's default granularity for a new bitmap: the cluster size within [4 KiB, 64 KiB].
uint64_t DefaultBitmapGranularity(uint64_t cluster_size);

// A dirty bitmap in memory: bit n covers guest bytes [n*g, (n+1)*g), stored
// as the qcow2 data clusters hold it (byte k bit b is bit 8k+b).
class DirtyBitmap {
 public:
  DirtyBitmap() = default;
  DirtyBitmap(uint64_t image_size, uint32_t granularity_bits);

  uint64_t image_size() const { return size_; }
  uint32_t granularity_bits() const { return gbits_; }
  uint64_t granularity() const { return 1ull << gbits_; }
  uint64_t bits() const { return nbits_; }

  // Marks every granule touching [offset, offset+length) dirty.
  void Set(uint64_t offset, uint64_t length);
  void SetAll();
  void Clear();
  bool Get(uint64_t bit) const { return bit < nbits_ && (bytes_[bit / 8] >> (bit % 8)) & 1; }
  // Adds every dirty byte range of `other` (whatever its granularity).
  void Merge(const DirtyBitmap& other);
  // A new image size: bits past the end go, new ones start dirty when `dirty_new`.
  void Resize(uint64_t image_size, bool dirty_new);
  // The dirty guest byte ranges, merged, in order (clipped to the image size).
  std::vector<std::pair<uint64_t, uint64_t>> DirtyRanges() const;
  uint64_t DirtyBytes() const;

  // The serialised bitmap, `chunk` by `chunk` of `cluster_size` bytes (the last
  // one zero-padded), as qcow2 bitmap data clusters hold it.
  bool ChunkIsZero(uint64_t chunk, uint64_t cluster_size) const;
  void ReadChunk(uint64_t chunk, uint64_t cluster_size, std::span<uint8_t> out) const;
  void WriteChunk(uint64_t chunk, uint64_t cluster_size, std::span<const uint8_t> in);
  void FillChunk(uint64_t chunk, uint64_t cluster_size);

 private:
  void MaskTail();

  uint64_t size_ = 0;
  uint32_t gbits_ = 16;
  uint64_t nbits_ = 0;
  std::vector<uint8_t> bytes_;
};

}  // namespace skiff::image
