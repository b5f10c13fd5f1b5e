// Choosing the subnet of the `default` NAT network, as libvirt does: the first
// free /24 from 192.168.122.0/24 upwards.
#pragma once

#include <vector>

#include "skiff/base/status.h"
#include "skiff/net/plan.h"

namespace skiff::net {

// The first /24 from `first` up to 192.168.254.0/24 that overlaps none of
// `in_use` (e.g. HostIpv4Prefixes()). kUnavailable when all are taken.
Result<Ipv4Net> PickFreeSubnet(const std::vector<Ipv4Net>& in_use,
                               Ipv4Net first = Ipv4Net{Ipv4Addr{0xC0A87A00}, 24});

// libvirt's default network on `subnet` (a /24): name "default", NAT, bridge
// virbr0 with STP on and delay 0, the host on .1, DHCP from .2 to .254.
NetworkPlan DefaultNetworkPlan(const Ipv4Net& subnet);

}  // namespace skiff::net
