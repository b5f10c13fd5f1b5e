// ClonePlan: what `skiff clone` (virt-clone) makes of a domain, decided before
// anything is written: the new definition (name, UUID, MACs, disk paths, NVRAM)
// and the files to copy. A pure function of the original and the options; what
// it asks of the host (names and paths taken, volumes' files) comes through
// CloneHost, so that tests answer for it. DomainClones runs the plan.
//
// A linked clone (--linked) shares the original's disks as backing files, which
// must not change any more: the original moves onto an overlay of its own on
// each of them (its definition changes to it), and the clone gets another.
// Both then run side by side; the old files are their read-only base.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "skiff/base/status.h"
#include "skiff/conf/domain.h"
#include "skiff/daemon/service_types.h"

namespace skiff::daemon {

// One file of the clone: a disk (target vda, ...) or the NVRAM (target "nvram").
struct CloneFile {
  std::string target;
  std::string source;   // the original's file
  std::string path;     // the clone's file
  std::string format;   // raw, qcow2, ...: the original's; the copy keeps it
  bool copy = true;     // false: --preserve-data, the file is used as it is
  bool linked = false;  // a qcow2 overlay on `source` instead of a copy
  // --linked: the original's own new overlay on `source`, which from then on is
  // the read-only base of both (the original's definition moves to it).
  std::string original_top;
};

struct ClonePlan {
  conf::DomainDef def;  // the clone's definition
  std::vector<CloneFile> files;
  // --linked: the original's definition as it was planned from, and on its new
  // overlays.
  std::optional<conf::DomainDef> original_before, original_after;
};

// What the plan asks of the host.
struct CloneHost {
  std::function<bool(const std::string& name)> name_taken;
  std::function<bool(const Uuid& uuid)> uuid_taken;
  std::function<bool(const std::string& path)> path_exists;
  // The file behind a disk of type 'volume'; an error names the pool or volume.
  std::function<Result<std::string>(const std::string& pool, const std::string& volume)>
      volume_path;
  // A disk's format when its definition names none (probed from the file).
  std::function<Result<std::string>(const std::string& path)> probe_format;
  // The NVRAM that firmware='efi' keeps for a domain under the state root.
  std::function<std::string(const std::string& domain)> implicit_nvram;
};

// virt-clone's name for a clone of `original`: ORIG-clone, then ORIG-clone1, ...;
// a clone of "foo-clone3" is "foo-clone4".
std::string GenerateCloneName(const std::string& original,
                              const std::function<bool(const std::string&)>& taken);
// virt-clone's path for the copy of `path`: /d/disk.img -> /d/disk-clone.img
// (then disk-clone-1.img, ...); a file named after the original domain is named
// after the clone (/d/web.qcow2 -> /d/web2.qcow2).
std::string GenerateClonePath(const std::string& path, const std::string& original,
                              const std::string& clone,
                              const std::function<bool(const std::string&)>& exists);

// The overlay a linked clone gives the original on its disk `path`, named after
// the clone: /d/web.qcow2 -> /d/web.CLONE.qcow2 (then web.CLONE-1.qcow2, ...).
std::string GenerateTopPath(const std::string& path, const std::string& clone,
                            const std::function<bool(const std::string&)>& exists);

// The plan, or the first reason there is none, one line naming the option, disk
// or path.
Result<ClonePlan> PlanClone(const conf::DomainDef& original, const CloneOptions& options,
                            const CloneHost& host);

}  // namespace skiff::daemon
