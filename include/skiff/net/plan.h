// NetworkPlan: everything the net module needs to build one virtual network,
// filled by the daemon from the network XML model (the net module knows no XML).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "skiff/base/status.h"

namespace skiff::net {

// An IPv4 address in host byte order.
struct Ipv4Addr {
  uint32_t value = 0;

  // Dotted quad, exactly four decimal parts 0..255 ("192.168.122.1").
  static Result<Ipv4Addr> Parse(std::string_view text);
  std::string ToString() const;
  auto operator<=>(const Ipv4Addr&) const = default;
};

// An address with a prefix length: "192.168.122.1/24" (host address kept as given).
struct Ipv4Net {
  Ipv4Addr addr;
  int prefix = 32;

  // "a.b.c.d/n" with n in 0..32; a bare address means /32.
  static Result<Ipv4Net> Parse(std::string_view text);
  uint32_t mask() const { return prefix == 0 ? 0 : ~uint32_t{0} << (32 - prefix); }
  // The network address ("192.168.122.0").
  Ipv4Addr network() const { return Ipv4Addr{addr.value & mask()}; }
  Ipv4Addr broadcast() const { return Ipv4Addr{network().value | ~mask()}; }
  bool Contains(Ipv4Addr a) const { return (a.value & mask()) == network().value; }
  bool Overlaps(const Ipv4Net& o) const;
  // "192.168.122.1/24" (the address as given).
  std::string ToString() const;
  // "192.168.122.0/24" (the network).
  std::string NetworkString() const;
  // Dotted netmask: "255.255.255.0".
  std::string MaskString() const { return Ipv4Addr{mask()}.ToString(); }
  bool operator==(const Ipv4Net&) const = default;
};

// libvirt's <forward mode=...>, with kIsolated for a network without <forward>.
enum class Mode {
  kNat,       // guests reach out through the host's address (masquerade)
  kRoute,     // guests' subnet is routed, not translated
  kIsolated,  // guests reach each other and the host only
  kOpen,      // like route, but Skiff adds no firewall rules at all
  kBridge,    // guests' taps join an existing host bridge; Skiff runs no DHCP there
};

std::string_view ModeName(Mode mode);
Result<Mode> ParseMode(std::string_view text);

struct DhcpRange {
  Ipv4Addr start;
  Ipv4Addr end;
  bool operator==(const DhcpRange&) const = default;
};

// A static DHCP host: by MAC (and/or name) to a fixed address.
struct DhcpHost {
  std::string mac;  // "52:54:00:aa:bb:cc", lower or upper case; may be empty when name is set
  std::string name;
  std::optional<Ipv4Addr> ip;
  bool operator==(const DhcpHost&) const = default;
};

// A DNS entry served by the network's dnsmasq.
struct DnsHost {
  Ipv4Addr ip;
  std::vector<std::string> hostnames;
  bool operator==(const DnsHost&) const = default;
};

struct NetworkPlan {
  std::string name;  // the network's name: [A-Za-z0-9][A-Za-z0-9_.-]*, at most 64 characters
  Mode mode = Mode::kNat;
  std::string bridge;  // bridge device: created by Skiff, or the existing one in kBridge mode
  bool stp = true;
  unsigned delay_s = 0;         // bridge forward delay in seconds (<bridge delay='N'/>)
  std::string mac;              // bridge MAC; empty: the kernel picks one
  unsigned mtu = 0;             // bridge MTU; 0: the kernel's default
  std::optional<Ipv4Net> ipv4;  // the host's address on the bridge with the subnet's prefix
  std::vector<DhcpRange> dhcp_ranges;
  std::vector<DhcpHost> dhcp_hosts;
  std::vector<DnsHost> dns_hosts;
  std::string domain;              // DNS domain of the guests; empty: none
  bool domain_local_only = false;  // <domain localOnly='yes'>: never forward the domain upstream
  std::string uplink;              // nat/route: only forward through this device; empty: any device
  bool dns_forward = true;         // false: dnsmasq answers local names only (no-resolv)
  bool dns_enable = true;          // false (<dns enable='no'>): dnsmasq serves DHCP only

  bool operator==(const NetworkPlan&) const = default;
};

// Checks names, addresses and that the parts fit the mode (e.g. nat needs an
// IPv4 address; bridge mode takes no address or DHCP). kInvalidArgument names
// the field and the value.
Status ValidatePlan(const NetworkPlan& plan);

// Whether the mode creates its own bridge (everything but kBridge).
inline bool OwnsBridge(const NetworkPlan& p) { return p.mode != Mode::kBridge; }
// Whether the mode needs IP forwarding on in the host.
inline bool NeedsForwarding(const NetworkPlan& p) {
  return p.mode == Mode::kNat || p.mode == Mode::kRoute || p.mode == Mode::kOpen;
}
// Whether a dnsmasq serves the network: an address on a bridge that Skiff
// owns, with DNS on or something for DHCP to hand out.
inline bool NeedsDnsmasq(const NetworkPlan& p) {
  return OwnsBridge(p) && p.ipv4.has_value() &&
         (p.dns_enable || !p.dhcp_ranges.empty() || !p.dhcp_hosts.empty());
}

// A line-oriented text form of a plan, used by the golden tests and the test
// tool: one `key = value` per line, '#' comments, keys: name, mode, bridge,
// stp (on|off), delay, mac, ipv4 (a.b.c.d/n), dhcp_range (START END),
// host (MAC NAME [IP]; '-' for no MAC), dns_host (IP NAME...), domain,
// domain_local_only (on|off), uplink, dns_forward (on|off), dns (on|off), mtu.
// kInvalidArgument names the line.
Result<NetworkPlan> ParsePlanText(std::string_view text);
// The inverse of ParsePlanText.
std::string FormatPlanText(const NetworkPlan& plan);

}  // namespace skiff::net
