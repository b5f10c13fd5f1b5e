// The qcow2 header (cluster 0): parsing with validation against the file size,
// and serialisation that preserves extensions we do not interpret.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "skiff/base/status.h"

namespace skiff::image {

inline constexpr uint32_t kQcow2Magic = 0x514649fb;
inline constexpr uint64_t kIncompatDirty = 1ull << 0;
inline constexpr uint64_t kIncompatCorrupt = 1ull << 1;
inline constexpr uint64_t kIncompatDataFile = 1ull << 2;
inline constexpr uint64_t kIncompatCompression = 1ull << 3;
inline constexpr uint64_t kIncompatExtendedL2 = 1ull << 4;
inline constexpr uint64_t kIncompatKnown = 0x1f;
inline constexpr uint64_t kCompatLazyRefcounts = 1ull << 0;
inline constexpr uint64_t kAutoclearBitmaps = 1ull << 0;
inline constexpr uint64_t kAutoclearDataFileRaw = 1ull << 1;

inline constexpr uint32_t kExtEnd = 0;
inline constexpr uint32_t kExtBackingFormat = 0xe2792aca;
inline constexpr uint32_t kExtFeatureTable = 0x6803f857;
inline constexpr uint32_t kExtBitmaps = 0x23852875;
inline constexpr uint32_t kExtCrypto = 0x0537be77;
inline constexpr uint32_t kExtDataFile = 0x44415441;

// QEMU's limits, which we share so that images move both ways.
inline constexpr uint64_t kMaxL1Bytes = 32ull << 20;
inline constexpr uint64_t kMaxRefcountTableBytes = 8ull << 20;
inline constexpr uint32_t kMaxBackingNameLength = 1023;
inline constexpr uint32_t kMaxSnapshots = 65536;
inline constexpr uint64_t kMaxHostOffset = 1ull << 56;

struct Qcow2Header {
  uint32_t version = 3;
  uint64_t backing_file_offset = 0;
  uint32_t backing_file_size = 0;
  uint32_t cluster_bits = 16;
  uint64_t size = 0;
  uint32_t crypt_method = 0;
  uint32_t l1_size = 0;
  uint64_t l1_table_offset = 0;
  uint64_t refcount_table_offset = 0;
  uint32_t refcount_table_clusters = 0;
  uint32_t nb_snapshots = 0;
  uint64_t snapshots_offset = 0;
  uint64_t incompatible_features = 0;
  uint64_t compatible_features = 0;
  uint64_t autoclear_features = 0;
  uint32_t refcount_order = 4;
  uint32_t header_length = 112;
  uint8_t compression_type = 0;  // 0 zlib (deflate), 1 zstd
  // Header bytes beyond the fields we know (from 112 to header_length), kept verbatim.
  std::string extra_fields;

  std::string backing_file;    // empty: none
  std::string backing_format;  // from the backing-format extension
  // Extensions we keep but do not interpret (bitmaps, unknown types), in file order.
  std::vector<std::pair<uint32_t, std::string>> other_extensions;
  // Names from the feature table: (type << 8 | bit) -> name.
  std::vector<std::pair<uint16_t, std::string>> feature_names;

  uint64_t cluster_size() const { return 1ull << cluster_bits; }
  bool extended_l2() const { return incompatible_features & kIncompatExtendedL2; }
  uint32_t refcount_bits() const { return 1u << refcount_order; }
  bool has_bitmaps_extension() const;
};

// Parses and validates the header in `head` (the first bytes of the file, at
// least min(cluster size, file size)). Checks every table offset against the
// file size and QEMU's limits; an unknown incompatible feature, encryption and
// external data files are refused with kUnsupported. Errors name `name` and the
// offending field and value.
Result<Qcow2Header> ParseQcow2Header(std::span<const uint8_t> head, uint64_t file_size,
                                     const std::string& name);

// The bytes of cluster 0 for `h`: header, extensions (backing format, feature
// table for v3, preserved ones), and the backing file name. kInvalidArgument
// if they do not fit in one cluster.
Result<std::vector<uint8_t>> SerializeQcow2Header(const Qcow2Header& h);

// A human name for an incompatible feature bit (from the table when present).
std::string IncompatibleFeatureName(const Qcow2Header& h, int bit);

}  // namespace skiff::image
