// Cluster compression as qcow2 stores it: raw deflate (no zlib header, QEMU's
// parameters) or a zstd frame.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "skiff/base/status.h"

namespace skiff::image {

enum class CompressionType : uint8_t { kZlib = 0, kZstd = 1 };

// Compresses `in` into `out` (resized to the result). Returns false in `*fits`
// when the result would not be smaller than `max_out` bytes (store it plain then).
// zlib: data that a fast zstd pass cannot shrink below `max_out` is reported
// as not fitting without running deflate (early abort for incompressible data).
Status CompressCluster(CompressionType type, std::span<const uint8_t> in, size_t max_out,
                       std::vector<uint8_t>& out, bool* fits);

// Decompresses `in` (which may carry trailing bytes of the next compressed
// cluster) until `out` is full. kCorruption when the data is invalid or short.
Status DecompressCluster(CompressionType type, std::span<const uint8_t> in, std::span<uint8_t> out);

}  // namespace skiff::image
