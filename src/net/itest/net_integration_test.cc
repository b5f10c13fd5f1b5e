// Integration tests of the net library against the kernel, run as root in a
// private network namespace that the binary enters first (unshare), so the
// host's interfaces, rules and sysctls are never touched.
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <cstdlib>

#include "skiff/base/fs.h"
#include "skiff/base/process.h"
#include "skiff/net/netlink.h"
#include "skiff/net/network.h"
#include "skiff/net/nft.h"
#include "skiff/net/subnet.h"
#include "testutil/temp_dir.h"

namespace skiff::net {
namespace {

bool g_in_netns = false;

class NetIntegration : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!g_in_netns) {
      if (std::getenv("CI") != nullptr && std::string(std::getenv("CI")) == "true") {
        FAIL() << "needs root to enter a private network namespace";
      }
      GTEST_SKIP() << "needs root to enter a private network namespace";
    }
  }
  std::string Ip(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"ip"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = RunCommand(argv);
    EXPECT_TRUE(r.ok() && r->ok()) << args[0] << (r.ok() ? r->err : r.status().ToString());
    return r.ok() ? r->out : "";
  }
};

NetworkPlan Plan(const std::string& text) {
  auto p = ParsePlanText(text);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return p.ok() ? *p : NetworkPlan{};
}

TEST_F(NetIntegration, BridgeWithStpDelayMacAndAddress) {
  ASSERT_TRUE(CreateBridge({"skbr1", true, 2, "52:54:00:12:34:56", 1400}).ok());
  Status again = CreateBridge({"skbr1", true, 0, ""});
  EXPECT_EQ(again.code(), Code::kAlreadyExists);
  EXPECT_EQ(again.message(), "link 'skbr1' already exists");
  auto l = GetLink("skbr1");
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_EQ(l->kind, "bridge");
  EXPECT_EQ(l->mac, "52:54:00:12:34:56");
  EXPECT_FALSE(l->up);
  EXPECT_EQ(l->mtu, 1400u);
  std::string details = Ip({"-d", "link", "show", "skbr1"});
  EXPECT_NE(details.find("forward_delay 200 "), std::string::npos) << details;
  EXPECT_NE(details.find("stp_state 1 "), std::string::npos) << details;

  Ipv4Net a = *Ipv4Net::Parse("10.40.0.1/24");
  ASSERT_TRUE(AddIpv4Address("skbr1", a).ok());
  EXPECT_EQ(AddIpv4Address("skbr1", a).code(), Code::kAlreadyExists);
  ASSERT_TRUE(SetLinkUp("skbr1").ok());
  EXPECT_TRUE(GetLink("skbr1")->up);
  auto addrs = ListIpv4Addresses("skbr1");
  ASSERT_TRUE(addrs.ok());
  ASSERT_EQ(addrs->size(), 1u);
  EXPECT_EQ((*addrs)[0].addr, a);
  EXPECT_EQ((*addrs)[0].dev, "skbr1");
  EXPECT_NE(Ip({"-4", "addr", "show", "skbr1"}).find("brd 10.40.0.255"), std::string::npos);
  ASSERT_TRUE(DeleteIpv4Address("skbr1", a).ok());
  EXPECT_EQ(DeleteIpv4Address("skbr1", a).code(), Code::kNotFound);
  ASSERT_TRUE(DeleteLink("skbr1").ok());
  EXPECT_FALSE(*LinkExists("skbr1"));
  Status gone = DeleteLink("skbr1");
  EXPECT_EQ(gone.code(), Code::kNotFound);
  EXPECT_EQ(gone.message(), "link 'skbr1' does not exist");
  EXPECT_EQ(SetLinkUp("nosuch0").code(), Code::kNotFound);
}

TEST_F(NetIntegration, TapsOnABridge) {
  ASSERT_TRUE(CreateBridge({"skbr2", false, 0, ""}).ok());
  ASSERT_TRUE(SetLinkUp("skbr2").ok());
  TapOptions o;
  o.name = "sktap%d";
  o.bridge = "skbr2";
  o.mac = "fe:54:00:00:00:01";
  auto t = CreateTap(o);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->name.rfind("sktap", 0), 0u);
  EXPECT_TRUE(t->fd.valid());
  auto info = GetLink(t->name);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->kind, "tun");
  EXPECT_EQ(info->master, "skbr2");
  EXPECT_EQ(info->mac, "fe:54:00:00:00:01");
  EXPECT_TRUE(info->up);
  EXPECT_EQ(*ListBridgePorts("skbr2"), std::vector<std::string>{t->name});
  EXPECT_NE(Ip({"-d", "link", "show", t->name}).find("vnet_hdr"), std::string::npos);

  // Closing the only fd of a non-persistent tap removes it (QEMU exiting does the same).
  std::string name = t->name;
  t->fd.reset();
  EXPECT_FALSE(*LinkExists(name));

  o.name = "skptap0";
  o.persistent = true;
  o.mac.clear();
  auto p = CreateTap(o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  p->fd.reset();
  EXPECT_TRUE(*LinkExists("skptap0"));
  ASSERT_TRUE(ReleaseMaster("skptap0").ok());
  EXPECT_TRUE(ListBridgePorts("skbr2")->empty());
  ASSERT_TRUE(SetMaster("skptap0", "skbr2").ok());
  EXPECT_EQ(SetMaster("skptap0", "nobridge").code(), Code::kNotFound);
  ASSERT_TRUE(DeleteLink("skptap0").ok());

  o.name = "sktap9";
  o.persistent = false;
  o.bridge = "nobridge";
  auto bad = CreateTap(o);
  EXPECT_EQ(bad.status().code(), Code::kNotFound);
  EXPECT_FALSE(*LinkExists("sktap9"));  // undone
  ASSERT_TRUE(DeleteLink("skbr2").ok());
}

TEST_F(NetIntegration, NftTableAppliedReplacedAndRemoved) {
  NetworkPlan p = Plan("name = nfttest\nmode = nat\nbridge = sknft0\nipv4 = 10.41.0.1/24\n");
  ASSERT_TRUE(ApplyNftRuleset(p).ok());
  ASSERT_TRUE(ApplyNftRuleset(p).ok());  // replaces, no duplicate rules
  EXPECT_TRUE(*NftTableExists("skiff_nfttest"));
  auto listed = RunNft("list table ip skiff_nfttest");
  ASSERT_TRUE(listed.ok());
  size_t n = 0;
  for (size_t i = listed->find("masquerade"); i != std::string::npos;
       i = listed->find("masquerade", i + 1)) {
    ++n;
  }
  EXPECT_EQ(n, 2u) << *listed;
  // Someone else's table is left alone.
  ASSERT_TRUE(RunNft("add table ip other").ok());
  ASSERT_TRUE(RemoveNftRuleset(p).ok());
  ASSERT_TRUE(RemoveNftRuleset(p).ok());
  EXPECT_FALSE(*NftTableExists("skiff_nfttest"));
  EXPECT_TRUE(*NftTableExists("other"));
  ASSERT_TRUE(RunNft("delete table ip other").ok());
  auto bad = RunNft("list table ip nosuchtable");
  EXPECT_EQ(bad.status().code(), Code::kUnavailable);
}

TEST_F(NetIntegration, StartStopWithoutDnsmasq) {
  testing::TempDir d;
  ASSERT_TRUE(WriteFileAtomic(d / "ip_forward", "0\n").ok());
  IpForwarding fwd(d / "ip_forward", d / "fwd.state");
  NetworkEnv env{d / "dnsmasq", &fwd, ""};
  // An isolated network without an address needs no dnsmasq and no forwarding.
  NetworkPlan iso = Plan("name = wire\nmode = isolated\nbridge = skwire0\n");
  auto s = StartNetwork(iso, env);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_FALSE(s->dnsmasq.has_value());
  auto probe = ProbeNetwork(iso, env);
  ASSERT_TRUE(probe.ok());
  EXPECT_TRUE(probe->complete);
  EXPECT_TRUE(probe->nft_table_exists);
  EXPECT_EQ(*ReadFile(d / "ip_forward"), "0\n");
  // A second start finds the bridge and leaves it alone.
  auto again = StartNetwork(iso, env);
  EXPECT_EQ(again.status().code(), Code::kAlreadyExists);
  EXPECT_EQ(again.status().message(),
            "start network 'wire': bridge 'skwire0' already exists (used by another network or "
            "the host)");
  EXPECT_TRUE(*LinkExists("skwire0"));
  EXPECT_TRUE(*NftTableExists("skiff_wire"));
  ASSERT_TRUE(StopNetwork(iso, env).ok());
  EXPECT_FALSE(*LinkExists("skwire0"));
  EXPECT_FALSE(*NftTableExists("skiff_wire"));
  EXPECT_TRUE(StopNetwork(iso, env).ok());
}

TEST_F(NetIntegration, FailedStartIsUndone) {
  testing::TempDir d;
  ASSERT_TRUE(WriteFileAtomic(d / "ip_forward", "0\n").ok());
  IpForwarding fwd(d / "ip_forward", d / "fwd.state");
  // dnsmasq that cannot start: everything done before it must be undone.
  NetworkEnv env{d / "dnsmasq", &fwd, "/bin/false"};
  NetworkPlan p = Plan(
      "name = failing\nmode = nat\nbridge = skfail0\nipv4 = 10.43.0.1/24\n"
      "dhcp_range = 10.43.0.10 10.43.0.20\n");
  auto s = StartNetwork(p, env);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kUnavailable);
  EXPECT_NE(s.status().message().find("start network 'failing': dnsmasq for"), std::string::npos)
      << s.status().message();
  EXPECT_FALSE(*LinkExists("skfail0"));
  EXPECT_FALSE(*NftTableExists("skiff_failing"));
  EXPECT_EQ(*ReadFile(d / "ip_forward"), "0\n");
  EXPECT_TRUE(fwd.Holders()->empty());
  EXPECT_FALSE(std::filesystem::exists(env.files(p).conf));
}

TEST_F(NetIntegration, SubnetPickingSeesHostAddressesAndRoutes) {
  auto before = HostIpv4Prefixes();
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  EXPECT_EQ(PickFreeSubnet(*before)->NetworkString(), "192.168.122.0/24");
  ASSERT_TRUE(CreateBridge({"skpick0", false, 0, ""}).ok());
  ASSERT_TRUE(AddIpv4Address("skpick0", *Ipv4Net::Parse("192.168.122.7/24")).ok());
  ASSERT_TRUE(SetLinkUp("skpick0").ok());
  Ip({"route", "add", "192.168.123.0/24", "via", "192.168.122.254"});
  Ip({"route", "add", "default", "via", "192.168.122.254"});
  auto now = HostIpv4Prefixes();
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(PickFreeSubnet(*now)->NetworkString(), "192.168.124.0/24");
  EXPECT_EQ(*DefaultRouteDevice(), "skpick0");
  ASSERT_TRUE(DeleteLink("skpick0").ok());
  EXPECT_EQ(*DefaultRouteDevice(), "");
}

}  // namespace
}  // namespace skiff::net

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (::geteuid() == 0 && ::unshare(CLONE_NEWNET) == 0) {
    skiff::net::g_in_netns = true;
    (void)skiff::net::SetLinkUp("lo");
  }
  return RUN_ALL_TESTS();
}
