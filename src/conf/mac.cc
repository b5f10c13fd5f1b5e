// MAC address parsing (canonical lower-case form) and generation in 52:54:00.
#include "skiff/conf/mac.h"

#include <sys/random.h>

#include <array>
#include <cstdio>

namespace skiff::conf {

Result<std::string> ParseMac(std::string_view text) {
  std::array<uint8_t, 6> oct{};
  size_t pos = 0;
  for (int i = 0; i < 6; ++i) {
    size_t digits = 0;
    unsigned v = 0;
    while (pos < text.size() && std::isxdigit(static_cast<unsigned char>(text[pos])) &&
           digits < 3) {
      char c = static_cast<char>(std::tolower(static_cast<unsigned char>(text[pos])));
      v = v * 16 + static_cast<unsigned>(c <= '9' ? c - '0' : c - 'a' + 10);
      ++pos;
      ++digits;
    }
    if (digits == 0 || digits > 2) return InvalidArgumentError("invalid mac address '{}'", text);
    oct[static_cast<size_t>(i)] = static_cast<uint8_t>(v);
    if (i < 5) {
      if (pos >= text.size() || text[pos] != ':') {
        return InvalidArgumentError("invalid mac address '{}'", text);
      }
      ++pos;
    }
  }
  if (pos != text.size()) return InvalidArgumentError("invalid mac address '{}'", text);
  if (oct[0] & 1) return InvalidArgumentError("mac address '{}' is a multicast address", text);
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", oct[0], oct[1], oct[2], oct[3],
                oct[4], oct[5]);
  return std::string(buf);
}

std::string GenerateMac() {
  unsigned char r[3] = {0, 0, 0};
  size_t got = 0;
  while (got < sizeof(r)) {
    ssize_t n = getrandom(r + got, sizeof(r) - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  char buf[18];
  std::snprintf(buf, sizeof(buf), "52:54:00:%02x:%02x:%02x", r[0], r[1], r[2]);
  return buf;
}

}  // namespace skiff::conf
