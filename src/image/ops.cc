// check/resize/snapshot/rebase/commit entry points behind `skiff img`.
#include <limits.h>
#include <stdlib.h>

#include <algorithm>
#include <cstring>

#include <nlohmann/json.hpp>

#include "image/chain_status.h"
#include "image/open.h"
#include "image/qcow2_image.h"
#include "image/qemu_json.h"
#include "image/raw_image.h"
#include "skiff/base/size.h"
#include "skiff/image/ops.h"

namespace skiff::image {
namespace {

std::string RealPath(const std::string& p) {
  char buf[PATH_MAX];
  return ::realpath(p.c_str(), buf) != nullptr ? std::string(buf) : p;
}

}  // namespace

Result<CheckReport> CheckImage(const std::string& path, const std::string& format,
                               RepairMode repair) {
  std::string fmt = format;
  if (fmt.empty()) {
    SKIFF_ASSIGN_OR_RETURN(fmt, ProbeFormat(path));
  }
  if (fmt != "qcow2") {
    return UnsupportedError("'{}': this image format ({}) does not support checks", path, fmt);
  }
  OpenOptions o;
  o.format = "qcow2";
  o.writable = repair != RepairMode::kNone;
  o.repair = o.writable;
  o.open_backing = false;
  SKIFF_ASSIGN_OR_RETURN(auto img, Qcow2Image::Open(path, o));
  SKIFF_ASSIGN_OR_RETURN(CheckReport r, img->Check(repair));
  r.filename = path;
  SKIFF_TRY(img->Close());
  return r;
}

int CheckExitCode(const CheckReport& r) {
  if (r.check_errors) return 1;
  if (r.corruptions) return 2;
  if (r.leaks) return 3;
  return 0;
}

std::string FormatCheckHuman(const CheckReport& r) {
  std::string out;
  if (r.corruptions_fixed || r.leaks_fixed) {
    out += fmt::format(
        "The following inconsistencies were found and repaired:\n\n    {} leaked clusters\n    {} "
        "corruptions\n\n"
        "Double checking the fixed image now...\n",
        r.leaks_fixed, r.corruptions_fixed);
  }
  if (r.corruptions == 0 && r.leaks == 0 && r.check_errors == 0) {
    out += "No errors were found on the image.\n";
  } else {
    if (r.corruptions) {
      out += fmt::format(
          "\n{} errors were found on the image.\n"
          "Data may be corrupted, or further writes to the image may corrupt it.\n",
          r.corruptions);
    }
    if (r.leaks) {
      out += fmt::format(
          "\n{} leaked clusters were found on the image.\n"
          "This means waste of disk space, but no harm to data.\n",
          r.leaks);
    }
    if (r.check_errors)
      out += fmt::format("\n{} internal errors have occurred during the check.\n", r.check_errors);
  }
  if (r.total_clusters != 0 && r.allocated_clusters != 0) {
    double a = static_cast<double>(r.allocated_clusters);
    out += fmt::format(
        "{}/{} = {:.2f}% allocated, {:.2f}% fragmented, {:.2f}% compressed clusters\n",
        r.allocated_clusters, r.total_clusters, a * 100.0 / static_cast<double>(r.total_clusters),
        static_cast<double>(r.fragmented_clusters) * 100.0 / a,
        static_cast<double>(r.compressed_clusters) * 100.0 / a);
  }
  if (r.image_end_offset) out += fmt::format("Image end offset: {}\n", r.image_end_offset);
  return out;
}

std::string FormatCheckJson(const CheckReport& r) {
  nlohmann::json j;
  j["filename"] = r.filename;
  j["format"] = r.format;
  j["check-errors"] = r.check_errors;
  auto opt = [&](const char* k, uint64_t v) {
    if (v != 0) j[k] = v;
  };
  opt("image-end-offset", r.image_end_offset);
  opt("corruptions", r.corruptions);
  opt("leaks", r.leaks);
  opt("corruptions-fixed", r.corruptions_fixed);
  opt("leaks-fixed", r.leaks_fixed);
  opt("total-clusters", r.total_clusters);
  opt("allocated-clusters", r.allocated_clusters);
  opt("fragmented-clusters", r.fragmented_clusters);
  opt("compressed-clusters", r.compressed_clusters);
  return QemuJsonText(j) + "\n";
}

Status ResizeImage(const std::string& path, const std::string& format, const std::string& size_text,
                   bool shrink, Preallocation prealloc) {
  std::string fmt = format;
  if (fmt.empty()) {
    SKIFF_ASSIGN_OR_RETURN(fmt, ProbeFormat(path));
  }
  std::string_view t = size_text;
  int sign = 0;
  if (!t.empty() && (t[0] == '+' || t[0] == '-')) {
    sign = t[0] == '+' ? 1 : -1;
    t.remove_prefix(1);
  }
  SKIFF_ASSIGN_OR_RETURN(uint64_t n, ParseSize(t));
  OpenOptions o;
  o.format = fmt;
  o.writable = true;
  o.open_backing = false;
  SKIFF_ASSIGN_OR_RETURN(auto img, OpenImage(path, o));
  uint64_t cur = img->size();
  uint64_t target = n;
  if (sign > 0) {
    if (n > (1ull << 62) - cur) return InvalidArgumentError("new size of '{}' is too large", path);
    target = cur + n;
  } else if (sign < 0) {
    if (n > cur)
      return InvalidArgumentError("'{}': cannot shrink below zero ({} - {})", path, cur, n);
    target = cur - n;
  }
  if (target > (1ull << 62))
    return InvalidArgumentError("new size {} of '{}' is too large", target, path);
  if (auto* q = dynamic_cast<Qcow2Image*>(img.get())) {
    SKIFF_TRY(q->Resize(target, shrink, prealloc));
  } else if (auto* r = dynamic_cast<RawImage*>(img.get())) {
    if (target < cur && !shrink) {
      return InvalidArgumentError("'{}': use --shrink to shrink the image from {} to {} bytes",
                                  path, cur, target);
    }
    if (prealloc == Preallocation::kMetadata) {
      return InvalidArgumentError("preallocation mode 'metadata' is not supported for raw images");
    }
    SKIFF_TRY(r->Resize(target, prealloc));
  }
  return img->Close();
}

Result<std::vector<SnapshotInfo>> ListSnapshots(const std::string& path) {
  SKIFF_ASSIGN_OR_RETURN(auto img, OpenQcow2(path, false, false, "snapshot"));
  std::vector<SnapshotInfo> out;
  for (const auto& s : img->snapshots()) {
    out.push_back(SnapshotInfo{s.id, s.name, s.vm_state_size, s.date_sec, s.date_nsec,
                               s.vm_clock_nsec, s.icount});
  }
  return out;
}

Status CreateSnapshot(const std::string& path, const std::string& name) {
  SKIFF_ASSIGN_OR_RETURN(auto img, OpenQcow2(path, true, false, "snapshot"));
  SKIFF_TRY(img->CreateSnapshot(name));
  return img->Close();
}

Status ApplySnapshot(const std::string& path, const std::string& name) {
  SKIFF_ASSIGN_OR_RETURN(auto img, OpenQcow2(path, true, false, "snapshot"));
  SKIFF_TRY(img->ApplySnapshot(name));
  return img->Close();
}

Status DeleteSnapshot(const std::string& path, const std::string& name) {
  SKIFF_ASSIGN_OR_RETURN(auto img, OpenQcow2(path, true, false, "snapshot"));
  SKIFF_TRY(img->DeleteSnapshot(name));
  return img->Close();
}

Status RebaseImage(const std::string& path, const std::string& format, const std::string& backing,
                   const std::string& backing_format, bool unsafe, ProgressFn progress) {
  std::string fmt = format;
  if (fmt.empty()) {
    SKIFF_ASSIGN_OR_RETURN(fmt, ProbeFormat(path));
  }
  if (fmt != "qcow2")
    return UnsupportedError("'{}': rebase needs a qcow2 image (this is {})", path, fmt);
  std::string bfmt = backing_format;
  const std::string bpath = backing.empty() ? "" : ResolveBackingPath(path, backing);
  if (!backing.empty() && bfmt.empty()) {
    SKIFF_ASSIGN_OR_RETURN(bfmt, ProbeFormat(bpath));
  }
  OpenOptions o;
  o.format = "qcow2";
  o.writable = true;
  o.open_backing = !unsafe;
  SKIFF_ASSIGN_OR_RETURN(auto img, Qcow2Image::Open(path, o));
  if (!unsafe) {
    std::unique_ptr<Image> nb;
    if (!backing.empty()) {
      OpenOptions bo;
      bo.format = bfmt;
      auto r = OpenImage(bpath, bo);
      if (!r.ok()) return r.status().WithContext("could not open new backing file");
      nb = std::move(r).value();
    }
    Image* ob = img->backing();
    const uint64_t size = img->size();
    const uint64_t step = std::max<uint64_t>(img->cluster_size(), 64 * 1024);
    std::vector<uint8_t> a(step), b(step);
    for (uint64_t pos = 0; pos < size;) {
      SKIFF_ASSIGN_OR_RETURN(BlockStatus bs, img->GetBlockStatus(pos, std::min(step, size - pos)));
      uint64_t len = bs.length;
      if (bs.allocation == Allocation::kUnallocated) {
        for (uint64_t off = pos; off < pos + len;) {
          uint64_t n = std::min(step, pos + len - off);
          std::span<uint8_t> sa(a.data(), n), sb(b.data(), n);
          auto read_from = [](Image* im, uint64_t at, std::span<uint8_t> out) -> Status {
            std::fill(out.begin(), out.end(), 0);
            if (im == nullptr || at >= im->size()) return Status::Ok();
            uint64_t k = std::min<uint64_t>(out.size(), im->size() - at);
            return im->Read(at, out.subspan(0, k));
          };
          SKIFF_TRY(read_from(ob, off, sa));
          SKIFF_TRY(read_from(nb.get(), off, sb));
          if (std::memcmp(a.data(), b.data(), n) != 0) SKIFF_TRY(img->Write(off, sa));
          off += n;
        }
      }
      pos += len;
      if (progress) progress(static_cast<double>(pos) / static_cast<double>(size));
    }
  }
  SKIFF_TRY(img->SetBacking(backing, backing.empty() ? "" : bfmt));
  return img->Close();
}

Status CommitImage(const std::string& path, const std::string& format, const std::string& base,
                   bool keep, ProgressFn progress) {
  std::string fmt = format;
  if (fmt.empty()) {
    SKIFF_ASSIGN_OR_RETURN(fmt, ProbeFormat(path));
  }
  if (fmt != "qcow2")
    return UnsupportedError("'{}': commit needs a qcow2 image with a backing file", path);
  if (!base.empty()) keep = true;  // -b implies -d, as in qemu-img
  OpenOptions o;
  o.format = "qcow2";
  o.writable = !keep;
  SKIFF_ASSIGN_OR_RETURN(auto top, Qcow2Image::Open(path, o));
  if (top->backing() == nullptr)
    return FailedPreconditionError("'{}' has no backing file to commit to", path);
  // Find the base in the chain; everything above it is committed.
  std::string base_path = ResolveBackingPath(path, top->backing_name());
  std::string base_fmt = top->backing_format();
  int depth = 1;
  if (!base.empty()) {
    std::string want = RealPath(base);
    Image* cur = top->backing();
    std::string cur_path = base_path;
    std::string cur_fmt = base_fmt;
    while (cur != nullptr && RealPath(cur_path) != want) {
      if (cur->backing() == nullptr) {
        return NotFoundError("'{}' is not in the backing chain of '{}'", base, path);
      }
      cur_fmt = cur->backing_format();
      cur_path = ResolveBackingPath(cur_path, cur->backing_name());
      cur = cur->backing();
      ++depth;
    }
    base_path = cur_path;
    base_fmt = cur_fmt;
  }
  OpenOptions bo;
  bo.format = base_fmt;
  bo.writable = true;
  bo.open_backing = false;
  SKIFF_ASSIGN_OR_RETURN(auto dst, OpenImage(base_path, bo));
  const uint64_t size = top->size();
  if (dst->size() < size) {
    if (auto* q = dynamic_cast<Qcow2Image*>(dst.get())) {
      SKIFF_TRY(q->Resize((size + 511) / 512 * 512, false, Preallocation::kOff));
    } else if (auto* r = dynamic_cast<RawImage*>(dst.get())) {
      SKIFF_TRY(r->Resize(size, Preallocation::kOff));
    }
  }
  std::vector<uint8_t> buf;
  for (uint64_t pos = 0; pos < size;) {
    // Allocated anywhere above the base?
    uint64_t len = std::min<uint64_t>(size - pos, 4ull << 20);
    bool allocated = false;
    Image* cur = top.get();
    for (int d = 0; d < depth && cur != nullptr; ++d) {
      if (pos >= cur->size()) break;
      SKIFF_ASSIGN_OR_RETURN(BlockStatus bs,
                             cur->GetBlockStatus(pos, std::min(len, cur->size() - pos)));
      if (bs.allocation != Allocation::kUnallocated) {
        allocated = true;
        len = bs.length;
        break;
      }
      len = std::min(len, bs.length);
      cur = cur->backing();
    }
    if (allocated) {
      buf.resize(len);
      SKIFF_TRY(top->Read(pos, buf));
      SKIFF_TRY(dst->Write(pos, buf));
    }
    pos += len;
    if (progress) progress(static_cast<double>(pos) / static_cast<double>(size));
  }
  SKIFF_TRY(dst->Close());
  if (!keep) SKIFF_TRY(top->MakeEmpty());
  return top->Close();
}

}  // namespace skiff::image
