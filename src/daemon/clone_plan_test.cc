// Tests for ClonePlan: virt-clone's names and paths (its own test suite's
// expectations in cloner.py's rules), shared and copied disks, MACs, NVRAM, and
// the refusals, each before anything is written.
#include "daemon/clone_plan.h"

#include <map>
#include <set>

#include <gtest/gtest.h>

#include "skiff/conf/domain.h"

namespace skiff::daemon {
namespace {

const char* kXml = R"(<domain type='qemu'>
  <name>web</name>
  <uuid>8f0c5b6e-4a40-4c3e-9d53-2f3a1e6f7d10</uuid>
  <title>the web server</title>
  <memory unit='MiB'>256</memory>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/pool/web.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='/pool/data.img'/>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source file='/iso/debian.iso'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
    <disk type='volume' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source pool='default' volume='logs.qcow2'/>
      <target dev='vdc' bus='virtio'/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:11:22:33'/>
      <source network='default'/>
      <target dev='vnet7'/>
    </interface>
    <graphics type='vnc' port='5907' autoport='no'/>
  </devices>
</domain>
)";

class ClonePlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = conf::ParseDomainXml(kXml, "web.xml");
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    orig_ = *d;
    files_ = {"/pool/web.qcow2", "/pool/data.img", "/iso/debian.iso", "/images/default/logs.qcow2"};
    host_.name_taken = [this](const std::string& n) { return names_.count(n) > 0; };
    host_.uuid_taken = [this](const Uuid& u) { return u == orig_.uuid; };
    host_.path_exists = [this](const std::string& p) { return files_.count(p) > 0; };
    host_.volume_path = [](const std::string& pool, const std::string& vol) -> Result<std::string> {
      if (pool != "default") return NotFoundError("storage pool '{}' not found", pool);
      return "/images/default/" + vol;
    };
    host_.probe_format = [](const std::string&) -> Result<std::string> { return "raw"; };
    host_.implicit_nvram = [](const std::string& d) { return "/state/nvram/" + d + "_VARS.fd"; };
  }
  Result<ClonePlan> Plan(const CloneOptions& o) { return PlanClone(orig_, o, host_); }

  conf::DomainDef orig_;
  std::set<std::string> names_{"web"};
  std::set<std::string> files_;
  CloneHost host_;
};

TEST(CloneNames, AsVirtClone) {
  std::set<std::string> taken;
  auto is_taken = [&](const std::string& n) { return taken.count(n) > 0; };
  EXPECT_EQ(GenerateCloneName("foo", is_taken), "foo-clone");
  taken = {"foo-clone"};
  EXPECT_EQ(GenerateCloneName("foo", is_taken), "foo-clone1");
  // A clone of a clone counts on instead of stacking "-clone".
  EXPECT_EQ(GenerateCloneName("foo-clone", is_taken), "foo-clone1");
  taken = {"foo-clone4"};
  EXPECT_EQ(GenerateCloneName("foo-clone3", is_taken), "foo-clone5");
  EXPECT_EQ(GenerateCloneName("foo-clone9", is_taken), "foo-clone10");
}

TEST(ClonePaths, AsVirtClone) {
  std::set<std::string> taken;
  auto exists = [&](const std::string& p) { return taken.count(p) > 0; };
  EXPECT_EQ(GenerateClonePath("/d/disk.img", "vm", "vm-clone", exists), "/d/disk-clone.img");
  // Named after the domain: named after the clone.
  EXPECT_EQ(GenerateClonePath("/d/vm.qcow2", "vm", "web2", exists), "/d/web2.qcow2");
  // An "extension" longer than seven characters is part of the name.
  EXPECT_EQ(GenerateClonePath("/d/disk.longextension", "vm", "c", exists),
            "/d/disk.longextension-clone");
  EXPECT_EQ(GenerateClonePath("/d.dir/disk", "vm", "c", exists), "/d.dir/disk-clone");
  taken = {"/d/disk-clone.img", "/d/disk-clone-1.img"};
  EXPECT_EQ(GenerateClonePath("/d/disk.img", "vm", "c", exists), "/d/disk-clone-2.img");
}

TEST_F(ClonePlanTest, AutoCloneCopiesWritableDisksAndRenewsWhatMustBeUnique) {
  auto p = Plan({});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  const conf::DomainDef& d = p->def;
  EXPECT_EQ(d.name, "web-clone");
  EXPECT_NE(d.uuid, orig_.uuid);
  EXPECT_TRUE(d.title.empty());
  ASSERT_EQ(d.devices.interfaces.size(), 1u);
  EXPECT_NE(d.devices.interfaces[0].mac, "52:54:00:11:22:33");
  EXPECT_EQ(d.devices.interfaces[0].mac.rfind("52:54:00:", 0), 0u);
  EXPECT_TRUE(d.devices.interfaces[0].target_dev.empty());
  EXPECT_TRUE(d.devices.graphics[0].autoport);
  // vda named after the domain, vdb with -clone, the read-only cdrom shared, the
  // volume copied into its pool as a new volume.
  EXPECT_EQ(d.devices.disks[0].source_path, "/pool/web-clone.qcow2");
  EXPECT_EQ(d.devices.disks[1].source_path, "/pool/data-clone.img");
  EXPECT_EQ(d.devices.disks[2].source_path, "/iso/debian.iso");
  EXPECT_EQ(d.devices.disks[3].type, conf::DiskType::kVolume);
  EXPECT_EQ(d.devices.disks[3].source_pool, "default");
  EXPECT_EQ(d.devices.disks[3].source_volume, "logs-clone.qcow2");
  ASSERT_EQ(p->files.size(), 3u);
  EXPECT_EQ(p->files[0].source, "/pool/web.qcow2");
  EXPECT_EQ(p->files[0].format, "qcow2");
  EXPECT_EQ(p->files[2].source, "/images/default/logs.qcow2");
  EXPECT_EQ(p->files[2].path, "/images/default/logs-clone.qcow2");
  // The original is untouched.
  EXPECT_EQ(orig_.devices.disks[0].source_path, "/pool/web.qcow2");
}

TEST_F(ClonePlanTest, FilesAndMacsApplyInOrderAndTheRestIsGenerated) {
  CloneOptions o;
  o.name = "web2";
  o.files = {"/other/root.qcow2"};
  o.macs = {"52:54:00:AA:BB:CC"};
  o.uuid = "11111111-2222-3333-4444-555555555555";
  auto p = Plan(o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->def.uuid.ToString(), o.uuid);
  EXPECT_EQ(p->def.devices.interfaces[0].mac, "52:54:00:aa:bb:cc");
  EXPECT_EQ(p->def.devices.disks[0].source_path, "/other/root.qcow2");
  EXPECT_EQ(p->def.devices.disks[1].source_path, "/pool/data-clone.img");
  // A volume given a path outside its pool becomes a file disk.
  o.files = {"/a/1", "/a/2", "/elsewhere/logs.qcow2"};
  p = Plan(o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->def.devices.disks[3].type, conf::DiskType::kFile);
  EXPECT_EQ(p->def.devices.disks[3].source_path, "/elsewhere/logs.qcow2");
}

TEST_F(ClonePlanTest, SkipCopySharesAndForceCopyCopies) {
  CloneOptions o;
  o.skip_copy = {"vdb"};
  o.force_copy = {"sda"};
  auto p = Plan(o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->def.devices.disks[1].source_path, "/pool/data.img");
  EXPECT_EQ(p->def.devices.disks[2].source_path, "/iso/debian-clone.iso");
  std::set<std::string> targets;
  for (const auto& f : p->files) targets.insert(f.target);
  EXPECT_EQ(targets, (std::set<std::string>{"vda", "sda", "vdc"}));
}

TEST_F(ClonePlanTest, LinkedClonesAreQcow2Overlays) {
  CloneOptions o;
  o.linked = true;
  auto p = Plan(o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  for (const auto& f : p->files) EXPECT_TRUE(f.linked) << f.target;
  EXPECT_EQ(p->def.devices.disks[1].driver.type, "qcow2");  // over a raw disk
  // The original moves onto overlays of its own, named after the clone; its old
  // files become the read-only base of both.
  ASSERT_TRUE(p->original_after);
  const auto& after = p->original_after->devices.disks;
  EXPECT_EQ(p->files[0].original_top, "/pool/web.web-clone.qcow2");
  EXPECT_EQ(after[0].source_path, "/pool/web.web-clone.qcow2");
  EXPECT_EQ(after[1].source_path, "/pool/data.web-clone.img");
  EXPECT_EQ(after[1].driver.type, "qcow2");
  EXPECT_EQ(after[2].source_path, "/iso/debian.iso");  // shared: unchanged
  EXPECT_EQ(after[3].source_volume, "logs.web-clone.qcow2");
  EXPECT_EQ(p->original_after->name, "web");
  EXPECT_EQ(p->original_after->uuid, orig_.uuid);
  files_.insert("/pool/web.web-clone.qcow2");
  EXPECT_EQ(GenerateTopPath("/pool/web.qcow2", "web-clone", host_.path_exists),
            "/pool/web.web-clone-1.qcow2");
}

TEST_F(ClonePlanTest, EfiNvramFollowsTheName) {
  orig_.os.firmware = "efi";
  files_.insert("/state/nvram/web_VARS.fd");
  auto p = Plan({});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_EQ(p->files.back().target, "nvram");
  EXPECT_EQ(p->files.back().source, "/state/nvram/web_VARS.fd");
  EXPECT_EQ(p->files.back().path, "/state/nvram/web-clone_VARS.fd");
  // An explicit <nvram> moves beside itself, or where --nvram says.
  orig_.os.firmware.clear();
  orig_.os.nvram = "/vars/web_VARS.fd";
  files_.insert("/vars/web_VARS.fd");
  p = Plan({});
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->def.os.nvram, "/vars/web-clone_VARS.fd");
  EXPECT_EQ(p->files.back().path, "/vars/web-clone_VARS.fd");
  CloneOptions o;
  o.nvram = "/elsewhere/v.fd";
  p = Plan(o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->def.os.nvram, "/elsewhere/v.fd");
}

TEST_F(ClonePlanTest, PreserveDataUsesExistingFilesAndCopiesNothing) {
  CloneOptions o;
  o.preserve_data = true;
  o.files = {"/have/a", "/have/b", "/have/c"};
  auto p = Plan(o);
  EXPECT_EQ(p.status().message(), "--preserve-data: '/have/a' (disk 'vda') does not exist");
  files_.insert({"/have/a", "/have/b", "/have/c"});
  p = Plan(o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  for (const auto& f : p->files) EXPECT_FALSE(f.copy) << f.target;
  o.files.pop_back();
  EXPECT_EQ(Plan(o).status().message(),
            "--preserve-data: disk 'vdc' needs an existing file (--file)");
}

TEST_F(ClonePlanTest, RefusalsNameTheProblem) {
  auto msg = [this](CloneOptions o) { return Plan(o).status().message(); };
  CloneOptions o;
  o.name = "web";
  EXPECT_EQ(msg(o), "domain 'web' already exists");
  o = {};
  o.files = {"/pool/web.qcow2"};
  EXPECT_EQ(msg(o), "--file: '/pool/web.qcow2' is the original's disk 'vda'");
  o.files = {"/pool/data.img"};
  EXPECT_EQ(msg(o), "'/pool/data.img' (disk 'vda') already exists; nothing is overwritten");
  o.files = {"relative.img"};
  EXPECT_EQ(msg(o), "--file: 'relative.img' must be an absolute path");
  o.files = {"/n/1", "/n/1"};
  EXPECT_EQ(msg(o), "--file: '/n/1' given for two disks");
  o.files = {"/n/1", "/n/2", "/n/3", "/n/4"};
  EXPECT_EQ(msg(o), "--file: 4 path(s) for 3 disk(s) to clone");
  o = {};
  o.macs = {"52:54:00:11:22:33"};
  EXPECT_EQ(msg(o), "--mac: '52:54:00:11:22:33' is the original's own");
  o.macs = {"01:00:00:00:00:01"};
  EXPECT_NE(msg(o).find("--mac: "), std::string::npos);
  o.macs = {"RANDOM", "RANDOM"};
  EXPECT_EQ(msg(o), "--mac: 2 addresses for 1 interface(s)");
  o = {};
  o.uuid = "not-a-uuid";
  EXPECT_EQ(msg(o), "--uuid: 'not-a-uuid' is not a UUID");
  o.uuid = orig_.uuid.ToString();
  EXPECT_EQ(msg(o), "--uuid: '" + o.uuid + "' is in use");
  o = {};
  o.skip_copy = {"vdz"};
  EXPECT_EQ(msg(o), "--skip-copy: domain 'web' has no disk 'vdz'");
  o = {};
  o.linked = true;
  o.preserve_data = true;
  EXPECT_EQ(msg(o), "--linked and --preserve-data exclude each other");
  o = {};
  o.nvram = "/x/v.fd";
  EXPECT_EQ(msg(o), "--nvram: domain 'web' has no <nvram> of its own");
  orig_.devices.disks[0].type = conf::DiskType::kBlock;
  EXPECT_EQ(msg({}),
            "disk 'vda' is not a file or a volume and cannot be copied: share it "
            "(--skip-copy=vda) or give an existing file (--preserve-data --file)");
}

}  // namespace
}  // namespace skiff::daemon
