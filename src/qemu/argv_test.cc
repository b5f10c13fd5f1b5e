// DomainDef -> QEMU argv: the rules the daemon relies on (accelerator, QMP, console, taps).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "skiff/qemu/argv.h"

namespace skiff::qemu {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

conf::DomainDef Parse(std::string_view type, std::string_view extra_devices = "") {
  std::string xml = std::string("<domain type='") + std::string(type) + R"('>
  <name>t</name><uuid>00000000-0000-0000-0000-000000000001</uuid>
  <memory unit='MiB'>64</memory><vcpu>2</vcpu>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>)" + std::string(extra_devices) +
                    "</devices></domain>";
  auto r = conf::ParseDomainXml(xml, "t.xml");
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : conf::DomainDef();
}

// The value following `opt`, or "" when absent.
std::string ValueOf(const std::vector<std::string>& argv, std::string_view opt) {
  auto it = std::find(argv.begin(), argv.end(), opt);
  if (it == argv.end() || it + 1 == argv.end()) return "";
  return *(it + 1);
}

TEST(Argv, KvmUnusableIsFailedPreconditionWithReason) {
  ArgvContext ctx;
  ctx.kvm_usable = false;
  ctx.kvm_reason = "kvm_pvm is a paravirtual nested kvm";
  auto r = BuildQemuArgv(Parse("kvm"), ctx);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("kvm_pvm is a paravirtual nested kvm"));
}

TEST(Argv, KvmUsable) {
  ArgvContext ctx;
  ctx.kvm_usable = true;
  auto r = BuildQemuArgv(Parse("kvm"), ctx);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(ValueOf(*r, "-accel"), "kvm");
}

TEST(Argv, TcgBasics) {
  ArgvContext ctx;
  ctx.qmp_socket = "/run/t.qmp";
  auto r = BuildQemuArgv(Parse("qemu"), ctx);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& a = *r;
  EXPECT_EQ(a[0], kDefaultEmulator);
  EXPECT_EQ(ValueOf(a, "-accel"), "tcg");
  EXPECT_THAT(a, Contains("-no-user-config"));
  EXPECT_THAT(a, Contains("-nodefaults"));
  EXPECT_EQ(ValueOf(a, "-display"), "none");
  EXPECT_EQ(ValueOf(a, "-m"), "size=65536k");
  EXPECT_EQ(ValueOf(a, "-smp"), "2,sockets=2,cores=1,threads=1");
  EXPECT_THAT(a, Contains("socket,id=charmonitor,path=/run/t.qmp,server=on,wait=off"));
  EXPECT_THAT(a, Contains("chardev=charmonitor,id=monitor,mode=control"));
  EXPECT_THAT(ValueOf(a, "-machine"), HasSubstr("q35"));
}

TEST(Argv, ConsoleSocketWithLogfile) {
  ArgvContext ctx;
  ctx.console_socket = "/run/t.console";
  ctx.log_file = "/var/log/t.log";
  auto r = BuildQemuArgv(Parse("qemu", "<serial type='pty'/>"), ctx);
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(*r, Contains("socket,id=charserial0,path=/run/t.console,server=on,wait=off,"
                           "logfile=/var/log/t.log,logappend=on"));
  EXPECT_THAT(*r, Contains("isa-serial,chardev=charserial0,id=serial0,index=0"));
  EXPECT_THAT(*r, Not(Contains("pty,id=charserial0")));
}

TEST(Argv, TapFdIsRequiredAndUsed) {
  auto def = Parse("qemu",
                   "<interface type='bridge'><source bridge='br0'/>"
                   "<mac address='52:54:00:00:00:09'/><model type='virtio'/></interface>");
  ArgvContext ctx;
  auto missing = BuildQemuArgv(def, ctx);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("no tap file descriptor"));
  ctx.tap_fds[0] = 7;
  auto r = BuildQemuArgv(def, ctx);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ValueOf(*r, "-netdev"), "tap,fd=7,id=hostnet0");
  EXPECT_THAT(*r, Contains("virtio-net-pci,netdev=hostnet0,id=net0,mac=52:54:00:00:00:09"));
}

TEST(Argv, VolumeDiskUsesResolvedPath) {
  auto def = Parse("qemu",
                   "<disk type='volume'><source pool='default' volume='a.qcow2'/>"
                   "<driver type='qcow2'/><target dev='vda' bus='virtio'/></disk>");
  ArgvContext ctx;
  EXPECT_FALSE(BuildQemuArgv(def, ctx).ok());
  ctx.volume_paths["vda"] = "/pool/a,b.qcow2";
  auto r = BuildQemuArgv(def, ctx);
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(
      *r, Contains("driver=file,filename=/pool/a,,b.qcow2,node-name=file-vda,auto-read-only=on"));
}

TEST(Argv, HostPassthroughNeedsKvm) {
  std::string xml = R"(<domain type='qemu'><name>t</name><memory>65536</memory>
    <cpu mode='host-passthrough'/><os><type>hvm</type></os></domain>)";
  auto def = conf::ParseDomainXml(xml, "t.xml");
  ASSERT_FALSE(def.ok());
  EXPECT_THAT(def.status().message(), HasSubstr("'host-passthrough' needs <domain type='kvm'>"));
  std::string kvm = xml;
  kvm.replace(kvm.find("'qemu'"), 6, "'kvm'");
  auto def2 = conf::ParseDomainXml(kvm, "t.xml");
  ASSERT_TRUE(def2.ok()) << def2.status().ToString();
  ArgvContext ctx;
  ctx.kvm_usable = true;
  auto r = BuildQemuArgv(*def2, ctx);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(ValueOf(*r, "-cpu"), "host");
}

TEST(Argv, PausedIncomingAndEmulator) {
  ArgvContext ctx;
  ctx.start_paused = true;
  ctx.incoming = "defer";
  ctx.emulator = "/opt/qemu/bin/qemu-system-x86_64";
  auto r = BuildQemuArgv(Parse("qemu"), ctx);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0], "/opt/qemu/bin/qemu-system-x86_64");
  EXPECT_THAT(*r, Contains("-S"));
  EXPECT_EQ(ValueOf(*r, "-incoming"), "defer");
}

TEST(Argv, RejectsUnvalidatedDefinitions) {
  auto def = Parse("qemu");
  conf::DiskDef d;
  d.target_dev = "x";  // not vdX/sdX/hdX
  d.source_path = "/a.raw";
  def.devices.disks.push_back(d);
  auto r = BuildQemuArgv(def, ArgvContext{});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("invalid disk target 'x'"));
}

// A hot-plugged disk gets the names a boot-time disk gets, so detach finds either.
TEST(Argv, DiskHotplugUsesBootTimeNames) {
  auto def = Parse("qemu",
                   "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                   "<source file='/i/b.qcow2'/><target dev='vdb' bus='virtio'/></disk>");
  ASSERT_EQ(def.devices.disks.size(), 1u);
  const conf::DiskDef& d = def.devices.disks[0];
  auto argv = BuildQemuArgv(def, ArgvContext{});
  ASSERT_TRUE(argv.ok());
  auto h = BuildDiskHotplug(d, "/i/b.qcow2");
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->device_id, "virtio-disk1");
  EXPECT_EQ(h->node_name, "fmt-vdb");
  EXPECT_EQ(h->blockdev["driver"], "qcow2");
  EXPECT_EQ(h->blockdev["file"]["filename"], "/i/b.qcow2");
  EXPECT_EQ(h->blockdev["file"]["node-name"], "file-vdb");
  EXPECT_EQ(h->device["driver"], "virtio-blk-pci");
  EXPECT_EQ(h->device["drive"], "fmt-vdb");
  EXPECT_THAT(*argv, Contains(HasSubstr("virtio-blk-pci,id=virtio-disk1,drive=fmt-vdb")));
  EXPECT_THAT(*argv, Contains(HasSubstr("node-name=file-vdb")));
  EXPECT_EQ(DiskDeviceId(d), "virtio-disk1");
  EXPECT_EQ(DiskNodeNames(d), (std::vector<std::string>{"fmt-vdb", "file-vdb"}));
}

// A hot-plugged overlay brings its chain nested under the top node, every layer
// by the fd set QEMU was handed for it; the boot-time node names, so detach finds them.
TEST(Argv, DiskHotplugNestsTheBackingChainByFdSet) {
  auto def = Parse("qemu",
                   "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                   "<source file='/i/top.qcow2'/>"
                   "<backingStore type='file'><format type='qcow2'/><source file='/i/mid.qcow2'/>"
                   "<backingStore type='file'><format type='raw'/><source file='/i/base.raw'/>"
                   "</backingStore></backingStore>"
                   "<target dev='vdb' bus='virtio'/></disk>");
  const conf::DiskDef& d = def.devices.disks.at(0);
  std::map<std::string, std::string> aliases = {{"/i/top.qcow2", "/dev/fdset/3"},
                                                {"/i/mid.qcow2", "/dev/fdset/2"},
                                                {"/i/base.raw", "/dev/fdset/1"}};
  auto h = BuildDiskHotplug(d, "/i/top.qcow2", "", aliases);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->blockdev["file"]["filename"], "/dev/fdset/3");
  const auto& mid = h->blockdev["backing"];
  EXPECT_EQ(mid["driver"], "qcow2");
  EXPECT_EQ(mid["node-name"], "fmt-vdb-1");
  EXPECT_EQ(mid["read-only"], true);
  EXPECT_EQ(mid["file"]["filename"], "/dev/fdset/2");
  EXPECT_EQ(mid["file"]["node-name"], "file-vdb-1");
  const auto& base = mid["backing"];
  EXPECT_EQ(base["driver"], "raw");
  EXPECT_EQ(base["node-name"], "fmt-vdb-2");
  EXPECT_EQ(base["file"]["filename"], "/dev/fdset/1");
  EXPECT_FALSE(base.contains("backing"));
  std::vector<std::string> nodes = DiskNodeNames(d);
  for (const char* n : {"fmt-vdb-1", "file-vdb-1", "fmt-vdb-2", "file-vdb-2"}) {
    EXPECT_THAT(nodes, Contains(std::string(n)));
  }
}

// At boot QEMU opens no path: each layer is an fd set passed with -add-fd, the
// sockets are fds it inherits.
TEST(Argv, BootHandsOverFilesAsFds) {
  auto def = Parse("qemu",
                   "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                   "<source file='/i/top.qcow2'/>"
                   "<backingStore type='file'><format type='raw'/><source file='/i/base.raw'/>"
                   "</backingStore><target dev='vda' bus='virtio'/></disk>");
  ArgvContext ctx;
  ctx.file_aliases = {{"/i/top.qcow2", "/dev/fdset/2"}, {"/i/base.raw", "/dev/fdset/1"}};
  ctx.add_fds = {"fd=200,set=1,opaque=disk 'vda' ro /i/base.raw",
                 "fd=201,set=2,opaque=disk 'vda' rw /i/top.qcow2"};
  ctx.qmp_socket = "/run/skiff/x.qmp";
  ctx.qmp_fd = 205;
  auto argv = BuildQemuArgv(def, ctx);
  ASSERT_TRUE(argv.ok()) << argv.status().ToString();
  EXPECT_THAT(*argv, Contains(HasSubstr("fd=200,set=1,opaque=disk 'vda' ro /i/base.raw")));
  EXPECT_THAT(*argv, Contains(HasSubstr("filename=/dev/fdset/1,node-name=file-vda-1")));
  EXPECT_THAT(*argv, Contains(HasSubstr("filename=/dev/fdset/2,node-name=file-vda")));
  EXPECT_THAT(*argv, Contains(HasSubstr("fd=205")));
  for (const auto& a : *argv) {
    EXPECT_EQ(a.find("/i/top.qcow2,"), std::string::npos) << a;
    EXPECT_EQ(a.find("x.qmp"), std::string::npos) << a;
  }
}

TEST(Argv, DiskHotplugRefusesSataAndIde) {
  conf::DiskDef d;
  d.target_dev = "sdb";
  d.bus = conf::DiskBus::kSata;
  d.source_path = "/i/b.raw";
  auto h = BuildDiskHotplug(d, d.source_path);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), Code::kUnsupported);
  EXPECT_EQ(h.status().message(), "disk bus 'sata' cannot be hotplugged");
  d.bus = conf::DiskBus::kIde;
  EXPECT_EQ(CheckDiskHotplug(d, true).message(), "disk bus 'ide' cannot be hotunplugged");
  d.target_dev = "vd";
  d.bus = conf::DiskBus::kVirtio;
  EXPECT_EQ(BuildDiskHotplug(d, d.source_path).status().code(), Code::kInvalidArgument);
}

// SCSI disks and cdroms get the LUN and id a boot-time one gets; block devices
// open as host_device / host_cdrom.
TEST(Argv, DiskHotplugScsiAndBlock) {
  auto def = Parse("qemu",
                   "<disk type='block' device='disk'><source dev='/dev/loop7'/>"
                   "<target dev='sdc' bus='scsi'/></disk>");
  const conf::DiskDef& d = def.devices.disks[0];
  auto argv = BuildQemuArgv(def, ArgvContext{});
  ASSERT_TRUE(argv.ok());
  auto h = BuildDiskHotplug(d, d.source_path);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->device_id, "scsi0-0-0-2");
  EXPECT_EQ(h->device["driver"], "scsi-hd");
  EXPECT_EQ(h->device["bus"], "scsi0.0");
  EXPECT_EQ(h->device["lun"], 2);
  EXPECT_EQ(h->blockdev["file"]["driver"], "host_device");
  EXPECT_EQ(h->blockdev["read-only"], false);
  EXPECT_THAT(*argv, Contains(HasSubstr("scsi-hd,bus=scsi0.0,channel=0,scsi-id=0,lun=2,"
                                        "id=scsi0-0-0-2,drive=fmt-sdc")));
  conf::DiskDef cd = d;
  cd.device = conf::DiskDevice::kCdrom;
  h = BuildDiskHotplug(cd, cd.source_path);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->device["driver"], "scsi-cd");
  EXPECT_EQ(h->blockdev["file"]["driver"], "host_cdrom");
  EXPECT_EQ(h->blockdev["read-only"], true);
}

// USB disks: usb-storage on the first USB controller, at boot and hot-plugged.
TEST(Argv, UsbDisk) {
  auto def = Parse("qemu",
                   "<disk type='file' device='disk'><source file='/i/u.raw'/>"
                   "<target dev='sdb' bus='usb'/></disk>");
  auto argv = BuildQemuArgv(def, ArgvContext{});
  ASSERT_TRUE(argv.ok()) << argv.status().ToString();
  EXPECT_THAT(*argv, Contains("usb-storage,bus=usb.0,id=usb-disk1,drive=fmt-sdb"));
  auto h = BuildDiskHotplug(def.devices.disks[0], "/i/u.raw");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->device["driver"], "usb-storage");
  EXPECT_EQ(h->device["bus"], "usb.0");
  EXPECT_EQ(h->device_id, "usb-disk1");
}

// On q35 the caller names the pcie-root-port that takes a virtio disk.
TEST(Argv, DiskHotplugOnPciBus) {
  conf::DiskDef d;
  d.target_dev = "vdc";
  d.source_path = "/i/c.raw";
  auto h = BuildDiskHotplug(d, d.source_path, "pci.3");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->device["bus"], "pci.3");
  h = BuildDiskHotplug(d, d.source_path);
  ASSERT_TRUE(h.ok());
  EXPECT_FALSE(h->device.contains("bus"));
}

// A restore pins the slots the saved QEMU used; other devices are left to QEMU.
TEST(Argv, PciAddrsPinDevicesById) {
  auto def = Parse("qemu",
                   "<disk type='file' device='disk'><source file='/i/a.raw'/>"
                   "<target dev='vda' bus='virtio'/></disk>"
                   "<memballoon model='virtio'/>");
  ArgvContext ctx;
  ctx.pci_addrs = {{"virtio-disk0", "0x5"}, {"balloon0", "0x3.0x1"}};
  auto r = BuildQemuArgv(def, ctx);
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(*r, Contains("virtio-blk-pci,id=virtio-disk0,drive=fmt-vda,addr=0x5"));
  EXPECT_THAT(*r, Contains("virtio-balloon-pci,id=balloon0,addr=0x3.0x1"));
  // Behind a bridge (a root port a hot-plugged device took on q35).
  ctx.pci_addrs = {{"virtio-disk0", "pci.2:0x0"}};
  r = BuildQemuArgv(def, ctx);
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(*r, Contains("virtio-blk-pci,id=virtio-disk0,drive=fmt-vda,bus=pci.2,addr=0x0"));
}

TEST(Argv, PanicDevicesStopTheGuestForTheDaemon) {
  auto def = Parse("qemu",
                   "<panic model='isa'><address type='isa' iobase='0x506'/></panic>"
                   "<panic model='pvpanic'/>");
  auto r = BuildQemuArgv(def, ArgvContext{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_THAT(*r, Contains("pvpanic,id=panic0,ioport=1286"));
  EXPECT_THAT(*r, Contains("pvpanic-pci,id=panic1"));
  // Whatever <on_crash> says, QEMU only stops: the daemon dumps, destroys or restarts.
  EXPECT_EQ(ValueOf(*r, "-action"), "panic=pause");

  auto none = BuildQemuArgv(Parse("qemu"), ArgvContext{});
  ASSERT_TRUE(none.ok());
  EXPECT_THAT(*none, Not(Contains("panic=pause")));
}

TEST(Argv, BalloonByDefault) {
  auto r = BuildQemuArgv(Parse("qemu"), ArgvContext{});
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(*r, Contains("virtio-balloon-pci,id=balloon0"));
  auto off = BuildQemuArgv(Parse("qemu", "<memballoon model='none'/>"), ArgvContext{});
  ASSERT_TRUE(off.ok());
  EXPECT_THAT(*off, Not(Contains("virtio-balloon-pci,id=balloon0")));
}

}  // namespace
}  // namespace skiff::qemu
