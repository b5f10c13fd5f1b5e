// RawImage: a plain file (or block device) whose bytes are the guest disk.
#pragma once

#include <memory>
#include <string>

#include "image/host_file.h"
#include "skiff/image/image.h"

namespace skiff::image {

class RawImage final : public Image {
 public:
  static Result<std::unique_ptr<RawImage>> Open(const std::string& path, bool writable,
                                                bool unsafe_cache = false);
  // Creates a raw file of `size` bytes with the given preallocation.
  static Status Create(const std::string& path, uint64_t size, Preallocation prealloc);

  std::string_view format() const override { return "raw"; }
  const std::string& path() const override { return file_.path(); }
  uint64_t size() const override { return size_; }
  uint64_t cluster_size() const override { return 4096; }
  Status Read(uint64_t offset, std::span<uint8_t> buf) override;
  Status Write(uint64_t offset, std::span<const uint8_t> buf) override;
  Status WriteZeroes(uint64_t offset, uint64_t length, bool may_unmap) override;
  Status Discard(uint64_t offset, uint64_t length) override;
  Result<BlockStatus> GetBlockStatus(uint64_t offset, uint64_t length) override;
  Status Flush() override;
  Status Close() override;
  Result<uint64_t> AllocatedFileSize() const override { return file_.AllocatedBytes(); }
  bool writable() const override { return file_.writable(); }

  // Changes the size (truncate/extend), preallocating new space as asked.
  Status Resize(uint64_t new_size, Preallocation prealloc);

 private:
  explicit RawImage(HostFile f, uint64_t size) : file_(std::move(f)), size_(size) {}
  Status CheckRange(uint64_t offset, uint64_t length) const;

  HostFile file_;
  uint64_t size_;
};

}  // namespace skiff::image
