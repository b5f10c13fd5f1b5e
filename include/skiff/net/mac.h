// MAC addresses for guests' interfaces and bridges.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "skiff/base/status.h"

namespace skiff::net {

// Six bytes from "aa:bb:cc:dd:ee:ff" (either case; '-' separators accepted).
// kInvalidArgument names the text.
Result<std::array<uint8_t, 6>> ParseMac(std::string_view text);
// Lower-case colon form of a valid MAC.
Result<std::string> NormalizeMac(std::string_view text);
std::string FormatMac(const std::array<uint8_t, 6>& mac);
// A random MAC in QEMU's/libvirt's locally used prefix 52:54:00 (from getrandom()).
std::string GenerateMac();

}  // namespace skiff::net
