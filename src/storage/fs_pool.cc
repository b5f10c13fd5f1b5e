// fs pools: a block device or image file, formatted by pool-build and mounted at the
// pool's target by pool-start. The tools are the host's: blkid, mkfs.*, mount, umount.
#include "storage/fs_pool.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "skiff/base/process.h"

namespace skiff::storage {
namespace fs = std::filesystem;

namespace {

constexpr auto kToolTimeout = std::chrono::minutes(30);

// The last non-empty line of a tool's stderr (or stdout), for a one-line error.
std::string LastLine(const RunResult& r) {
  std::string text = r.err.empty() ? r.out : r.err;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  size_t nl = text.rfind('\n');
  return nl == std::string::npos ? text : text.substr(nl + 1);
}

// /proc/self/mountinfo escapes ' ', '\t', '\n' and '\\' as octal (\040 ...).
std::string UnescapeMountPath(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = 0;
      bool ok = true;
      for (size_t k = 1; k <= 3; ++k) {
        char c = s[i + k];
        if (c < '0' || c > '7') ok = false;
        v = v * 8 + (c - '0');
      }
      if (ok) {
        out.push_back(static_cast<char>(v));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

bool IsMountPoint(const std::string& path) {
  std::error_code ec;
  std::string want = fs::weakly_canonical(path, ec).string();
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string id, parent, devno, root, mount_point;
    if (!(ls >> id >> parent >> devno >> root >> mount_point)) continue;
    if (UnescapeMountPath(mount_point) == want) return true;
  }
  return false;
}

Status CheckDevice(const conf::PoolDef& def, bool* regular_file = nullptr) {
  if (def.source_device.empty()) {
    return InvalidArgumentError("pool '{}': an fs pool needs <source><device path=.../>", def.name);
  }
  struct stat st {};
  if (::stat(def.source_device.c_str(), &st) != 0) {
    return ErrnoError(errno,
                      fmt::format("pool '{}': source device '{}'", def.name, def.source_device));
  }
  if (!S_ISBLK(st.st_mode) && !S_ISREG(st.st_mode)) {
    return FailedPreconditionError(
        "pool '{}': source '{}' is neither a block device nor an image file", def.name,
        def.source_device);
  }
  if (regular_file) *regular_file = S_ISREG(st.st_mode);
  return Status::Ok();
}

Result<RunResult> Run(const std::vector<std::string>& argv) {
  if (FindProgram(argv[0]).empty()) {
    return FailedPreconditionError("'{}' is not installed on this host", argv[0]);
  }
  return RunCommand(argv, kToolTimeout);
}

}  // namespace

Result<std::string> ProbeFilesystem(const std::string& device) {
  // -p: probe the device itself, not blkid's cache. Exit 2: nothing found.
  SKIFF_ASSIGN_OR_RETURN(RunResult r, Run({"blkid", "-p", "-o", "value", "-s", "TYPE", device}));
  if (r.exit_code == 2) return std::string();
  if (!r.ok()) return IoError("blkid '{}': {}", device, LastLine(r));
  std::string t = r.out;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
  return t;
}

namespace internal {

Result<bool> FsNeedsFormat(const conf::PoolDef& def, BuildMode mode) {
  SKIFF_TRY(CheckDevice(def));
  if (IsMountPoint(def.target_path)) {
    return FailedPreconditionError(
        "pool '{}': '{}' is mounted: destroy the pool before building it", def.name,
        def.target_path);
  }
  SKIFF_ASSIGN_OR_RETURN(std::string have, ProbeFilesystem(def.source_device));
  const std::string& want = def.source_format;
  bool automatic = want.empty() || want == "auto";
  if (mode == BuildMode::kNoOverwrite && !have.empty()) {
    return FailedPreconditionError(
        "pool '{}': device '{}' already has a {} filesystem (--no-overwrite)", def.name,
        def.source_device, have);
  }
  if (mode == BuildMode::kDefault && !have.empty()) {
    if (automatic || have == want) return false;  // keep it: its data stays
    return FailedPreconditionError(
        "pool '{}': device '{}' has a {} filesystem, not {}: pool-build --overwrite formats it "
        "(erasing its data)",
        def.name, def.source_device, have, want);
  }
  if (automatic) {
    return InvalidArgumentError(
        "pool '{}': cannot format device '{}' with format 'auto': give the pool "
        "<format type='ext4'/> (or ext2, ext3, xfs)",
        def.name, def.source_device);
  }
  return true;
}

Status MakeFilesystem(const conf::PoolDef& def) {
  const std::string& f = def.source_format;
  std::vector<std::string> argv;
  if (f == "xfs") {
    argv = {"mkfs.xfs", "-q", "-f", def.source_device};
  } else {
    argv = {"mkfs." + f, "-q", "-F", def.source_device};
  }
  SKIFF_ASSIGN_OR_RETURN(RunResult r, Run(argv));
  if (!r.ok()) {
    return IoError("pool '{}': {} '{}' failed: {}", def.name, argv[0], def.source_device,
                   LastLine(r));
  }
  return Status::Ok();
}

}  // namespace internal

bool DirPool::IsMounted() const { return IsMountPoint(def_.target_path); }

Status DirPool::Start() const {
  SKIFF_TRY(CheckTarget());
  if (def_.type != "fs") return Status::Ok();
  if (IsMounted()) return Status::Ok();
  bool regular = false;
  SKIFF_TRY(CheckDevice(def_, &regular).WithContext("cannot start pool"));
  SKIFF_ASSIGN_OR_RETURN(std::string have, ProbeFilesystem(def_.source_device));
  if (have.empty()) {
    return FailedPreconditionError(
        "pool '{}': device '{}' has no filesystem (run pool-build first)", def_.name,
        def_.source_device);
  }
  const std::string& want = def_.source_format;
  if (!want.empty() && want != "auto" && want != have) {
    return FailedPreconditionError("pool '{}': device '{}' has a {} filesystem, the pool wants {}",
                                   def_.name, def_.source_device, have, want);
  }
  std::string opts = regular ? "nodev,nosuid,loop" : "nodev,nosuid";
  SKIFF_ASSIGN_OR_RETURN(
      RunResult r, Run({"mount", "-t", have, "-o", opts, def_.source_device, def_.target_path}));
  if (!r.ok()) {
    return IoError("pool '{}': mount '{}' on '{}': {}", def_.name, def_.source_device,
                   def_.target_path, LastLine(r));
  }
  return Status::Ok();
}

Status DirPool::Stop() const {
  if (def_.type != "fs" || !IsMounted()) return Status::Ok();
  SKIFF_ASSIGN_OR_RETURN(RunResult r, Run({"umount", def_.target_path}));
  if (!r.ok()) {
    return FailedPreconditionError("pool '{}': cannot unmount '{}': {}", def_.name,
                                   def_.target_path, LastLine(r));
  }
  return Status::Ok();
}

}  // namespace skiff::storage
