// Wiring helpers for apps/skiffd: choose the hypervisor driver.
#pragma once

#include <memory>

#include "skiff/base/status.h"
#include "skiff/daemon/hypervisor.h"
#include "skiff/daemon/service.h"

namespace skiff::daemon {

// The fake driver (tests) or the QEMU driver, keeping per-domain state under `paths`.
Result<std::unique_ptr<Hypervisor>> MakeHypervisor(bool fake, const Paths& paths);

}  // namespace skiff::daemon
