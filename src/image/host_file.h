// HostFile: positional I/O on the file that holds an image, with full-length
// reads/writes, preallocation, hole punching and allocation queries.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "skiff/base/fd.h"
#include "skiff/base/status.h"

namespace skiff::image {

class HostFile {
 public:
  // Opens an existing file. `writable` opens O_RDWR, else O_RDONLY.
  static Result<HostFile> Open(const std::string& path, bool writable);
  // Creates (or truncates) a file for writing.
  static Result<HostFile> Create(const std::string& path);

  HostFile() = default;
  HostFile(HostFile&&) = default;
  HostFile& operator=(HostFile&& o) noexcept;

  const std::string& path() const { return path_; }
  bool writable() const { return writable_; }
  int fd() const { return fd_.get(); }

  // Reads exactly buf.size() bytes; kCorruption naming the offset if the file ends first.
  Status ReadExact(uint64_t offset, std::span<uint8_t> buf) const;
  // Reads up to buf.size() bytes, zero-filling past the end of the file.
  Status ReadZeroFill(uint64_t offset, std::span<uint8_t> buf) const;
  // Writes in pieces of at most kMaxWrite bytes: the page cache backs a
  // buffered write with folios as large as the write, and on Linux 6.18 (in our
  // VMs) filling 1-2 MiB folios costs 4-10 times the CPU of filling 256 KiB
  // ones (measured: 512 MiB in 2 MiB writes 0.5-1.2 s of CPU, in 256 KiB writes
  // 0.12-0.13 s; docs/performance.md).
  Status WriteAll(uint64_t offset, std::span<const uint8_t> buf) const;
  static constexpr size_t kMaxWrite = 256 << 10;
  Result<uint64_t> Size() const;
  Status Truncate(uint64_t size) const;
  // posix_fallocate: reserves blocks for the range (extends the file).
  Status Allocate(uint64_t offset, uint64_t length) const;
  // Writes real zeroes to the range, in large chunks.
  Status WriteZeroBytes(uint64_t offset, uint64_t length) const;
  // Deallocates the range (keeps the size); falls back to writing zeroes.
  Status PunchHole(uint64_t offset, uint64_t length) const;
  // Makes the range read as zeroes, preferring FALLOC_FL_ZERO_RANGE.
  Status ZeroRange(uint64_t offset, uint64_t length, bool may_unmap) const;
  Status Sync() const;
  // cache=unsafe: Sync() does nothing (qemu-img convert's default for targets).
  // Otherwise writes start the write-back of the file's dirty pages every
  // kWritebackKick bytes, so that the disk works while we copy and the final
  // Sync() finds little left to write. The write-back is started by a thread of
  // the file's own (sync_file_range submits the I/O in the calling thread: the
  // block allocation and request building would otherwise stall the writer).
  void set_unsafe(bool unsafe) { unsafe_ = unsafe; }
  static constexpr uint64_t kWritebackKick = 16ull << 20;
  // Extends the file to `size` with allocated blocks that read as zeroes
  // (fallocate, mode 0). False, changing nothing, when the file system or file
  // type cannot (the caller then just writes).
  bool Extend(uint64_t size) const;
  // st_blocks * 512.
  Result<uint64_t> AllocatedBytes() const;
  // Next data / hole at or after `offset` (SEEK_DATA / SEEK_HOLE); `size` when none.
  Result<uint64_t> NextData(uint64_t offset, uint64_t size) const;
  Result<uint64_t> NextHole(uint64_t offset, uint64_t size) const;

 private:
  class Kicker;
  struct WriteBack {
    WriteBack();
    ~WriteBack();
    // Bytes written since the last write-back kick (shared by writer threads).
    std::atomic<uint64_t> unkicked{0};
    std::once_flag started;
    std::unique_ptr<Kicker> kicker;  // started on the first kick
  };
  void Kick(uint64_t bytes) const;

  UniqueFd fd_;
  std::string path_;
  bool writable_ = false;
  bool unsafe_ = false;
  // After fd_: destroyed (its thread joined) before the file is closed.
  std::unique_ptr<WriteBack> wb_ = std::make_unique<WriteBack>();
};

}  // namespace skiff::image
