// What a backing chain holds at an offset: data somewhere in the chain, zeroes,
// or (looking only at the top image) unallocated.
#pragma once

#include <cstdint>

#include "skiff/image/image.h"

namespace skiff::image {

enum class ChainKind { kData, kZero, kUnallocatedTop };

struct ChainRun {
  ChainKind kind;
  uint64_t length;
};

// With `top_only`, ranges unallocated in `top` are kUnallocatedTop (its backing
// provides them); otherwise the chain is searched and they become kData or kZero.
Result<ChainRun> GetChainStatus(Image& top, uint64_t offset, uint64_t length, bool top_only);

}  // namespace skiff::image
