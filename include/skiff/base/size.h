// Size units: qemu-img's suffixes ("10G", "1.5T", "512k") and libvirt's unit attributes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "skiff/base/status.h"

namespace skiff {

// Parses a size as qemu-img accepts it: a number (fractions allowed with a
// suffix) and an optional suffix b/B (bytes), k/K, M, G, T, P, E (powers of 1024).
// A bare number is bytes. Negative, empty, overflowing or malformed values
// give kInvalidArgument naming the text.
Result<uint64_t> ParseSize(std::string_view text);

// Formats like qemu-img's human output: three significant digits and a binary
// unit: "10 GiB", "1.5 GiB", "512 MiB", "0.977 MiB", "193 KiB", "0 B".
std::string FormatSizeHuman(uint64_t bytes);

// Scales `value` by a libvirt unit attribute: b/bytes, KB/MB/GB/TB/PB/EB
// (powers of 1000), k/KiB, M/MiB, G/GiB, T/TiB, P/PiB, E/EiB (powers of 1024).
// An empty unit means `default_unit`. Overflow and unknown units are kInvalidArgument.
Result<uint64_t> ScaleLibvirtUnit(uint64_t value, std::string_view unit,
                                  std::string_view default_unit);

// Parses a decimal unsigned integer; rejects signs, spaces, junk and overflow.
Result<uint64_t> ParseUint(std::string_view text);

}  // namespace skiff
