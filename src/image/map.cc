// `map`: the allocation map of a whole backing chain, in qemu-img's formats.
#include <nlohmann/json.hpp>

#include "skiff/image/ops.h"

namespace skiff::image {

Result<std::vector<MapExtent>> MapImage(Image& top, uint64_t start, uint64_t length) {
  std::vector<MapExtent> out;
  const uint64_t end = std::min(top.size(), start + length < start ? top.size() : start + length);
  uint64_t pos = start;
  while (pos < end) {
    Image* img = &top;
    int depth = 0;
    uint64_t len = end - pos;
    MapExtent e;
    e.start = pos;
    for (;;) {
      if (pos >= img->size()) {
        // Past the end of a shorter backing image: reads as zeroes.
        e.depth = depth;
        e.zero = true;
        break;
      }
      SKIFF_ASSIGN_OR_RETURN(BlockStatus bs,
                             img->GetBlockStatus(pos, std::min(len, img->size() - pos)));
      len = std::min(len, bs.length);
      if (bs.allocation == Allocation::kData) {
        e.depth = depth;
        e.present = true;
        e.data = true;
        e.compressed = bs.compressed;
        e.offset = bs.host_offset;
        e.file = img->path();
        break;
      }
      if (bs.allocation == Allocation::kZero) {
        e.depth = depth;
        e.present = true;
        e.zero = true;
        e.offset = bs.host_offset;
        e.file = img->path();
        break;
      }
      if (img->backing() == nullptr) {
        e.depth = depth;
        e.zero = true;
        break;
      }
      img = img->backing();
      ++depth;
    }
    e.length = len;
    if (!out.empty()) {
      MapExtent& p = out.back();
      bool same = p.depth == e.depth && p.present == e.present && p.zero == e.zero &&
                  p.data == e.data && p.compressed == e.compressed && p.file == e.file &&
                  p.offset.has_value() == e.offset.has_value() &&
                  (!p.offset || *p.offset + p.length == *e.offset);
      if (same) {
        p.length += e.length;
        pos += len;
        continue;
      }
    }
    out.push_back(e);
    pos += len;
  }
  return out;
}

std::string FormatMapJson(const std::vector<MapExtent>& extents) {
  std::string out = "[";
  for (size_t i = 0; i < extents.size(); ++i) {
    const auto& e = extents[i];
    if (i > 0) out += ",\n";
    out += fmt::format(
        "{{ \"start\": {}, \"length\": {}, \"depth\": {}, \"present\": {}, \"zero\": {}, \"data\": "
        "{}",
        e.start, e.length, e.depth, e.present, e.zero, e.data);
    if (e.offset) out += fmt::format(", \"offset\": {}", *e.offset);
    out += "}";
  }
  out += "]\n";
  return out;
}

std::string FormatMapHuman(const std::vector<MapExtent>& extents) {
  auto hex = [](uint64_t v) { return v == 0 ? std::string("0") : fmt::format("{:#x}", v); };
  std::string out = fmt::format("{:<16}{:<16}{:<16}{}\n", "Offset", "Length", "Mapped to", "File");
  for (const auto& e : extents) {
    if (!e.data || !e.offset) continue;
    out +=
        fmt::format("{:<16}{:<16}{:<16}{}\n", hex(e.start), hex(e.length), hex(*e.offset), e.file);
  }
  return out;
}

}  // namespace skiff::image
