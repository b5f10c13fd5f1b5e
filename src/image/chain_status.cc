// Allocation status through a backing chain (used by convert, compare, measure).
#include "image/chain_status.h"

#include <algorithm>

namespace skiff::image {

Result<ChainRun> GetChainStatus(Image& top, uint64_t offset, uint64_t length, bool top_only) {
  Image* img = &top;
  uint64_t len = length;
  for (bool first = true;; first = false) {
    if (offset >= img->size()) return ChainRun{ChainKind::kZero, len};
    SKIFF_ASSIGN_OR_RETURN(BlockStatus bs,
                           img->GetBlockStatus(offset, std::min(len, img->size() - offset)));
    len = std::min(len, bs.length);
    if (bs.allocation == Allocation::kData) return ChainRun{ChainKind::kData, len};
    if (bs.allocation == Allocation::kZero) return ChainRun{ChainKind::kZero, len};
    if (first && top_only) return ChainRun{ChainKind::kUnallocatedTop, len};
    if (img->backing() == nullptr) return ChainRun{ChainKind::kZero, len};
    img = img->backing();
  }
}

}  // namespace skiff::image
