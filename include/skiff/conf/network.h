// Virtual network definitions in libvirt's XML dialect: model, parse, validate, format.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "skiff/base/status.h"
#include "skiff/base/uuid.h"

namespace skiff::conf {

// "none" means no <forward>: an isolated network.
enum class ForwardMode { kNone, kNat, kRoute, kOpen, kBridge };
std::string_view ToString(ForwardMode v);

struct DhcpRange {
  std::string start, end;
  bool operator==(const DhcpRange&) const = default;
};

struct DhcpHost {
  std::string mac;  // may be empty for IPv6 (id-based) hosts
  std::string name;
  std::string ip;
  bool operator==(const DhcpHost&) const = default;
};

struct NetworkIp {
  std::string family;   // "" (ipv4) or "ipv6"
  std::string address;  // the host's address on the bridge
  std::string netmask;  // ipv4 form, or empty when prefix is given
  std::optional<unsigned> prefix;
  std::vector<DhcpRange> dhcp_ranges;
  std::vector<DhcpHost> dhcp_hosts;
  // Prefix length from netmask or prefix (default 24 for ipv4, 64 for ipv6).
  unsigned PrefixLength() const;
  bool operator==(const NetworkIp&) const = default;
};

struct DnsHost {
  std::string ip;
  std::vector<std::string> hostnames;
  bool operator==(const DnsHost&) const = default;
};

struct NetworkDef {
  std::string name;
  Uuid uuid;  // generated when absent
  ForwardMode forward = ForwardMode::kNone;
  std::string forward_dev;  // <forward dev=...>, optional
  std::string bridge;       // <bridge name=...>; empty: chosen by the daemon (virbrN)
  std::string bridge_stp;   // "", on, off
  std::optional<unsigned> bridge_delay;
  std::string mac;  // bridge MAC, canonical lower-case, optional
  std::optional<unsigned> mtu;
  std::string domain_name;              // <domain name=...>
  std::string domain_local;             // "", yes, no
  std::string dns_enable;               // "", yes, no
  std::string dns_forward_plain_names;  // "", yes, no
  std::string ipv6;  // <network ipv6=...>: "", yes, no (guest-to-guest ipv6 without an address)
  std::vector<DnsHost> dns_hosts;
  std::vector<NetworkIp> ips;
  bool operator==(const NetworkDef&) const = default;
};

// Same error contract as ParseDomainXml: "net.xml:7:3: ..." positions, unsupported
// elements refused by name, bad values (addresses, MAC, overlapping DHCP ranges,
// ranges outside the subnet) named with their element path.
Result<NetworkDef> ParseNetworkXml(std::string_view xml, std::string_view source_name);
Status ValidateNetwork(const NetworkDef& def);
std::string FormatNetworkXml(const NetworkDef& def);

}  // namespace skiff::conf
