// Checks on a NetworkDef: addresses, subnets, DHCP ranges and hosts, bridge names.
#include <arpa/inet.h>

#include <array>
#include <cstring>
#include <set>

#include "skiff/conf/mac.h"
#include "skiff/conf/network.h"

namespace skiff::conf {

namespace {

// An address as 16 bytes (IPv4 mapped into the last 4) plus its family.
struct Addr {
  bool v6 = false;
  std::array<uint8_t, 16> b{};
  auto operator<=>(const Addr&) const = default;
};

std::optional<Addr> ParseAddr(const std::string& s, bool v6) {
  Addr a;
  a.v6 = v6;
  if (v6) {
    if (inet_pton(AF_INET6, s.c_str(), a.b.data()) != 1) return std::nullopt;
  } else {
    if (inet_pton(AF_INET, s.c_str(), a.b.data() + 12) != 1) return std::nullopt;
  }
  return a;
}

bool SameSubnet(const Addr& a, const Addr& b, unsigned prefix) {
  unsigned bits = a.v6 ? prefix : prefix + 96;
  for (unsigned i = 0; i < 128 && i < bits; ++i) {
    uint8_t mask = static_cast<uint8_t>(0x80 >> (i % 8));
    if ((a.b[i / 8] & mask) != (b.b[i / 8] & mask)) return false;
  }
  return true;
}

std::optional<unsigned> NetmaskPrefix(const std::string& mask) {
  in_addr a;
  if (inet_pton(AF_INET, mask.c_str(), &a) != 1) return std::nullopt;
  uint32_t m = ntohl(a.s_addr);
  unsigned n = 0;
  while (n < 32 && (m & (0x80000000u >> n))) ++n;
  if (n < 32 && (m << n) != 0) return std::nullopt;  // not contiguous
  return n;
}

}  // namespace

unsigned NetworkIp::PrefixLength() const {
  if (prefix) return *prefix;
  if (!netmask.empty()) {
    if (auto p = NetmaskPrefix(netmask)) return *p;
  }
  return family == "ipv6" ? 64 : 24;
}

Status ValidateNetwork(const NetworkDef& n) {
  if (n.name.empty()) return InvalidArgumentError("/network/name: empty name");
  for (char c : n.name) {
    if (c == '/' || static_cast<unsigned char>(c) < 0x20 || c == ' ') {
      return InvalidArgumentError("/network/name: invalid character in name '{}'", n.name);
    }
  }
  if (n.bridge.size() > 15) {
    return InvalidArgumentError("/network/bridge: bridge name '{}' is longer than 15 characters",
                                n.bridge);
  }
  if (n.forward == ForwardMode::kBridge) {
    if (n.bridge.empty()) {
      return InvalidArgumentError(
          "/network/bridge: forward mode 'bridge' needs <bridge name=.../>");
    }
    if (!n.ips.empty() || !n.dns_hosts.empty() || !n.domain_name.empty()) {
      return InvalidArgumentError(
          "/network/ip: forward mode 'bridge' uses an existing bridge: no ip, dhcp or dns");
    }
  }
  if (!n.mac.empty() && !ParseMac(n.mac).ok()) {
    return InvalidArgumentError("/network/mac: invalid mac address '{}'", n.mac);
  }
  bool have_v4_dhcp = false;
  for (size_t i = 0; i < n.ips.size(); ++i) {
    const NetworkIp& ip = n.ips[i];
    std::string path = fmt::format("/network/ip[{}]", i + 1);
    bool v6 = ip.family == "ipv6";
    auto host = ParseAddr(ip.address, v6);
    if (!host) {
      return InvalidArgumentError("{}: invalid {} address '{}'", path, v6 ? "ipv6" : "ipv4",
                                  ip.address);
    }
    if (!ip.netmask.empty() && ip.prefix) {
      return InvalidArgumentError("{}: give netmask or prefix, not both", path);
    }
    if (!ip.netmask.empty()) {
      if (v6) return InvalidArgumentError("{}: netmask is not valid for ipv6 (use prefix)", path);
      if (!NetmaskPrefix(ip.netmask)) {
        return InvalidArgumentError("{}: invalid netmask '{}'", path, ip.netmask);
      }
    }
    if (ip.prefix && *ip.prefix > (v6 ? 128u : 32u)) {
      return InvalidArgumentError("{}: invalid prefix {}", path, *ip.prefix);
    }
    unsigned prefix = ip.PrefixLength();
    std::vector<std::pair<Addr, Addr>> ranges;
    for (size_t r = 0; r < ip.dhcp_ranges.size(); ++r) {
      const DhcpRange& range = ip.dhcp_ranges[r];
      std::string rpath = fmt::format("{}/dhcp/range[{}]", path, r + 1);
      auto s = ParseAddr(range.start, v6);
      auto e = ParseAddr(range.end, v6);
      if (!s) return InvalidArgumentError("{}: invalid start address '{}'", rpath, range.start);
      if (!e) return InvalidArgumentError("{}: invalid end address '{}'", rpath, range.end);
      if (*e < *s) {
        return InvalidArgumentError("{}: start '{}' is after end '{}'", rpath, range.start,
                                    range.end);
      }
      if (!SameSubnet(*s, *host, prefix) || !SameSubnet(*e, *host, prefix)) {
        return InvalidArgumentError("{}: range '{}'-'{}' is outside the network {}/{}", rpath,
                                    range.start, range.end, ip.address, prefix);
      }
      if (*s <= *host && *host <= *e) {
        return InvalidArgumentError("{}: range '{}'-'{}' contains the host address '{}'", rpath,
                                    range.start, range.end, ip.address);
      }
      for (size_t o = 0; o < ranges.size(); ++o) {
        if (!(*e < ranges[o].first || ranges[o].second < *s)) {
          return InvalidArgumentError("{}: range '{}'-'{}' overlaps range {} ('{}'-'{}')", rpath,
                                      range.start, range.end, o + 1, ip.dhcp_ranges[o].start,
                                      ip.dhcp_ranges[o].end);
        }
      }
      ranges.emplace_back(*s, *e);
    }
    std::set<std::string> macs, ips;
    for (size_t h = 0; h < ip.dhcp_hosts.size(); ++h) {
      const DhcpHost& dh = ip.dhcp_hosts[h];
      std::string hpath = fmt::format("{}/dhcp/host[{}]", path, h + 1);
      auto a = ParseAddr(dh.ip, v6);
      if (!a) return InvalidArgumentError("{}: invalid ip '{}'", hpath, dh.ip);
      if (!SameSubnet(*a, *host, prefix)) {
        return InvalidArgumentError("{}: ip '{}' is outside the network {}/{}", hpath, dh.ip,
                                    ip.address, prefix);
      }
      if (!dh.mac.empty() && !macs.insert(dh.mac).second) {
        return InvalidArgumentError("{}: duplicate mac '{}'", hpath, dh.mac);
      }
      if (!ips.insert(dh.ip).second)
        return InvalidArgumentError("{}: duplicate ip '{}'", hpath, dh.ip);
    }
    if (!v6 && (!ip.dhcp_ranges.empty() || !ip.dhcp_hosts.empty())) {
      if (have_v4_dhcp) {
        return InvalidArgumentError("{}: dhcp is allowed on one ipv4 address only", path);
      }
      have_v4_dhcp = true;
    }
  }
  for (size_t i = 0; i < n.dns_hosts.size(); ++i) {
    const DnsHost& h = n.dns_hosts[i];
    if (!ParseAddr(h.ip, false) && !ParseAddr(h.ip, true)) {
      return InvalidArgumentError("/network/dns/host[{}]: invalid ip '{}'", i + 1, h.ip);
    }
    for (const auto& hn : h.hostnames) {
      if (hn.empty()) return InvalidArgumentError("/network/dns/host[{}]: empty hostname", i + 1);
    }
  }
  return Status::Ok();
}

}  // namespace skiff::conf
