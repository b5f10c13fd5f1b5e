// The bitmap operations behind `skiff img bitmap` (qemu-img bitmap), the dirty
// ranges of one bitmap, and the copy of every bitmap that `convert --bitmaps` does.
#include <spdlog/spdlog.h>

#include "image/open.h"
#include "image/qcow2_image.h"
#include "skiff/image/ops.h"

namespace skiff::image {
namespace {

Result<DirtyBitmap> MergeSource(Qcow2Image& img, const std::string& name, const BitmapEdit& edit,
                                std::unique_ptr<Qcow2Image>* other) {
  if (edit.source_file.empty()) return img.ReadBitmap(name);
  if (!*other) {
    if (!edit.source_format.empty() && edit.source_format != "qcow2") {
      return UnsupportedError("'{}': bitmaps need a qcow2 image (-F {})", edit.source_file,
                              edit.source_format);
    }
    SKIFF_ASSIGN_OR_RETURN(*other, OpenQcow2(edit.source_file, false, false, "a bitmap merge"));
  }
  return (*other)->ReadBitmap(name);
}

Status ApplyAction(Qcow2Image& img, const std::string& bitmap, const BitmapAction& act,
                   const BitmapEdit& edit, std::unique_ptr<Qcow2Image>* other) {
  switch (act.kind) {
    case BitmapActionKind::kAdd:
      return img.AddBitmap(bitmap, edit.granularity, true);
    case BitmapActionKind::kRemove:
      return img.RemoveBitmap(bitmap);
    case BitmapActionKind::kClear:
      return img.ClearBitmap(bitmap);
    case BitmapActionKind::kEnable:
      return img.SetBitmapEnabled(bitmap, true);
    case BitmapActionKind::kDisable:
      return img.SetBitmapEnabled(bitmap, false);
    case BitmapActionKind::kMerge: {
      SKIFF_ASSIGN_OR_RETURN(DirtyBitmap src, MergeSource(img, act.source, edit, other));
      return img.MergeBitmap(bitmap, src);
    }
  }
  return InternalError("unknown bitmap action");
}

const char* ActionName(BitmapActionKind k) {
  switch (k) {
    case BitmapActionKind::kAdd:
      return "add";
    case BitmapActionKind::kRemove:
      return "remove";
    case BitmapActionKind::kClear:
      return "clear";
    case BitmapActionKind::kEnable:
      return "enable";
    case BitmapActionKind::kDisable:
      return "disable";
    case BitmapActionKind::kMerge:
      return "merge";
  }
  return "?";
}

}  // namespace

Status EditBitmap(const std::string& path, const std::string& bitmap, const BitmapEdit& edit) {
  if (edit.actions.empty()) {
    return InvalidArgumentError(
        "bitmap: need at least one of --add, --remove, --clear, --enable, --disable or --merge");
  }
  if (!edit.format.empty() && edit.format != "qcow2") {
    return UnsupportedError("'{}': bitmaps need a qcow2 image (-f {})", path, edit.format);
  }
  SKIFF_ASSIGN_OR_RETURN(auto img, OpenQcow2(path, true, false, "bitmap"));
  std::unique_ptr<Qcow2Image> other;
  for (const auto& act : edit.actions) {
    Status st = ApplyAction(*img, bitmap, act, edit, &other);
    if (!st.ok()) {
      // Nothing was stored yet: forget the earlier actions too.
      Status d = img->DiscardBitmapChanges();
      if (!d.ok()) spdlog::warn("{}", d.ToString());
      Status c = img->Close();
      if (!c.ok()) spdlog::warn("{}", c.ToString());
      return st.WithContext(fmt::format("bitmap '{}': {}", bitmap, ActionName(act.kind)));
    }
  }
  SKIFF_TRY(img->StoreBitmaps());
  return img->Close();
}

Result<std::vector<std::pair<uint64_t, uint64_t>>> BitmapDirtyRanges(const std::string& path,
                                                                     const std::string& format,
                                                                     const std::string& bitmap) {
  if (!format.empty() && format != "qcow2") {
    return UnsupportedError("'{}': bitmaps need a qcow2 image (-f {})", path, format);
  }
  SKIFF_ASSIGN_OR_RETURN(auto img, OpenQcow2(path, false, false, "bitmap"));
  SKIFF_ASSIGN_OR_RETURN(DirtyBitmap bits, img->ReadBitmap(bitmap));
  return bits.DirtyRanges();
}

Result<std::vector<std::string>> BitmapNames(const std::string& path) {
  SKIFF_ASSIGN_OR_RETURN(auto img, OpenQcow2(path, false, false, "bitmap"));
  std::vector<std::string> out;
  for (const auto& b : img->bitmaps()) out.push_back(b.name);
  return out;
}

Status CheckBitmapsCopyable(const Qcow2Image& src, bool skip_broken) {
  if (skip_broken) return Status::Ok();
  for (const auto& b : src.bitmaps()) {
    if (b.in_use()) {
      return FailedPreconditionError(
          "'{}': cannot copy inconsistent bitmap '{}' (use --skip-broken-bitmaps, or remove it "
          "with 'skiff img bitmap --remove')",
          src.path(), b.name);
    }
  }
  return Status::Ok();
}

Status CopyBitmaps(Qcow2Image& src, Qcow2Image& dst, bool skip_broken) {
  SKIFF_TRY(CheckBitmapsCopyable(src, skip_broken));
  for (const auto& b : src.bitmaps()) {
    if (b.in_use()) continue;
    SKIFF_ASSIGN_OR_RETURN(DirtyBitmap bits, src.ReadBitmap(b.name));
    SKIFF_TRY(dst.AddBitmap(b.name, b.granularity(), b.enabled()));
    SKIFF_TRY(dst.MergeBitmap(b.name, bits));
  }
  return dst.StoreBitmaps();
}

}  // namespace skiff::image
