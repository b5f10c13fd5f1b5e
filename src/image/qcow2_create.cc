// Creating qcow2 images with QEMU's layout: header, refcount table, refcount
// block, L1 table; then preallocation through the normal write path.
#include <algorithm>

#include "image/endian.h"
#include "image/qcow2_image.h"

namespace skiff::image {

Status Qcow2Image::Create(const std::string& path, const CreateOptions& o) {
  Qcow2Header h;
  if (o.cluster_size < 512 || o.cluster_size > (2u << 20) ||
      (o.cluster_size & (o.cluster_size - 1))) {
    return InvalidArgumentError("cluster size {} must be a power of two between 512 and 2M",
                                o.cluster_size);
  }
  uint32_t order = 0;
  while ((1u << order) < o.refcount_bits) ++order;
  if ((1u << order) != o.refcount_bits || order > 6) {
    return InvalidArgumentError("refcount_bits {} must be a power of two up to 64",
                                o.refcount_bits);
  }
  if (o.version == 2) {
    if (o.refcount_bits != 16) {
      return InvalidArgumentError(
          "different refcount widths than 16 bits require compat=1.1 or above");
    }
    if (o.lazy_refcounts) return InvalidArgumentError("lazy refcounts need compat=1.1 or above");
    if (o.extended_l2) return InvalidArgumentError("extended L2 entries need compat=1.1 or above");
    if (o.compression_type != "zlib") {
      return InvalidArgumentError("compression_type '{}' needs compat=1.1 or above",
                                  o.compression_type);
    }
  }
  if (o.extended_l2 && o.cluster_size < 16384) {
    return InvalidArgumentError("extended L2 entries need a cluster size of 16k or more (got {})",
                                o.cluster_size);
  }
  h.version = o.version;
  h.cluster_bits = static_cast<uint32_t>(__builtin_ctz(o.cluster_size));
  h.size = AlignUp(o.size, 512);
  h.refcount_order = order;
  if (o.version == 3) {
    if (o.lazy_refcounts) h.compatible_features |= kCompatLazyRefcounts;
    if (o.extended_l2) h.incompatible_features |= kIncompatExtendedL2;
    if (o.compression_type == "zstd") {
      h.compression_type = 1;
      h.incompatible_features |= kIncompatCompression;
    } else if (o.compression_type != "zlib") {
      return InvalidArgumentError("unknown compression_type '{}' (zlib or zstd)",
                                  o.compression_type);
    }
  }
  h.backing_file = o.backing_file;
  h.backing_format = o.backing_format;
  const uint64_t cs = h.cluster_size();
  const uint64_t l2_entries = cs / (o.extended_l2 ? 16 : 8);
  const uint64_t l1_size = DivRoundUp(h.size, cs * l2_entries);
  if (l1_size * 8 > kMaxL1Bytes) {
    return InvalidArgumentError("image size {} is too large for cluster size {}", h.size, cs);
  }
  h.l1_size = static_cast<uint32_t>(l1_size);
  const uint64_t l1_clusters = std::max<uint64_t>(1, DivRoundUp(l1_size * 8, cs));
  h.l1_table_offset = 3 * cs;

  SKIFF_ASSIGN_OR_RETURN(HostFile f, HostFile::Create(path));
  Qcow2Refcounts rc(&f, h.cluster_bits, order);
  // Header and table first: the first block lands at cluster 2, covering itself.
  rc.InitEmpty(cs, 1, 2);
  SKIFF_TRY(rc.Add(0, 2, 1));
  SKIFF_TRY(rc.Add(3, l1_clusters, 1));
  if (rc.table_offset() != cs) SKIFF_TRY(rc.Add(1, 1, -1));
  h.refcount_table_offset = rc.table_offset();
  h.refcount_table_clusters = rc.table_clusters();
  SKIFF_ASSIGN_OR_RETURN(std::vector<uint8_t> head, SerializeQcow2Header(h));
  head.resize(cs, 0);
  SKIFF_TRY(f.WriteAll(0, head));
  SKIFF_TRY(rc.WriteDirty());
  std::vector<uint8_t> l1(std::max<uint64_t>(l1_size * 8, 8), 0);
  SKIFF_TRY(f.WriteAll(h.l1_table_offset, l1));
  if (o.preallocation == Preallocation::kOff || h.size == 0) return f.Sync();
  // The file is new: until create returns, a crash leaves no image anyone
  // uses, so the preallocation's metadata writes skip their ordering syncs
  // (each costs a disk cache flush) and one sync at the end makes it durable.
  OpenOptions oo;
  oo.writable = true;
  oo.open_backing = false;
  oo.unsafe_cache = true;
  SKIFF_ASSIGN_OR_RETURN(auto img, Open(path, oo));
  SKIFF_TRY(img->Preallocate(0, h.size, o.preallocation));
  SKIFF_TRY(img->Close());
  return f.Sync();
}

}  // namespace skiff::image
