// PCI addressing of a running guest (libvirt: qemu_domain_address.c): where a
// hot-plugged device goes, and the slots a save file records so that the
// restored guest finds its devices where it left them.
#pragma once

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "skiff/base/status.h"
#include "skiff/conf/domain.h"
#include "skiff/qemu/qmp_client.h"

namespace skiff::qemu {

// Where each device sits on the root PCI bus, by device id ("mac:..." for NICs,
// whose ids change with the interface list; "pci.N:0x0" behind root port pci.N):
// the object the daemon's save file records in QEMU's first line.
nlohmann::json PciLayout(QmpClient& qmp);

// Reads that line (see PciLayout) from `fd`, leaving it at the migration stream.
// Returns the slots by device id for `def` (NICs by their index's id, net<i>).
// kInvalidArgument naming `file` when it holds no such line.
Result<std::map<std::string, std::string>> ReadPciLayout(int fd, const conf::DomainDef& def,
                                                         const std::string& file);

// The first pcie-root-port (by index, pci.N) with no device behind it: where a
// hot-plugged PCI device goes on q35, whose pcie.0 takes none (as libvirt does).
// kFailedPrecondition naming `domain` when none is free.
Result<std::string> FreeRootPort(QmpClient& qmp, const std::string& domain);

}  // namespace skiff::qemu
