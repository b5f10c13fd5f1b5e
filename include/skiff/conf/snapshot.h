// Domain snapshot definitions (libvirt <domainsnapshot>): model, parse, validate, format.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "skiff/base/status.h"

namespace skiff::conf {

struct SnapshotDisk {
  std::string name;         // target dev (vda) or source path
  std::string snapshot;     // "", no, internal, external, manual
  std::string type;         // external: "", file, block
  std::string source;       // external: the new overlay's path
  std::string driver_type;  // external overlay format
  bool operator==(const SnapshotDisk&) const = default;
};

struct SnapshotDef {
  std::string name;  // empty: the daemon names it (creation time)
  std::string description;
  std::string state;  // output only: running, shutoff, paused, disk-snapshot, ...
  std::optional<int64_t> creation_time;
  std::string parent;
  std::string memory_snapshot;  // "", no, internal, external, manual
  std::string memory_file;      // external
  std::vector<SnapshotDisk> disks;
  // The domain's definition when the snapshot was taken (libvirt keeps it inside
  // <domainsnapshot>): its <domain> element as XML, "" when absent.
  std::string domain_xml;
  bool operator==(const SnapshotDef&) const = default;
};

Result<SnapshotDef> ParseSnapshotXml(std::string_view xml, std::string_view source_name);
Status ValidateSnapshot(const SnapshotDef& def);
std::string FormatSnapshotXml(const SnapshotDef& def);

}  // namespace skiff::conf
