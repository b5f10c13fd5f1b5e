// MAC address parsing, formatting and generation in the 52:54:00 prefix.
#include "skiff/net/mac.h"

#include <fmt/format.h>
#include <sys/random.h>

#include <cctype>

namespace skiff::net {

Result<std::array<uint8_t, 6>> ParseMac(std::string_view text) {
  std::array<uint8_t, 6> out{};
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  if (text.size() != 17) return InvalidArgumentError("'{}' is not a MAC address", text);
  for (int i = 0; i < 6; ++i) {
    int hi = hex(text[i * 3]), lo = hex(text[i * 3 + 1]);
    if (hi < 0 || lo < 0 || (i < 5 && text[i * 3 + 2] != ':' && text[i * 3 + 2] != '-')) {
      return InvalidArgumentError("'{}' is not a MAC address", text);
    }
    out[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return out;
}

std::string FormatMac(const std::array<uint8_t, 6>& m) {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4],
                     m[5]);
}

Result<std::string> NormalizeMac(std::string_view text) {
  SKIFF_ASSIGN_OR_RETURN(auto m, ParseMac(text));
  return FormatMac(m);
}

std::string GenerateMac() {
  std::array<uint8_t, 6> m{0x52, 0x54, 0x00, 0, 0, 0};
  uint8_t r[3] = {};
  size_t got = 0;
  while (got < sizeof r) {
    ssize_t n = ::getrandom(r + got, sizeof r - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  m[3] = r[0];
  m[4] = r[1];
  m[5] = r[2];
  return FormatMac(m);
}

}  // namespace skiff::net
