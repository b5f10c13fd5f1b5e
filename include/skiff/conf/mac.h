// MAC addresses: parsing to canonical form and generation in QEMU's 52:54:00 range.
#pragma once

#include <string>
#include <string_view>

#include "skiff/base/status.h"

namespace skiff::conf {

// Canonical lower-case "aa:bb:cc:dd:ee:ff" from six ':'-separated hex octets
// (one or two digits each). kInvalidArgument naming the text otherwise, and for
// multicast addresses (low bit of the first octet set).
Result<std::string> ParseMac(std::string_view text);

// A random address 52:54:00:xx:xx:xx (the prefix libvirt and QEMU use).
std::string GenerateMac();

}  // namespace skiff::conf
