// qcow2 header parsing/serialisation (see docs/formats/qcow2.md for the checks).
#include "image/qcow2_header.h"

#include <algorithm>
#include <cstring>

#include "image/endian.h"

namespace skiff::image {
namespace {

const char* const kIncompatNames[] = {"dirty bit", "corrupt bit", "external data file",
                                      "compression type", "extended L2 entries"};

struct FeatureEntry {
  uint8_t type;
  uint8_t bit;
  const char* name;
};
const FeatureEntry kFeatureTable[] = {
    {0, 0, "dirty bit"},        {0, 1, "corrupt bit"},         {0, 2, "external data file"},
    {0, 3, "compression type"}, {0, 4, "extended L2 entries"}, {1, 0, "lazy refcounts"},
    {2, 0, "bitmaps"},          {2, 1, "raw external data"},
};

}  // namespace

bool Qcow2Header::has_bitmaps_extension() const {
  for (const auto& [type, data] : other_extensions) {
    if (type == kExtBitmaps) return true;
  }
  return false;
}

std::string IncompatibleFeatureName(const Qcow2Header& h, int bit) {
  for (const auto& [key, name] : h.feature_names) {
    if (key == static_cast<uint16_t>(bit)) return name;
  }
  if (bit >= 0 && bit < 5) return kIncompatNames[bit];
  return fmt::format("unknown feature bit {}", bit);
}

namespace {

Status Corrupt(const std::string& name, const std::string& msg) {
  return CorruptionError("'{}': {}", name, msg);
}

// The fixed fields: version 2's 72 bytes, version 3's 104 and the optional
// fields after them (up to header_length).
Status ParseFixedFields(std::span<const uint8_t> head, uint64_t file_size, const std::string& name,
                        Qcow2Header& h) {
  if (head.size() < 72) {
    return Corrupt(name,
                   fmt::format("file of {} bytes is too short for a qcow2 header", file_size));
  }
  const uint8_t* p = head.data();
  if (LoadBe32(p) != kQcow2Magic) return Corrupt(name, "not a qcow2 image (bad magic at 0x0)");
  h.version = LoadBe32(p + 4);
  if (h.version != 2 && h.version != 3) {
    return UnsupportedError("'{}': unsupported qcow2 version {} (at 0x4)", name, h.version);
  }
  h.backing_file_offset = LoadBe64(p + 8);
  h.backing_file_size = LoadBe32(p + 16);
  h.cluster_bits = LoadBe32(p + 20);
  h.size = LoadBe64(p + 24);
  h.crypt_method = LoadBe32(p + 32);
  h.l1_size = LoadBe32(p + 36);
  h.l1_table_offset = LoadBe64(p + 40);
  h.refcount_table_offset = LoadBe64(p + 48);
  h.refcount_table_clusters = LoadBe32(p + 56);
  h.nb_snapshots = LoadBe32(p + 60);
  h.snapshots_offset = LoadBe64(p + 64);
  if (h.cluster_bits < 9 || h.cluster_bits > 21) {
    return Corrupt(name, fmt::format("cluster_bits {} at 0x14 is outside 9..21", h.cluster_bits));
  }
  const uint64_t cs = h.cluster_size();
  if (h.version == 2) {
    h.header_length = 72;
    h.refcount_order = 4;
  } else {
    if (head.size() < 104) return Corrupt(name, "v3 header is truncated (file ends before 0x68)");
    h.incompatible_features = LoadBe64(p + 72);
    h.compatible_features = LoadBe64(p + 80);
    h.autoclear_features = LoadBe64(p + 88);
    h.refcount_order = LoadBe32(p + 96);
    h.header_length = LoadBe32(p + 100);
    if (h.header_length < 104 || h.header_length % 8 != 0 || h.header_length > cs ||
        h.header_length > head.size()) {
      return Corrupt(name, fmt::format("header_length {} at 0x64 is invalid", h.header_length));
    }
    if (h.header_length > 104) h.compression_type = p[104];
    if (h.header_length > 112) {
      h.extra_fields.assign(reinterpret_cast<const char*>(p + 112), h.header_length - 112);
    }
  }
  if (h.refcount_order > 6) {
    return Corrupt(name, fmt::format("refcount_order {} at 0x60 is above 6", h.refcount_order));
  }
  return Status::Ok();
}

// Header extensions, all inside cluster 0 (the first `head_len` bytes of `p`).
Status ParseExtensions(const uint8_t* p, uint64_t head_len, const std::string& name,
                       Qcow2Header& h) {
  uint64_t off = h.header_length;
  bool seen_end = false;
  while (off + 8 <= head_len) {
    uint32_t type = LoadBe32(p + off);
    uint32_t len = LoadBe32(p + off + 4);
    if (type == kExtEnd) {
      seen_end = true;
      break;
    }
    uint64_t data = off + 8;
    if (len > head_len - data) {
      return Corrupt(
          name, fmt::format("header extension 0x{:08x} at 0x{:x} of {} bytes overruns cluster 0",
                            type, off, len));
    }
    std::string bytes(reinterpret_cast<const char*>(p + data), len);
    switch (type) {
      case kExtBackingFormat:
        h.backing_format = bytes.substr(0, std::min<size_t>(bytes.find('\0'), bytes.size()));
        break;
      case kExtFeatureTable:
        for (size_t i = 0; i + 48 <= bytes.size(); i += 48) {
          const char* nm = bytes.data() + i + 2;
          size_t n = strnlen(nm, 46);
          h.feature_names.emplace_back(
              static_cast<uint16_t>(uint8_t(bytes[i]) << 8 | uint8_t(bytes[i + 1])),
              std::string(nm, n));
        }
        break;
      case kExtDataFile:
        return UnsupportedError("'{}': external data files are not supported", name);
      default:
        h.other_extensions.emplace_back(type, std::move(bytes));
        break;
    }
    off = data + AlignUp(len, 8);
  }
  if (!seen_end && h.version == 3 && off < head_len) {
    return Corrupt(
        name, fmt::format("header extension area at 0x{:x} has no end marker", h.header_length));
  }
  return Status::Ok();
}

// Incompatible features we do not implement, encryption, compression type
// and extended L2 entries.
Status CheckFeatures(const Qcow2Header& h, const std::string& name) {
  uint64_t unknown = h.incompatible_features & ~kIncompatKnown;
  if (unknown != 0) {
    std::string names;
    for (int b = 0; b < 64; ++b) {
      if (unknown & (1ull << b)) {
        if (!names.empty()) names += ", ";
        std::string fname;
        for (const auto& [key, nm] : h.feature_names) {
          if (key == static_cast<uint16_t>(b)) fname = nm;
        }
        names += fname.empty() ? fmt::format("bit {}", b) : fmt::format("'{}' (bit {})", fname, b);
      }
    }
    return UnsupportedError("'{}': unsupported incompatible qcow2 feature: {} (at 0x48)", name,
                            names);
  }
  if (h.incompatible_features & kIncompatDataFile) {
    return UnsupportedError("'{}': external data files are not supported", name);
  }
  if (h.crypt_method != 0) {
    return UnsupportedError("'{}': encrypted qcow2 images (crypt_method {}) are not supported",
                            name, h.crypt_method);
  }
  if (h.incompatible_features & kIncompatCompression) {
    if (h.header_length <= 104 || h.compression_type == 0) {
      return Corrupt(name, "compression type bit is set but compression_type field is 0 (at 0x68)");
    }
  }
  if (h.compression_type > 1) {
    return UnsupportedError("'{}': unknown compression type {} (at 0x68)", name,
                            h.compression_type);
  }
  if (h.compression_type != 0 && !(h.incompatible_features & kIncompatCompression)) {
    return Corrupt(
        name, fmt::format("compression_type {} at 0x68 without the compression type feature bit",
                          h.compression_type));
  }
  if (h.extended_l2() && h.cluster_bits < 14) {
    return Corrupt(
        name, fmt::format("extended L2 entries need clusters of 16 KiB or more (cluster_bits {})",
                          h.cluster_bits));
  }
  return Status::Ok();
}

// The virtual size and the L1, refcount and snapshot tables' places and sizes.
Status CheckTables(const Qcow2Header& h, uint64_t file_size, const std::string& name) {
  const uint64_t cs = h.cluster_size();
  if (h.size > (1ull << 63) - 1) {
    return Corrupt(name, fmt::format("virtual size {} at 0x18 is too large", h.size));
  }
  const uint64_t l2_entries = cs / (h.extended_l2() ? 16 : 8);
  // Guard the multiplication: cluster_size * l2_entries <= 2^21 * 2^18.
  const uint64_t bytes_per_l1 = cs * l2_entries;
  const uint64_t needed_l1 = DivRoundUp(h.size, bytes_per_l1);
  if (uint64_t{h.l1_size} * 8 > kMaxL1Bytes) {
    return Corrupt(
        name, fmt::format("L1 table of {} entries (at 0x24) exceeds the 32 MiB limit", h.l1_size));
  }
  if (needed_l1 > h.l1_size) {
    return Corrupt(name,
                   fmt::format("L1 table of {} entries (at 0x24) is too small for virtual size {}",
                               h.l1_size, h.size));
  }
  if (h.l1_size > 0) {
    if (h.l1_table_offset % cs != 0) {
      return Corrupt(name,
                     fmt::format("L1 table at 0x{:x} is not cluster-aligned", h.l1_table_offset));
    }
    if (h.l1_table_offset == 0 || h.l1_table_offset > file_size ||
        uint64_t{h.l1_size} * 8 > file_size - h.l1_table_offset) {
      return Corrupt(name,
                     fmt::format("L1 table at 0x{:x} ({} entries) lies past the end of the file",
                                 h.l1_table_offset, h.l1_size));
    }
  }
  if (h.refcount_table_offset % cs != 0 || h.refcount_table_offset == 0) {
    return Corrupt(name, fmt::format("refcount table at 0x{:x} is not cluster-aligned",
                                     h.refcount_table_offset));
  }
  if (h.refcount_table_clusters == 0 ||
      uint64_t{h.refcount_table_clusters} * cs > kMaxRefcountTableBytes) {
    return Corrupt(
        name, fmt::format("refcount table of {} clusters (at 0x38) is invalid or exceeds 8 MiB",
                          h.refcount_table_clusters));
  }
  if (h.refcount_table_offset >= file_size) {
    return Corrupt(name, fmt::format("refcount table at 0x{:x} lies past the end of the file",
                                     h.refcount_table_offset));
  }
  if (h.nb_snapshots > kMaxSnapshots) {
    return Corrupt(name, fmt::format("{} snapshots (at 0x3c) exceed the limit of {}",
                                     h.nb_snapshots, kMaxSnapshots));
  }
  if (h.nb_snapshots > 0) {
    if (h.snapshots_offset % cs != 0) {
      return Corrupt(
          name, fmt::format("snapshot table at 0x{:x} is not cluster-aligned", h.snapshots_offset));
    }
    if (h.snapshots_offset == 0 || h.snapshots_offset >= file_size) {
      return Corrupt(name, fmt::format("snapshot table at 0x{:x} lies past the end of the file",
                                       h.snapshots_offset));
    }
  }
  return Status::Ok();
}

// The backing file's name, which must lie inside cluster 0.
Status ParseBackingName(const uint8_t* p, uint64_t head_len, const std::string& name,
                        Qcow2Header& h) {
  if (h.backing_file_offset == 0) return Status::Ok();
  if (h.backing_file_size > kMaxBackingNameLength || h.backing_file_size == 0) {
    return Corrupt(
        name, fmt::format("backing file name length {} (at 0x10) is invalid", h.backing_file_size));
  }
  if (h.backing_file_offset > head_len || h.backing_file_size > head_len - h.backing_file_offset) {
    return Corrupt(name, fmt::format("backing file name at 0x{:x} lies outside cluster 0",
                                     h.backing_file_offset));
  }
  h.backing_file.assign(reinterpret_cast<const char*>(p + h.backing_file_offset),
                        h.backing_file_size);
  return Status::Ok();
}

}  // namespace

Result<Qcow2Header> ParseQcow2Header(std::span<const uint8_t> head, uint64_t file_size,
                                     const std::string& name) {
  Qcow2Header h;
  SKIFF_TRY(ParseFixedFields(head, file_size, name, h));
  if (head.size() < std::min<uint64_t>(h.cluster_size(), file_size)) {
    return InternalError("'{}': header buffer shorter than cluster 0", name);
  }
  const uint64_t head_len = std::min<uint64_t>(h.cluster_size(), head.size());
  SKIFF_TRY(ParseExtensions(head.data(), head_len, name, h));
  SKIFF_TRY(CheckFeatures(h, name));
  SKIFF_TRY(CheckTables(h, file_size, name));
  SKIFF_TRY(ParseBackingName(head.data(), head_len, name, h));
  return h;
}

Result<std::vector<uint8_t>> SerializeQcow2Header(const Qcow2Header& h) {
  const uint64_t cs = h.cluster_size();
  std::vector<uint8_t> out;
  out.reserve(cs);
  uint32_t header_length = h.version == 2 ? 72 : static_cast<uint32_t>(112 + h.extra_fields.size());
  out.resize(header_length, 0);
  uint8_t* p = out.data();
  StoreBe32(p, kQcow2Magic);
  StoreBe32(p + 4, h.version);
  StoreBe32(p + 20, h.cluster_bits);
  StoreBe64(p + 24, h.size);
  StoreBe32(p + 32, h.crypt_method);
  StoreBe32(p + 36, h.l1_size);
  StoreBe64(p + 40, h.l1_table_offset);
  StoreBe64(p + 48, h.refcount_table_offset);
  StoreBe32(p + 56, h.refcount_table_clusters);
  StoreBe32(p + 60, h.nb_snapshots);
  StoreBe64(p + 64, h.snapshots_offset);
  if (h.version == 3) {
    StoreBe64(p + 72, h.incompatible_features);
    StoreBe64(p + 80, h.compatible_features);
    StoreBe64(p + 88, h.autoclear_features);
    StoreBe32(p + 96, h.refcount_order);
    StoreBe32(p + 100, header_length);
    p[104] = h.compression_type;
    std::memcpy(p + 112, h.extra_fields.data(), h.extra_fields.size());
  }
  auto add_ext = [&](uint32_t type, std::string_view data) {
    size_t at = out.size();
    out.resize(at + 8 + AlignUp(data.size(), 8), 0);
    StoreBe32(out.data() + at, type);
    StoreBe32(out.data() + at + 4, static_cast<uint32_t>(data.size()));
    std::memcpy(out.data() + at + 8, data.data(), data.size());
  };
  if (!h.backing_file.empty() && !h.backing_format.empty()) {
    add_ext(kExtBackingFormat, h.backing_format);
  }
  // As qemu-img 7.2: no feature name table with clusters of 4 KiB or less (it
  // would leave little room for other extensions and the backing name).
  if (h.version == 3 && cs > 4096) {
    std::string table(sizeof(kFeatureTable) / sizeof(kFeatureTable[0]) * 48, '\0');
    size_t i = 0;
    for (const auto& f : kFeatureTable) {
      table[i] = static_cast<char>(f.type);
      table[i + 1] = static_cast<char>(f.bit);
      std::memcpy(table.data() + i + 2, f.name, std::strlen(f.name));
      i += 48;
    }
    add_ext(kExtFeatureTable, table);
  }
  for (const auto& [type, data] : h.other_extensions) add_ext(type, data);
  out.resize(out.size() + 8, 0);  // end of extensions
  if (!h.backing_file.empty()) {
    if (h.backing_file.size() > kMaxBackingNameLength) {
      return InvalidArgumentError("backing file name '{}' is longer than {} bytes", h.backing_file,
                                  kMaxBackingNameLength);
    }
    StoreBe64(out.data() + 8, out.size());
    StoreBe32(out.data() + 16, static_cast<uint32_t>(h.backing_file.size()));
    out.insert(out.end(), h.backing_file.begin(), h.backing_file.end());
  }
  if (out.size() > cs) {
    return InvalidArgumentError(
        "qcow2 header with its extensions ({} bytes) does not fit in a {}-byte cluster", out.size(),
        cs);
  }
  return out;
}

}  // namespace skiff::image
