// Helpers shared by the golden runners: files, regeneration, the fixed argv context.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "skiff/conf/domain.h"
#include "skiff/qemu/argv.h"

namespace skiff::golden {

namespace fs = std::filesystem;

bool Regenerate();  // SKIFF_REGENERATE_GOLDEN=1
bool InCi();        // CI=true
fs::path GoldenDir();
std::string ReadAll(const fs::path& p);
void WriteAll(const fs::path& p, const std::string& data);

// The context every domain2argv case runs with (see tests/golden/README.md):
// kvm usable unless the case name starts with "nokvm-"; QMP at /run/skiff/NAME.qmp;
// console socket and log for cases named "console-*"; tap fd 30+i for each
// network/bridge interface; volume disks at /var/lib/skiff/pools/POOL/VOLUME.
qemu::ArgvContext CaseContext(const std::string& case_name, const conf::DomainDef& def);

// One option per line: "-machine q35,usb=off"; argv[0] alone on the first line.
std::string ArgsText(const std::vector<std::string>& argv);

// Compares `actual` with the file, or rewrites it when regenerating. Returns an
// empty string when equal, else a message.
std::string CheckGolden(const fs::path& expected, const std::string& actual);

}  // namespace skiff::golden
