// Domain XML: parsing, errors with positions, refusal of unknown elements, round trip.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "skiff/conf/domain.h"
#include "skiff/conf/mac.h"

namespace skiff::conf {
namespace {

using ::testing::HasSubstr;

constexpr const char* kMinimal = R"(<domain type='qemu'>
  <name>vm1</name>
  <memory unit='MiB'>128</memory>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/images/vm1.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='network'>
      <source network='default'/>
      <mac address='52:54:00:AA:bb:01'/>
      <model type='virtio'/>
    </interface>
  </devices>
</domain>
)";

std::string Replace(std::string s, std::string_view from, std::string_view to) {
  size_t p = s.find(from);
  EXPECT_NE(p, std::string::npos) << from;
  if (p != std::string::npos) s.replace(p, from.size(), to);
  return s;
}

TEST(DomainParse, EmptyAddressAttributesAreDropped) {
  // domain_xml_fuzz: an empty attribute of <address> was kept but not written,
  // so the definition read back from the stored file differed from the one defined.
  auto d = ParseDomainXml(
      "<domain type='qemu'><name>d</name><memory>1024</memory><vcpu>1</vcpu>"
      "<os><type machine='q35'>hvm</type></os><devices>"
      "<controller type='pci' index='0' model='pcie-root'/>"
      "<controller type='pci' index='1' model='pcie-root-port'>"
      "<address type='pci' bus='0x00' slot='0x02' function00x=''/></controller>"
      "</devices></domain>",
      "a.xml");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  auto again = ParseDomainXml(FormatDomainXml(*d), "again.xml");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, *d);
  EXPECT_EQ(d->devices.controllers[1].address.size(), 3u);
}

TEST(DomainParse, NamesThatCannotNameFilesAreRefused) {
  auto parse = [](const std::string& name) {
    return ParseDomainXml("<domain type='qemu'>\n  <name>" + name +
                              "</name><memory>1024</memory><vcpu>1</vcpu>"
                              "<os><type>hvm</type></os></domain>",
                          "n.xml");
  };
  struct Case {
    std::string name, error;
  } cases[] = {
      {std::string(81, 'a'), "/domain/name: <name> is 81 bytes long; names are at most 80 bytes"},
      {"..", "/domain/name: <name> must not be '..'"},
      {".", "/domain/name: <name> must not be '.'"},
      {"a/b", "/domain/name: <name> 'a/b' must not contain '/'"},
      {"a\tb", "/domain/name: <name> must not contain control characters (found 0x09)"},
      {"a&#127;b", "/domain/name: <name> must not contain control characters (found 0x7f)"},
  };
  for (const auto& c : cases) {
    auto r = parse(c.name);
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr(c.error));
  }
  EXPECT_TRUE(parse(std::string(80, 'a')).ok());
  EXPECT_TRUE(parse("web-01.example_x y").ok());  // libvirt allows spaces and dots
}

// A domain whose <metadata> nests `depth` elements, from `source`.
Result<DomainDef> ParseWithMetadataDepth(int depth, const std::string& source) {
  std::string nested;
  for (int i = 0; i < depth; ++i) nested += "<a>";
  for (int i = 0; i < depth; ++i) nested += "</a>";
  return ParseDomainXml(
      "<domain type='qemu'>\n<name>d</name><memory>1024</memory>"
      "<vcpu>1</vcpu><os><type>hvm</type></os>\n<metadata>" +
          nested + "</metadata></domain>",
      source);
}

TEST(DomainParse, DeepNestingIsRefusedNotFollowed) {
  // 30,000 levels of <metadata> once overflowed the stack (issue 23 item 8).
  auto r = ParseWithMetadataDepth(30000, "deep.xml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("deep.xml:3:"));
  EXPECT_THAT(r.status().message(), HasSubstr("xml nests elements more than 256 deep"));
  // 200 levels of the user's metadata are kept.
  auto fine = ParseWithMetadataDepth(200, "ok.xml");
  EXPECT_TRUE(fine.ok()) << fine.status().ToString();
}

TEST(DomainParse, Minimal) {
  auto r = ParseDomainXml(kMinimal, "vm1.xml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->type, DomainType::kQemu);
  EXPECT_EQ(r->name, "vm1");
  EXPECT_FALSE(r->uuid.is_nil());  // generated
  EXPECT_EQ(r->memory_kib, 131072u);
  EXPECT_EQ(r->current_memory_kib, 131072u);
  EXPECT_EQ(r->vcpus, 1u);
  ASSERT_EQ(r->devices.disks.size(), 1u);
  EXPECT_EQ(r->devices.disks[0].source_path, "/images/vm1.qcow2");
  EXPECT_EQ(r->devices.disks[0].format(), "qcow2");
  EXPECT_EQ(r->devices.disks[0].bus, DiskBus::kVirtio);
  ASSERT_EQ(r->devices.interfaces.size(), 1u);
  EXPECT_EQ(r->devices.interfaces[0].mac, "52:54:00:aa:bb:01");
  EXPECT_EQ(r->devices.interfaces[0].source, "default");
}

// Issue 25: virt-install writes controllers without index=; libvirt gives each the
// lowest free index of its type in document order, and the root bus index 0.
TEST(DomainParse, ControllersWithoutIndexGetTheLowestFreeOne) {
  const std::string xml = Replace(kMinimal, "<devices>", R"(<devices>
    <controller type='pci' model='pcie-root-port'/>
    <controller type='pci' model='pcie-root'/>
    <controller type='pci' index='2' model='pcie-root-port'/>
    <controller type='pci' model='pcie-root-port'/>
    <controller type='usb' model='qemu-xhci'/>
    <controller type='virtio-serial'/>
    <controller type='virtio-serial'/>)");
  auto r = ParseDomainXml(Replace(xml, "machine='pc'", "machine='q35'"), "vm1.xml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::vector<std::pair<std::string, unsigned>> got;
  for (const auto& c : r->devices.controllers) got.emplace_back(c.type, c.index);
  const std::vector<std::pair<std::string, unsigned>> want = {
      {"pci", 1}, {"pci", 0},           {"pci", 2},          {"pci", 3},
      {"usb", 0}, {"virtio-serial", 0}, {"virtio-serial", 1}};
  EXPECT_EQ(got, want);
  // The assigned indexes are written out, so the canonical XML parses to the same.
  auto again = ParseDomainXml(FormatDomainXml(*r), "again.xml");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(*again == *r);
}

TEST(DomainParse, ControllerDuplicateExplicitIndexStillRefused) {
  const std::string xml = Replace(kMinimal, "<devices>", R"(<devices>
    <controller type='virtio-serial' index='0'/>
    <controller type='virtio-serial' index='0'/>)");
  auto r = ParseDomainXml(xml, "vm1.xml");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("duplicate controller type 'virtio-serial' index 0"));
}

TEST(DomainParse, RoundTripIsStable) {
  auto r = ParseDomainXml(kMinimal, "vm1.xml");
  ASSERT_TRUE(r.ok());
  std::string x1 = FormatDomainXml(*r);
  auto r2 = ParseDomainXml(x1, "formatted");
  ASSERT_TRUE(r2.ok()) << r2.status().ToString() << "\n" << x1;
  EXPECT_EQ(*r, *r2);
  EXPECT_EQ(FormatDomainXml(*r2), x1);
  EXPECT_THAT(x1, HasSubstr("<memory unit='KiB'>131072</memory>"));
}

TEST(DomainParse, SyntaxErrorHasLineAndColumn) {
  auto r = ParseDomainXml("<domain type='qemu'>\n  <name>x</name\n</domain>", "bad.xml");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("bad.xml:3:1: "));
  EXPECT_THAT(r.status().message(), HasSubstr("xml syntax error"));
}

TEST(DomainParse, UnknownElementIsRefusedByNameAndLine) {
  std::string xml =
      Replace(kMinimal, "  </devices>", "    <hostdev mode='subsystem'/>\n  </devices>");
  auto r = ParseDomainXml(xml, "d.xml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnsupported);
  EXPECT_THAT(r.status().message(), HasSubstr("d.xml:16:5: unsupported element <hostdev>"));
}

TEST(DomainParse, UnknownAttributeIsRefused) {
  std::string xml = Replace(kMinimal, "<driver name='qemu' type='qcow2'/>",
                            "<driver name='qemu' type='qcow2' iothread='1'/>");
  auto r = ParseDomainXml(xml, "d.xml");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("unsupported attribute 'iothread' of <driver>"));
}

TEST(DomainParse, BadMacNamesPathAndValue) {
  std::string xml = Replace(kMinimal, "52:54:00:AA:bb:01", "52:54:zz:00:00:01");
  auto r = ParseDomainXml(xml, "d.xml");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("d.xml:13:7: /domain/devices/interface[1]/mac"));
  EXPECT_THAT(r.status().message(), HasSubstr("'52:54:zz:00:00:01'"));
}

TEST(DomainParse, DuplicateDiskTarget) {
  std::string disk = "<disk type='file'><source file='/b.raw'/><target dev='vda'/></disk>\n";
  std::string xml = Replace(kMinimal, "    <interface", "    " + disk + "    <interface");
  auto r = ParseDomainXml(xml, "d.xml");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(),
              HasSubstr("/domain/devices/disk[2]/target: duplicate disk target 'vda'"));
}

TEST(DomainParse, BadSizeUnit) {
  std::string xml = Replace(kMinimal, "unit='MiB'", "unit='parsecs'");
  auto r = ParseDomainXml(xml, "d.xml");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(),
              HasSubstr("/domain/memory: invalid size '128' with unit 'parsecs'"));
}

TEST(DomainParse, UnsupportedArch) {
  std::string xml =
      Replace(kMinimal, "arch='x86_64' machine='pc'", "arch='aarch64' machine='virt'");
  auto r = ParseDomainXml(xml, "d.xml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnsupported);
  EXPECT_THAT(r.status().message(), HasSubstr("unsupported arch 'aarch64'"));
}

TEST(DomainParse, DuplicateSingletonElement) {
  std::string xml = Replace(kMinimal, "<name>vm1</name>", "<name>vm1</name><name>vm2</name>");
  auto r = ParseDomainXml(xml, "d.xml");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("duplicate element <name>"));
}

TEST(DomainParse, MissingMacIsGenerated) {
  std::string xml = Replace(kMinimal, "<mac address='52:54:00:AA:bb:01'/>", "");
  auto r = ParseDomainXml(xml, "d.xml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->devices.interfaces[0].mac.substr(0, 9), "52:54:00:");
}

TEST(DomainParse, TopologyMustMatchVcpus) {
  std::string xml =
      Replace(kMinimal, "<os>",
              "<vcpu>4</vcpu><cpu><topology sockets='1' cores='2' threads='1'/></cpu><os>");
  auto r = ParseDomainXml(xml, "d.xml");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("does not match vcpu count 4"));
}

TEST(DomainParse, NeverCrashesOnTruncatedInput) {
  std::string x = kMinimal;
  for (size_t n = 0; n < x.size(); n += 7) {
    auto r = ParseDomainXml(std::string_view(x).substr(0, n), "t.xml");
    EXPECT_FALSE(r.ok());
  }
}

// Found by domain_xml_fuzz: text with newlines inside <metadata> grew by one
// indentation level per parse/format cycle.
TEST(DomainParse, MetadataWithTextRoundTripsStably) {
  std::string xml =
      Replace(kMinimal, "<memory",
              "<metadata><a:x xmlns:a='urn:a'>\n   \xb3\xb3 text\n  <a:y>1</a:y></a:x>"
              "<a:z/></metadata><memory");
  auto r = ParseDomainXml(xml, "m.xml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  std::string x1 = FormatDomainXml(*r);
  auto r2 = ParseDomainXml(x1, "m2.xml");
  ASSERT_TRUE(r2.ok()) << r2.status().ToString();
  EXPECT_EQ(r2->metadata, r->metadata);
  EXPECT_EQ(FormatDomainXml(*r2), x1);
}

TEST(DomainParse, MemballoonIsAddedUnlessNone) {
  // As libvirt: a qemu/kvm guest without <memballoon> gets a virtio one.
  auto r = ParseDomainXml(kMinimal, "vm1.xml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(r->devices.memballoon.has_value());
  EXPECT_EQ(r->devices.memballoon->model, "virtio");
  EXPECT_THAT(FormatDomainXml(*r), HasSubstr("<memballoon model='virtio'/>"));
  auto none = ParseDomainXml(
      Replace(kMinimal, "  </devices>", "    <memballoon model='none'/>\n  </devices>"), "d.xml");
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_EQ(none->devices.memballoon->model, "none");
  EXPECT_THAT(FormatDomainXml(*none), HasSubstr("<memballoon model='none'/>"));
}

TEST(DomainParse, PanicDevices) {
  std::string xml = Replace(kMinimal, "  </devices>",
                            "    <panic model='isa'><address type='isa' iobase='0x505'/></panic>\n"
                            "    <panic model='pvpanic'/>\n  </devices>");
  xml = Replace(xml, "  <devices>", "  <on_crash>coredump-restart</on_crash>\n  <devices>");
  auto r = ParseDomainXml(xml, "d.xml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->devices.panics.size(), 2u);
  EXPECT_EQ(r->devices.panics[0].model, "isa");
  EXPECT_EQ(r->devices.panics[1].model, "pvpanic");
  EXPECT_EQ(r->on_crash, LifecycleAction::kCoredumpRestart);
  std::string out = FormatDomainXml(*r);
  EXPECT_THAT(out, HasSubstr("<panic model='isa'>\n      <address type='isa' iobase='0x505'/>\n"
                             "    </panic>"));
  EXPECT_THAT(out, HasSubstr("<panic model='pvpanic'/>"));
  auto again = ParseDomainXml(out, "formatted");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*r, *again);

  // No model: x86's default, isa.
  auto dflt = ParseDomainXml(Replace(kMinimal, "  </devices>", "    <panic/>\n  </devices>"), "d");
  ASSERT_TRUE(dflt.ok()) << dflt.status().ToString();
  EXPECT_EQ(dflt->devices.panics.at(0).model, "isa");
}

TEST(DomainParse, PanicModelsQemuCannotDoAreRefused) {
  for (const char* m : {"hyperv", "pseries", "s390"}) {
    auto r = ParseDomainXml(Replace(kMinimal, "  </devices>",
                                    std::string("    <panic model='") + m + "'/>\n  </devices>"),
                            "d.xml");
    ASSERT_FALSE(r.ok()) << m;
    EXPECT_EQ(r.status().code(), Code::kUnsupported);
    EXPECT_THAT(r.status().message(),
                HasSubstr(std::string("/domain/devices/panic[1]: panic model '") + m +
                          "' is not supported"));
  }
  auto bad = ParseDomainXml(
      Replace(kMinimal, "  </devices>", "    <panic model='kaboom'/>\n  </devices>"), "d.xml");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("kaboom"));
  auto twice = ParseDomainXml(Replace(kMinimal, "  </devices>",
                                      "    <panic model='isa'/><panic model='isa'/>\n  </devices>"),
                              "d.xml");
  ASSERT_FALSE(twice.ok());
  EXPECT_THAT(twice.status().message(), HasSubstr("more than one panic device of model 'isa'"));
  auto pci_isa = ParseDomainXml(
      Replace(kMinimal, "  </devices>",
              "    <panic model='isa'><address type='pci' slot='0x09'/></panic>\n  </devices>"),
      "d.xml");
  ASSERT_FALSE(pci_isa.ok());
  EXPECT_THAT(pci_isa.status().message(), HasSubstr("needs an address of type 'isa'"));
}

TEST(DomainParse, RenameRestartIsRefusedAsByLibvirtsQemuDriver) {
  for (const char* e : {"on_poweroff", "on_reboot", "on_crash"}) {
    std::string xml = Replace(kMinimal, "  <devices>",
                              std::string("  <") + e + ">rename-restart</" + e + ">\n  <devices>");
    auto r = ParseDomainXml(xml, "d.xml");
    ASSERT_FALSE(r.ok()) << e;
    EXPECT_EQ(r.status().code(), Code::kUnsupported);
    EXPECT_THAT(r.status().message(), HasSubstr(std::string("/domain/") + e +
                                                ": action 'rename-restart' is not supported"));
  }
}

// attach-device / detach-device take one <disk> or <interface>.
TEST(DeviceXml, DiskInterfaceAndOthers) {
  auto d = ParseDeviceXml(
      "<disk type='volume' device='disk'><driver name='qemu' type='qcow2'/>"
      "<source pool='default' volume='a.qcow2'/>"
      "<target dev='sdb' bus='usb'/></disk>",
      "d.xml");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  ASSERT_TRUE(d->disk);
  EXPECT_FALSE(d->interface);
  EXPECT_EQ(d->disk->type, DiskType::kVolume);
  EXPECT_EQ(d->disk->source_volume, "a.qcow2");
  EXPECT_EQ(d->disk->bus, DiskBus::kUsb);
  auto n = ParseDeviceXml("<interface type='user'><model type='e1000'/></interface>", "n.xml");
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  ASSERT_TRUE(n->interface);
  EXPECT_FALSE(n->mac_given);
  EXPECT_EQ(n->interface->model, NicModel::kE1000);
  auto m = ParseDeviceXml("<interface type='user'><mac address='52:54:00:00:00:09'/></interface>",
                          "n.xml");
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->mac_given);
  auto bad = ParseDeviceXml("<hostdev mode='subsystem'/>", "h.xml");
  EXPECT_EQ(bad.status().code(), Code::kUnsupported);
  EXPECT_THAT(bad.status().message(), HasSubstr("only <disk> and <interface>"));
  auto extra = ParseDeviceXml(
      "<disk type='file'><source file='/a'/><target dev='vdb'/>"
      "<bogus/></disk>",
      "x.xml");
  EXPECT_THAT(extra.status().message(), HasSubstr("unsupported element <bogus>"));
}

// A usb disk needs the usb controller and cannot be a cdrom.
TEST(DomainParse, UsbDisk) {
  std::string xml =
      Replace(kMinimal, "<target dev='vda' bus='virtio'/>", "<target dev='sda' bus='usb'/>");
  auto r = ParseDomainXml(xml, "u.xml");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->devices.disks[0].bus, DiskBus::kUsb);
  EXPECT_THAT(FormatDomainXml(*r), HasSubstr("<target dev='sda' bus='usb'/>"));
  auto none = ParseDomainXml(
      Replace(xml, "<devices>", "<devices><controller type='usb' model='none'/>"), "u.xml");
  EXPECT_THAT(none.status().message(), HasSubstr("usb disk 'sda' needs a usb controller"));
  auto cd = ParseDomainXml(Replace(xml, "device='disk'", "device='cdrom'"), "u.xml");
  EXPECT_THAT(cd.status().message(), HasSubstr("cannot use bus 'usb'"));
}

// Issue 25: what virt-install writes for Windows, SPICE, UEFI, TPM, shared folders
// and SMBIOS reads, round-trips, and each element's bad values are refused by name.
TEST(DomainParse, VirtInstallDevicesAndTheirErrors) {
  const std::string spice =
      "<graphics type='spice' port='-1' tlsPort='-1' autoport='yes'>"
      "<image compression='off'/></graphics>";
  std::string xml = Replace(kMinimal, "<os>", "<os firmware='efi'>");
  xml = Replace(xml, "</os>",
                "<smbios mode='sysinfo'/></os><sysinfo type='smbios'><system>"
                "<entry name='serial'>ds=nocloud</entry></system></sysinfo>"
                "<memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>"
                "<features><hyperv><relaxed state='on'/><spinlocks state='on' retries='8191'/>"
                "</hyperv></features>");
  xml = Replace(xml, "</devices>",
                "<channel type='spicevmc'><target type='virtio'/></channel>" + spice +
                    "<sound model='ich9'/><redirdev bus='usb' type='spicevmc'/>"
                    "<controller type='usb' model='ich9-ehci1'/>"
                    "<controller type='usb' model='ich9-uhci1'><master startport='0'/></controller>"
                    "<filesystem type='mount'><driver type='virtiofs'/><source dir='/srv'/>"
                    "<target dir='t'/></filesystem>"
                    "<tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm>"
                    "</devices>");
  auto d = ParseDomainXml(xml, "v.xml");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->os.firmware, "efi");
  EXPECT_EQ(d->os.smbios_mode, "sysinfo");
  ASSERT_TRUE(d->sysinfo);
  EXPECT_EQ(d->sysinfo->system.at(0).second, "ds=nocloud");
  ASSERT_TRUE(d->features.hyperv);
  EXPECT_EQ(d->features.hyperv->flags.at(1).retries, 8191u);
  EXPECT_EQ(d->devices.channels.at(0).target_name, "com.redhat.spice.0");
  EXPECT_EQ(d->devices.controllers.at(1).index, 0u);  // the companion joins its EHCI
  EXPECT_EQ(d->devices.tpms.at(0).model, "tpm-crb");
  auto again = ParseDomainXml(FormatDomainXml(*d), "again.xml");
  ASSERT_TRUE(again.ok()) << again.status().ToString() << FormatDomainXml(*d);
  EXPECT_TRUE(*again == *d) << FormatDomainXml(*d);

  const std::pair<std::string, std::string> bad[] = {
      {Replace(xml, "retries='8191'", "retries='12'"), "retries='N' of at least 4095"},
      {Replace(xml, "<relaxed state='on'/>", "<evil state='on'/>"),
       "unsupported hyperv feature <evil>"},
      {Replace(xml, "<relaxed state='on'/>", "<relaxed/>"), "needs state='on|off'"},
      {Replace(xml, "<sound model='ich9'/>", "<sound model='sb16'/>"), "sb16"},
      {Replace(xml, "<master startport='0'/>", "<master/>"), "master needs startport"},
      {Replace(xml, "version='2.0'", "version='1.2'"), "tpm-crb TPM needs version 2.0"},
      {Replace(xml, "<source dir='/srv'/>", "<source dir='srv'/>"), "must be an absolute path"},
      {Replace(xml, "<access mode='shared'/>", ""), "virtiofs needs shared guest memory"},
      {Replace(xml, spice, "<graphics type='vnc'/>"), "spicevmc channel needs spice graphics"},
      {Replace(xml, "<system>", "<system><entry name='colour'>x</entry>"), "colour"},
      {Replace(xml, "firmware='efi'", "firmware='coreboot'"), "coreboot"},
  };
  for (const auto& [text, want] : bad) {
    auto r = ParseDomainXml(text, "v.xml");
    ASSERT_FALSE(r.ok()) << want;
    EXPECT_THAT(r.status().message(), HasSubstr(want));
  }
}

TEST(Mac, ParseAndGenerate) {
  EXPECT_EQ(*ParseMac("52:54:0:a:B:c"), "52:54:00:0a:0b:0c");
  EXPECT_FALSE(ParseMac("01:00:5e:00:00:01").ok());  // multicast
  EXPECT_FALSE(ParseMac("52:54:00:00:00").ok());
  EXPECT_FALSE(ParseMac("52:54:00:00:00:001").ok());
  std::string m = GenerateMac();
  EXPECT_TRUE(ParseMac(m).ok());
  EXPECT_EQ(m.substr(0, 9), "52:54:00:");
}

}  // namespace
}  // namespace skiff::conf
