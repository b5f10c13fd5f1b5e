// What the guest's firmware is and says: UEFI firmware for <os firmware='efi'>,
// and the host's SMBIOS values for <smbios mode='host'>.
//
// UEFI firmware is chosen as libvirt does: from the
// firmware descriptors QEMU's packages install (QEMU's docs/interop/firmware.json),
// the first by file name (a file in /etc/qemu/firmware overrides the same name
// in /usr/share/qemu/firmware) whose flash mapping serves the domain's machine.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "skiff/base/status.h"
#include "skiff/conf/domain.h"

namespace skiff::qemu {

struct EfiFirmware {
  std::string descriptor;  // the file it came from
  std::string code;        // read-only executable flash
  std::string vars_template;
  bool secure_boot = false;   // "secure-boot"
  bool requires_smm = false;  // "requires-smm"
};

// Directories searched, highest precedence first.
std::vector<std::filesystem::path> DefaultFirmwareDirs();

// nullopt when no descriptor serves the domain (or the directories hold none).
// A descriptor that does not parse is skipped with a warning.
std::optional<EfiFirmware> FindEfiFirmware(
    const conf::DomainDef& def,
    const std::vector<std::filesystem::path>& dirs = DefaultFirmwareDirs());

// Where domain `domain` keeps its NVRAM under `dir`: DIR/NAME_VARS.fd.
std::filesystem::path NvramPath(const std::filesystem::path& dir, const std::string& domain);

// The domain's own NVRAM (the UEFI variable store): NvramPath, copied
// from the firmware's template on first use (whole, or not at all), kept
// across starts.
Result<std::string> PrepareNvram(const EfiFirmware& fw, const std::filesystem::path& dir,
                                 const std::string& domain);

// The host's SMBIOS BIOS (type 0) and system (type 1) values from `dmi_dir`
// (sysfs), without the UUID (the guest keeps its own), as libvirt's mode='host'.
conf::SysinfoDef ReadHostSysinfo(const std::filesystem::path& dmi_dir = "/sys/class/dmi/id");

}  // namespace skiff::qemu
