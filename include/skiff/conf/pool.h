// Storage pool definitions (libvirt <pool type='dir'> and <pool type='fs'>): model, parse,
// validate, format.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "skiff/base/status.h"
#include "skiff/base/uuid.h"

namespace skiff::conf {

struct Permissions {
  std::string mode;                     // octal text, e.g. "0755"; empty when absent
  std::optional<int64_t> owner, group;  // -1 allowed (libvirt: "unchanged")
  std::string label;
  bool empty() const { return mode.empty() && !owner && !group && label.empty(); }
  bool operator==(const Permissions&) const = default;
};

struct PoolDef {
  std::string type = "dir";  // dir or fs
  // fs: <source><device path=.../><format type=.../></source>. The device is a block
  // device or an image file; format is auto (mount probes it), ext2, ext3, ext4 or xfs.
  std::string source_device;
  std::string source_format;  // fs: "auto" when absent
  std::string name;
  Uuid uuid;                                             // generated when absent
  uint64_t capacity = 0, allocation = 0, available = 0;  // bytes, informational
  std::string target_path;  // normalised: duplicate and trailing '/' removed
  Permissions permissions;
  bool operator==(const PoolDef&) const = default;
};

Result<PoolDef> ParsePoolXml(std::string_view xml, std::string_view source_name);
Status ValidatePool(const PoolDef& def);
std::string FormatPoolXml(const PoolDef& def);

}  // namespace skiff::conf
