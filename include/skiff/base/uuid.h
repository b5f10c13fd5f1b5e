// UUIDs: random generation (v4), parsing in libvirt's lenient form, canonical text.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "skiff/base/status.h"

namespace skiff {

class Uuid {
 public:
  Uuid() = default;
  // A random (version 4) UUID from getrandom().
  static Uuid Generate();
  // Accepts 32 hex digits, with '-' allowed between any of them (as libvirt does).
  static Result<Uuid> Parse(std::string_view text);

  // "8-4-4-4-12" lower-case.
  std::string ToString() const;
  bool is_nil() const;
  const std::array<uint8_t, 16>& bytes() const { return bytes_; }
  bool operator==(const Uuid&) const = default;
  auto operator<=>(const Uuid&) const = default;

 private:
  std::array<uint8_t, 16> bytes_{};
};

}  // namespace skiff
