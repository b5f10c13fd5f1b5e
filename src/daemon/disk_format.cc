#include "daemon/disk_format.h"

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

}  // namespace skiff::daemon
