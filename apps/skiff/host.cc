// Host verbs: capabilities, host-validate (asked of the daemon).
#include <cstdio>

#include "daemon_cli.h"

namespace skiff::app {
namespace {

using json = nlohmann::json;

const ArgSpec kCapabilitiesArgs{{}, 0, {"json", "xml"}, {}};
const ArgSpec kHostValidateArgs{{"hypervisor"}, 0, {"json", "quiet"}, {}};

int Capabilities(const GlobalOptions& g, const std::vector<std::string>& args) {
  Args a;
  if (!ParseArgs("capabilities", kCapabilitiesArgs, args, &a)) return 1;
  auto c = ConnectOrFail(g);
  if (!c) return 1;
  json r;
  if (!CallOrFail(*c, "GET", "/v1/host/capabilities", nullptr, &r)) return 1;
  if (a.has("json")) {
    std::printf("%s\n", r.dump(2).c_str());
    return 0;
  }
  const json& h = r["host"];
  std::printf("<capabilities>\n\n  <host>\n    <cpu>\n      <arch>%s</arch>\n    </cpu>\n",
              h.value("arch", "").c_str());
  std::printf("    <topology cpus='%d'/>\n    <memory unit='KiB'>%llu</memory>\n  </host>\n\n",
              h.value("cpus", 0), static_cast<unsigned long long>(h.value("memory_kib", uint64_t{0})));
  for (const auto& gst : r["guests"]) {
    std::printf("  <guest>\n    <os_type>%s</os_type>\n    <arch name='%s'>\n",
                gst.value("os_type", "").c_str(), gst.value("arch", "").c_str());
    std::printf("      <emulator>%s</emulator>\n", r["qemu"].value("path", "").c_str());
    for (const auto& m : gst["machines"]) {
      std::printf("      <machine>%s</machine>\n", m.get<std::string>().c_str());
    }
    for (const auto& d : gst["domain_types"]) {
      std::printf("      <domain type='%s'/>\n", d.get<std::string>().c_str());
    }
    std::printf("    </arch>\n  </guest>\n\n");
  }
  std::printf("</capabilities>\n\n");
  return 0;
}

int Validate(const GlobalOptions& g, const std::vector<std::string>& args) {
  Args a;
  if (!ParseArgs("host-validate", kHostValidateArgs, args, &a)) return 1;
  auto c = ConnectOrFail(g);
  if (!c) return 1;
  json r;
  if (!CallOrFail(*c, "GET", "/v1/host/validate", nullptr, &r)) return 1;
  if (a.has("json")) {
    std::printf("%s\n", r.dump(2).c_str());
    return 0;
  }
  bool failed = false;
  for (const auto& ch : r["checks"]) {
    std::string res = ch.value("result", ""), detail = ch.value("detail", "");
    if (res == "FAIL") failed = true;
    std::string left = "  QEMU: " + ch.value("check", "");
    std::printf("%-70s: %s", left.c_str(), res.c_str());
    if (res != "PASS" && !detail.empty()) std::printf(" (%s)", detail.c_str());
    std::printf("\n");
  }
  return failed ? 1 : 0;
}

}  // namespace

void AddHostCommands(std::vector<Command>& out) {
  out.push_back({"capabilities", "capabilities of the host (from the daemon)", Capabilities,
                 kCapabilitiesArgs});
  out.push_back({"host-validate", "validate the host for running guests", Validate,
                 kHostValidateArgs});
}

}  // namespace skiff::app
