// Tests for the nftables rendering (the full texts are in tests/golden/net2nft).
#include "skiff/net/nft.h"

#include <gtest/gtest.h>

namespace skiff::net {
namespace {

NetworkPlan Plan(Mode m) {
  NetworkPlan p;
  p.name = "n1";
  p.mode = m;
  p.bridge = "br-n1";
  if (m != Mode::kBridge) p.ipv4 = *Ipv4Net::Parse("10.20.30.1/24");
  return p;
}

TEST(Nft, TableNamePerNetwork) { EXPECT_EQ(NftTableName(Plan(Mode::kNat)), "skiff_n1"); }

TEST(Nft, NatMasqueradesSubnetExceptToItself) {
  auto r = RenderNftRuleset(Plan(Mode::kNat));
  ASSERT_TRUE(r.ok());
  EXPECT_NE(r->find("ip saddr 10.20.30.0/24 ip daddr != 10.20.30.0/24 masquerade\n"),
            std::string::npos);
  EXPECT_NE(r->find("oifname \"br-n1\" ip daddr 10.20.30.0/24 ct state established,related accept"),
            std::string::npos);
}

TEST(Nft, RouteHasNoNat) {
  auto r = RenderNftRuleset(Plan(Mode::kRoute));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->find("masquerade"), std::string::npos);
  EXPECT_EQ(r->find("hook postrouting"), std::string::npos);
  EXPECT_NE(r->find("oifname \"br-n1\" ip daddr 10.20.30.0/24 accept"), std::string::npos);
}

TEST(Nft, IsolatedOnlyWithin) {
  auto r = RenderNftRuleset(Plan(Mode::kIsolated));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->find("ip saddr"), std::string::npos);
  EXPECT_NE(r->find("iifname \"br-n1\" oifname \"br-n1\" accept\n\t\toifname \"br-n1\" reject\n"
                    "\t\tiifname \"br-n1\" reject\n"),
            std::string::npos);
}

TEST(Nft, NothingForOpenAndBridge) {
  EXPECT_EQ(*RenderNftRuleset(Plan(Mode::kOpen)), "");
  EXPECT_EQ(*RenderNftRuleset(Plan(Mode::kBridge)), "");
}

TEST(Nft, InvalidPlanIsRefused) {
  NetworkPlan p = Plan(Mode::kNat);
  p.name = "bad name";
  EXPECT_EQ(RenderNftRuleset(p).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace skiff::net
