#include "daemon/disk_format.h"

#include <sys/stat.h>

#include <set>
#include <vector>

#include <fmt/format.h>

#include "skiff/image/image.h"

namespace skiff::daemon {

Status CheckUnnamedDiskFormat(const conf::DiskDef& disk, const std::string& path, bool hotplug) {
  if (path.empty()) return Status::Ok();
  auto format = image::ProbeAnyFormat(path);
  if (!format.ok() || *format == "raw") return Status::Ok();
  const std::string named = hotplug ? fmt::format("--subdriver {}", *format)
                                    : fmt::format("<driver name='qemu' type='{}'/>", *format);
  return FailedPreconditionError(
      "disk '{}': '{}' is a {} image but no format is named, and it would reach the guest as "
      "raw bytes: name it with {}",
      disk.target_dev, path, *format, named);
}

Status FillBackingChain(conf::DiskDef& disk, const std::string& path) {
  if (path.empty() || disk.driver.type != "qcow2" || !disk.backing_chain.empty()) {
    return Status::Ok();
  }
  const std::string what = fmt::format("disk '{}'", disk.target_dev);
  std::vector<conf::BackingStore> chain;
  std::set<std::string> seen = {path};
  std::string layer = path;
  std::string format = "qcow2";
  constexpr size_t kMaxDepth = 64;  // as image::OpenOptions::max_chain_depth
  while (format == "qcow2") {
    image::OpenOptions oo;
    oo.format = format;
    oo.open_backing = false;
    auto img = image::OpenImage(layer, oo);
    // The top image unreadable: the start reports that, naming the disk.
    if (!img.ok() && layer == path) return Status::Ok();
    if (!img.ok()) return img.status().WithContext(what);
    const std::string name = (*img)->backing_name();
    if (name.empty()) break;
    const std::string below = image::ResolveBackingPath(layer, name);
    format = (*img)->backing_format();
    if (format.empty()) {
      auto probed = image::ProbeAnyFormat(below);
      if (!probed.ok()) return probed.status().WithContext(what);
      if (*probed != "raw") {
        return FailedPreconditionError(
            "{}: '{}' does not record the format of its backing file '{}', which looks like {}: "
            "record it with skiff img rebase -u -b '{}' -F {} '{}'",
            what, layer, below, *probed, name, *probed, layer);
      }
      format = "raw";
    }
    if (!seen.insert(below).second || chain.size() >= kMaxDepth) {
      return FailedPreconditionError("{}: the backing chain of '{}' loops or is deeper than {}",
                                     what, path, kMaxDepth);
    }
    struct stat st {};
    conf::BackingStore bs;
    bs.type = ::stat(below.c_str(), &st) == 0 && S_ISBLK(st.st_mode) ? conf::DiskType::kBlock
                                                                     : conf::DiskType::kFile;
    bs.format = format;
    bs.path = below;
    chain.push_back(std::move(bs));
    layer = below;
  }
  disk.backing_chain = std::move(chain);
  return Status::Ok();
}

}  // namespace skiff::daemon
