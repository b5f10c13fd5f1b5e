// Tests for net-diagram's text and SVG drawings, from hand-built live states.
#include "skiff/net/diagram.h"

#include <gtest/gtest.h>

namespace skiff::net {
namespace {

NetworkPlan Nat() {
  auto p = ParsePlanText(
      "name = default\nmode = nat\nbridge = virbr0\nipv4 = 192.168.122.1/24\n"
      "dhcp_range = 192.168.122.2 192.168.122.254\nhost = 52:54:00:00:00:01 vm1 192.168.122.10\n");
  EXPECT_TRUE(p.ok());
  return *p;
}

LiveState NatLive() {
  LiveState l;
  l.bridge_exists = true;
  l.bridge_up = true;
  l.bridge_addresses = {*Ipv4Net::Parse("192.168.122.1/24")};
  l.ports = {"vnet0", "vnet1"};
  l.nft_table_exists = true;
  l.nat_rules = {"ip saddr 192.168.122.0/24 ip daddr != 192.168.122.0/24 masquerade"};
  l.dnsmasq_pid = 4242;
  l.uplink = "eth0";
  l.uplink_exists = true;
  l.uplink_addresses = {*Ipv4Net::Parse("10.0.0.5/24")};
  l.ip_forward = true;
  return l;
}

TEST(DiagramText, Nat) {
  std::string t = RenderDiagramText(Nat(), NatLive(), {{"vnet0", "web"}, {"vnet1", "db"}});
  EXPECT_EQ(t,
            "network 'default': nat, active\n"
            "\n"
            "  guest web -- vnet0 --+\n"
            "  guest db  -- vnet1 --+\n"
            "                       |\n"
            "  bridge virbr0 (up)\n"
            "      address 192.168.122.1/24\n"
            "      DHCP + DNS: dnsmasq pid 4242 on virbr0 at 192.168.122.1, range "
            "192.168.122.2-192.168.122.254, 1 static host(s)\n"
            "                       |\n"
            "  nftables table ip skiff_default (loaded)\n"
            "      forward: 192.168.122.0/24 -> out accepted; in -> virbr0 only "
            "established,related\n"
            "      nat: masquerade 192.168.122.0/24 to the uplink's address\n"
            "        rule: ip saddr 192.168.122.0/24 ip daddr != 192.168.122.0/24 masquerade\n"
            "      ip_forward: on\n"
            "                       |\n"
            "  uplink eth0 (default route)\n"
            "      address 10.0.0.5/24\n"
            "                       |\n"
            "  (outside)\n");
}

TEST(DiagramText, BridgeModeSaysDhcpComesFromTheLan) {
  NetworkPlan p;
  p.name = "lan";
  p.mode = Mode::kBridge;
  p.bridge = "br0";
  LiveState l;
  l.bridge_exists = true;
  l.bridge_up = true;
  l.ports = {"eth0", "vnet3"};
  std::string t = RenderDiagramText(p, l, {{"vnet3", "vm"}});
  EXPECT_NE(t.find("network 'lan': bridge, active"), std::string::npos) << t;
  EXPECT_NE(t.find("  (port)   -- eth0  --+\n"), std::string::npos) << t;
  EXPECT_NE(t.find("  guest vm -- vnet3 --+\n"), std::string::npos) << t;
  EXPECT_NE(t.find("DHCP: from the LAN behind bridge br0 via eth0 (Skiff runs no DHCP here)"),
            std::string::npos);
  EXPECT_EQ(t.find("nftables"), std::string::npos);
  EXPECT_EQ(t.find("uplink"), std::string::npos);
}

TEST(DiagramText, MissingPartsAreShown) {
  LiveState l = NatLive();
  l.nft_table_exists = false;
  l.dnsmasq_pid.reset();
  std::string t = RenderDiagramText(Nat(), l, {});
  EXPECT_NE(t.find("network 'default': nat, incomplete"), std::string::npos) << t;
  EXPECT_NE(t.find("table ip skiff_default (MISSING)"), std::string::npos);
  EXPECT_NE(t.find("dnsmasq NOT RUNNING"), std::string::npos);
  EXPECT_NE(t.find("(port) -- vnet0 --+"), std::string::npos) << t;
  l.uplink_exists = false;
  EXPECT_NE(RenderDiagramText(Nat(), l, {}).find("uplink eth0 (default route) (MISSING)"),
            std::string::npos);
  t = RenderDiagramText(Nat(), LiveState{}, {});
  EXPECT_NE(t.find("nat, inactive"), std::string::npos);
  EXPECT_NE(t.find("(no guests attached)"), std::string::npos);
}

TEST(DiagramText, DhcpOnlyWhenDnsIsOff) {
  NetworkPlan p = Nat();
  p.dns_enable = false;
  std::string t = RenderDiagramText(p, NatLive(), {});
  EXPECT_NE(t.find("      DHCP: dnsmasq pid 4242 on virbr0"), std::string::npos) << t;
  p.dhcp_ranges.clear();
  p.dhcp_hosts.clear();
  t = RenderDiagramText(p, NatLive(), {});
  EXPECT_NE(t.find("DHCP: none (DNS is off and there is nothing to hand out)"), std::string::npos)
      << t;
}

TEST(DiagramSvg, HasTheBoxesAndEscapes) {
  std::string s = RenderDiagramSvg(Nat(), NatLive(), {{"vnet0", "a<b"}});
  EXPECT_EQ(s.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_NE(s.find("guest a&lt;b"), std::string::npos);
  EXPECT_NE(s.find("bridge virbr0 (up)"), std::string::npos);
  EXPECT_NE(s.find("nftables table ip skiff_default (loaded)"), std::string::npos);
  EXPECT_NE(s.find("uplink eth0"), std::string::npos);
  EXPECT_EQ(s.find("a<b"), std::string::npos);
  EXPECT_EQ(s.substr(s.size() - 7), "</svg>\n");
  // Two ports: two guest boxes plus four stage boxes.
  size_t rects = 0;
  for (size_t i = s.find("<rect"); i != std::string::npos; i = s.find("<rect", i + 1)) ++rects;
  EXPECT_EQ(rects, 6u);
}

}  // namespace
}  // namespace skiff::net
