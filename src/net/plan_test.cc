// Tests for NetworkPlan: IPv4 helpers, validation and the text form.
#include "skiff/net/plan.h"

#include <gtest/gtest.h>

#include "skiff/net/mac.h"
#include "skiff/net/subnet.h"

namespace skiff::net {
namespace {

NetworkPlan NatPlan() {
  NetworkPlan p;
  p.name = "default";
  p.bridge = "virbr0";
  p.ipv4 = *Ipv4Net::Parse("192.168.122.1/24");
  p.dhcp_ranges.push_back({*Ipv4Addr::Parse("192.168.122.2"), *Ipv4Addr::Parse("192.168.122.254")});
  return p;
}

TEST(Ipv4, ParseAndFormat) {
  auto a = Ipv4Addr::Parse("192.168.122.1");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->value, 0xC0A87A01u);
  EXPECT_EQ(a->ToString(), "192.168.122.1");
  for (const char* bad :
       {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1..2.3", "a.b.c.d", "1.2.3.4 ", "1.2.3.-4"}) {
    EXPECT_FALSE(Ipv4Addr::Parse(bad).ok()) << bad;
  }
  auto err = Ipv4Addr::Parse("300.1.1.1");
  EXPECT_EQ(err.status().message(), "'300.1.1.1' is not an IPv4 address");
}

TEST(Ipv4, NetArithmetic) {
  auto n = *Ipv4Net::Parse("192.168.122.1/24");
  EXPECT_EQ(n.network().ToString(), "192.168.122.0");
  EXPECT_EQ(n.broadcast().ToString(), "192.168.122.255");
  EXPECT_EQ(n.MaskString(), "255.255.255.0");
  EXPECT_EQ(n.NetworkString(), "192.168.122.0/24");
  EXPECT_EQ(n.ToString(), "192.168.122.1/24");
  EXPECT_TRUE(n.Contains(*Ipv4Addr::Parse("192.168.122.200")));
  EXPECT_FALSE(n.Contains(*Ipv4Addr::Parse("192.168.123.1")));
  EXPECT_TRUE(n.Overlaps(*Ipv4Net::Parse("192.168.0.0/16")));
  EXPECT_FALSE(n.Overlaps(*Ipv4Net::Parse("192.168.123.0/24")));
  EXPECT_TRUE(n.Overlaps(*Ipv4Net::Parse("0.0.0.0/0")));
  EXPECT_FALSE(Ipv4Net::Parse("10.0.0.0/33").ok());
  EXPECT_EQ(Ipv4Net::Parse("10.0.0.1")->prefix, 32);
}

TEST(ValidatePlan, DefaultIsValid) {
  EXPECT_TRUE(ValidatePlan(NatPlan()).ok());
  EXPECT_TRUE(ValidatePlan(DefaultNetworkPlan(*Ipv4Net::Parse("192.168.122.0/24"))).ok());
}

TEST(ValidatePlan, RejectsBadNames) {
  NetworkPlan p = NatPlan();
  p.name = "a b";
  EXPECT_EQ(ValidatePlan(p).message(),
            "network name 'a b' has character ' ' (allowed: letters, digits, _ . -)");
  p.name = "";
  EXPECT_FALSE(ValidatePlan(p).ok());
  p = NatPlan();
  p.bridge = "averyveryverylongbridge";
  EXPECT_EQ(
      ValidatePlan(p).message(),
      "network 'default': bridge name 'averyveryverylongbridge' must have 1 to 15 characters");
}

TEST(ValidatePlan, RangeOutsideSubnet) {
  NetworkPlan p = NatPlan();
  p.dhcp_ranges[0].end = *Ipv4Addr::Parse("192.168.123.10");
  Status st = ValidatePlan(p);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_EQ(st.message(),
            "network 'default': dhcp range 192.168.122.2-192.168.123.10 is not inside "
            "192.168.122.0/24");
}

TEST(ValidatePlan, RangeWithHostAddress) {
  NetworkPlan p = NatPlan();
  p.dhcp_ranges[0].start = *Ipv4Addr::Parse("192.168.122.1");
  EXPECT_NE(ValidatePlan(p).message().find("contains the host address 192.168.122.1"),
            std::string::npos);
}

TEST(ValidatePlan, ModeRules) {
  NetworkPlan p = NatPlan();
  p.ipv4.reset();
  p.dhcp_ranges.clear();
  EXPECT_EQ(ValidatePlan(p).message(), "network 'default': nat mode needs an IPv4 address");
  p.mode = Mode::kIsolated;
  EXPECT_TRUE(ValidatePlan(p).ok());
  p = NatPlan();
  p.mode = Mode::kBridge;
  EXPECT_NE(ValidatePlan(p).message().find("bridge mode takes no address"), std::string::npos);
  p.ipv4.reset();
  p.dhcp_ranges.clear();
  EXPECT_TRUE(ValidatePlan(p).ok());
  p.uplink = "eth0";
  EXPECT_NE(ValidatePlan(p).message().find("uplink 'eth0' is only for nat and route"),
            std::string::npos);
}

TEST(ValidatePlan, Hosts) {
  NetworkPlan p = NatPlan();
  p.dhcp_hosts.push_back({"52:54:00:00:00:01", "vm1", *Ipv4Addr::Parse("192.168.122.10")});
  EXPECT_TRUE(ValidatePlan(p).ok());
  p.dhcp_hosts.push_back({"52:54:00:00:00:01", "vm2", std::nullopt});
  EXPECT_NE(ValidatePlan(p).message().find("mac '52:54:00:00:00:01' appears twice"),
            std::string::npos);
  p.dhcp_hosts.pop_back();
  p.dhcp_hosts.push_back({"52:54:00:zz:00:01", "vm2", std::nullopt});
  EXPECT_NE(ValidatePlan(p).message().find("mac '52:54:00:zz:00:01' is not a MAC address"),
            std::string::npos);
  p.dhcp_hosts.pop_back();
  p.dhcp_hosts.push_back({"", "vm3", *Ipv4Addr::Parse("192.168.122.1")});
  EXPECT_NE(ValidatePlan(p).message().find("is the host's own address"), std::string::npos);
}

TEST(PlanText, RoundTrip) {
  NetworkPlan p = NatPlan();
  p.dhcp_hosts.push_back({"52:54:00:00:00:01", "vm1", *Ipv4Addr::Parse("192.168.122.10")});
  p.dhcp_hosts.push_back({"", "vm2", *Ipv4Addr::Parse("192.168.122.11")});
  p.dns_hosts.push_back({*Ipv4Addr::Parse("192.168.122.1"), {"gateway", "gw"}});
  p.domain = "example";
  p.domain_local_only = true;
  p.uplink = "eth0";
  p.dns_forward = false;
  p.dns_enable = false;
  p.mtu = 9000;
  p.mac = "52:54:00:12:34:56";
  auto back = ParsePlanText(FormatPlanText(p));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, p);
}

TEST(PlanText, ErrorsNameTheLine) {
  auto r = ParsePlanText("name = x\n# comment\nmode = tunnel\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "plan line 3: network mode 'tunnel' is not nat, route, isolated, open or bridge");
  EXPECT_EQ(ParsePlanText("colour = red").status().message(), "plan line 1: unknown key 'colour'");
  EXPECT_EQ(ParsePlanText("name x").status().message(),
            "plan line 1: 'name x' is not 'key = value'");
}

TEST(Mac, ParseFormatGenerate) {
  EXPECT_EQ(*NormalizeMac("52:54:00:AB:cd:0F"), "52:54:00:ab:cd:0f");
  EXPECT_EQ(*NormalizeMac("52-54-00-ab-cd-0f"), "52:54:00:ab:cd:0f");
  EXPECT_FALSE(ParseMac("52:54:00:ab:cd").ok());
  EXPECT_FALSE(ParseMac("52:54:00:ab:cd:0g").ok());
  std::string a = GenerateMac(), b = GenerateMac();
  EXPECT_EQ(a.substr(0, 9), "52:54:00:");
  EXPECT_TRUE(ParseMac(a).ok());
  // 24 random bits: two equal in a row would be a broken generator.
  EXPECT_NE(a, b);
}

TEST(PickFreeSubnet, FirstFree) {
  auto r = PickFreeSubnet({});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->NetworkString(), "192.168.122.0/24");
  r = PickFreeSubnet({*Ipv4Net::Parse("10.0.0.0/8"), *Ipv4Net::Parse("192.168.122.0/24")});
  EXPECT_EQ(r->NetworkString(), "192.168.123.0/24");
  r = PickFreeSubnet({*Ipv4Net::Parse("192.168.122.0/23"), *Ipv4Net::Parse("192.168.124.5/32")});
  EXPECT_EQ(r->NetworkString(), "192.168.125.0/24");
  r = PickFreeSubnet({*Ipv4Net::Parse("192.168.0.0/16")});
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
}

TEST(DefaultNetworkPlan, OnPickedSubnet) {
  NetworkPlan p = DefaultNetworkPlan(*Ipv4Net::Parse("192.168.123.0/24"));
  EXPECT_EQ(p.ipv4->ToString(), "192.168.123.1/24");
  ASSERT_EQ(p.dhcp_ranges.size(), 1u);
  EXPECT_EQ(p.dhcp_ranges[0].start.ToString(), "192.168.123.2");
  EXPECT_EQ(p.dhcp_ranges[0].end.ToString(), "192.168.123.254");
  EXPECT_EQ(p.bridge, "virbr0");
  EXPECT_EQ(p.mode, Mode::kNat);
}

}  // namespace
}  // namespace skiff::net
