// A disk whose definition names no format is opened by QEMU as raw. When its image
// is not raw (a qcow2, a vmdk, ...), the guest would see the container's bytes as
// its disk, and a raw guest could plant a header that makes a later probe read
// host files. So Skiff never guesses: such a disk is refused, naming the format
// found and how to name it (issue 23 item 14).
#pragma once

#include <string>

#include "skiff/base/status.h"
#include "skiff/conf/domain.h"

namespace skiff::daemon {

// For a disk with no <driver type> (or a hot-plug without --subdriver) whose
// source is `path`: Ok when the image there is raw (or cannot be read: QEMU
// reports that); kFailedPrecondition naming the disk, the file and its format
// otherwise, and how to name it: <driver name='qemu' type='qcow2'/> in the
// definition, or --subdriver qcow2 for a hot-plug (`hotplug`).
Status CheckUnnamedDiskFormat(const conf::DiskDef& disk, const std::string& path, bool hotplug);

// Fills the <backingStore> chain of a qcow2 disk whose definition gives none,
// from the image headers, top to bottom: QEMU opens each layer through an fd
// skiffd hands it (it has no right to the paths), so every layer must be known
// before it starts. A layer whose format its overlay does not record is taken as
// raw only when it probes as raw; otherwise the error names it and the fix
// (skiff img rebase -u -F FMT), as a guessed qcow2 could read host files.
// Errors name the disk and the file.
Status FillBackingChain(conf::DiskDef& disk, const std::string& path);

}  // namespace skiff::daemon
