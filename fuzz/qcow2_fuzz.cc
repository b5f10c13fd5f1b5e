// libFuzzer target: qcow2 open, reads, block status, bitmaps and check over untrusted
// bytes. The image lives in a memfd; backing files are never opened.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "image/qcow2_image.h"
#include "skiff/image/image.h"
#include "skiff/image/ops.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace skiff::image;
  int fd = memfd_create("qcow2_fuzz", MFD_CLOEXEC);
  if (fd < 0) return 0;
  size_t done = 0;
  while (done < size) {
    ssize_t n = write(fd, data + done, size - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  OpenOptions oo;
  oo.format = "qcow2";
  oo.open_backing = false;
  auto img = Qcow2Image::Open(path, oo);
  if (img.ok()) {
    Qcow2Image& q = **img;
    // Sample reads across the guest range, bounded in total.
    std::vector<uint8_t> buf(64 * 1024);
    const uint64_t vs = q.size();
    for (int i = 0; i < 16 && vs > 0; ++i) {
      uint64_t off = (vs / 16) * static_cast<uint64_t>(i);
      uint64_t len = std::min<uint64_t>(buf.size(), vs - off);
      (void)q.Read(off, std::span<uint8_t>(buf.data(), len));
      (void)q.GetBlockStatus(off, len);
    }
    // Bitmap tables and data (the directory was parsed by Open).
    for (const auto& b : q.bitmaps()) {
      auto bits = q.ReadBitmap(b.name);
      if (bits.ok()) (void)bits->DirtyRanges();
    }
    (void)q.Check(RepairMode::kNone);
    (void)q.Close();
  }
  close(fd);
  return 0;
}
