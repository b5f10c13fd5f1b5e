// `convert`: copies guest content between images and formats. Worker threads
// read, detect zeroes and compress chunks; one writer stores them in order so
// that the target's layout is sequential.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "image/chain_status.h"
#include "image/compression.h"
#include "image/endian.h"
#include "image/qcow2_image.h"
#include "skiff/image/ops.h"

namespace skiff::image {
namespace {

constexpr uint64_t kChunk = 2ull << 20;

struct Op {
  enum Kind { kData, kZero, kCompressed } kind;
  uint64_t offset;             // guest offset
  uint64_t length;
  std::vector<uint8_t> bytes;  // kCompressed: the compressed cluster
};

struct ChunkResult {
  uint64_t base = 0;
  std::vector<uint8_t> buf;  // the chunk's guest bytes; kData ops point into it
  std::vector<Op> ops;
  Status status;
};

}  // namespace

Status ConvertImage(const std::string& source, const std::string& target, const ConvertOptions& opts) {
  OpenOptions so;
  so.format = opts.source_format;
  SKIFF_ASSIGN_OR_RETURN(auto src, OpenImage(source, so));
  CreateOptions t = opts.target;
  t.size = src->size();
  t.size_given = true;
  t.backing_file = opts.target_backing;
  t.backing_format = opts.target_backing_format;
  if (!t.backing_file.empty() && t.backing_format.empty()) {
    SKIFF_ASSIGN_OR_RETURN(t.backing_format, ProbeFormat(ResolveBackingPath(target, t.backing_file)));
  }
  if (opts.compress && t.format != "qcow2") {
    return InvalidArgumentError("compression is not supported for format '{}'", t.format);
  }
  SKIFF_TRY(CreateImage(target, t));
  OpenOptions to;
  to.format = t.format;
  to.writable = true;
  to.open_backing = false;
  to.unsafe_cache = opts.unsafe_cache;
  SKIFF_ASSIGN_OR_RETURN(auto dst, OpenImage(target, to));
  auto* qdst = dynamic_cast<Qcow2Image*>(dst.get());
  const bool has_backing = !t.backing_file.empty();
  const bool top_only = has_backing;
  const uint64_t tcs = qdst != nullptr ? qdst->cluster_size() : 4096;
  const uint64_t gran = opts.compress ? tcs
                        : opts.sparse_size == 0 ? kChunk
                        : qdst != nullptr ? std::max<uint64_t>(tcs, 512)
                                          : std::max<uint64_t>(opts.sparse_size, 512);
  const bool detect_zero = opts.compress || opts.sparse_size != 0;
  const CompressionType ctype = qdst != nullptr ? qdst->compression_type() : CompressionType::kZlib;
  const uint64_t size = src->size();
  const uint64_t nchunks = DivRoundUp(size, kChunk);

  auto process = [&](uint64_t idx, ChunkResult& res) -> Status {
    const uint64_t base = idx * kChunk;
    const uint64_t len = std::min(kChunk, size - base);
    // Source status runs: 0 = skip (backing provides), 1 = zero, 2 = data.
    res.base = base;
    std::vector<uint8_t>& buf = res.buf;
    buf.assign(len, 0);
    std::vector<int8_t> kind(DivRoundUp(len, gran), -1);
    uint64_t pos = 0;
    while (pos < len) {
      SKIFF_ASSIGN_OR_RETURN(ChainRun run, GetChainStatus(*src, base + pos, len - pos, top_only));
      int k = run.kind == ChainKind::kData ? 2 : run.kind == ChainKind::kZero ? 1 : 0;
      if (k == 2) SKIFF_TRY(src->Read(base + pos, std::span<uint8_t>(buf.data() + pos, run.length)));
      for (uint64_t b = pos / gran; b <= (pos + run.length - 1) / gran; ++b) {
        kind[b] = std::max<int8_t>(kind[b], static_cast<int8_t>(k));
      }
      pos += run.length;
    }
    // A block partly unallocated-in-top and partly data must be written whole:
    // read it through the chain.
    for (uint64_t b = 0; b < kind.size(); ++b) {
      uint64_t bo = b * gran, bl = std::min(gran, len - bo);
      if (kind[b] == 2 && top_only) SKIFF_TRY(src->Read(base + bo, std::span<uint8_t>(buf.data() + bo, bl)));
      if (kind[b] == 2 && detect_zero && IsZero(buf.data() + bo, bl)) kind[b] = 1;
    }
    std::vector<uint8_t> comp;
    std::vector<uint8_t> padded;
    for (uint64_t b = 0; b < kind.size();) {
      uint64_t e = b + 1;
      while (e < kind.size() && kind[e] == kind[b] && !(opts.compress && kind[b] == 2)) ++e;
      uint64_t bo = b * gran, bl = std::min(e * gran, len) - bo;
      if (kind[b] == 1) {
        res.ops.push_back(Op{Op::kZero, base + bo, bl, {}});
      } else if (kind[b] == 2 && opts.compress) {
        padded.assign(tcs, 0);
        std::memcpy(padded.data(), buf.data() + bo, bl);
        bool fits = false;
        SKIFF_TRY(CompressCluster(ctype, padded, tcs - 1, comp, &fits));
        if (fits) {
          res.ops.push_back(Op{Op::kCompressed, base + bo, bl, comp});
        } else {
          res.ops.push_back(Op{Op::kData, base + bo, bl, {}});
        }
      } else if (kind[b] == 2) {
        res.ops.push_back(Op{Op::kData, base + bo, bl, {}});
      }
      b = e;
    }
    return Status::Ok();
  };

  int threads = opts.threads > 0 ? opts.threads : static_cast<int>(std::thread::hardware_concurrency());
  threads = std::max(1, std::min<int>(threads, 16));
  const uint64_t window = static_cast<uint64_t>(threads) * 4;
  std::mutex mu;
  std::condition_variable cv;
  std::map<uint64_t, ChunkResult> ready;
  uint64_t next = 0, written = 0;
  bool failed = false;
  std::vector<std::thread> workers;
  for (int w = 0; w < threads; ++w) {
    workers.emplace_back([&] {
      for (;;) {
        uint64_t idx;
        {
          std::unique_lock lk(mu);
          cv.wait(lk, [&] { return failed || next >= nchunks || next < written + window; });
          if (failed || next >= nchunks) return;
          idx = next++;
        }
        ChunkResult res;
        res.status = process(idx, res);
        std::lock_guard lk(mu);
        ready.emplace(idx, std::move(res));
        cv.notify_all();
      }
    });
  }
  Status st;
  for (uint64_t i = 0; i < nchunks && st.ok(); ++i) {
    ChunkResult res;
    {
      std::unique_lock lk(mu);
      cv.wait(lk, [&] { return ready.count(i) != 0; });
      res = std::move(ready[i]);
      ready.erase(i);
    }
    st = res.status;
    for (auto& op : res.ops) {
      if (!st.ok()) break;
      if (op.kind == Op::kData) {
        st = dst->Write(op.offset, std::span<const uint8_t>(res.buf.data() + (op.offset - res.base), op.length));
      } else if (op.kind == Op::kCompressed) {
        st = qdst->WriteCompressedCluster(op.offset, op.bytes);
      } else if (has_backing) {
        st = dst->WriteZeroes(op.offset, op.length, true);
      }
    }
    {
      std::lock_guard lk(mu);
      written = i + 1;
      if (!st.ok()) failed = true;
      cv.notify_all();
    }
    if (opts.progress) opts.progress(static_cast<double>(i + 1) / static_cast<double>(nchunks));
  }
  {
    std::lock_guard lk(mu);
    failed = failed || !st.ok();
    cv.notify_all();
  }
  for (auto& w : workers) w.join();
  SKIFF_TRY(st);
  SKIFF_TRY(dst->Close());
  return src->Close();
}

}  // namespace skiff::image
