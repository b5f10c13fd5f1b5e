// `measure`: the file size a new image needs (qemu-img's formulas for qcow2).
#include <algorithm>

#include "image/chain_status.h"
#include "image/endian.h"
#include "image/qcow2_image.h"
#include "skiff/image/ops.h"

namespace skiff::image {
namespace {

// Refcount table + blocks for `clusters` clusters, counting themselves.
uint64_t RefcountMetadataSize(uint64_t clusters, uint64_t cs, uint32_t refcount_order) {
  const uint64_t per_table_cluster = cs / 8;
  const uint64_t per_block = cs * 8 >> refcount_order;
  uint64_t table = 0, blocks = 0, n = 0, last;
  do {
    last = n;
    blocks = DivRoundUp(clusters + table + blocks, per_block);
    table = DivRoundUp(blocks, per_table_cluster);
    n = clusters + blocks + table;
  } while (n != last);
  return (blocks + table) * cs;
}

uint64_t Qcow2FullSize(uint64_t size, uint64_t cs, uint32_t refcount_order, bool extended_l2) {
  const uint64_t aligned = AlignUp(size, cs);
  const uint64_t l2e_size = extended_l2 ? 16 : 8;
  uint64_t meta = cs;  // header
  uint64_t nl2e = AlignUp(aligned / cs, cs / l2e_size);
  meta += nl2e * l2e_size;
  uint64_t nl1e = AlignUp(nl2e * l2e_size / cs, cs / 8);
  meta += nl1e * 8;
  meta += RefcountMetadataSize((meta + aligned) / cs, cs, refcount_order);
  return meta + aligned;
}

}  // namespace

Result<MeasureResult> MeasureImage(const CreateOptions& target, const std::string& source,
                                   const std::string& source_format, uint64_t size) {
  MeasureResult r;
  uint64_t data = 0;
  std::unique_ptr<Image> src;
  if (!source.empty()) {
    OpenOptions so;
    so.format = source_format;
    SKIFF_ASSIGN_OR_RETURN(src, OpenImage(source, so));
    size = src->size();
  }
  if (target.format == "raw") {
    r.required = size;
    r.fully_allocated = size;
    return r;
  }
  if (target.format != "qcow2")
    return UnsupportedError("cannot measure for format '{}'", target.format);
  const uint64_t cs = target.cluster_size;
  uint32_t order = 0;
  while ((1u << order) < target.refcount_bits) ++order;
  if (src) {
    uint64_t pos = 0;
    uint64_t last_counted = UINT64_MAX;
    while (pos < size) {
      SKIFF_ASSIGN_OR_RETURN(ChainRun run, GetChainStatus(*src, pos, size - pos, false));
      if (run.kind == ChainKind::kData) {
        uint64_t first = pos / cs, last = (pos + run.length - 1) / cs;
        if (first == last_counted) ++first;
        if (last >= first) data += (last - first + 1) * cs;
        last_counted = last;
      }
      pos += run.length;
    }
    auto* q = dynamic_cast<Qcow2Image*>(src.get());
    if (q != nullptr && q->header().version >= 3 && target.version >= 3) {
      // As QEMU counts them: every bitmap fully allocated in target clusters,
      // its table, and the directory.
      uint64_t bytes = 0, dir = 0;
      for (const auto& b : q->bitmaps()) {
        uint64_t clusters = BitmapTableEntries(size, b.granularity_bits, cs);
        bytes += clusters * cs + AlignUp(clusters * 8, cs);
        dir += BitmapDirectoryEntryBytes(b.name.size());
      }
      r.bitmaps = bytes + AlignUp(dir, cs);
    }
  }
  r.fully_allocated = Qcow2FullSize(size, cs, order, target.extended_l2);
  r.required = r.fully_allocated - AlignUp(size, cs) + data;
  return r;
}

}  // namespace skiff::image
