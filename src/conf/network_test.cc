// Network, pool, volume and snapshot XML; kind detection.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "skiff/conf/network.h"
#include "skiff/conf/pool.h"
#include "skiff/conf/snapshot.h"
#include "skiff/conf/volume.h"
#include "skiff/conf/xml_kind.h"

namespace skiff::conf {
namespace {

using ::testing::HasSubstr;

constexpr const char* kNat = R"(<network>
  <name>default</name>
  <forward mode='nat'/>
  <bridge name='virbr0' stp='on' delay='0'/>
  <mac address='52:54:00:0A:CD:21'/>
  <domain name='example.org'/>
  <dns><host ip='192.168.122.2'><hostname>db</hostname></host></dns>
  <ip address='192.168.122.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='192.168.122.2' end='192.168.122.100'/>
      <range start='192.168.122.150' end='192.168.122.254'/>
      <host mac='52:54:00:00:00:01' name='web' ip='192.168.122.120'/>
    </dhcp>
  </ip>
</network>
)";

TEST(Network, ParseFormatRoundTrip) {
  auto n = ParseNetworkXml(kNat, "net.xml");
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(n->forward, ForwardMode::kNat);
  EXPECT_EQ(n->bridge, "virbr0");
  EXPECT_EQ(n->mac, "52:54:00:0a:cd:21");
  ASSERT_EQ(n->ips.size(), 1u);
  EXPECT_EQ(n->ips[0].PrefixLength(), 24u);
  EXPECT_EQ(n->ips[0].dhcp_ranges.size(), 2u);
  std::string x = FormatNetworkXml(*n);
  auto n2 = ParseNetworkXml(x, "fmt");
  ASSERT_TRUE(n2.ok()) << n2.status().ToString() << x;
  EXPECT_EQ(*n, *n2);
  EXPECT_EQ(FormatNetworkXml(*n2), x);
}

std::string Sub(std::string s, std::string_view a, std::string_view b) {
  size_t p = s.find(a);
  EXPECT_NE(p, std::string::npos);
  if (p != std::string::npos) s.replace(p, a.size(), b);
  return s;
}

TEST(Network, OverlappingRanges) {
  auto n = ParseNetworkXml(Sub(kNat, "192.168.122.150", "192.168.122.50"), "net.xml");
  ASSERT_FALSE(n.ok());
  EXPECT_THAT(n.status().message(), HasSubstr("/network/ip[1]/dhcp/range[2]"));
  EXPECT_THAT(n.status().message(), HasSubstr("overlaps range 1"));
}

TEST(Network, RangeOutsideSubnet) {
  auto n = ParseNetworkXml(Sub(kNat, "end='192.168.122.100'", "end='192.168.123.100'"), "net.xml");
  ASSERT_FALSE(n.ok());
  EXPECT_THAT(n.status().message(), HasSubstr("outside the network 192.168.122.1/24"));
}

TEST(Network, BadNetmaskAndMac) {
  EXPECT_THAT(ParseNetworkXml(Sub(kNat, "255.255.255.0", "255.0.255.0"), "n").status().message(),
              HasSubstr("invalid netmask '255.0.255.0'"));
  EXPECT_THAT(
      ParseNetworkXml(Sub(kNat, "52:54:00:00:00:01", "52:54:00:00:00"), "n").status().message(),
      HasSubstr("invalid mac address '52:54:00:00:00'"));
}

TEST(Network, IsolatedAndUnsupportedMode) {
  auto iso = ParseNetworkXml(Sub(kNat, "<forward mode='nat'/>", ""), "n");
  ASSERT_TRUE(iso.ok());
  EXPECT_EQ(iso->forward, ForwardMode::kNone);
  auto pt = ParseNetworkXml(Sub(kNat, "mode='nat'", "mode='passthrough'"), "n.xml");
  ASSERT_FALSE(pt.ok());
  EXPECT_EQ(pt.status().code(), Code::kUnsupported);
  EXPECT_THAT(pt.status().message(),
              HasSubstr("n.xml:3:3: /network/forward: unsupported forward mode 'passthrough'"));
}

TEST(Pool, DirRoundTripAndPathNormalised) {
  auto p = ParsePoolXml(R"(<pool type='dir'><name>images</name>
    <target><path>///var//lib/skiff/images/</path>
    <permissions><mode>0711</mode><owner>0</owner><group>-1</group></permissions></target></pool>)",
                        "pool.xml");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->target_path, "/var/lib/skiff/images");
  EXPECT_EQ(p->permissions.mode, "0711");
  EXPECT_EQ(*p->permissions.group, -1);
  auto p2 = ParsePoolXml(FormatPoolXml(*p), "fmt");
  ASSERT_TRUE(p2.ok());
  EXPECT_EQ(*p, *p2);
  auto lv = ParsePoolXml("<pool type='logical'><name>x</name></pool>", "p.xml");
  EXPECT_EQ(lv.status().code(), Code::kUnsupported);
  EXPECT_THAT(lv.status().message(), HasSubstr("unsupported pool type 'logical'"));
}

TEST(Volume, UnitsFormatAndBacking) {
  auto v = ParseVolumeXml(R"(<volume><name>a.qcow2</name><capacity unit='G'>5</capacity>
    <allocation>294912</allocation><target><format type='qcow2'/><compat>1.1</compat></target>
    <backingStore><path>/base.raw</path><format type='raw'/></backingStore></volume>)",
                          "v.xml");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->capacity, 5ull << 30);
  EXPECT_EQ(*v->allocation, 294912u);
  EXPECT_EQ(v->backing->path, "/base.raw");
  auto v2 = ParseVolumeXml(FormatVolumeXml(*v), "fmt");
  ASSERT_TRUE(v2.ok()) << v2.status().ToString();
  EXPECT_EQ(*v, *v2);
  auto bad =
      ParseVolumeXml("<volume><name>a</name><capacity unit='Q'>5</capacity></volume>", "v.xml");
  EXPECT_THAT(bad.status().message(),
              HasSubstr("/volume/capacity: invalid size '5' with unit 'Q'"));
  auto zero = ParseVolumeXml("<volume><name>a</name><capacity>0</capacity></volume>", "v.xml");
  EXPECT_THAT(zero.status().message(), HasSubstr("capacity must be positive"));
}

TEST(Snapshot, TheDomainInsideRoundTripsUnchanged) {
  const std::string xml =
      "<domainsnapshot><name>s</name><domain type='qemu'><name>g</name>"
      "<description>line one\n  line two\n</description><memory>1</memory></domain>"
      "</domainsnapshot>";
  auto s = ParseSnapshotXml(xml, "s.xml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_NE(s->domain_xml.find("<name>g</name>"), std::string::npos) << s->domain_xml;
  std::string text = FormatSnapshotXml(*s);
  EXPECT_NE(text.find("\n  <domain type='qemu'>\n    <name>g</name>"), std::string::npos) << text;
  // Formatted and parsed again and again, the multi-line text stays as it was.
  for (int i = 0; i < 3; ++i) {
    auto again = ParseSnapshotXml(text, "again.xml");
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_EQ(*again, *s);
    EXPECT_EQ(FormatSnapshotXml(*again), text);
    text = FormatSnapshotXml(*again);
  }
  EXPECT_NE(text.find("line one\n  line two\n</description>"), std::string::npos) << text;
}

TEST(Snapshot, ParseAndValidate) {
  auto s =
      ParseSnapshotXml(R"(<domainsnapshot><name>s1</name><description>before upgrade</description>
    <memory snapshot='external' file='/snap/s1.mem'/>
    <disks><disk name='vda' snapshot='external'><driver type='qcow2'/><source file='/snap/vda.s1'/></disk>
    <disk name='vdb' snapshot='no'/></disks></domainsnapshot>)",
                       "s.xml");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->disks.size(), 2u);
  EXPECT_EQ(s->disks[0].source, "/snap/vda.s1");
  auto s2 = ParseSnapshotXml(FormatSnapshotXml(*s), "fmt");
  ASSERT_TRUE(s2.ok());
  EXPECT_EQ(*s, *s2);
  auto dup = ParseSnapshotXml(
      "<domainsnapshot><disks><disk name='vda'/><disk name='vda'/></disks></domainsnapshot>",
      "s.xml");
  EXPECT_THAT(dup.status().message(), HasSubstr("disk 'vda' is listed twice"));
}

TEST(XmlKind, DetectsRoot) {
  EXPECT_EQ(*DetectXmlKind("<domain type='kvm'/>", "x"), XmlKind::kDomain);
  EXPECT_EQ(*DetectXmlKind("<?xml version='1.0'?>\n<network/>", "x"), XmlKind::kNetwork);
  EXPECT_EQ(*DetectXmlKind("<pool type='dir'/>", "x"), XmlKind::kPool);
  EXPECT_EQ(*DetectXmlKind("<volume/>", "x"), XmlKind::kVolume);
  EXPECT_EQ(*DetectXmlKind("<domainsnapshot/>", "x"), XmlKind::kSnapshot);
  auto bad = DetectXmlKind("<interface/>", "x.xml");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("root element is <interface>"));
  EXPECT_THAT(DetectXmlKind("<network>", "x.xml").status().message(), HasSubstr("x.xml:1:"));
}

}  // namespace
}  // namespace skiff::conf
