// DomainDevices: attach and detach of disks and interfaces (and attach-device XML)
// on the running guest and/or the definition, against FakeHypervisor.
#include <algorithm>

#include "daemon/service_test_fixture.h"
#include "skiff/image/image.h"

namespace skiff::daemon {
namespace {

using DevicesTest = ServiceTest;

std::vector<std::string> Targets(const Result<std::vector<conf::DiskDef>>& disks) {
  std::vector<std::string> out;
  if (disks.ok()) {
    for (const auto& d : *disks) out.push_back(d.target_dev);
  }
  return out;
}

TEST_F(DevicesTest, DiskIntoTheDefinitionOfAStoppedDomain) {
  Define("a");
  DiskRequest req;
  req.source = "/var/lib/x/data.img";
  req.target = "vdb";
  ASSERT_TRUE(service_->devices().AttachDisk("a", req, kCurrent).ok());
  EXPECT_EQ(Targets(service_->devices().Disks("a", true)),
            (std::vector<std::string>{"vda", "vdb"}));
  auto dup = service_->devices().AttachDisk("a", req, kConfig);
  EXPECT_EQ(dup.code(), Code::kAlreadyExists) << dup.ToString();
  EXPECT_EQ(service_->devices().AttachDisk("a", req, kLive).code(), Code::kFailedPrecondition);
  ASSERT_TRUE(service_->devices().DetachDisk("a", "vdb", kConfig).ok());
  EXPECT_EQ(Targets(service_->devices().Disks("a", true)), (std::vector<std::string>{"vda"}));
  EXPECT_EQ(service_->devices().DetachDisk("a", "vdz", kConfig).code(), Code::kNotFound);
  auto file = ReadFile(dir_.path() / "etc/skiff/domains/a.xml");
  ASSERT_TRUE(file.ok());
  EXPECT_FALSE(Has(*file, "data.img"));
}

TEST_F(DevicesTest, DiskRequestsAreChecked) {
  Define("a");
  DiskRequest req;
  req.source = "/var/lib/x/d.img";
  EXPECT_EQ(service_->devices().AttachDisk("a", req, kConfig).code(),
            Code::kInvalidArgument);  // no target
  req.target = "sdb";
  req.bus = "floppy";
  EXPECT_EQ(service_->devices().AttachDisk("a", req, kConfig).code(), Code::kInvalidArgument);
  req.bus.clear();
  req.mode = "sometimes";
  EXPECT_EQ(service_->devices().AttachDisk("a", req, kConfig).code(), Code::kInvalidArgument);
  req.mode = "readonly";
  req.type = "cdrom";
  ASSERT_TRUE(service_->devices().AttachDisk("a", req, kConfig).ok());
  auto disks = service_->devices().Disks("a", true).value();
  ASSERT_EQ(disks.size(), 2u);
  EXPECT_EQ(disks[1].bus, conf::DiskBus::kScsi);  // from the sd prefix
  EXPECT_TRUE(disks[1].readonly);
}

TEST_F(DevicesTest, LiveDiskOnTheRunningGuestOnly) {
  DefineAndStart("a");
  DiskRequest req;
  req.source = "/var/lib/x/hot.img";
  req.target = "vdc";
  ASSERT_TRUE(service_->devices().AttachDisk("a", req, kCurrent).ok());
  EXPECT_EQ(Targets(service_->devices().Disks("a", false)),
            (std::vector<std::string>{"vda", "vdc"}));
  EXPECT_EQ(Targets(service_->devices().Disks("a", true)), (std::vector<std::string>{"vda"}));
  ASSERT_TRUE(
      service_->devices().DetachDisk("a", "/var/lib/x/hot.img", kLive).ok());  // by source too
  EXPECT_EQ(Targets(service_->devices().Disks("a", false)), (std::vector<std::string>{"vda"}));
  auto seen = Seen();
  EXPECT_NE(std::find(seen.begin(), seen.end(), "device-added/vdc"), seen.end());
  EXPECT_NE(std::find(seen.begin(), seen.end(), "device-removed/vdc"), seen.end());
}

TEST_F(DevicesTest, InterfacesLiveAndConfig) {
  DefineAndStart("a");
  InterfaceRequest req;
  req.type = "network";
  req.source = "default";
  req.mac = "52:54:00:AA:BB:CC";
  ASSERT_TRUE(service_->devices().AttachInterface("a", req, kBoth).ok());
  EXPECT_EQ(service_->devices().Interfaces("a", false)->size(), 2u);
  EXPECT_EQ(service_->devices().Interfaces("a", true)->size(), 2u);
  // Two of type network now: detach needs the MAC.
  auto several = service_->devices().DetachInterface("a", "network", "", kLive);
  EXPECT_EQ(several.code(), Code::kInvalidArgument) << several.ToString();
  ASSERT_TRUE(service_->devices().DetachInterface("a", "network", "52:54:00:aa:bb:cc", kBoth).ok());
  EXPECT_EQ(service_->devices().Interfaces("a", false)->size(), 1u);
  EXPECT_EQ(service_->devices().Interfaces("a", true)->size(), 1u);
  EXPECT_EQ(service_->devices().DetachInterface("a", "bridge", "", kLive).code(), Code::kNotFound);
  req.type = "vhostuser";
  EXPECT_EQ(service_->devices().AttachInterface("a", req, kLive).code(), Code::kInvalidArgument);
  req.type = "bridge";
  req.source.clear();
  EXPECT_EQ(service_->devices().AttachInterface("a", req, kLive).code(), Code::kInvalidArgument);
  req.type = "user";
  req.model = "ne2000";
  EXPECT_EQ(service_->devices().AttachInterface("a", req, kLive).code(), Code::kInvalidArgument);
}

TEST_F(DevicesTest, DeviceXmlForDisksAndInterfaces) {
  Define("a");
  ASSERT_TRUE(service_->devices()
                  .AttachDevice("a",
                                "<disk type='file' device='disk'><source file='/var/lib/x/e.img'/>"
                                "<target dev='vde' bus='virtio'/></disk>",
                                "disk.xml", kConfig)
                  .ok());
  EXPECT_EQ(Targets(service_->devices().Disks("a", true)),
            (std::vector<std::string>{"vda", "vde"}));
  ASSERT_TRUE(service_->devices()
                  .AttachDevice("a",
                                "<interface type='user'><mac address='52:54:00:00:00:09'/>"
                                "</interface>",
                                "", kConfig)
                  .ok());
  EXPECT_EQ(service_->devices().Interfaces("a", true)->size(), 2u);
  ASSERT_TRUE(service_->devices()
                  .DetachDevice("a", "<disk type='file'><target dev='vde'/></disk>", "", kConfig)
                  .ok());
  ASSERT_TRUE(service_->devices().DetachDevice("a", "<interface type='user'/>", "", kConfig).ok());
  EXPECT_EQ(Targets(service_->devices().Disks("a", true)), (std::vector<std::string>{"vda"}));
  EXPECT_EQ(service_->devices().Interfaces("a", true)->size(), 1u);
  auto bad = service_->devices().AttachDevice("a", "<disk", "bad.xml", kConfig);
  EXPECT_FALSE(bad.ok());
  EXPECT_TRUE(Has(bad.ToString(), "bad.xml")) << bad.ToString();
}

}  // namespace
}  // namespace skiff::daemon

namespace skiff::daemon {
namespace {

// A file whose first bytes are the magic of a VMware VMDK (QEMU's probe: "KDMV").
std::string WriteVmdk(const std::filesystem::path& p) {
  std::string head("KDMV\x01\x00\x00\x00", 8);
  head.resize(4096, '\0');
  EXPECT_TRUE(WriteFileAtomic(p, head, 0600).ok());
  return p.string();
}

TEST_F(DevicesTest, AForeignImageWithoutANamedFormatIsRefusedNotTakenForRaw) {
  Define("a");
  DiskRequest req;
  req.source = WriteVmdk(dir_.path() / "disk.vmdk");
  req.target = "vdb";
  Status st = service_->devices().AttachDisk("a", req, kConfig);
  EXPECT_EQ(st.code(), Code::kFailedPrecondition) << st.ToString();
  EXPECT_NE(st.message().find("is a vmdk image"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("--subdriver vmdk"), std::string::npos) << st.message();
  EXPECT_EQ(Targets(service_->devices().Disks("a", true)), (std::vector<std::string>{"vda"}));
  // Named, it is the caller's choice.
  req.subdriver = "vmdk";
  EXPECT_TRUE(service_->devices().AttachDisk("a", req, kConfig).ok());
  // A raw image (no known magic) needs no name.
  std::string raw(4096, 'r');
  ASSERT_TRUE(WriteFileAtomic(dir_.path() / "plain.img", raw, 0600).ok());
  DiskRequest plain;
  plain.source = (dir_.path() / "plain.img").string();
  plain.target = "vdc";
  EXPECT_TRUE(service_->devices().AttachDisk("a", plain, kConfig).ok());
}

TEST_F(DevicesTest, ADomainDiskWithoutAFormatIsProbedAtStart) {
  const std::string path = WriteVmdk(dir_.path() / "boot.vmdk");
  auto xml = Xml("v");
  const std::string from = "/var/lib/x/v.img";
  xml.replace(xml.find(from), from.size(), path);
  ASSERT_TRUE(service_->DefineDomain(xml, "v.xml").ok());
  auto r = service_->StartDomain("v", false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("<driver name='qemu' type='vmdk'/>"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(StatusOf("v").state(), DomainState::kShutoff);
}

}  // namespace
}  // namespace skiff::daemon

namespace skiff::daemon {
namespace {

// domblkinfo, blockresize and domblkerror on a domain whose vda is a real qcow2
// image and sdb an empty cdrom.
class BlockTest : public ServiceTest {
 protected:
  void DefineWithImage(const std::string& name) {
    path_ = (dir_.path() / (name + ".qcow2")).string();
    image::CreateOptions o;
    o.format = "qcow2";
    o.size = 64 << 20;
    o.size_given = true;
    ASSERT_TRUE(image::CreateImage(path_, o).ok());
    std::string xml = "<domain type='qemu'><name>" + name +
                      "</name><memory unit='MiB'>128</memory>"
                      "<os><type arch='x86_64' machine='q35'>hvm</type></os><devices>"
                      "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                      "<source file='" +
                      path_ +
                      "'/><target dev='vda' bus='virtio'/></disk>"
                      "<disk type='file' device='cdrom'><target dev='sdb' bus='sata'/>"
                      "<readonly/></disk></devices></domain>";
    auto r = service_->DefineDomain(xml, name + ".xml");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  std::string path_;
};

TEST_F(BlockTest, InfoComesFromTheImage) {
  DefineWithImage("a");
  auto info = service_->devices().DiskInfo("a", "vda");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->target, "vda");
  EXPECT_EQ(info->capacity, 64u << 20);
  EXPECT_GT(info->physical, 0u);
  EXPECT_LT(info->physical, 1u << 20);  // a fresh qcow2: metadata only
  // The same disk named by its file.
  auto by_path = service_->devices().DiskInfo("a", path_);
  ASSERT_TRUE(by_path.ok()) << by_path.status().ToString();
  EXPECT_EQ(by_path->target, "vda");
  EXPECT_EQ(service_->devices().DiskInfo("a", "vdz").status().code(), Code::kNotFound);
  EXPECT_EQ(service_->devices().DiskInfo("a", "sdb").status().code(), Code::kFailedPrecondition);
  auto all = service_->devices().DiskInfos("a");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 1u);  // the empty cdrom has no sizes
}

TEST_F(BlockTest, ResizeOfAShutOffDomainGrowsTheImage) {
  DefineWithImage("a");
  ASSERT_TRUE(service_->devices().ResizeDisk("a", "vda", 128 << 20).ok());
  auto img = image::OpenImage(path_, {.format = "qcow2"});
  ASSERT_TRUE(img.ok());
  EXPECT_EQ((*img)->size(), 128u << 20);
  // Shrinking would cut the guest's data off: refused, nothing changes.
  auto shrink = service_->devices().ResizeDisk("a", "vda", 64 << 20);
  EXPECT_EQ(shrink.code(), Code::kFailedPrecondition) << shrink.ToString();
  EXPECT_NE(shrink.message().find("shrinking"), std::string::npos) << shrink.ToString();
  EXPECT_EQ(service_->devices().ResizeDisk("a", "vda", (128 << 20) + 100).code(),
            Code::kInvalidArgument);
  EXPECT_EQ(service_->devices().ResizeDisk("a", "sdb", 1 << 20).code(), Code::kFailedPrecondition);
  EXPECT_EQ(service_->devices().DiskInfo("a", "vda")->capacity, 128u << 20);
}

TEST_F(BlockTest, ResizeOfARunningDomainGoesThroughTheHypervisor) {
  DefineWithImage("a");
  ASSERT_TRUE(service_->StartDomain("a", false).ok());
  ASSERT_TRUE(service_->devices().ResizeDisk("a", "vda", 96 << 20).ok());
  EXPECT_EQ(hv_.DiskSizeForTest("a", "vda"), 96u << 20);
  // QEMU resizes the image while it runs; the daemon does not touch it itself.
  EXPECT_EQ(service_->devices().DiskInfo("a", "vda")->capacity, 64u << 20);
}

TEST_F(BlockTest, ErrorsOfARunningDomain) {
  DefineWithImage("a");
  EXPECT_EQ(service_->devices().DiskErrors("a").status().code(), Code::kFailedPrecondition);
  ASSERT_TRUE(service_->StartDomain("a", false).ok());
  EXPECT_TRUE(service_->devices().DiskErrors("a")->empty());
  hv_.DiskErrorForTest("a", "vda", "no space");
  auto errs = service_->devices().DiskErrors("a");
  ASSERT_TRUE(errs.ok());
  EXPECT_EQ(*errs, (std::vector<std::pair<std::string, std::string>>{{"vda", "no space"}}));
}

}  // namespace
}  // namespace skiff::daemon
