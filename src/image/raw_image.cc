// Raw images: guest offset == file offset; holes are found with SEEK_DATA/SEEK_HOLE.
#include "image/raw_image.h"

namespace skiff::image {

Result<std::unique_ptr<RawImage>> RawImage::Open(const std::string& path, bool writable,
                                                 bool unsafe_cache) {
  SKIFF_ASSIGN_OR_RETURN(HostFile f, HostFile::Open(path, writable));
  f.set_unsafe(unsafe_cache);
  SKIFF_ASSIGN_OR_RETURN(uint64_t size, f.Size());
  return std::unique_ptr<RawImage>(new RawImage(std::move(f), size));
}

Status RawImage::Create(const std::string& path, uint64_t size, Preallocation prealloc) {
  if (prealloc == Preallocation::kMetadata) {
    return InvalidArgumentError("unsupported preallocation mode 'metadata' for raw images");
  }
  SKIFF_ASSIGN_OR_RETURN(HostFile f, HostFile::Create(path));
  SKIFF_ASSIGN_OR_RETURN(auto img, Open(path, true));
  return img->Resize(size, prealloc);
}

Status RawImage::Resize(uint64_t new_size, Preallocation prealloc) {
  uint64_t old = size_;
  if (new_size > old && prealloc == Preallocation::kFull) {
    SKIFF_TRY(file_.WriteZeroBytes(old, new_size - old));
  } else if (new_size > old && prealloc == Preallocation::kFalloc) {
    SKIFF_TRY(file_.Allocate(old, new_size - old));
  }
  SKIFF_TRY(file_.Truncate(new_size));
  size_ = new_size;
  // Only a preallocation has blocks worth a sync (a disk cache flush, slow on
  // a busy host); a sparse size change is metadata, as qemu-img leaves it.
  if (prealloc == Preallocation::kOff) return Status::Ok();
  return file_.Sync();
}

Status RawImage::CheckRange(uint64_t offset, uint64_t length) const {
  if (offset > size_ || length > size_ - offset) {
    return InvalidArgumentError(
        "'{}': request at 0x{:x} of {} bytes is beyond the end of the image ({} bytes)", path(),
        offset, length, size_);
  }
  return Status::Ok();
}

Status RawImage::Read(uint64_t offset, std::span<uint8_t> buf) {
  SKIFF_TRY(CheckRange(offset, buf.size()));
  return file_.ReadZeroFill(offset, buf);
}

Status RawImage::Write(uint64_t offset, std::span<const uint8_t> buf) {
  SKIFF_TRY(CheckRange(offset, buf.size()));
  return file_.WriteAll(offset, buf);
}

Status RawImage::WriteZeroes(uint64_t offset, uint64_t length, bool may_unmap) {
  SKIFF_TRY(CheckRange(offset, length));
  return file_.ZeroRange(offset, length, may_unmap);
}

Status RawImage::Discard(uint64_t offset, uint64_t length) {
  SKIFF_TRY(CheckRange(offset, length));
  return file_.PunchHole(offset, length);
}

Result<BlockStatus> RawImage::GetBlockStatus(uint64_t offset, uint64_t length) {
  SKIFF_TRY(CheckRange(offset, length));
  BlockStatus st;
  uint64_t end = offset + length;
  SKIFF_ASSIGN_OR_RETURN(uint64_t data, file_.NextData(offset, end));
  if (data > offset) {
    st.allocation = Allocation::kZero;
    st.length = data - offset;
    st.host_offset = offset;
    return st;
  }
  SKIFF_ASSIGN_OR_RETURN(uint64_t hole, file_.NextHole(offset, end));
  st.allocation = Allocation::kData;
  st.length = (hole > offset ? hole : end) - offset;
  st.host_offset = offset;
  return st;
}

Status RawImage::Flush() { return file_.Sync(); }

Status RawImage::Close() { return file_.Sync(); }

}  // namespace skiff::image
