// Picking a free /24 for the default network.
#include "skiff/net/subnet.h"

namespace skiff::net {

Result<Ipv4Net> PickFreeSubnet(const std::vector<Ipv4Net>& in_use, Ipv4Net first) {
  const uint32_t last = 0xC0A8FE00;  // 192.168.254.0
  for (uint32_t n = first.network().value; n <= last; n += 256) {
    Ipv4Net cand{Ipv4Addr{n}, 24};
    bool clash = false;
    for (const auto& u : in_use) clash = clash || cand.Overlaps(u);
    if (!clash) return cand;
  }
  return UnavailableError("no free /24 between {} and 192.168.254.0/24 for the default network",
                          first.NetworkString());
}

NetworkPlan DefaultNetworkPlan(const Ipv4Net& subnet) {
  NetworkPlan p;
  p.name = "default";
  p.mode = Mode::kNat;
  p.bridge = "virbr0";
  p.stp = true;
  p.delay_s = 0;
  uint32_t base = subnet.network().value;
  p.ipv4 = Ipv4Net{Ipv4Addr{base + 1}, 24};
  p.dhcp_ranges.push_back(DhcpRange{Ipv4Addr{base + 2}, Ipv4Addr{base + 254}});
  return p;
}

}  // namespace skiff::net
