// HostFile: positional I/O on the file that holds an image, with full-length
// reads/writes, preallocation, hole punching and allocation queries.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
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
  HostFile& operator=(HostFile&&) = default;

  const std::string& path() const { return path_; }
  bool writable() const { return writable_; }
  int fd() const { return fd_.get(); }

  // Reads exactly buf.size() bytes; kCorruption naming the offset if the file ends first.
  Status ReadExact(uint64_t offset, std::span<uint8_t> buf) const;
  // Reads up to buf.size() bytes, zero-filling past the end of the file.
  Status ReadZeroFill(uint64_t offset, std::span<uint8_t> buf) const;
  Status WriteAll(uint64_t offset, std::span<const uint8_t> buf) const;
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
  // kWritebackKick bytes (sync_file_range, asynchronous), so that the disk
  // works while we copy and the final Sync() finds little left to write.
  void set_unsafe(bool unsafe) { unsafe_ = unsafe; }
  static constexpr uint64_t kWritebackKick = 16ull << 20;
  // st_blocks * 512.
  Result<uint64_t> AllocatedBytes() const;
  // Next data / hole at or after `offset` (SEEK_DATA / SEEK_HOLE); `size` when none.
  Result<uint64_t> NextData(uint64_t offset, uint64_t size) const;
  Result<uint64_t> NextHole(uint64_t offset, uint64_t size) const;

 private:
  UniqueFd fd_;
  std::string path_;
  bool writable_ = false;
  bool unsafe_ = false;
  // Bytes written since the last write-back kick (shared by writer threads).
  std::unique_ptr<std::atomic<uint64_t>> unkicked_ = std::make_unique<std::atomic<uint64_t>>(0);
};

}  // namespace skiff::image
