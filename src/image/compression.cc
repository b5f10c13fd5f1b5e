// zlib (raw deflate, window 2^12 as QEMU writes) and zstd cluster codecs.
#include "image/compression.h"

#include <zlib.h>
#include <zstd.h>

namespace skiff::image {
namespace {

// Per-thread codec state: set up once, reset per cluster.
struct Codecs {
  z_stream deflate{};
  bool deflate_ready = false;
  ZSTD_CCtx* zc = nullptr;
  ZSTD_DCtx* zd = nullptr;
  std::vector<uint8_t> probe;
  ~Codecs() {
    if (deflate_ready) deflateEnd(&deflate);
    ZSTD_freeCCtx(zc);
    ZSTD_freeDCtx(zd);
  }
};
thread_local Codecs codecs;

}  // namespace

Status CompressCluster(CompressionType type, std::span<const uint8_t> in, size_t max_out,
                       std::vector<uint8_t>& out, bool* fits) {
  *fits = false;
  if (type == CompressionType::kZlib) {
    // Early abort, as ZFS does before its slow compressors: deflate spends as
    // long on incompressible data (random, encrypted, already compressed) as
    // on text, only to find it does not fit. A zstd level-1 pass costs a few
    // percent of that; when even it cannot shrink the cluster below
    // `max_out`, the cluster is stored uncompressed without trying deflate.
    if (codecs.zc == nullptr) codecs.zc = ZSTD_createCCtx();
    if (codecs.zc == nullptr) return InternalError("ZSTD_createCCtx failed");
    codecs.probe.resize(ZSTD_compressBound(in.size()));
    size_t pr = ZSTD_compressCCtx(codecs.zc, codecs.probe.data(), codecs.probe.size(), in.data(),
                                  in.size(), 1);
    if (!ZSTD_isError(pr) && pr >= max_out) return Status::Ok();
    z_stream& s = codecs.deflate;
    if (!codecs.deflate_ready) {
      if (deflateInit2(&s, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
        return InternalError("deflateInit2 failed");
      }
      codecs.deflate_ready = true;
    } else if (deflateReset(&s) != Z_OK) {
      return InternalError("deflateReset failed");
    }
    out.resize(max_out);
    s.next_in = const_cast<Bytef*>(in.data());
    s.avail_in = static_cast<uInt>(in.size());
    s.next_out = out.data();
    s.avail_out = static_cast<uInt>(out.size());
    int r = deflate(&s, Z_FINISH);
    size_t produced = out.size() - s.avail_out;
    if (r == Z_STREAM_END && produced < max_out) {
      out.resize(produced);
      *fits = true;
    }
    return Status::Ok();
  }
  out.resize(std::max(max_out, ZSTD_compressBound(in.size())));
  if (codecs.zc == nullptr) codecs.zc = ZSTD_createCCtx();
  if (codecs.zc == nullptr) return InternalError("ZSTD_createCCtx failed");
  size_t r = ZSTD_compressCCtx(codecs.zc, out.data(), out.size(), in.data(), in.size(),
                               ZSTD_CLEVEL_DEFAULT);
  if (ZSTD_isError(r)) return InternalError("zstd compression failed: {}", ZSTD_getErrorName(r));
  if (r < max_out) {
    out.resize(r);
    *fits = true;
  }
  return Status::Ok();
}

Status DecompressCluster(CompressionType type, std::span<const uint8_t> in,
                         std::span<uint8_t> out) {
  if (type == CompressionType::kZlib) {
    z_stream s{};
    if (inflateInit2(&s, -15) != Z_OK) return InternalError("inflateInit2 failed");
    s.next_in = const_cast<Bytef*>(in.data());
    s.avail_in = static_cast<uInt>(in.size());
    s.next_out = out.data();
    s.avail_out = static_cast<uInt>(out.size());
    int r = inflate(&s, Z_FINISH);
    bool full = s.avail_out == 0;
    inflateEnd(&s);
    if (!((r == Z_STREAM_END || r == Z_BUF_ERROR) && full)) {
      return CorruptionError("invalid deflate data (zlib status {})", r);
    }
    return Status::Ok();
  }
  if (codecs.zd == nullptr) codecs.zd = ZSTD_createDCtx();
  ZSTD_DCtx* d = codecs.zd;
  if (d == nullptr) return InternalError("ZSTD_createDCtx failed");
  ZSTD_DCtx_reset(d, ZSTD_reset_session_only);
  ZSTD_inBuffer ib{in.data(), in.size(), 0};
  ZSTD_outBuffer ob{out.data(), out.size(), 0};
  Status st;
  while (ob.pos < ob.size) {
    size_t r = ZSTD_decompressStream(d, &ob, &ib);
    if (ZSTD_isError(r)) {
      st = CorruptionError("invalid zstd data: {}", ZSTD_getErrorName(r));
      break;
    }
    if (r == 0 && ob.pos < ob.size) {
      st = CorruptionError("zstd frame ends after {} of {} bytes", ob.pos, ob.size);
      break;
    }
    if (ib.pos == ib.size && ob.pos < ob.size && r != 0) {
      st = CorruptionError("compressed data is truncated");
      break;
    }
  }
  return st;
}

}  // namespace skiff::image
