// Size parsing and formatting in qemu-img's and libvirt's conventions.
#include "skiff/base/size.h"

#include <cctype>
#include <cmath>
#include <limits>

namespace skiff {
namespace {

int ShiftFor(char suffix) {
  switch (std::tolower(static_cast<unsigned char>(suffix))) {
    case 'b':
      return 0;
    case 'k':
      return 10;
    case 'm':
      return 20;
    case 'g':
      return 30;
    case 't':
      return 40;
    case 'p':
      return 50;
    case 'e':
      return 60;
    default:
      return -1;
  }
}

}  // namespace

Result<uint64_t> ParseUint(std::string_view text) {
  if (text.empty()) return InvalidArgumentError("empty number");
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return InvalidArgumentError("'{}' is not a number", text);
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) {
      return InvalidArgumentError("'{}' is too large", text);
    }
    v = v * 10 + d;
  }
  return v;
}

Result<uint64_t> ParseSize(std::string_view text) {
  auto bad = [&] { return InvalidArgumentError("invalid size '{}'", text); };
  if (text.empty()) return bad();
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0) return bad();
  std::string_view whole = text.substr(0, i);
  std::string_view frac;
  if (i < text.size() && text[i] == '.') {
    size_t j = ++i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
    frac = text.substr(j, i - j);
    if (frac.empty()) return bad();
  }
  int shift = 0;
  if (i < text.size()) {
    if (i + 1 != text.size()) return bad();
    shift = ShiftFor(text[i]);
    if (shift < 0) return bad();
  }
  if (!frac.empty() && shift == 0) {
    return InvalidArgumentError("invalid size '{}': fractions need a unit suffix", text);
  }
  auto w = ParseUint(whole);
  if (!w.ok()) return InvalidArgumentError("size '{}' is too large", text);
  if (shift > 0 && *w > (std::numeric_limits<uint64_t>::max() >> shift)) {
    return InvalidArgumentError("size '{}' is too large", text);
  }
  uint64_t result = *w << shift;
  if (!frac.empty()) {
    long double f = std::stold("0." + std::string(frac));
    long double add = f * std::ldexp(1.0L, shift);
    long double total = static_cast<long double>(result) + add;
    if (total >= 18446744073709551615.0L)
      return InvalidArgumentError("size '{}' is too large", text);
    result = static_cast<uint64_t>(total);
  }
  // qemu refuses sizes above INT64_MAX, since offsets are signed there.
  if (result > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return InvalidArgumentError("size '{}' is too large", text);
  }
  return result;
}

std::string FormatSizeHuman(uint64_t bytes) {
  static const char* kSuffix[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
  if (bytes == 0) return "0 B";
  int exp = 0;
  std::frexp(static_cast<double>(bytes) / (1000.0 / 1024.0), &exp);
  int i = (exp - 1) / 10;
  if (i < 0) i = 0;
  if (i > 6) i = 6;
  double div = std::ldexp(1.0, i * 10);
  return fmt::format("{} {}B", fmt::format("{:.3g}", static_cast<double>(bytes) / div), kSuffix[i]);
}

Result<uint64_t> ScaleLibvirtUnit(uint64_t value, std::string_view unit,
                                  std::string_view default_unit) {
  if (unit.empty()) unit = default_unit;
  uint64_t mult = 0;
  std::string u(unit);
  if (u == "b" || u == "bytes" || u == "B") {
    mult = 1;
  } else if (u.size() == 2 && u[1] == 'B' && ShiftFor(u[0]) > 0) {
    mult = 1;
    for (int s = ShiftFor(u[0]) / 10; s > 0; --s) mult *= 1000;
  } else if ((u.size() == 1 || (u.size() == 3 && u.substr(1) == "iB")) && ShiftFor(u[0]) > 0 &&
             (u.size() == 1 || std::isupper(static_cast<unsigned char>(u[0])))) {
    mult = uint64_t{1} << ShiftFor(u[0]);
  } else {
    return InvalidArgumentError("unknown unit '{}'", unit);
  }
  if (value != 0 && mult > std::numeric_limits<uint64_t>::max() / value) {
    return InvalidArgumentError("value {} {} is too large", value, unit);
  }
  return value * mult;
}

}  // namespace skiff
