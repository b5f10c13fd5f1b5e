// `convert`: copies guest content between images and formats. Worker threads
// read, detect zeroes and compress chunks; one writer stores them in order so
// that the target's layout is sequential.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
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
  uint64_t offset;  // guest offset
  uint64_t length;
  std::vector<uint8_t> bytes;  // kCompressed: the compressed cluster
};

struct FreeDeleter {
  void operator()(uint8_t* p) const { std::free(p); }
};
using ChunkBuffer = std::unique_ptr<uint8_t, FreeDeleter>;

// Page-aligned chunk buffers, reused from chunk to chunk: a fresh 2 MiB
// allocation per chunk costs a page fault and a clear per 4 KiB page, more
// than the copy itself.
class BufferPool {
 public:
  ChunkBuffer Get() {
    {
      std::lock_guard lk(mu_);
      if (!free_.empty()) {
        ChunkBuffer b = std::move(free_.back());
        free_.pop_back();
        return b;
      }
    }
    void* p = std::aligned_alloc(4096, kChunk);
    SKIFF_CHECK(p != nullptr);
    return ChunkBuffer(static_cast<uint8_t*>(p));
  }
  void Put(ChunkBuffer b) {
    if (!b) return;
    std::lock_guard lk(mu_);
    free_.push_back(std::move(b));
  }

 private:
  std::mutex mu_;
  std::vector<ChunkBuffer> free_;
};

// The source's allocation runs, asked for up to the end of the image and
// remembered: a raw source answers with lseek(SEEK_DATA/SEEK_HOLE), which
// costs as much as copying a chunk, so one query serves every chunk of a run.
class StatusCache {
 public:
  StatusCache(Image& src, bool top_only) : src_(src), top_only_(top_only) {}

  Result<ChainRun> Get(uint64_t offset, uint64_t max_len) {
    {
      std::lock_guard lk(mu_);
      if (offset >= start_ && offset < end_)
        return ChainRun{kind_, std::min(end_ - offset, max_len)};
    }
    SKIFF_ASSIGN_OR_RETURN(ChainRun run,
                           GetChainStatus(src_, offset, src_.size() - offset, top_only_));
    if (run.length == 0)
      return InternalError("'{}': empty allocation run at 0x{:x}", src_.path(), offset);
    std::lock_guard lk(mu_);
    start_ = offset;
    end_ = offset + run.length;
    kind_ = run.kind;
    return ChainRun{run.kind, std::min(run.length, max_len)};
  }

 private:
  Image& src_;
  const bool top_only_;
  std::mutex mu_;
  uint64_t start_ = 0, end_ = 0;
  ChainKind kind_ = ChainKind::kZero;
};

struct ChunkResult {
  uint64_t base = 0;
  ChunkBuffer buf;  // the chunk's guest bytes; kData ops point into it
  std::vector<Op> ops;
  Status status;
};

// How the chunks are read and cut into operations, fixed for the whole copy.
struct ChunkPlan {
  uint64_t size = 0;  // guest size of the source
  uint64_t nchunks = 0;
  uint64_t gran = 0;  // zero detection and compression work in blocks of this size
  uint64_t tcs = 0;   // the target's cluster size
  // The target has a backing file: copy only the source's top layer, and
  // write its zeroes (they must hide the backing file's data).
  bool has_backing = false;
  bool detect_zero = false;
  bool compress = false;
  CompressionType ctype = CompressionType::kZlib;
};

// The target's creation options: the source's size, the conversion's target
// options and backing file (whose format is probed when not given).
Result<CreateOptions> TargetCreateOptions(const std::string& target, const ConvertOptions& opts,
                                          uint64_t size) {
  CreateOptions t = opts.target;
  t.size = size;
  t.size_given = true;
  t.backing_file = opts.target_backing;
  t.backing_format = opts.target_backing_format;
  if (!t.backing_file.empty() && t.backing_format.empty()) {
    SKIFF_ASSIGN_OR_RETURN(t.backing_format,
                           ProbeFormat(ResolveBackingPath(target, t.backing_file)));
  }
  if (opts.compress && t.format != "qcow2") {
    return InvalidArgumentError("compression is not supported for format '{}'", t.format);
  }
  return t;
}

ChunkPlan MakeChunkPlan(const ConvertOptions& opts, const Qcow2Image* qdst, bool has_backing,
                        uint64_t size) {
  ChunkPlan p;
  p.size = size;
  p.nchunks = DivRoundUp(size, kChunk);
  p.tcs = qdst != nullptr ? qdst->cluster_size() : 4096;
  p.gran = opts.compress           ? p.tcs
           : opts.sparse_size == 0 ? kChunk
           : qdst != nullptr       ? std::max<uint64_t>(p.tcs, 512)
                                   : std::max<uint64_t>(opts.sparse_size, 512);
  p.has_backing = has_backing;
  p.detect_zero = opts.compress || opts.sparse_size != 0;
  p.compress = opts.compress;
  p.ctype = qdst != nullptr ? qdst->compression_type() : CompressionType::kZlib;
  return p;
}

// Block kinds of a chunk (one per `gran` bytes): 0 = skip (backing provides),
// 1 = zero, 2 = data.
using BlockKinds = std::vector<int8_t>;

// Reads the source's data runs of the chunk at `base` into `buf` and returns
// the kind of each of its blocks; data blocks hold their guest bytes after it.
Result<BlockKinds> ReadChunk(const ChunkPlan& plan, Image& src, StatusCache& status, uint64_t base,
                             uint64_t len, uint8_t* buf) {
  const uint64_t gran = plan.gran;
  BlockKinds kind(DivRoundUp(len, gran), -1);
  std::vector<std::pair<uint64_t, uint64_t>> zero_runs;  // (pos, length) of kind 0/1
  uint64_t pos = 0;
  while (pos < len) {
    SKIFF_ASSIGN_OR_RETURN(ChainRun run, status.Get(base + pos, len - pos));
    int k = run.kind == ChainKind::kData ? 2 : run.kind == ChainKind::kZero ? 1 : 0;
    if (k == 2) {
      SKIFF_TRY(src.Read(base + pos, std::span<uint8_t>(buf + pos, run.length)));
    } else {
      zero_runs.emplace_back(pos, run.length);
    }
    for (uint64_t b = pos / gran; b <= (pos + run.length - 1) / gran; ++b) {
      kind[b] = std::max<int8_t>(kind[b], static_cast<int8_t>(k));
    }
    pos += run.length;
  }
  if (plan.has_backing) {
    // A block partly unallocated-in-top and partly data must be written
    // whole: read it through the chain.
    for (uint64_t b = 0; b < kind.size(); ++b) {
      uint64_t bo = b * gran, bl = std::min(gran, len - bo);
      if (kind[b] == 2) SKIFF_TRY(src.Read(base + bo, std::span<uint8_t>(buf + bo, bl)));
    }
  } else {
    // The buffer is not cleared between chunks: zero the parts of data
    // blocks that the source holds as zeroes (whole zero blocks are not
    // written from the buffer).
    for (auto [zp, zl] : zero_runs) {
      for (uint64_t b = zp / gran; b <= (zp + zl - 1) / gran; ++b) {
        if (kind[b] != 2) continue;
        uint64_t a = std::max(zp, b * gran), e = std::min({zp + zl, (b + 1) * gran, len});
        std::memset(buf + a, 0, e - a);
      }
    }
  }
  if (plan.detect_zero) {
    for (uint64_t b = 0; b < kind.size(); ++b) {
      uint64_t bo = b * gran, bl = std::min(gran, len - bo);
      if (kind[b] == 2 && IsZero(buf + bo, bl)) kind[b] = 1;
    }
  }
  return kind;
}

// Cuts a chunk read by ReadChunk into write operations, compressing its data
// blocks when asked; runs of blocks of one kind become one operation.
Status ChunkOps(const ChunkPlan& plan, const BlockKinds& kind, uint64_t len, ChunkResult& res) {
  const uint64_t gran = plan.gran, tcs = plan.tcs, base = res.base;
  const uint8_t* buf = res.buf.get();
  std::vector<uint8_t> padded;
  for (uint64_t b = 0; b < kind.size();) {
    uint64_t e = b + 1;
    while (e < kind.size() && kind[e] == kind[b] && !(plan.compress && kind[b] == 2)) ++e;
    uint64_t bo = b * gran, bl = std::min(e * gran, len) - bo;
    if (kind[b] == 1) {
      res.ops.push_back(Op{Op::kZero, base + bo, bl, {}});
    } else if (kind[b] == 2 && plan.compress) {
      std::span<const uint8_t> in(buf + bo, bl);
      if (bl < tcs) {  // the image's last, partial cluster
        padded.assign(tcs, 0);
        std::memcpy(padded.data(), buf + bo, bl);
        in = padded;
      }
      bool fits = false;
      std::vector<uint8_t> comp;
      SKIFF_TRY(CompressCluster(plan.ctype, in, tcs - 1, comp, &fits));
      if (fits) {
        res.ops.push_back(Op{Op::kCompressed, base + bo, bl, std::move(comp)});
      } else if (!res.ops.empty() && res.ops.back().kind == Op::kData &&
                 res.ops.back().offset + res.ops.back().length == base + bo) {
        res.ops.back().length += bl;  // incompressible runs: one write
      } else {
        res.ops.push_back(Op{Op::kData, base + bo, bl, {}});
      }
    } else if (kind[b] == 2) {
      res.ops.push_back(Op{Op::kData, base + bo, bl, {}});
    }
    b = e;
  }
  return Status::Ok();
}

// A worker's share: chunk `idx` read, classified and cut into operations.
Status ProcessChunk(const ChunkPlan& plan, Image& src, StatusCache& status, BufferPool& pool,
                    uint64_t idx, ChunkResult& res) {
  const uint64_t base = idx * kChunk;
  const uint64_t len = std::min(kChunk, plan.size - base);
  res.base = base;
  res.buf = pool.Get();
  SKIFF_ASSIGN_OR_RETURN(BlockKinds kind, ReadChunk(plan, src, status, base, len, res.buf.get()));
  return ChunkOps(plan, kind, len, res);
}

// The writer's share: stores one chunk's operations in the target. Zeroes are
// written only over a backing file (a new image reads as zeroes anyway).
Status WriteChunk(const ChunkResult& res, Image& dst, Qcow2Image* qdst, bool has_backing) {
  Status st;
  // Consecutive compressed clusters go to the image as one batch (one
  // write for the lot: they pack back to back in the file).
  std::vector<Qcow2Image::CompressedWrite> batch;
  auto write_batch = [&] {
    if (!batch.empty() && st.ok()) st = qdst->WriteCompressedClusters(batch);
    batch.clear();
  };
  for (auto& op : res.ops) {
    if (!st.ok()) break;
    if (op.kind == Op::kCompressed) {
      batch.push_back(Qcow2Image::CompressedWrite{op.offset, op.bytes});
      continue;
    }
    write_batch();
    if (!st.ok()) break;
    if (op.kind == Op::kData) {
      st = dst.Write(op.offset,
                     std::span<const uint8_t>(res.buf.get() + (op.offset - res.base), op.length));
    } else if (has_backing) {
      st = dst.WriteZeroes(op.offset, op.length, true);
    }
  }
  write_batch();
  return st;
}

// Copies every chunk: worker threads run ProcessChunk ahead of this thread,
// which writes the chunks in order.
Status CopyChunks(const ChunkPlan& plan, Image& src, Image& dst, Qcow2Image* qdst,
                  const ConvertOptions& opts) {
  const uint64_t nchunks = plan.nchunks;
  BufferPool pool;
  StatusCache status(src, plan.has_backing);
  int threads =
      opts.threads > 0 ? opts.threads : static_cast<int>(std::thread::hardware_concurrency());
  threads = std::max(1, std::min<int>(threads, 16));
  // Chunks done ahead of the writer: enough that a writer held up (by a busy
  // machine or a slow write) does not stall the compressing workers. A plain
  // copy needs few: the writer is its bottleneck, and each chunk buffer in
  // the window costs 512 page faults on its first use.
  const uint64_t window = static_cast<uint64_t>(threads) * (opts.compress ? 8 : 2);
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
        res.status = ProcessChunk(plan, src, status, pool, idx, res);
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
    if (st.ok()) st = WriteChunk(res, dst, qdst, plan.has_backing);
    pool.Put(std::move(res.buf));
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
  return st;
}

}  // namespace

Status ConvertImage(const std::string& source, const std::string& target,
                    const ConvertOptions& opts) {
  OpenOptions so;
  so.format = opts.source_format;
  SKIFF_ASSIGN_OR_RETURN(auto src, OpenImage(source, so));
  SKIFF_ASSIGN_OR_RETURN(CreateOptions t, TargetCreateOptions(target, opts, src->size()));
  auto* qsrc = dynamic_cast<Qcow2Image*>(src.get());
  if (opts.bitmaps) {
    // Refused before the target exists, so a refusal leaves nothing behind.
    if (qsrc == nullptr) {
      return UnsupportedError("'{}': --bitmaps needs a qcow2 source (this is {})", source,
                              src->format());
    }
    if (t.format != "qcow2" || t.version < 3) {
      return UnsupportedError("'{}': --bitmaps needs a qcow2 target with compat=1.1", target);
    }
    SKIFF_TRY(CheckBitmapsCopyable(*qsrc, opts.skip_broken_bitmaps));
  }
  SKIFF_TRY(CreateImage(target, t));
  OpenOptions to;
  to.format = t.format;
  to.writable = true;
  to.open_backing = false;
  to.unsafe_cache = opts.unsafe_cache;
  SKIFF_ASSIGN_OR_RETURN(auto dst, OpenImage(target, to));
  auto* qdst = dynamic_cast<Qcow2Image*>(dst.get());
  const ChunkPlan plan = MakeChunkPlan(opts, qdst, !t.backing_file.empty(), src->size());
  SKIFF_TRY(CopyChunks(plan, *src, *dst, qdst, opts));
  if (opts.bitmaps) SKIFF_TRY(CopyBitmaps(*qsrc, *qdst, opts.skip_broken_bitmaps));
  SKIFF_TRY(dst->Close());
  return src->Close();
}

}  // namespace skiff::image
