// The QEMU driver: the Hypervisor (include/skiff/hypervisor/hypervisor.h) that
// runs each domain as one QEMU process, supervised through QMP, in a cgroup of
// its own, with its console relayed for any number of viewers. skiffd makes one
// and hands it to the daemon.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>

#include "skiff/base/process.h"
#include "skiff/hypervisor/hypervisor.h"

namespace skiff::qemu {

struct DriverPaths {
  // Live state of running domains: NAME.qmp, NAME.serial, NAME.console (the
  // relay viewers use), NAME.pid and NAME.qemu.json, from which a restarted
  // daemon re-attaches (ROOT/run/skiff/domains).
  std::filesystem::path run_dir;
  // QEMU's own log of each domain goes to LOG_DIR/domains/NAME.log (ROOT/var/log/skiff).
  std::filesystem::path log_dir;
  // Per-domain state kept across starts (ROOT/var/lib/skiff): UEFI variable
  // stores (nvram/NAME_VARS.fd) and emulated TPMs (swtpm/UUID).
  std::filesystem::path lib_dir;
  // Each console log is rotated past log_max_bytes, keeping log_max_files files
  // (NAME.log, NAME.log.1, ...), as libvirt's virtlogd (max_size, max_backups).
  uint64_t log_max_bytes = 2 << 20;
  unsigned log_max_files = 3;
  // The user each QEMU runs as (skiffd's --qemu-user, normally skiff-qemu); none:
  // as skiffd itself. Either way QEMU holds no capability, lives in a mount
  // namespace of its own whose /dev has only its devices, and opens no host path
  // itself: skiffd hands it every file and socket (qemu_files.h).
  std::optional<SpawnOptions::User> qemu_user;
};

// A driver keeping its files under `paths`. Dropping it detaches: running QEMUs
// keep running, for the next driver to Attach to.
std::unique_ptr<hypervisor::Hypervisor> MakeQemuDriver(DriverPaths paths);

}  // namespace skiff::qemu
