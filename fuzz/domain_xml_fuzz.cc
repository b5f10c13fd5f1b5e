// libFuzzer target over every XML parser (domain, network, pool, volume, snapshot):
// no crash on any input, and whatever parses must round-trip through the formatter
// (and, for domains, build a QEMU command line without crashing).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "skiff/conf/domain.h"
#include "skiff/conf/network.h"
#include "skiff/conf/pool.h"
#include "skiff/conf/snapshot.h"
#include "skiff/conf/volume.h"
#include "skiff/conf/xml_kind.h"
#include "skiff/qemu/argv.h"

namespace {

template <typename P, typename F>
void RoundTrip(std::string_view xml, P parse, F format) {
  auto def = parse(xml, "fuzz.xml");
  if (!def.ok()) return;
  auto text = format(*def);
  auto again = parse(text, "formatted.xml");
  if (!again.ok() || !(*again == *def) || format(*again) != text) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view xml(reinterpret_cast<const char*>(data), size);
  (void)skiff::conf::DetectXmlKind(xml, "fuzz.xml");
  RoundTrip(xml, skiff::conf::ParseDomainXml, skiff::conf::FormatDomainXml);
  RoundTrip(xml, skiff::conf::ParseNetworkXml, skiff::conf::FormatNetworkXml);
  RoundTrip(xml, skiff::conf::ParsePoolXml, skiff::conf::FormatPoolXml);
  RoundTrip(xml, skiff::conf::ParseVolumeXml, skiff::conf::FormatVolumeXml);
  RoundTrip(xml, skiff::conf::ParseSnapshotXml, skiff::conf::FormatSnapshotXml);
  auto def = skiff::conf::ParseDomainXml(xml, "fuzz.xml");
  if (def.ok()) {
    skiff::qemu::ArgvContext ctx;
    ctx.kvm_usable = true;
    ctx.console_socket = "/run/c";
    for (size_t i = 0; i < def->devices.interfaces.size(); ++i) ctx.tap_fds[i] = 3;
    for (const auto& d : def->devices.disks) ctx.volume_paths[d.target_dev] = "/v";
    (void)skiff::qemu::BuildQemuArgv(*def, ctx);
  }
  return 0;
}
