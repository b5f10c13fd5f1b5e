// `compare`: guest-visible content of two images (any formats and chains).
#include <algorithm>
#include <cstring>

#include "image/chain_status.h"
#include "image/endian.h"
#include "skiff/image/ops.h"

namespace skiff::image {
namespace {

constexpr uint64_t kStep = 4ull << 20;

uint64_t FirstDiff(const uint8_t* a, const uint8_t* b, uint64_t n) {
  for (uint64_t off = 0; off < n; off += 512) {
    uint64_t k = std::min<uint64_t>(512, n - off);
    if (std::memcmp(a + off, b + off, k) != 0) return off;
  }
  return n;
}

uint64_t FirstNonZero(const uint8_t* a, uint64_t n) {
  for (uint64_t off = 0; off < n; off += 512) {
    if (!IsZero(a + off, std::min<uint64_t>(512, n - off))) return off;
  }
  return n;
}

}  // namespace

Result<CompareResult> CompareImages(const std::string& pa, const std::string& fa,
                                    const std::string& pb, const std::string& fb, bool strict,
                                    ProgressFn progress) {
  OpenOptions oa, ob;
  oa.format = fa;
  ob.format = fb;
  SKIFF_ASSIGN_OR_RETURN(auto a, OpenImage(pa, oa));
  SKIFF_ASSIGN_OR_RETURN(auto b, OpenImage(pb, ob));
  CompareResult r;
  if (strict && a->size() != b->size()) {
    r.message = "Strict mode: Image size mismatch!";
    return r;
  }
  const uint64_t common = std::min(a->size(), b->size());
  const uint64_t total = std::max(a->size(), b->size());
  std::vector<uint8_t> ba(kStep), bb(kStep);
  uint64_t pos = 0;
  while (pos < common) {
    uint64_t len = std::min(kStep, common - pos);
    SKIFF_ASSIGN_OR_RETURN(ChainRun ra, GetChainStatus(*a, pos, len, false));
    SKIFF_ASSIGN_OR_RETURN(ChainRun rb, GetChainStatus(*b, pos, len, false));
    len = std::min(ra.length, rb.length);
    if (strict && (ra.kind == ChainKind::kData) != (rb.kind == ChainKind::kData)) {
      r.message = fmt::format("Strict mode: Offset {} allocation mismatch!", pos);
      return r;
    }
    if (!(ra.kind == ChainKind::kZero && rb.kind == ChainKind::kZero)) {
      SKIFF_TRY(a->Read(pos, std::span<uint8_t>(ba.data(), len)));
      SKIFF_TRY(b->Read(pos, std::span<uint8_t>(bb.data(), len)));
      uint64_t d = FirstDiff(ba.data(), bb.data(), len);
      if (d < len) {
        r.message = fmt::format("Content mismatch at offset {}!", pos + d);
        return r;
      }
    }
    pos += len;
    if (progress) progress(static_cast<double>(pos) / static_cast<double>(total));
  }
  Image* longer = a->size() > b->size() ? a.get() : b.get();
  while (pos < total) {
    uint64_t len = std::min(kStep, total - pos);
    SKIFF_ASSIGN_OR_RETURN(ChainRun rl, GetChainStatus(*longer, pos, len, false));
    len = rl.length;
    if (rl.kind != ChainKind::kZero) {
      SKIFF_TRY(longer->Read(pos, std::span<uint8_t>(ba.data(), len)));
      uint64_t d = FirstNonZero(ba.data(), len);
      if (d < len) {
        r.message = fmt::format("Content mismatch at offset {}!", pos + d);
        return r;
      }
    }
    pos += len;
  }
  r.identical = true;
  r.message = "Images are identical.";
  return r;
}

}  // namespace skiff::image
