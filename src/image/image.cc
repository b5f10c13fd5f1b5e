// Opening (with format probing and backing chains) and creating images;
// parsing qemu-img's "-o" option lists.
#include "skiff/image/image.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "image/endian.h"
#include "image/host_file.h"
#include "image/open.h"
#include "image/probe.h"
#include "image/qcow2_image.h"
#include "image/raw_image.h"
#include "skiff/base/size.h"

namespace skiff::image {

Result<std::string> ProbeAnyFormat(const std::string& path) {
  SKIFF_ASSIGN_OR_RETURN(HostFile f, HostFile::Open(path, false));
  uint8_t head[512] = {};
  SKIFF_TRY(f.ReadZeroFill(0, head));
  SKIFF_ASSIGN_OR_RETURN(uint64_t size, f.Size());
  uint8_t tail[512] = {};
  std::span<const uint8_t> tail_span;
  if (size >= 1024) {
    SKIFF_TRY(f.ReadZeroFill(size - sizeof(tail), tail));
    tail_span = tail;
  }
  return std::string(FormatFromMagic(head, tail_span));
}

Result<std::string> ProbeFormat(const std::string& path) {
  SKIFF_ASSIGN_OR_RETURN(std::string fmt, ProbeAnyFormat(path));
  if (fmt == "raw" || fmt == "qcow2") return fmt;
  return UnsupportedError(
      "'{}' is a {} image (format '{}'): Skiff reads raw and qcow2 images only; convert it "
      "with 'qemu-img convert -O qcow2'",
      path, ForeignFormatTitle(fmt), fmt);
}

Result<std::unique_ptr<Qcow2Image>> OpenQcow2(const std::string& path, bool writable, bool backing,
                                              const char* what) {
  SKIFF_ASSIGN_OR_RETURN(std::string fmt, ProbeFormat(path));
  if (fmt != "qcow2")
    return UnsupportedError("'{}': {} needs a qcow2 image (this is {})", path, what, fmt);
  OpenOptions o;
  o.format = "qcow2";
  o.writable = writable;
  o.open_backing = backing;
  return Qcow2Image::Open(path, o);
}

Result<std::unique_ptr<Image>> OpenImageInChain(const std::string& path, const OpenOptions& options,
                                                std::set<std::string> chain) {
  std::string fmt = options.format;
  if (fmt.empty()) {
    SKIFF_ASSIGN_OR_RETURN(fmt, ProbeFormat(path));
  }
  if (fmt == "raw") {
    SKIFF_ASSIGN_OR_RETURN(auto img, RawImage::Open(path, options.writable, options.unsafe_cache));
    return std::unique_ptr<Image>(std::move(img));
  }
  if (fmt == "qcow2") {
    SKIFF_ASSIGN_OR_RETURN(auto img, Qcow2Image::Open(path, options, std::move(chain)));
    return std::unique_ptr<Image>(std::move(img));
  }
  return UnsupportedError("'{}': unsupported image format '{}' (raw and qcow2 are supported)", path,
                          fmt);
}

Result<std::unique_ptr<Image>> OpenImage(const std::string& path, const OpenOptions& options) {
  return OpenImageInChain(path, options, {});
}

std::string ResolveBackingPath(const std::string& image_path, const std::string& backing) {
  if (backing.empty() || backing[0] == '/') return backing;
  if (backing.find("://") != std::string::npos) return backing;
  std::filesystem::path dir = std::filesystem::path(image_path).parent_path();
  if (dir.empty()) return backing;
  return (dir / backing).string();
}

Result<Preallocation> ParsePreallocation(std::string_view text) {
  if (text == "off") return Preallocation::kOff;
  if (text == "metadata") return Preallocation::kMetadata;
  if (text == "falloc") return Preallocation::kFalloc;
  if (text == "full") return Preallocation::kFull;
  return InvalidArgumentError("invalid preallocation mode '{}' (off, metadata, falloc or full)",
                              text);
}

std::string_view PreallocationName(Preallocation p) {
  switch (p) {
    case Preallocation::kOff:
      return "off";
    case Preallocation::kMetadata:
      return "metadata";
    case Preallocation::kFalloc:
      return "falloc";
    case Preallocation::kFull:
      return "full";
  }
  return "off";
}

namespace {
Result<bool> ParseBool(std::string_view key, std::string_view v) {
  if (v == "on" || v == "true" || v == "yes") return true;
  if (v == "off" || v == "false" || v == "no") return false;
  return InvalidArgumentError("option '{}' expects on or off, not '{}'", key, v);
}
}  // namespace

Status ParseCreateOptionList(std::string_view list, CreateOptions& o) {
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    if (comma == std::string_view::npos) comma = list.size();
    std::string_view item = list.substr(pos, comma - pos);
    pos = comma + 1;
    if (item.empty()) {
      if (comma == list.size()) break;
      continue;
    }
    size_t eq = item.find('=');
    std::string_view key = item.substr(0, eq);
    std::string_view val = eq == std::string_view::npos ? "on" : item.substr(eq + 1);
    if (key == "size") {
      SKIFF_ASSIGN_OR_RETURN(o.size, ParseSize(val));
      o.size_given = true;
    } else if (key == "compat") {
      if (val == "1.1" || val == "v3") {
        o.version = 3;
      } else if (val == "0.10" || val == "v2") {
        o.version = 2;
      } else {
        return InvalidArgumentError("invalid compat level '{}' (0.10 or 1.1)", val);
      }
    } else if (key == "backing_file") {
      o.backing_file = std::string(val);
    } else if (key == "backing_fmt") {
      o.backing_format = std::string(val);
    } else if (key == "cluster_size") {
      SKIFF_ASSIGN_OR_RETURN(uint64_t cs, ParseSize(val));
      if (cs < 512 || cs > (2u << 20) || (cs & (cs - 1)) != 0) {
        return InvalidArgumentError(
            "cluster size must be a power of two between 512 and 2048k (got '{}')", val);
      }
      o.cluster_size = static_cast<uint32_t>(cs);
    } else if (key == "preallocation") {
      SKIFF_ASSIGN_OR_RETURN(o.preallocation, ParsePreallocation(val));
    } else if (key == "lazy_refcounts") {
      SKIFF_ASSIGN_OR_RETURN(o.lazy_refcounts, ParseBool(key, val));
    } else if (key == "extended_l2") {
      SKIFF_ASSIGN_OR_RETURN(o.extended_l2, ParseBool(key, val));
    } else if (key == "refcount_bits") {
      SKIFF_ASSIGN_OR_RETURN(uint64_t bits, ParseUint(val));
      if (bits == 0 || bits > 64 || (bits & (bits - 1)) != 0) {
        return InvalidArgumentError("refcount_bits must be a power of two up to 64 (got '{}')",
                                    val);
      }
      o.refcount_bits = static_cast<uint32_t>(bits);
    } else if (key == "compression_type") {
      if (val != "zlib" && val != "zstd") {
        return InvalidArgumentError("invalid compression_type '{}' (zlib or zstd)", val);
      }
      o.compression_type = std::string(val);
    } else if (key == "nocow") {
      // btrfs attribute; harmless to ignore elsewhere.
    } else if (key == "encryption" || key.rfind("encrypt.", 0) == 0 || key == "data_file" ||
               key == "data_file_raw") {
      return UnsupportedError("option '{}' is not supported", key);
    } else {
      return InvalidArgumentError("unknown option '{}'", key);
    }
  }
  return Status::Ok();
}

Status CreateImage(const std::string& path, const CreateOptions& options) {
  CreateOptions o = options;
  if (!o.backing_file.empty()) {
    if (o.format == "raw") return InvalidArgumentError("raw images cannot have a backing file");
    if (o.backing_format.empty()) {
      return InvalidArgumentError("backing file '{}' specified without backing format (use -F)",
                                  o.backing_file);
    }
    if (o.backing_format != "raw" && o.backing_format != "qcow2") {
      return UnsupportedError("backing format '{}' is not supported", o.backing_format);
    }
    if (o.open_backing || !o.size_given) {
      OpenOptions bo;
      bo.format = o.backing_format;
      auto b = OpenImage(ResolveBackingPath(path, o.backing_file), bo);
      if (!b.ok()) return b.status().WithContext("could not open backing file");
      if (!o.size_given) {
        o.size = (*b)->size();
        o.size_given = true;
      }
    }
  }
  if (!o.size_given) return InvalidArgumentError("image size must be given");
  if (o.size > (1ull << 62)) return InvalidArgumentError("image size {} is too large", o.size);
  if (o.format == "raw") return RawImage::Create(path, o.size, o.preallocation);
  if (o.format == "qcow2") return Qcow2Image::Create(path, o);
  return UnsupportedError("unsupported image format '{}' (raw and qcow2 are supported)", o.format);
}

}  // namespace skiff::image
