// fs pools: the device side (probe, mkfs, mount, umount), used by DirPool.
#pragma once

#include <string>

#include "skiff/storage/pool.h"

namespace skiff::storage::internal {

// pool-build of an fs pool, before the target is made: checks the device and says
// whether it has to be formatted (false: it already carries the pool's filesystem).
Result<bool> FsNeedsFormat(const conf::PoolDef& def, BuildMode mode);
// mkfs.<format> on the device (-F/-f: no questions; the checks are FsNeedsFormat's).
Status MakeFilesystem(const conf::PoolDef& def);

}  // namespace skiff::storage::internal
