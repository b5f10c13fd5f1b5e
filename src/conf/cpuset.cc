// libvirt cpuset syntax parsing.
#include "skiff/conf/cpuset.h"

#include "skiff/base/size.h"

namespace skiff::conf {

Result<std::set<unsigned>> ParseCpuset(std::string_view text) {
  std::set<unsigned> out;
  std::set<unsigned> excluded;
  auto bad = [&] { return InvalidArgumentError("invalid cpuset '{}'", text); };
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    std::string_view item = text.substr(pos, comma == std::string_view::npos ? comma : comma - pos);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.empty()) return bad();
    bool neg = item[0] == '^';
    if (neg) item.remove_prefix(1);
    size_t dash = item.find('-');
    auto lo = ParseUint(item.substr(0, dash));
    if (!lo.ok() || *lo > 16383) return bad();
    uint64_t hi = *lo;
    if (dash != std::string_view::npos) {
      if (neg) return bad();
      auto h = ParseUint(item.substr(dash + 1));
      if (!h.ok() || *h > 16383 || *h < *lo) return bad();
      hi = *h;
    }
    for (uint64_t i = *lo; i <= hi; ++i) (neg ? excluded : out).insert(static_cast<unsigned>(i));
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  for (unsigned e : excluded) out.erase(e);
  if (out.empty()) return bad();
  return out;
}

std::string FormatCpuset(const std::set<unsigned>& cpus) {
  std::string out;
  for (auto it = cpus.begin(); it != cpus.end();) {
    unsigned first = *it, last = *it;
    ++it;
    while (it != cpus.end() && *it == last + 1) last = *it++;
    if (!out.empty()) out += ',';
    out += first == last ? std::to_string(first) : fmt::format("{}-{}", first, last);
  }
  return out;
}

}  // namespace skiff::conf
