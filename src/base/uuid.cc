// UUID generation and parsing.
#include "skiff/base/uuid.h"

#include <sys/random.h>

#include <algorithm>

namespace skiff {

Uuid Uuid::Generate() {
  Uuid u;
  size_t got = 0;
  while (got < u.bytes_.size()) {
    ssize_t n = ::getrandom(u.bytes_.data() + got, u.bytes_.size() - got, 0);
    SKIFF_CHECK(n > 0);
    got += static_cast<size_t>(n);
  }
  u.bytes_[6] = static_cast<uint8_t>((u.bytes_[6] & 0x0f) | 0x40);
  u.bytes_[8] = static_cast<uint8_t>((u.bytes_[8] & 0x3f) | 0x80);
  return u;
}

Result<Uuid> Uuid::Parse(std::string_view text) {
  Uuid u;
  int nibbles = 0;
  for (char c : text) {
    if (c == '-') continue;
    int v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      v = c - 'A' + 10;
    } else {
      return InvalidArgumentError("malformed uuid '{}'", text);
    }
    if (nibbles >= 32) return InvalidArgumentError("malformed uuid '{}'", text);
    u.bytes_[nibbles / 2] =
        static_cast<uint8_t>(u.bytes_[nibbles / 2] | (nibbles % 2 ? v : v << 4));
    ++nibbles;
  }
  if (nibbles != 32) return InvalidArgumentError("malformed uuid '{}'", text);
  return u;
}

std::string Uuid::ToString() const {
  std::string s;
  static const char* kHex = "0123456789abcdef";
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += kHex[bytes_[i] >> 4];
    s += kHex[bytes_[i] & 15];
  }
  return s;
}

bool Uuid::is_nil() const {
  return std::all_of(bytes_.begin(), bytes_.end(), [](uint8_t b) { return b == 0; });
}

}  // namespace skiff
