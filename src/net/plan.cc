// NetworkPlan: IPv4 helpers, validation and the plan's text form.
#include "skiff/net/plan.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <sstream>

#include "skiff/base/size.h"
#include "skiff/base/strings.h"
#include "skiff/net/mac.h"

namespace skiff::net {
namespace {

std::vector<std::string> SplitWords(std::string_view s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

bool ValidHostname(std::string_view n) {
  if (n.empty() || n.size() > 253) return false;
  for (char c : n) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_') {
      return false;
    }
  }
  return n.front() != '-' && n.front() != '.';
}

Result<bool> ParseOnOff(std::string_view key, std::string_view v) {
  if (v == "on" || v == "yes" || v == "true") return true;
  if (v == "off" || v == "no" || v == "false") return false;
  return InvalidArgumentError("{} '{}' is not on or off", key, v);
}

}  // namespace

Result<Ipv4Addr> Ipv4Addr::Parse(std::string_view text) {
  uint32_t v = 0;
  int parts = 0;
  size_t pos = 0;
  while (parts < 4) {
    size_t end = text.find('.', pos);
    std::string_view part = text.substr(pos, end == std::string_view::npos ? end : end - pos);
    if (part.empty() || part.size() > 3) break;
    auto n = ParseUint(part);
    if (!n.ok() || *n > 255) break;
    v = (v << 8) | static_cast<uint32_t>(*n);
    ++parts;
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  if (parts != 4 || std::count(text.begin(), text.end(), '.') != 3) {
    return InvalidArgumentError("'{}' is not an IPv4 address", text);
  }
  return Ipv4Addr{v};
}

std::string Ipv4Addr::ToString() const {
  return fmt::format("{}.{}.{}.{}", value >> 24, (value >> 16) & 255, (value >> 8) & 255,
                     value & 255);
}

Result<Ipv4Net> Ipv4Net::Parse(std::string_view text) {
  size_t slash = text.find('/');
  SKIFF_ASSIGN_OR_RETURN(Ipv4Addr a, Ipv4Addr::Parse(text.substr(0, slash)));
  Ipv4Net n{a, 32};
  if (slash != std::string_view::npos) {
    auto p = ParseUint(text.substr(slash + 1));
    if (!p.ok() || *p > 32) {
      return InvalidArgumentError("'{}' has no valid prefix length (0..32)", text);
    }
    n.prefix = static_cast<int>(*p);
  }
  return n;
}

bool Ipv4Net::Overlaps(const Ipv4Net& o) const {
  int p = std::min(prefix, o.prefix);
  uint32_t m = p == 0 ? 0 : ~uint32_t{0} << (32 - p);
  return (addr.value & m) == (o.addr.value & m);
}

std::string Ipv4Net::ToString() const { return fmt::format("{}/{}", addr.ToString(), prefix); }
std::string Ipv4Net::NetworkString() const {
  return fmt::format("{}/{}", network().ToString(), prefix);
}

std::string_view ModeName(Mode mode) {
  switch (mode) {
    case Mode::kNat:
      return "nat";
    case Mode::kRoute:
      return "route";
    case Mode::kIsolated:
      return "isolated";
    case Mode::kOpen:
      return "open";
    case Mode::kBridge:
      return "bridge";
  }
  return "?";
}

Result<Mode> ParseMode(std::string_view text) {
  for (Mode m : {Mode::kNat, Mode::kRoute, Mode::kIsolated, Mode::kOpen, Mode::kBridge}) {
    if (ModeName(m) == text) return m;
  }
  return InvalidArgumentError("network mode '{}' is not nat, route, isolated, open or bridge",
                              text);
}

Status ValidatePlan(const NetworkPlan& p) {
  if (p.name.empty() || p.name.size() > 64 ||
      !std::isalnum(static_cast<unsigned char>(p.name[0]))) {
    return InvalidArgumentError(
        "network name '{}' must start with a letter or digit and have 1 to 64 characters", p.name);
  }
  for (char c : p.name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') {
      return InvalidArgumentError(
          "network name '{}' has character '{}' (allowed: letters, digits, _ . -)", p.name, c);
    }
  }
  const std::string ctx = fmt::format("network '{}'", p.name);
  if (p.bridge.empty() || p.bridge.size() > 15 || p.bridge == "." || p.bridge == "..") {
    return InvalidArgumentError("{}: bridge name '{}' must have 1 to 15 characters", ctx, p.bridge);
  }
  for (char c : p.bridge) {
    if (c == '/' || c == ':' || c == '%' || std::isspace(static_cast<unsigned char>(c)) ||
        !std::isprint(static_cast<unsigned char>(c))) {
      return InvalidArgumentError("{}: bridge name '{}' has character '{}'", ctx, p.bridge, c);
    }
  }
  if (!p.mac.empty() && !ParseMac(p.mac).ok()) {
    return InvalidArgumentError("{}: bridge mac '{}' is not a MAC address", ctx, p.mac);
  }
  if (p.mtu != 0 && (p.mtu < 68 || p.mtu > 65535)) {
    return InvalidArgumentError("{}: mtu {} is outside 68..65535", ctx, p.mtu);
  }
  if (p.delay_s > 30) {
    return InvalidArgumentError("{}: bridge delay {} is above 30 seconds", ctx, p.delay_s);
  }
  if (!p.uplink.empty()) {
    if (p.mode != Mode::kNat && p.mode != Mode::kRoute) {
      return InvalidArgumentError("{}: uplink '{}' is only for nat and route modes", ctx, p.uplink);
    }
    if (p.uplink.size() > 15 || p.uplink.find_first_of("/\" \t") != std::string::npos) {
      return InvalidArgumentError("{}: uplink device name '{}' is not valid", ctx, p.uplink);
    }
  }
  if (p.mode == Mode::kBridge) {
    if (p.ipv4 || !p.dhcp_ranges.empty() || !p.dhcp_hosts.empty() || !p.dns_hosts.empty()) {
      return InvalidArgumentError(
          "{}: bridge mode takes no address, DHCP or DNS (the LAN serves them)", ctx);
    }
    return Status::Ok();
  }
  if ((p.mode == Mode::kNat || p.mode == Mode::kRoute) && !p.ipv4) {
    return InvalidArgumentError("{}: {} mode needs an IPv4 address", ctx, ModeName(p.mode));
  }
  if (!p.ipv4) {
    if (!p.dhcp_ranges.empty() || !p.dhcp_hosts.empty() || !p.dns_hosts.empty()) {
      return InvalidArgumentError("{}: DHCP and DNS need an IPv4 address", ctx);
    }
    return Status::Ok();
  }
  const Ipv4Net& net = *p.ipv4;
  if (net.prefix < 8 || net.prefix > 30) {
    return InvalidArgumentError("{}: prefix /{} of '{}' is outside /8../30", ctx, net.prefix,
                                net.ToString());
  }
  if (net.addr == net.network() || net.addr == net.broadcast()) {
    return InvalidArgumentError("{}: address '{}' is the subnet's network or broadcast address",
                                ctx, net.ToString());
  }
  auto usable = [&](Ipv4Addr a) {
    return net.Contains(a) && a != net.network() && a != net.broadcast();
  };
  for (const auto& r : p.dhcp_ranges) {
    std::string rs = fmt::format("{}-{}", r.start.ToString(), r.end.ToString());
    if (!usable(r.start) || !usable(r.end)) {
      return InvalidArgumentError("{}: dhcp range {} is not inside {}", ctx, rs,
                                  net.NetworkString());
    }
    if (r.end < r.start) {
      return InvalidArgumentError("{}: dhcp range {} ends before it starts", ctx, rs);
    }
    if (r.start <= net.addr && net.addr <= r.end) {
      return InvalidArgumentError("{}: dhcp range {} contains the host address {}", ctx, rs,
                                  net.addr.ToString());
    }
  }
  std::set<std::string> macs;
  for (const auto& h : p.dhcp_hosts) {
    if (h.mac.empty() && h.name.empty()) {
      return InvalidArgumentError("{}: dhcp host needs a mac or a name", ctx);
    }
    if (!h.mac.empty()) {
      if (!ParseMac(h.mac).ok()) {
        return InvalidArgumentError("{}: dhcp host mac '{}' is not a MAC address", ctx, h.mac);
      }
      if (!macs.insert(*NormalizeMac(h.mac)).second) {
        return InvalidArgumentError("{}: dhcp host mac '{}' appears twice", ctx, h.mac);
      }
    }
    if (!h.name.empty() && !ValidHostname(h.name)) {
      return InvalidArgumentError("{}: dhcp host name '{}' is not a host name", ctx, h.name);
    }
    if (h.ip && !usable(*h.ip)) {
      return InvalidArgumentError("{}: dhcp host address {} is not inside {}", ctx,
                                  h.ip->ToString(), net.NetworkString());
    }
    if (h.ip && *h.ip == net.addr) {
      return InvalidArgumentError("{}: dhcp host address {} is the host's own address", ctx,
                                  h.ip->ToString());
    }
  }
  for (const auto& d : p.dns_hosts) {
    if (d.hostnames.empty()) {
      return InvalidArgumentError("{}: dns host {} has no host name", ctx, d.ip.ToString());
    }
    for (const auto& n : d.hostnames) {
      if (!ValidHostname(n)) {
        return InvalidArgumentError("{}: dns host name '{}' is not a host name", ctx, n);
      }
    }
  }
  if (!p.domain.empty() && !ValidHostname(p.domain)) {
    return InvalidArgumentError("{}: domain '{}' is not a domain name", ctx, p.domain);
  }
  return Status::Ok();
}

Result<NetworkPlan> ParsePlanText(std::string_view text) {
  NetworkPlan p;
  int lineno = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? nl : nl - pos);
    pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++lineno;
    size_t hash = line.find('#');
    if (hash != std::string_view::npos) line = line.substr(0, hash);
    line = Trim(line);
    if (line.empty()) continue;
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      return InvalidArgumentError("plan line {}: '{}' is not 'key = value'", lineno, line);
    }
    std::string key(Trim(line.substr(0, eq)));
    std::string_view value = Trim(line.substr(eq + 1));
    std::vector<std::string> w = SplitWords(value);
    Status st = [&]() -> Status {
      if (key == "name") {
        p.name = value;
      } else if (key == "mode") {
        SKIFF_ASSIGN_OR_RETURN(p.mode, ParseMode(value));
      } else if (key == "bridge") {
        p.bridge = value;
      } else if (key == "stp") {
        SKIFF_ASSIGN_OR_RETURN(p.stp, ParseOnOff(key, value));
      } else if (key == "delay") {
        SKIFF_ASSIGN_OR_RETURN(uint64_t d, ParseUint(value));
        if (d > 1000) return InvalidArgumentError("delay '{}' is too large", value);
        p.delay_s = static_cast<unsigned>(d);
      } else if (key == "mac") {
        p.mac = value;
      } else if (key == "ipv4") {
        SKIFF_ASSIGN_OR_RETURN(p.ipv4, Ipv4Net::Parse(value));
      } else if (key == "dhcp_range") {
        if (w.size() != 2) return InvalidArgumentError("dhcp_range '{}' is not 'START END'", value);
        DhcpRange r;
        SKIFF_ASSIGN_OR_RETURN(r.start, Ipv4Addr::Parse(w[0]));
        SKIFF_ASSIGN_OR_RETURN(r.end, Ipv4Addr::Parse(w[1]));
        p.dhcp_ranges.push_back(r);
      } else if (key == "host") {
        if (w.size() < 2 || w.size() > 3) {
          return InvalidArgumentError("host '{}' is not 'MAC NAME [IP]'", value);
        }
        DhcpHost h;
        h.mac = w[0] == "-" ? "" : w[0];
        h.name = w[1] == "-" ? "" : w[1];
        if (w.size() == 3) {
          SKIFF_ASSIGN_OR_RETURN(h.ip, Ipv4Addr::Parse(w[2]));
        }
        p.dhcp_hosts.push_back(h);
      } else if (key == "dns_host") {
        if (w.size() < 2) return InvalidArgumentError("dns_host '{}' is not 'IP NAME...'", value);
        DnsHost d;
        SKIFF_ASSIGN_OR_RETURN(d.ip, Ipv4Addr::Parse(w[0]));
        d.hostnames.assign(w.begin() + 1, w.end());
        p.dns_hosts.push_back(d);
      } else if (key == "domain") {
        p.domain = value;
      } else if (key == "domain_local_only") {
        SKIFF_ASSIGN_OR_RETURN(p.domain_local_only, ParseOnOff(key, value));
      } else if (key == "uplink") {
        p.uplink = value;
      } else if (key == "dns") {
        SKIFF_ASSIGN_OR_RETURN(p.dns_enable, ParseOnOff(key, value));
      } else if (key == "mtu") {
        SKIFF_ASSIGN_OR_RETURN(uint64_t m, ParseUint(value));
        if (m > 65535) return InvalidArgumentError("mtu '{}' is too large", value);
        p.mtu = static_cast<unsigned>(m);
      } else if (key == "dns_forward") {
        SKIFF_ASSIGN_OR_RETURN(p.dns_forward, ParseOnOff(key, value));
      } else {
        return InvalidArgumentError("unknown key '{}'", key);
      }
      return Status::Ok();
    }();
    if (!st.ok()) return st.WithContext(fmt::format("plan line {}", lineno));
  }
  return p;
}

std::string FormatPlanText(const NetworkPlan& p) {
  std::string s;
  auto kv = [&](std::string_view k, std::string_view v) { s += fmt::format("{} = {}\n", k, v); };
  kv("name", p.name);
  kv("mode", ModeName(p.mode));
  kv("bridge", p.bridge);
  kv("stp", p.stp ? "on" : "off");
  kv("delay", std::to_string(p.delay_s));
  if (!p.mac.empty()) kv("mac", p.mac);
  if (p.ipv4) kv("ipv4", p.ipv4->ToString());
  for (const auto& r : p.dhcp_ranges) kv("dhcp_range", r.start.ToString() + " " + r.end.ToString());
  for (const auto& h : p.dhcp_hosts) {
    std::string v = (h.mac.empty() ? "-" : h.mac) + " " + (h.name.empty() ? "-" : h.name);
    if (h.ip) v += " " + h.ip->ToString();
    kv("host", v);
  }
  for (const auto& d : p.dns_hosts) {
    std::string v = d.ip.ToString();
    for (const auto& n : d.hostnames) v += " " + n;
    kv("dns_host", v);
  }
  if (!p.domain.empty()) kv("domain", p.domain);
  if (p.domain_local_only) kv("domain_local_only", "on");
  if (!p.uplink.empty()) kv("uplink", p.uplink);
  if (!p.dns_forward) kv("dns_forward", "off");
  if (!p.dns_enable) kv("dns", "off");
  if (p.mtu != 0) kv("mtu", std::to_string(p.mtu));
  return s;
}

}  // namespace skiff::net
