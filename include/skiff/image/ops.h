// The image operations behind `skiff img` (qemu-img's subcommands): info,
// check, convert, map, compare, measure, resize, snapshot, rebase, commit.
// Each returns data; formatting for humans or JSON lives in info.h's helpers.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "skiff/base/status.h"
#include "skiff/image/image.h"

namespace skiff::image {

// Progress callback: fraction done in [0, 1].
using ProgressFn = std::function<void(double)>;

// ---- check ----
enum class RepairMode { kNone, kLeaks, kAll };

struct CheckReport {
  std::string filename;
  std::string format;
  uint64_t corruptions = 0;
  uint64_t leaks = 0;
  uint64_t check_errors = 0;
  uint64_t corruptions_fixed = 0;
  uint64_t leaks_fixed = 0;
  uint64_t image_end_offset = 0;
  uint64_t total_clusters = 0;
  uint64_t allocated_clusters = 0;
  uint64_t fragmented_clusters = 0;
  uint64_t compressed_clusters = 0;
  std::vector<std::string> messages;  // one line each, as qemu-img prints them
};

// Checks (and with `repair`, repairs) an image. raw images give kUnsupported.
Result<CheckReport> CheckImage(const std::string& path, const std::string& format,
                               RepairMode repair);
// qemu-img check's exit code for a report: 0 clean, 2 corruptions, 3 leaks only.
int CheckExitCode(const CheckReport& r);
std::string FormatCheckHuman(const CheckReport& r);
std::string FormatCheckJson(const CheckReport& r);

// ---- info ----
// `info`'s output for one image, or for the chain with `backing_chain`.
Result<std::string> ImageInfoText(const std::string& path, const std::string& format, bool json,
                                  bool backing_chain);

// ---- map ----
struct MapExtent {
  uint64_t start = 0;
  uint64_t length = 0;
  int depth = 0;
  bool present = false;
  bool zero = false;
  bool data = false;
  bool compressed = false;
  std::optional<uint64_t> offset;
  std::string file;  // image holding the data (for the human output)
};
Result<std::vector<MapExtent>> MapImage(Image& image, uint64_t start, uint64_t length);
std::string FormatMapHuman(const std::vector<MapExtent>& extents);
std::string FormatMapJson(const std::vector<MapExtent>& extents);

// ---- convert ----
struct ConvertOptions {
  std::string source_format;
  CreateOptions target;  // format, -o options; size is taken from the source
  bool compress = false;
  std::string target_backing;         // -B
  std::string target_backing_format;  // -F
  uint64_t sparse_size = 4096;        // -S; 0 writes every byte
  bool bitmaps = false;               // --bitmaps: copy persistent bitmaps (qcow2 to qcow2)
  bool skip_broken_bitmaps = false;   // --skip-broken-bitmaps: leave inconsistent ones out
  int threads = 0;                    // 0: one per core
  // -t unsafe (qemu-img convert's default): no fsync of the target. Any other
  // cache mode makes the target durable before convert returns.
  bool unsafe_cache = true;
  ProgressFn progress;
};
Status ConvertImage(const std::string& source, const std::string& target,
                    const ConvertOptions& opts);

// ---- compare ----
struct CompareResult {
  bool identical = false;
  std::string message;  // "Images are identical." or the first difference
};
// Exit codes as qemu-img: 0 same, 1 differ (callers map errors to 2).
Result<CompareResult> CompareImages(const std::string& a, const std::string& fmt_a,
                                    const std::string& b, const std::string& fmt_b, bool strict,
                                    ProgressFn progress);

// ---- measure ----
struct MeasureResult {
  uint64_t required = 0;
  uint64_t fully_allocated = 0;
  std::optional<uint64_t> bitmaps;
};
// With `source` empty, measures an empty image of `size` bytes.
Result<MeasureResult> MeasureImage(const CreateOptions& target, const std::string& source,
                                   const std::string& source_format, uint64_t size);

// ---- resize ----
// `size_text` as qemu-img: "10G", "+1G", "-512M".
Status ResizeImage(const std::string& path, const std::string& format, const std::string& size_text,
                   bool shrink, Preallocation prealloc);

// ---- snapshots ----
struct SnapshotInfo {
  std::string id;
  std::string name;
  uint64_t vm_state_size = 0;
  uint32_t date_sec = 0;
  uint32_t date_nsec = 0;
  uint64_t vm_clock_nsec = 0;
  int64_t icount = -1;
};
Result<std::vector<SnapshotInfo>> ListSnapshots(const std::string& path);
Status CreateSnapshot(const std::string& path, const std::string& name);
Status ApplySnapshot(const std::string& path, const std::string& name);
Status DeleteSnapshot(const std::string& path, const std::string& name);
std::string FormatSnapshotTable(const std::vector<SnapshotInfo>& snaps);

// ---- persistent dirty bitmaps (qcow2 v3) ----
enum class BitmapActionKind { kAdd, kRemove, kClear, kEnable, kDisable, kMerge };
struct BitmapAction {
  BitmapActionKind kind = BitmapActionKind::kAdd;
  std::string source;  // kMerge: the bitmap merged from
};
struct BitmapEdit {
  std::string format;
  std::vector<BitmapAction> actions;  // applied in order
  uint64_t granularity = 0;           // kAdd; 0 is QEMU's default for the cluster size
  std::string source_file;            // kMerge: the image holding the source (else this one)
  std::string source_format;
};
// Applies `edit` to bitmap `bitmap` of the image at `path`: every action or,
// when one fails, none (the file is left as it was).
Status EditBitmap(const std::string& path, const std::string& bitmap, const BitmapEdit& edit);
// The guest byte ranges a bitmap marks dirty, merged and in order.
Result<std::vector<std::pair<uint64_t, uint64_t>>> BitmapDirtyRanges(const std::string& path,
                                                                     const std::string& format,
                                                                     const std::string& bitmap);

// The names of a qcow2 image's persistent bitmaps, in the file's order.
Result<std::vector<std::string>> BitmapNames(const std::string& path);

// ---- rebase / commit ----
// Safe rebase copies every cluster whose content differs between the old and
// new backing into the image first; `unsafe` only rewrites the name.
Status RebaseImage(const std::string& path, const std::string& format, const std::string& backing,
                   const std::string& backing_format, bool unsafe, ProgressFn progress);
// Writes the image's data into its backing file (or `base` in the chain), then
// empties the image unless `keep` (-d).
Status CommitImage(const std::string& path, const std::string& format, const std::string& base,
                   bool keep, ProgressFn progress);

// ---- bench ----
// qemu-img bench: `count` requests of `request_size` bytes at offset, offset +
// step, ... (wrapping at the image end), `depth` in flight.
struct BenchOptions {
  std::string format;
  bool write = false;
  uint64_t count = 75000;
  int depth = 64;
  uint64_t offset = 0;
  uint64_t request_size = 4096;
  uint64_t step = 4096;
  uint64_t flush_interval = 0;
  int pattern = 0;
};
// Returns the elapsed seconds.
Result<double> RunBench(const std::string& path, const BenchOptions& opts);

}  // namespace skiff::image
