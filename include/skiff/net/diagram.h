// `skiff net-diagram`: a network's topology and packet path (guests, taps,
// bridge, nftables, uplink) and where DHCP comes from, drawn from live state
// as text for the terminal and as SVG for the web console.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "skiff/base/status.h"
#include "skiff/net/network.h"
#include "skiff/net/plan.h"

namespace skiff::net {

// What exists right now, as CollectLiveState finds it (tests build it by hand).
struct LiveState {
  bool bridge_exists = false;
  bool bridge_up = false;
  std::vector<Ipv4Net> bridge_addresses;
  std::vector<std::string> ports;  // the bridge's ports, sorted
  bool nft_table_exists = false;
  std::vector<std::string> nat_rules;  // the live table's masquerade rules, trimmed
  std::optional<pid_t> dnsmasq_pid;
  std::string uplink;  // the plan's uplink, else the default route's device
  bool uplink_exists = false;
  std::vector<Ipv4Net> uplink_addresses;
  std::optional<bool> ip_forward;  // /proc/sys/net/ipv4/ip_forward when readable
};

// Reads the state of `plan`'s network in the caller's network namespace.
Result<LiveState> CollectLiveState(const NetworkPlan& plan, const NetworkEnv& env);

// `guests` maps a port (tap) name to the guest that owns it; ports not in it
// are drawn as plain ports (e.g. the LAN uplink in bridge mode).
std::string RenderDiagramText(const NetworkPlan& plan, const LiveState& live,
                              const std::map<std::string, std::string>& guests);
std::string RenderDiagramSvg(const NetworkPlan& plan, const LiveState& live,
                             const std::map<std::string, std::string>& guests);

}  // namespace skiff::net
