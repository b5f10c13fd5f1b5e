// `bench`: qemu-img bench's request pattern over the image engine, with a
// pool of threads keeping `depth` requests in flight.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>

#include "image/endian.h"
#include "skiff/image/ops.h"

namespace skiff::image {

Result<double> RunBench(const std::string& path, const BenchOptions& o) {
  OpenOptions oo;
  oo.format = o.format;
  oo.writable = o.write;
  SKIFF_ASSIGN_OR_RETURN(auto img, OpenImage(path, oo));
  const uint64_t size = img->size();
  if (o.request_size == 0 || o.request_size > size) {
    return InvalidArgumentError("bench: request size {} does not fit the image ({} bytes)",
                                o.request_size, size);
  }
  if (o.offset > size - o.request_size) {
    return InvalidArgumentError("bench: offset {} is beyond the image end", o.offset);
  }
  const int threads = std::max(
      1, std::min(o.depth, static_cast<int>(std::max(2u, std::thread::hardware_concurrency()))));
  std::atomic<uint64_t> next{0};
  std::atomic<bool> failed{false};
  Status first_error;
  std::mutex err_mu;
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      // Page-aligned, as QEMU's I/O buffers: the kernel copies to and from
      // aligned user memory faster.
      std::unique_ptr<uint8_t, decltype(&std::free)> mem(
          static_cast<uint8_t*>(std::aligned_alloc(4096, AlignUp(o.request_size, 4096))),
          &std::free);
      SKIFF_CHECK(mem != nullptr);
      std::memset(mem.get(), o.pattern, o.request_size);
      std::span<uint8_t> buf(mem.get(), o.request_size);
      for (;;) {
        uint64_t i = next.fetch_add(1);
        if (i >= o.count || failed) return;
        // Offsets advance by `step` and wrap to the start, as qemu-img bench does.
        uint64_t off = o.offset + i * o.step;
        if (off + o.request_size > size) {
          uint64_t span = size - o.offset;
          off = o.offset + (i * o.step) % std::max<uint64_t>(span - o.request_size + 1, 1);
        }
        Status st = o.write ? img->Write(off, buf) : img->Read(off, buf);
        if (st.ok() && o.write && o.flush_interval != 0 && (i + 1) % o.flush_interval == 0)
          st = img->Flush();
        if (!st.ok()) {
          std::lock_guard lk(err_mu);
          if (first_error.ok()) first_error = st;
          failed = true;
          return;
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  SKIFF_TRY(first_error);
  SKIFF_TRY(img->Close());
  auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double>(t1 - t0).count();
}

}  // namespace skiff::image
