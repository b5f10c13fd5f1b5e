// The image engine's public interface: an abstract disk image (raw, qcow2) with
// byte-addressed I/O, allocation status and backing chains, plus open/create.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "skiff/base/status.h"

namespace skiff::image {

// What one stretch of guest bytes is, at one layer of a backing chain.
enum class Allocation {
  kUnallocated,  // not in this layer: reads fall through to the backing image (or zeroes)
  kZero,         // reads as zeroes in this layer (hides the backing image)
  kData,         // stored in this layer
};

struct BlockStatus {
  Allocation allocation = Allocation::kUnallocated;
  uint64_t length = 0;                  // bytes from the queried offset with this status
  std::optional<uint64_t> host_offset;  // where the bytes live in the file, when they do
  bool compressed = false;
};

// Options for OpenImage.
struct OpenOptions {
  std::string format;        // "raw", "qcow2", or empty to probe
  bool writable = false;     // never writes to the file when false
  bool open_backing = true;  // false: reads of unallocated ranges give zeroes
  // cache=unsafe: never fsync (fast, but a host crash may lose or tear the image).
  bool unsafe_cache = false;
  // Opens an image marked corrupt for writing, to repair it (check -r).
  bool repair = false;
  // Chain depth guard. Opening deeper than this fails.
  int max_chain_depth = 64;
};

// A disk image. Offsets and lengths are guest bytes. Unless noted, methods are
// safe to call from several threads at once (each implementation serialises its
// metadata; data I/O may proceed in parallel).
class Image {
 public:
  virtual ~Image() = default;

  virtual std::string_view format() const = 0;
  // The path the image was opened with.
  virtual const std::string& path() const = 0;
  // Guest-visible size in bytes.
  virtual uint64_t size() const = 0;
  // Allocation granularity (cluster size for qcow2, 512 for raw... see implementations).
  virtual uint64_t cluster_size() const = 0;

  // Reads guest bytes; unallocated ranges read through the backing chain or as
  // zeroes. Fails with kInvalidArgument beyond the end, kCorruption on bad metadata.
  virtual Status Read(uint64_t offset, std::span<uint8_t> buf) = 0;
  // Writes guest bytes (allocating as needed). kFailedPrecondition when read-only.
  virtual Status Write(uint64_t offset, std::span<const uint8_t> buf) = 0;
  // Makes the range read as zeroes. `may_unmap` allows freeing host storage.
  virtual Status WriteZeroes(uint64_t offset, uint64_t length, bool may_unmap) = 0;
  // Hints that the range is no longer needed; afterwards it reads as zeroes
  // (whole clusters) or keeps its content (partial clusters).
  virtual Status Discard(uint64_t offset, uint64_t length) = 0;
  // Status of the bytes at `offset` in this layer only (not the backing chain),
  // for at most `length` bytes.
  virtual Result<BlockStatus> GetBlockStatus(uint64_t offset, uint64_t length) = 0;
  // Makes every completed write durable, metadata in a crash-consistent order.
  virtual Status Flush() = 0;
  // Flushes and releases the image; later calls fail. Called by the destructor
  // (errors then only logged), so call it to see them.
  virtual Status Close() = 0;

  // The opened backing image, or nullptr.
  virtual Image* backing() const { return nullptr; }
  // The backing file name as stored in the image (may be relative), and its format.
  virtual std::string backing_name() const { return {}; }
  virtual std::string backing_format() const { return {}; }
  // Bytes the file occupies on the host (st_blocks * 512).
  virtual Result<uint64_t> AllocatedFileSize() const = 0;
  virtual bool writable() const = 0;
};

// Opens `path`. The format is probed when options.format is empty (ProbeFormat:
// qcow2 by its magic, a foreign format refused by name, otherwise raw). The backing
// chain is opened read-only, with loop and depth checks. Errors name the file.
Result<std::unique_ptr<Image>> OpenImage(const std::string& path, const OpenOptions& options);

// Probes the format of the file at `path`: "qcow2" or "raw". A foreign image
// (vmdk, vdi, vhdx, vpc, qed, qcow, cloop, dmg, parallels, luks, bochs: QEMU's
// probes) is kUnsupported, naming its format: never taken for raw.
Result<std::string> ProbeFormat(const std::string& path);
// The same probe without the refusal: "raw", "qcow2" or the foreign format's name.
Result<std::string> ProbeAnyFormat(const std::string& path);

enum class Preallocation { kOff, kMetadata, kFalloc, kFull };
Result<Preallocation> ParsePreallocation(std::string_view text);
std::string_view PreallocationName(Preallocation p);

// Everything `create -o ...` accepts.
struct CreateOptions {
  std::string format = "raw";
  uint64_t size = 0;
  bool size_given = false;  // when false with a backing file, the size is the backing's
  std::string backing_file;
  std::string backing_format;
  bool open_backing = true;  // -u: trust the name, do not open the backing file
  Preallocation preallocation = Preallocation::kOff;
  // qcow2 only.
  int version = 3;  // compat=1.1 (3) or 0.10 (2)
  uint32_t cluster_size = 65536;
  uint32_t refcount_bits = 16;
  bool lazy_refcounts = false;
  bool extended_l2 = false;
  std::string compression_type = "zlib";
};

// Parses one "-o" list ("cluster_size=64k,lazy_refcounts=on") into `opts`.
// Unknown or malformed options give kInvalidArgument naming the option.
Status ParseCreateOptionList(std::string_view list, CreateOptions& opts);

// Creates a new image (replacing an existing file) with the given options.
Status CreateImage(const std::string& path, const CreateOptions& options);

// Resolves a backing file name stored in `image_path` to a path usable from the
// current directory (relative names are relative to the image's directory).
std::string ResolveBackingPath(const std::string& image_path, const std::string& backing);

}  // namespace skiff::image
