// `skiff version`: client version, QEMU found, and whether KVM is usable here.
#include <cstdio>

#include "command.h"
#include "skiff/qemu/host.h"

namespace skiff::app {

namespace {

int CmdVersion(const GlobalOptions&, const std::vector<std::string>&) {
  std::printf("skiff %s\n", SKIFF_VERSION);
  auto q = qemu::FindQemu();
  if (q.ok()) {
    std::printf("QEMU: %s (%s)\n", q->version.c_str(), q->path.c_str());
  } else {
    std::printf("QEMU: %s\n", q.status().message().c_str());
  }
  std::printf("KVM: %s\n", qemu::DescribeKvm(qemu::ProbeKvm()).c_str());
  return 0;
}

}  // namespace

void AddVersionCommands(std::vector<Command>& out) {
  out.push_back(
      {"version", "show versions of skiff and QEMU, and whether KVM is usable", CmdVersion});
}

}  // namespace skiff::app
