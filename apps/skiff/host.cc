// Host verbs: capabilities, host-validate (asked of the daemon).
#include <cstdio>

#include "daemon_cli.h"

namespace skiff::app {
namespace {

namespace routes = api::routes;

// Without options the short form of the daemon's JSON; --xml libvirt's whole
// <capabilities> document (machine types, CPU features), as virsh prints it.
int CmdCapabilities(const Args& a, api::Client& c) {
  if (a.has("xml")) {
    api::XmlReply x;
    std::string q = api::ToQuery(api::CapabilitiesQuery{"xml"});
    if (!GetOrFail(c, std::string(routes::kHostCapabilities) + q, &x)) return 1;
    std::fputs(x.xml.c_str(), stdout);
    return 0;
  }
  api::Capabilities r;
  if (!GetOrFail(c, std::string(routes::kHostCapabilities), &r)) return 1;
  if (a.has("json")) {
    PrintJson(r);
    return 0;
  }
  std::printf("<capabilities>\n\n  <host>\n    <cpu>\n      <arch>%s</arch>\n    </cpu>\n",
              r.host.arch.c_str());
  std::printf("    <topology cpus='%lld'/>\n    <memory unit='KiB'>%llu</memory>\n  </host>\n\n",
              static_cast<long long>(r.host.cpus),
              static_cast<unsigned long long>(r.host.memory_kib));
  for (const auto& g : r.guests) {
    std::printf("  <guest>\n    <os_type>%s</os_type>\n    <arch name='%s'>\n", g.os_type.c_str(),
                g.arch.c_str());
    std::printf("      <emulator>%s</emulator>\n", r.qemu.path.c_str());
    for (const auto& m : g.machines) std::printf("      <machine>%s</machine>\n", m.c_str());
    for (const auto& d : g.domain_types) std::printf("      <domain type='%s'/>\n", d.c_str());
    std::printf("    </arch>\n  </guest>\n\n");
  }
  std::printf("</capabilities>\n\n");
  return 0;
}

// virt-host-validate's layout: "  QEMU: Checking ...   : PASS (what to do)".
int CmdHostValidate(const Args& a, api::Client& c) {
  api::HostValidation r;
  if (!GetOrFail(c, std::string(routes::kHostValidate), &r)) return 1;
  if (a.has("json")) {
    PrintJson(r);
    return 0;
  }
  bool failed = false;
  for (const auto& ch : r.checks) {
    if (ch.result == "FAIL") failed = true;
    std::string left = fmt::format("{:>6}: {}", ch.area, ch.check);
    std::printf("%-70s: %s", left.c_str(), ch.result.c_str());
    if (ch.result != "PASS" && !ch.detail.empty()) std::printf(" (%s)", ch.detail.c_str());
    std::printf("\n");
  }
  return failed ? 1 : 0;
}

const VerbDef kHostVerbs[] = {
    {"capabilities",
     "capabilities of the host (from the daemon)",
     {{}, 0, {"json", "xml"}, {}},
     CmdCapabilities},
    {"host-validate",
     "validate the host for running guests",
     {{"hypervisor"}, 0, {"json", "quiet"}, {}},
     CmdHostValidate},
};

}  // namespace

void AddHostCommands(std::vector<Command>& out) { AddVerbs(out, kHostVerbs); }

}  // namespace skiff::app
