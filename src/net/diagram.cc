// net-diagram: live state collection and the text and SVG drawings.
#include "skiff/net/diagram.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <sstream>

#include "skiff/base/fs.h"
#include "skiff/net/netlink.h"
#include "skiff/net/nft.h"

namespace skiff::net {
namespace {

bool HasRules(const NetworkPlan& p) {
  return p.mode == Mode::kNat || p.mode == Mode::kRoute || p.mode == Mode::kIsolated;
}

std::string Addresses(const std::vector<Ipv4Net>& a) {
  std::vector<std::string> s;
  for (const auto& n : a) s.push_back(n.ToString());
  return fmt::format("{}", fmt::join(s, " "));
}

// One block of the drawing: a title line and detail lines.
struct Box {
  std::string title;
  std::vector<std::string> lines;
};

std::string DhcpSource(const NetworkPlan& p, const LiveState& l,
                       const std::map<std::string, std::string>& guests) {
  if (p.mode == Mode::kBridge) {
    std::vector<std::string> lan;
    for (const auto& port : l.ports) {
      if (!guests.count(port)) lan.push_back(port);
    }
    return fmt::format("DHCP: from the LAN behind bridge {}{} (Skiff runs no DHCP here)", p.bridge,
                       lan.empty() ? "" : fmt::format(" via {}", fmt::join(lan, ", ")));
  }
  if (!p.ipv4) return "DHCP: none (the network has no IPv4 address)";
  if (!NeedsDnsmasq(p)) return "DHCP: none (DNS is off and there is nothing to hand out)";
  bool dhcp = !p.dhcp_ranges.empty() || !p.dhcp_hosts.empty();
  std::string what = dhcp && p.dns_enable ? "DHCP + DNS" : dhcp ? "DHCP" : "DNS";
  std::string state = l.dnsmasq_pid ? fmt::format("dnsmasq pid {}", *l.dnsmasq_pid)
                                    : std::string("dnsmasq NOT RUNNING");
  std::vector<std::string> ranges;
  for (const auto& r : p.dhcp_ranges) {
    ranges.push_back(r.start.ToString() + "-" + r.end.ToString());
  }
  std::string detail;
  if (!ranges.empty()) detail += fmt::format(", range {}", fmt::join(ranges, " "));
  if (!p.dhcp_hosts.empty()) detail += fmt::format(", {} static host(s)", p.dhcp_hosts.size());
  return fmt::format("{}: {} on {} at {}{}", what, state, p.bridge, p.ipv4->addr.ToString(),
                     detail);
}

std::vector<Box> Boxes(const NetworkPlan& p, const LiveState& l,
                       const std::map<std::string, std::string>& guests) {
  std::vector<Box> out;
  Box br;
  br.title = fmt::format("bridge {} ({}{})", p.bridge,
                         !l.bridge_exists ? "MISSING"
                         : l.bridge_up    ? "up"
                                          : "down",
                         p.mode == Mode::kBridge ? ", host bridge" : "");
  if (!l.bridge_addresses.empty()) br.lines.push_back("address " + Addresses(l.bridge_addresses));
  br.lines.push_back(DhcpSource(p, l, guests));
  out.push_back(br);
  if (HasRules(p)) {
    Box f;
    f.title = fmt::format("nftables table ip {} ({})", NftTableName(p),
                          l.nft_table_exists ? "loaded" : "MISSING");
    const std::string subnet = p.ipv4 ? p.ipv4->NetworkString() : std::string("-");
    if (p.mode == Mode::kNat) {
      f.lines.push_back(fmt::format(
          "forward: {} -> out accepted; in -> {} only established,related", subnet, p.bridge));
      f.lines.push_back(fmt::format("nat: masquerade {} to the uplink's address", subnet));
      for (const auto& r : l.nat_rules) f.lines.push_back("  rule: " + r);
    } else if (p.mode == Mode::kRoute) {
      f.lines.push_back(fmt::format("forward: {} routed both ways, no NAT", subnet));
    } else {
      f.lines.push_back(fmt::format("forward: only within {}; to and from it rejected", p.bridge));
    }
    if (l.ip_forward)
      f.lines.push_back(fmt::format("ip_forward: {}", *l.ip_forward ? "on" : "off"));
    out.push_back(f);
  }
  if (p.mode == Mode::kNat || p.mode == Mode::kRoute || p.mode == Mode::kOpen) {
    Box u;
    u.title = l.uplink.empty() ? std::string("uplink: none (no default route)")
                               : fmt::format("uplink {}{}{}", l.uplink,
                                             p.uplink.empty() ? " (default route)" : "",
                                             l.uplink_exists ? "" : " (MISSING)");
    if (!l.uplink_addresses.empty()) u.lines.push_back("address " + Addresses(l.uplink_addresses));
    out.push_back(u);
    out.push_back(Box{"(outside)", {}});
  }
  return out;
}

struct Port {
  std::string name;
  std::string guest;  // empty: not a guest's
};

std::vector<Port> Ports(const LiveState& l, const std::map<std::string, std::string>& guests) {
  std::vector<Port> out;
  for (const auto& n : l.ports) {
    auto it = guests.find(n);
    out.push_back(Port{n, it == guests.end() ? "" : it->second});
  }
  return out;
}

std::string Xml(std::string_view s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&':
        o += "&amp;";
        break;
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '"':
        o += "&quot;";
        break;
      default:
        o += c;
    }
  }
  return o;
}

}  // namespace

Result<LiveState> CollectLiveState(const NetworkPlan& p, const NetworkEnv& env) {
  LiveState l;
  auto link = GetLink(p.bridge);
  if (link.ok()) {
    l.bridge_exists = true;
    l.bridge_up = link->up;
    SKIFF_ASSIGN_OR_RETURN(auto addrs, ListIpv4Addresses(p.bridge));
    for (const auto& a : addrs) l.bridge_addresses.push_back(a.addr);
    SKIFF_ASSIGN_OR_RETURN(l.ports, ListBridgePorts(p.bridge));
  } else if (link.status().code() != Code::kNotFound) {
    return link.status();
  }
  if (HasRules(p)) {
    const std::string t = NftTableName(p);
    SKIFF_ASSIGN_OR_RETURN(l.nft_table_exists, NftTableExists(t));
    if (l.nft_table_exists && p.mode == Mode::kNat) {
      SKIFF_ASSIGN_OR_RETURN(std::string text, RunNft("list chain ip " + t + " postrouting"));
      std::istringstream in(text);
      for (std::string line; std::getline(in, line);) {
        if (line.find("masquerade") == std::string::npos) continue;
        line.erase(0, line.find_first_not_of(" \t"));
        l.nat_rules.push_back(line);
      }
    }
  }
  if (NeedsDnsmasq(p)) l.dnsmasq_pid = RunningDnsmasqPid(env.files(p));
  if (p.mode == Mode::kNat || p.mode == Mode::kRoute || p.mode == Mode::kOpen) {
    l.uplink = p.uplink;
    if (l.uplink.empty()) {
      SKIFF_ASSIGN_OR_RETURN(l.uplink, DefaultRouteDevice());
    }
    if (!l.uplink.empty()) {
      SKIFF_ASSIGN_OR_RETURN(l.uplink_exists, LinkExists(l.uplink));
      auto addrs = ListIpv4Addresses(l.uplink);
      if (l.uplink_exists && addrs.ok()) {
        for (const auto& a : *addrs) l.uplink_addresses.push_back(a.addr);
      }
    }
    auto fwd = ReadFile("/proc/sys/net/ipv4/ip_forward");
    if (fwd.ok() && !fwd->empty()) l.ip_forward = (*fwd)[0] == '1';
  }
  return l;
}

std::string RenderDiagramText(const NetworkPlan& p, const LiveState& l,
                              const std::map<std::string, std::string>& guests) {
  std::string o;
  auto add = [&](const std::string& s) { o += s + "\n"; };
  bool active = l.bridge_exists && (!HasRules(p) || l.nft_table_exists) &&
                (!NeedsDnsmasq(p) || l.dnsmasq_pid.has_value());
  add(fmt::format("network '{}': {}, {}", p.name, ModeName(p.mode),
                  active ? "active" : (l.bridge_exists ? "incomplete" : "inactive")));
  add("");
  std::vector<Port> ports = Ports(l, guests);
  size_t gw = 0, tw = 0;
  for (const auto& port : ports) {
    gw = std::max(gw, port.guest.empty() ? 6 : port.guest.size() + 6);
    tw = std::max(tw, port.name.size());
  }
  std::vector<std::string> left;
  for (const auto& port : ports) {
    left.push_back(fmt::format("{:<{}} -- {:<{}}",
                               port.guest.empty() ? "(port)" : "guest " + port.guest, gw, port.name,
                               tw));
  }
  size_t width = ports.empty() ? 0 : gw + 4 + tw;
  for (const auto& s : left) add(fmt::format("  {:<{}} --+", s, width));
  if (ports.empty()) add("  (no guests attached)");
  std::string bar = fmt::format("  {:>{}}", "|", ports.empty() ? 1 : width + 4);
  std::vector<Box> boxes = Boxes(p, l, guests);
  for (size_t i = 0; i < boxes.size(); ++i) {
    add(bar);
    add("  " + boxes[i].title);
    for (const auto& line : boxes[i].lines) add("      " + line);
  }
  return o;
}

std::string RenderDiagramSvg(const NetworkPlan& p, const LiveState& l,
                             const std::map<std::string, std::string>& guests) {
  const int kLine = 16, kPad = 10, kGap = 30, kGuestW = 170, kGuestH = 44;
  std::vector<Port> ports = Ports(l, guests);
  std::vector<Box> boxes = Boxes(p, l, guests);
  // Monospace at 12-13 px is about 8 px a character: the widest line sets the width.
  size_t longest = 0;
  for (const auto& b : boxes) {
    longest = std::max(longest, b.title.size());
    for (const auto& line : b.lines) longest = std::max(longest, line.size() + 2);
  }
  const int kBoxW = std::max(560, static_cast<int>(longest) * 8 + 2 * kPad);
  int cols = std::max<int>(1, static_cast<int>(ports.size()));
  int width = std::max(kBoxW + 40, cols * (kGuestW + 20) + 20);
  int y = 40;
  std::string body;
  body += fmt::format("  <text x=\"20\" y=\"24\" font-weight=\"bold\">network {} ({})</text>\n",
                      Xml(p.name), ModeName(p.mode));
  int center = width / 2;
  std::vector<int> port_x;
  for (int i = 0; i < static_cast<int>(ports.size()); ++i) {
    int x = 20 + i * (kGuestW + 20);
    port_x.push_back(x + kGuestW / 2);
    const Port& port = ports[static_cast<size_t>(i)];
    body += fmt::format(
        "  <rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"6\" fill=\"{}\" "
        "stroke=\"#333\"/>\n",
        x, y, kGuestW, kGuestH, port.guest.empty() ? "#eeeeee" : "#dff0d8");
    body += fmt::format("  <text x=\"{}\" y=\"{}\">{}</text>\n", x + 8, y + 18,
                        Xml(port.guest.empty() ? "port" : "guest " + port.guest));
    body += fmt::format("  <text x=\"{}\" y=\"{}\" font-size=\"11\">{}</text>\n", x + 8, y + 35,
                        Xml(port.name));
  }
  if (!ports.empty()) y += kGuestH + kGap;
  int prev_bottom = -1;
  for (size_t b = 0; b < boxes.size(); ++b) {
    const Box& box = boxes[b];
    int h = kPad * 2 + kLine * (1 + static_cast<int>(box.lines.size()));
    int x = center - kBoxW / 2;
    if (b == 0) {
      for (int px : port_x) {
        body += fmt::format("  <line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#333\"/>\n",
                            px, y - kGap, center, y);
      }
    } else {
      body += fmt::format(
          "  <line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#333\" "
          "marker-end=\"url(#arrow)\"/>\n",
          center, prev_bottom, center, y);
    }
    bool missing = box.title.find("MISSING") != std::string::npos;
    body += fmt::format(
        "  <rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"6\" fill=\"{}\" "
        "stroke=\"#333\"/>\n",
        x, y, kBoxW, h, missing ? "#f2dede" : "#d9edf7");
    body += fmt::format("  <text x=\"{}\" y=\"{}\" font-weight=\"bold\">{}</text>\n", x + kPad,
                        y + kPad + 12, Xml(box.title));
    for (size_t i = 0; i < box.lines.size(); ++i) {
      body += fmt::format("  <text x=\"{}\" y=\"{}\" font-size=\"12\">{}</text>\n", x + kPad + 10,
                          y + kPad + 12 + kLine * static_cast<int>(i + 1), Xml(box.lines[i]));
    }
    prev_bottom = y + h;
    y += h + kGap;
  }
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" "
      "font-family=\"monospace\" font-size=\"13\">\n"
      "  <defs><marker id=\"arrow\" markerWidth=\"10\" markerHeight=\"10\" refX=\"8\" "
      "refY=\"5\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#333\"/></marker></defs>\n",
      width, y);
  return svg + body + "</svg>\n";
}

}  // namespace skiff::net
