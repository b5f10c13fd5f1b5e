// Storage volume definitions (libvirt <volume>): model, parse, validate, format.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "skiff/base/status.h"
#include "skiff/conf/pool.h"

namespace skiff::conf {

struct VolumeBacking {
  std::string path;
  std::string format;
  Permissions permissions;
  bool operator==(const VolumeBacking&) const = default;
};

struct VolumeDef {
  std::string name;
  std::string key;                     // informational (libvirt: the path)
  uint64_t capacity = 0;               // bytes; 0 only with a backing store (inherits its size)
  std::optional<uint64_t> allocation;  // bytes
  std::string target_path;
  std::string format;                    // raw, qcow2, iso; empty means raw
  std::string compat;                    // qcow2: "", 0.10, 1.1
  std::optional<uint64_t> cluster_size;  // qcow2, bytes
  bool lazy_refcounts = false;
  Permissions permissions;
  std::optional<VolumeBacking> backing;
  bool operator==(const VolumeDef&) const = default;
};

Result<VolumeDef> ParseVolumeXml(std::string_view xml, std::string_view source_name);
Status ValidateVolume(const VolumeDef& def);
std::string FormatVolumeXml(const VolumeDef& def);

}  // namespace skiff::conf
