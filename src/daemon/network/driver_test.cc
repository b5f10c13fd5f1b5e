// NetworkDriver against the fake backend: XML -> plan, life cycle, re-adoption
// after a restart, the default network, guests' taps and addresses.
#include "daemon/network/driver.h"

#include <gtest/gtest.h>

#include "skiff/base/fs.h"
#include "testutil/temp_dir.h"

namespace skiff::daemon {
namespace {

constexpr const char* kNat = R"(<network>
  <name>lab</name>
  <forward mode='nat'/>
  <ip address='10.213.5.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='10.213.5.100' end='10.213.5.200'/>
      <host mac='52:54:00:00:00:aa' name='fixed' ip='10.213.5.50'/>
    </dhcp>
  </ip>
</network>
)";

conf::DomainDef Guest(const std::string& type, const std::string& source) {
  conf::DomainDef d;
  d.name = "g1";
  conf::InterfaceDef nic;
  nic.type = type == "network"  ? conf::InterfaceType::kNetwork
             : type == "bridge" ? conf::InterfaceType::kBridge
                                : conf::InterfaceType::kUser;
  nic.source = source;
  nic.mac = "52:54:00:12:34:56";
  d.devices.interfaces.push_back(nic);
  return d;
}

class NetworkDriverTest : public ::testing::Test {
 protected:
  NetworkDriverTest() : paths_(dir_.path()), backend_(MakeFakeNetworkBackend()) {
    EXPECT_TRUE(paths_.Create().ok());
  }
  std::unique_ptr<NetworkDriver> MakeDriver(DefaultNetwork dn = DefaultNetwork::kNo) {
    return std::make_unique<NetworkDriver>(paths_, *backend_, events_, NetworkOptions{dn});
  }

  testing::TempDir dir_;
  Paths paths_;
  std::unique_ptr<NetworkBackend> backend_;
  EventBus events_;
};

TEST(PlanFromDefTest, MapsTheNetworkXml) {
  auto def = conf::ParseNetworkXml(kNat, "lab.xml");
  ASSERT_TRUE(def.ok()) << def.status().ToString();
  def->bridge = "skt0";
  def->bridge_delay = 2;
  def->forward_dev = "eth0";
  auto p = PlanFromDef(*def);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->name, "lab");
  EXPECT_EQ(p->mode, net::Mode::kNat);
  EXPECT_EQ(p->bridge, "skt0");
  EXPECT_EQ(p->delay_s, 2u);
  EXPECT_EQ(p->uplink, "eth0");
  ASSERT_TRUE(p->ipv4.has_value());
  EXPECT_EQ(p->ipv4->ToString(), "10.213.5.1/24");
  ASSERT_EQ(p->dhcp_ranges.size(), 1u);
  EXPECT_EQ(p->dhcp_ranges[0].start.ToString(), "10.213.5.100");
  ASSERT_EQ(p->dhcp_hosts.size(), 1u);
  EXPECT_EQ(p->dhcp_hosts[0].ip->ToString(), "10.213.5.50");
  EXPECT_TRUE(p->dns_enable);
}

TEST(PlanFromDefTest, NoForwardIsIsolatedAndIpv6IsRefused) {
  auto def = conf::ParseNetworkXml(
      "<network><name>iso</name><bridge name='skt1'/>"
      "<ip address='10.213.6.1' prefix='24'/></network>",
      "iso.xml");
  ASSERT_TRUE(def.ok()) << def.status().ToString();
  auto p = PlanFromDef(*def);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->mode, net::Mode::kIsolated);
  conf::NetworkIp v6;
  v6.family = "ipv6";
  v6.address = "fd00::1";
  def->ips.push_back(v6);
  auto bad = PlanFromDef(*def);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kUnsupported);
  EXPECT_NE(bad.status().message().find("ipv6 address 'fd00::1'"), std::string::npos);
}

TEST_F(NetworkDriverTest, DefineFillsBridgeAndMacThenStartsAndDestroys) {
  auto d = MakeDriver();
  ASSERT_TRUE(d->Load().ok());
  auto s = d->Define(kNat, "lab.xml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->bridge, "virbr0");
  EXPECT_FALSE(s->active);
  auto xml = d->Xml("lab", false);
  ASSERT_TRUE(xml.ok());
  EXPECT_NE(xml->find("<mac address='52:54:00:"), std::string::npos) << *xml;
  EXPECT_EQ(d->Leases("lab", "").status().code(), Code::kFailedPrecondition);
  ASSERT_TRUE(d->Start("lab").ok());
  EXPECT_EQ(d->Start("lab").status().code(), Code::kFailedPrecondition);
  EXPECT_TRUE(d->Get("lab")->summary.active);
  EXPECT_TRUE(std::filesystem::exists(paths_.run_dir / "networks/lab.xml"));
  auto text = d->Diagram("lab", false, {});
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find("network 'lab': nat, active"), std::string::npos) << *text;
  ASSERT_TRUE(d->Destroy("lab").ok());
  EXPECT_FALSE(d->Get("lab")->summary.active);
  EXPECT_FALSE(std::filesystem::exists(paths_.run_dir / "networks/lab.xml"));
  EXPECT_EQ(d->Destroy("lab").code(), Code::kFailedPrecondition);
  // A second network gets the next free bridge name.
  std::string other = kNat;
  other.replace(other.find("lab"), 3, "lab2");
  for (size_t at; (at = other.find("10.213.5.")) != std::string::npos;)
    other.replace(at, 9, "10.213.7.");
  auto s2 = d->Define(other, "lab2.xml");
  ASSERT_TRUE(s2.ok()) << s2.status().ToString();
  EXPECT_EQ(s2->bridge, "virbr1");
}

TEST_F(NetworkDriverTest, TransientNetworkIsForgottenWhenDestroyed) {
  auto d = MakeDriver();
  ASSERT_TRUE(d->Load().ok());
  auto s = d->Create(kNat, "lab.xml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE(s->active);
  EXPECT_FALSE(s->persistent);
  EXPECT_FALSE(std::filesystem::exists(paths_.networks_dir / "lab.xml"));
  EXPECT_EQ(d->Undefine("lab").code(), Code::kFailedPrecondition);
  ASSERT_TRUE(d->Destroy("lab").ok());
  EXPECT_EQ(d->Get("lab").status().code(), Code::kNotFound);
}

TEST_F(NetworkDriverTest, UndefineOfActiveNetworkMakesItTransient) {
  auto d = MakeDriver();
  ASSERT_TRUE(d->Load().ok());
  ASSERT_TRUE(d->Define(kNat, "lab.xml").ok());
  ASSERT_TRUE(d->Start("lab").ok());
  ASSERT_TRUE(d->Undefine("lab").ok());
  auto g = d->Get("lab");
  ASSERT_TRUE(g.ok());
  EXPECT_TRUE(g->summary.active);
  EXPECT_FALSE(g->summary.persistent);
  ASSERT_TRUE(d->Destroy("lab").ok());
  EXPECT_EQ(d->Get("lab").status().code(), Code::kNotFound);
}

TEST_F(NetworkDriverTest, RestartedDaemonAdoptsRunningNetworkWithoutStartingItAgain) {
  {
    auto d = MakeDriver();
    ASSERT_TRUE(d->Load().ok());
    ASSERT_TRUE(d->Define(kNat, "lab.xml").ok());
    ASSERT_TRUE(d->Start("lab").ok());
    ASSERT_TRUE(
        d->Create(std::string(kNat).replace(std::string(kNat).find("lab"), 3, "tmp"), "tmp.xml")
            .ok());
  }
  // The fake backend still has both up; starting them again would fail (bridge exists).
  auto d = MakeDriver();
  ASSERT_TRUE(d->Load().ok());
  auto lab = d->Get("lab");
  ASSERT_TRUE(lab.ok());
  EXPECT_TRUE(lab->summary.active);
  auto tmp = d->Get("tmp");
  ASSERT_TRUE(tmp.ok()) << tmp.status().ToString();
  EXPECT_TRUE(tmp->summary.active);
  EXPECT_FALSE(tmp->summary.persistent);
}

TEST_F(NetworkDriverTest, StatusOfNetworkGoneFromHostIsDropped) {
  {
    auto d = MakeDriver();
    ASSERT_TRUE(d->Load().ok());
    ASSERT_TRUE(d->Define(kNat, "lab.xml").ok());
    ASSERT_TRUE(d->Start("lab").ok());
  }
  backend_ = MakeFakeNetworkBackend();  // the host rebooted, say
  auto d = MakeDriver();
  ASSERT_TRUE(d->Load().ok());
  EXPECT_FALSE(d->Get("lab")->summary.active);
  EXPECT_FALSE(std::filesystem::exists(paths_.run_dir / "networks/lab.xml"));
}

TEST_F(NetworkDriverTest, AutostartNetworkStartsOnLoad) {
  {
    auto d = MakeDriver();
    ASSERT_TRUE(d->Load().ok());
    ASSERT_TRUE(d->Define(kNat, "lab.xml").ok());
    ASSERT_TRUE(d->SetAutostart("lab", true).ok());
  }
  auto d = MakeDriver();
  ASSERT_TRUE(d->Load().ok());
  EXPECT_TRUE(d->Get("lab")->summary.active);
  EXPECT_TRUE(d->Get("lab")->summary.autostart);
}

TEST_F(NetworkDriverTest, DefaultNetworkIsDefinedOnceAndAutostarted) {
  {
    auto d = MakeDriver(DefaultNetwork::kAuto);  // the fake backend counts as a host of its own
    ASSERT_TRUE(d->Load().ok());
    auto g = d->Get("default");
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    EXPECT_TRUE(g->summary.active);
    EXPECT_TRUE(g->summary.autostart);
    EXPECT_EQ(g->summary.bridge, "virbr0");
    EXPECT_EQ(g->ipv4, "192.168.122.1/24");
    ASSERT_TRUE(d->Destroy("default").ok());
    ASSERT_TRUE(d->Undefine("default").ok());
  }
  auto d = MakeDriver(DefaultNetwork::kAuto);
  ASSERT_TRUE(d->Load().ok());
  EXPECT_EQ(d->Get("default").status().code(), Code::kNotFound);  // undefined stays undefined
}

TEST_F(NetworkDriverTest, NoDefaultNetworkUnderATestRootWithTheHostBackend) {
  auto host = MakeHostNetworkBackend(paths_);
  NetworkDriver d(paths_, *host, events_, NetworkOptions{DefaultNetwork::kAuto});
  ASSERT_TRUE(d.Load().ok());  // the root is a temp dir: nothing is defined or touched
  EXPECT_TRUE(d.List().empty());
}

TEST_F(NetworkDriverTest, GuestTapsNeedAnActiveNetworkOrAnExistingBridge) {
  auto d = MakeDriver();
  ASSERT_TRUE(d->Load().ok());
  ASSERT_TRUE(d->Define(kNat, "lab.xml").ok());
  conf::DomainDef g = Guest("network", "lab");
  auto r = d->PrepareInterfaces(g);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(r.status().message(),
            "domain 'g1': interface 52:54:00:12:34:56: network 'lab' is not active");
  conf::DomainDef missing = Guest("network", "nope");
  EXPECT_EQ(d->PrepareInterfaces(missing).status().message(),
            "domain 'g1': interface 52:54:00:12:34:56: network 'nope' is not defined");
  conf::DomainDef br = Guest("bridge", "br9");
  EXPECT_EQ(d->PrepareInterfaces(br).status().message(),
            "domain 'g1': interface 52:54:00:12:34:56: bridge 'br9' does not exist");

  ASSERT_TRUE(d->Start("lab").ok());
  auto taps = d->PrepareInterfaces(g);
  ASSERT_TRUE(taps.ok()) << taps.status().ToString();
  ASSERT_EQ(taps->taps.size(), 1u);
  EXPECT_EQ(taps->taps[0].index, 0u);
  EXPECT_EQ(taps->taps[0].name, "vnet0");
  EXPECT_EQ(g.devices.interfaces[0].target_dev, "vnet0");
  auto addrs = d->Addresses(g);
  ASSERT_EQ(addrs.size(), 1u);
  EXPECT_EQ(addrs[0].name, "vnet0");
  EXPECT_EQ(addrs[0].mac, "52:54:00:12:34:56");
  EXPECT_EQ(addrs[0].address, "10.213.5.10/24");
  auto leases = d->Leases("lab", "52:54:00:12:34:56");
  ASSERT_TRUE(leases.ok());
  ASSERT_EQ(leases->size(), 1u);
  EXPECT_EQ(leases->at(0).prefix, 24);
  auto text = d->Diagram("lab", false, {{"vnet0", "g1"}});
  ASSERT_TRUE(text.ok());
  EXPECT_NE(text->find("guest g1 -- vnet0"), std::string::npos) << *text;
  d->ReleaseInterfaces(g);
  text = d->Diagram("lab", false, {});
  EXPECT_EQ(text->find("vnet0"), std::string::npos) << *text;

  conf::DomainDef user = Guest("user", "");
  auto none = d->PrepareInterfaces(user);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->taps.empty());
  conf::DomainDef br0 = Guest("bridge", "br0");
  auto t = d->PrepareInterfaces(br0);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(br0.devices.interfaces[0].target_dev, "vnet1");
}

TEST_F(NetworkDriverTest, BridgeModeNeedsABridgeName) {
  auto d = MakeDriver();
  ASSERT_TRUE(d->Load().ok());
  auto s = d->Define("<network><name>lan</name><forward mode='bridge'/></network>", "lan.xml");
  if (s.ok()) {
    FAIL() << "defined a bridge network without a bridge";
  }
  EXPECT_NE(s.status().message().find("lan"), std::string::npos) << s.status().ToString();
  ASSERT_TRUE(d->Define("<network><name>lan</name><forward mode='bridge'/>"
                        "<bridge name='br0'/></network>",
                        "lan.xml")
                  .ok());
  ASSERT_TRUE(d->Start("lan").ok());
  conf::DomainDef g = Guest("network", "lan");
  auto taps = d->PrepareInterfaces(g);
  ASSERT_TRUE(taps.ok()) << taps.status().ToString();
  EXPECT_TRUE(d->Addresses(g).empty());
}

}  // namespace
}  // namespace skiff::daemon
