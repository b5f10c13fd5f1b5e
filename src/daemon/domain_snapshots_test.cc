// DomainSnapshots against FakeHypervisor and real qcow2 images (Skiff's image
// engine): offline snapshots change the images; a running domain's go through
// the driver; metadata, tree, revert, delete in every position, undefine.
#include <filesystem>

#include "daemon/service_test_fixture.h"
#include "skiff/image/image.h"
#include "skiff/image/ops.h"

namespace skiff::daemon {
namespace {

namespace fs = std::filesystem;

class SnapshotsTest : public ServiceTest {
 protected:
  std::string Image(const std::string& name, const std::string& format = "qcow2") {
    std::string path = (dir_.path() / name).string();
    image::CreateOptions o;
    o.format = format;
    o.size = 1 << 20;
    o.size_given = true;
    Status st = image::CreateImage(path, o);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return path;
  }
  // A domain with qcow2 disks vda (and vdb when `second` names its format), an
  // optional NVRAM file, and a cdrom that snapshots leave out.
  void DefineWithDisks(const std::string& name, const std::string& second = "",
                       const std::string& nvram = "") {
    vda_ = Image(name + "-a.qcow2");
    std::string disks = Disk(vda_, "vda", "qcow2");
    if (!second.empty()) {
      vdb_ = Image(name + "-b." + second, second);
      disks += Disk(vdb_, "vdb", second);
    }
    disks += "<disk type='file' device='cdrom'><target dev='sda' bus='sata'/><readonly/></disk>";
    std::string os = "<os><type arch='x86_64' machine='q35'>hvm</type>";
    if (!nvram.empty()) os += "<nvram>" + nvram + "</nvram>";
    os += "</os>";
    std::string xml = "<domain type='qemu'><name>" + name +
                      "</name><memory unit='MiB'>128</memory>" + os + "<devices>" + disks +
                      "</devices></domain>";
    auto r = service_->DefineDomain(xml, name + ".xml");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  static std::string Disk(const std::string& path, const std::string& dev,
                          const std::string& format) {
    return "<disk type='file' device='disk'><driver name='qemu' type='" + format +
           "'/><source file='" + path + "'/><target dev='" + dev + "' bus='virtio'/></disk>";
  }
  static void Put(const std::string& path, const std::string& text) {
    auto img = image::OpenImage(path, {.format = "qcow2", .writable = true});
    ASSERT_TRUE(img.ok()) << img.status().ToString();
    std::string padded = text + std::string(512 - text.size(), '\0');
    ASSERT_TRUE(
        (*img)
            ->Write(4096, std::span(reinterpret_cast<const uint8_t*>(padded.data()), padded.size()))
            .ok());
  }
  static std::string Get(const std::string& path) {
    auto img = image::OpenImage(path, {.format = "qcow2"});
    EXPECT_TRUE(img.ok()) << img.status().ToString();
    if (!img.ok()) return "";
    std::string buf(512, '\0');
    EXPECT_TRUE(
        (*img)->Read(4096, std::span(reinterpret_cast<uint8_t*>(buf.data()), buf.size())).ok());
    return buf.substr(0, buf.find('\0'));
  }
  static std::vector<std::string> Tags(const std::string& path) {
    std::vector<std::string> out;
    auto snaps = image::ListSnapshots(path).value();
    for (const auto& s : snaps) out.push_back(s.name);
    return out;
  }
  Result<std::string> Create(const std::string& dom, const std::string& xml,
                             SnapshotCreateOptions o = {}) {
    return service_->snapshots().Create(dom, xml, "snap.xml", o);
  }
  static std::string Named(const std::string& name) {
    return "<domainsnapshot><name>" + name + "</name></domainsnapshot>";
  }
  std::map<std::string, std::string> Parents(const std::string& dom) {
    std::map<std::string, std::string> out;
    auto list = service_->snapshots().List(dom).value();
    for (const auto& s : list) out[s.def.name] = s.def.parent;
    return out;
  }
  std::string Current(const std::string& dom) {
    auto list = service_->snapshots().List(dom).value();
    for (const auto& s : list) {
      if (s.current) return s.def.name;
    }
    return "";
  }
  static bool Clean(const std::string& path) {
    auto r = image::CheckImage(path, "qcow2", image::RepairMode::kNone);
    return r.ok() && r->corruptions == 0 && r->leaks == 0 && r->check_errors == 0;
  }

  std::string vda_, vdb_;
};

TEST_F(SnapshotsTest, OfflineSnapshotRevertBringsTheDataBack) {
  DefineWithDisks("a", "qcow2");
  Put(vda_, "first-a");
  Put(vdb_, "first-b");
  auto s1 = Create("a",
                   "<domainsnapshot><name>s1</name><description>before</description>"
                   "</domainsnapshot>");
  ASSERT_TRUE(s1.ok()) << s1.status().ToString();
  EXPECT_EQ(Tags(vda_), std::vector<std::string>{"s1"});
  EXPECT_EQ(Tags(vdb_), std::vector<std::string>{"s1"});
  Put(vda_, "second-a");
  Put(vdb_, "second-b");
  ASSERT_TRUE(service_->snapshots().Revert("a", "s1", {}).ok());
  EXPECT_EQ(Get(vda_), "first-a");
  EXPECT_EQ(Get(vdb_), "first-b");
  EXPECT_TRUE(Clean(vda_));
  EXPECT_EQ(StatusOf("a").state(), DomainState::kShutoff);  // a shut-off snapshot
  auto list = service_->snapshots().List("a").value();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].def.state, "shutoff");
  EXPECT_EQ(list[0].def.description, "before");
  EXPECT_TRUE(list[0].current);
  auto xml = service_->snapshots().Xml("a", "s1", false).value();
  EXPECT_TRUE(Has(xml, "<disk name='vda' snapshot='internal'/>")) << xml;
  EXPECT_TRUE(Has(xml, "<disk name='sda' snapshot='no'/>") == false) << xml;  // a cdrom
  EXPECT_TRUE(Has(xml, "<domain type='qemu'>")) << xml;
  // --running boots the reverted domain.
  ASSERT_TRUE(service_->snapshots().Revert("a", "s1", {.running = true}).ok());
  EXPECT_EQ(StatusOf("a").state(), DomainState::kRunning);
}

TEST_F(SnapshotsTest, TheTreeAndDeleteInEveryPosition) {
  DefineWithDisks("t");
  // s1 <- s2 <- s3, and s4 on s1 after a revert.
  for (const std::string n : {"s1", "s2", "s3"}) {
    Put(vda_, "data-" + n);
    ASSERT_TRUE(Create("t", Named(n)).ok());
  }
  ASSERT_TRUE(service_->snapshots().Revert("t", "s1", {}).ok());
  Put(vda_, "data-s4");
  ASSERT_TRUE(Create("t", Named("s4")).ok());
  EXPECT_EQ(Parents("t"), (std::map<std::string, std::string>{
                              {"s1", ""}, {"s2", "s1"}, {"s3", "s2"}, {"s4", "s1"}}));
  auto list = service_->snapshots().List("t").value();
  EXPECT_EQ(list[0].children, 2u);
  EXPECT_EQ(list[0].descendants, 3u);
  // The middle one: its child hangs from its parent; every other stays revertible.
  ASSERT_TRUE(service_->snapshots().Delete("t", "s2", {}).ok());
  EXPECT_EQ(Parents("t"),
            (std::map<std::string, std::string>{{"s1", ""}, {"s3", "s1"}, {"s4", "s1"}}));
  EXPECT_TRUE(Clean(vda_));
  for (const std::string n : {"s3", "s1", "s4"}) {
    ASSERT_TRUE(service_->snapshots().Revert("t", n, {}).ok()) << n;
    EXPECT_EQ(Get(vda_), "data-" + n);
    EXPECT_EQ(Current("t"), n);
  }
  // The current leaf: "current" moves to its parent.
  ASSERT_TRUE(service_->snapshots().Delete("t", "s4", {}).ok());
  EXPECT_EQ(Current("t"), "s1");
  // The root: s3 becomes a root and still reverts.
  ASSERT_TRUE(service_->snapshots().Delete("t", "s1", {}).ok());
  EXPECT_EQ(Parents("t"), (std::map<std::string, std::string>{{"s3", ""}}));
  ASSERT_TRUE(service_->snapshots().Revert("t", "s3", {}).ok());
  EXPECT_EQ(Get(vda_), "data-s3");
  EXPECT_EQ(Tags(vda_), std::vector<std::string>{"s3"});
  EXPECT_TRUE(Clean(vda_));
}

TEST_F(SnapshotsTest, DeleteChildrenChildrenOnlyAndMetadata) {
  DefineWithDisks("c");
  for (const std::string n : {"r", "k1", "k2"}) ASSERT_TRUE(Create("c", Named(n)).ok());
  auto gone = service_->snapshots().Delete("c", "r", {.children_only = true}).value();
  EXPECT_EQ(gone, (std::vector<std::string>{"k2", "k1"}));
  EXPECT_EQ(Tags(vda_), std::vector<std::string>{"r"});
  EXPECT_EQ(Current("c"), "r");
  ASSERT_TRUE(Create("c", Named("k3")).ok());
  gone = service_->snapshots().Delete("c", "r", {.children = true}).value();
  EXPECT_EQ(gone, (std::vector<std::string>{"k3", "r"}));
  EXPECT_TRUE(Tags(vda_).empty());
  ASSERT_TRUE(Create("c", Named("m")).ok());
  ASSERT_TRUE(service_->snapshots().Delete("c", "m", {.metadata_only = true}).ok());
  EXPECT_TRUE(service_->snapshots().List("c").value().empty());
  EXPECT_EQ(Tags(vda_), std::vector<std::string>{"m"});  // the image keeps it
}

TEST_F(SnapshotsTest, BadRequestsChangeNothing) {
  DefineWithDisks("b", "raw");
  Put(vda_, "kept");
  // A raw disk cannot hold an internal snapshot: one line naming it and the way out.
  auto raw = Create("b", Named("x"));
  EXPECT_EQ(raw.status().code(), Code::kFailedPrecondition);
  EXPECT_TRUE(Has(raw.status().message(), "disk 'vdb'")) << raw.status().ToString();
  EXPECT_TRUE(Has(raw.status().message(), "--diskspec vdb,snapshot=no"));
  EXPECT_TRUE(Tags(vda_).empty());
  EXPECT_FALSE(fs::exists(dir_.path() / "var/lib/skiff/snapshots/b"));
  // ... unless it is left out.
  auto some = Create("b",
                     "<domainsnapshot><name>y</name><disks><disk name='vdb' "
                     "snapshot='no'/></disks></domainsnapshot>");
  ASSERT_TRUE(some.ok()) << some.status().ToString();
  EXPECT_EQ(Tags(vda_), std::vector<std::string>{"y"});
  auto slash = Create("b", Named("a/b"));
  EXPECT_EQ(slash.status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(Has(slash.status().message(), "invalid name 'a/b'")) << slash.status().ToString();
  EXPECT_EQ(Create("b",
                   "<domainsnapshot><name>y</name><disks><disk name='vdb' "
                   "snapshot='no'/></disks></domainsnapshot>")
                .status()
                .code(),
            Code::kAlreadyExists);
  auto unknown_disk = Create("b",
                             "<domainsnapshot><disks><disk name='vdb' snapshot='no'/>"
                             "<disk name='vdz' snapshot='no'/></disks></domainsnapshot>");
  EXPECT_TRUE(Has(unknown_disk.status().message(), "'vdz' is not a disk of domain 'b'"))
      << unknown_disk.status().ToString();
  auto external = Create("b", Named("e"), {.disk_only = true});
  EXPECT_EQ(external.status().code(), Code::kUnsupported);
  auto missing = service_->snapshots().Revert("b", "nope", {});
  EXPECT_EQ(missing.code(), Code::kNotFound);
  EXPECT_TRUE(Has(missing.message(), "domain 'b' has no snapshot named 'nope'"));
  EXPECT_EQ(service_->snapshots().Delete("b", "nope", {}).status().code(), Code::kNotFound);
  EXPECT_EQ(Tags(vda_), std::vector<std::string>{"y"});
  EXPECT_EQ(Get(vda_), "kept");
}

TEST_F(SnapshotsTest, AnImageAnotherRunningDomainHoldsIsLeftAlone) {
  DefineWithDisks("a");
  Put(vda_, "a-data");
  // "b" runs on a's disk: a's offline snapshot would write under its feet.
  std::string xml =
      "<domain type='qemu'><name>b</name><memory unit='MiB'>128</memory><os><type "
      "arch='x86_64' machine='q35'>hvm</type></os><devices>" +
      Disk(vda_, "vda", "qcow2") + "</devices></domain>";
  ASSERT_TRUE(service_->DefineDomain(xml, "b.xml").ok());
  ASSERT_TRUE(service_->StartDomain("b", false).ok());
  auto r = Create("a", Named("s"));
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_TRUE(Has(r.status().message(), "is in use by running domain 'b'"))
      << r.status().ToString();
  EXPECT_TRUE(Tags(vda_).empty());
  ASSERT_TRUE(service_->DestroyDomain("b").ok());
  ASSERT_TRUE(Create("a", Named("s")).ok());
  EXPECT_EQ(Tags(vda_), std::vector<std::string>{"s"});
}

TEST_F(SnapshotsTest, RunningDomainSnapshotHoldsMemoryAndRevertRestarts) {
  DefineWithDisks("r");
  ASSERT_TRUE(service_->StartDomain("r", false).ok());
  ASSERT_TRUE(Create("r", Named("live")).ok());
  auto list = service_->snapshots().List("r").value();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].def.state, "running");
  EXPECT_EQ(list[0].def.memory_snapshot, "internal");
  // A name QEMU already holds (taken with --no-metadata) is refused, and that
  // snapshot is left alone.
  ASSERT_TRUE(Create("r", Named("ghost"), {.no_metadata = true}).ok());
  EXPECT_EQ(Create("r", Named("ghost")).status().code(), Code::kAlreadyExists);
  EXPECT_TRUE(hv_.LoadSnapshot("r", "ghost", {"vda"}).ok());
  // A memory snapshot of a running domain needs its memory.
  auto no_mem = Create("r", "<domainsnapshot><memory snapshot='no'/></domainsnapshot>");
  EXPECT_EQ(no_mem.status().code(), Code::kUnsupported);
  // Revert: a new guest, started paused, loads it and runs (as it was taken).
  ASSERT_TRUE(service_->snapshots().Revert("r", "live", {}).ok());
  EXPECT_EQ(StatusOf("r"), DomainStatus::Running(RunningReason::kFromSnapshot));
  ASSERT_TRUE(service_->snapshots().Revert("r", "live", {.paused = true}).ok());
  EXPECT_EQ(StatusOf("r"), DomainStatus::Paused(PausedReason::kFromSnapshot));
  // From shut off too.
  ASSERT_TRUE(service_->DestroyDomain("r").ok());
  ASSERT_TRUE(service_->snapshots().Revert("r", "live", {}).ok());
  EXPECT_EQ(StatusOf("r").state(), DomainState::kRunning);
  // Deleted through the driver while the guest holds the image.
  ASSERT_TRUE(service_->snapshots().Delete("r", "live", {}).ok());
  EXPECT_TRUE(service_->snapshots().List("r").value().empty());
  EXPECT_EQ(service_->snapshots().Revert("r", "live", {}).code(), Code::kNotFound);
}

TEST_F(SnapshotsTest, NvramIsSnapshottedWithTheDisks) {
  const std::string nvram = (dir_.path() / "u_VARS.fd").string();
  ASSERT_TRUE(WriteFileAtomic(nvram, "vars-before", 0600).ok());
  DefineWithDisks("u", "", nvram);
  ASSERT_TRUE(Create("u", Named("s")).ok());
  ASSERT_TRUE(WriteFileAtomic(nvram, "vars-after", 0600).ok());
  ASSERT_TRUE(service_->snapshots().Revert("u", "s", {}).ok());
  EXPECT_EQ(ReadFile(nvram).value(), "vars-before");
  // A running one's too.
  ASSERT_TRUE(service_->StartDomain("u", false).ok());
  ASSERT_TRUE(Create("u", Named("live")).ok());
  ASSERT_TRUE(WriteFileAtomic(nvram, "vars-later", 0600).ok());
  ASSERT_TRUE(service_->snapshots().Revert("u", "live", {}).ok());
  EXPECT_EQ(ReadFile(nvram).value(), "vars-before");
  EXPECT_EQ(StatusOf("u").state(), DomainState::kRunning);
}

TEST_F(SnapshotsTest, MetadataSurvivesRestartAndUndefineNeedsSnapshotsMetadata) {
  DefineWithDisks("p");
  ASSERT_TRUE(Create("p", Named("s1")).ok());
  ASSERT_TRUE(Create("p", Named("s2")).ok());
  service_.reset();
  service_ = std::make_unique<Service>(Paths(dir_.path()), hv_, events_);
  ASSERT_TRUE(service_->Load().ok());
  EXPECT_EQ(Parents("p"), (std::map<std::string, std::string>{{"s1", ""}, {"s2", "s1"}}));
  EXPECT_EQ(Current("p"), "s2");
  auto refused = service_->UndefineDomain("p", {});
  EXPECT_EQ(refused.code(), Code::kFailedPrecondition);
  EXPECT_TRUE(Has(refused.message(), "with 2 snapshot(s); use --snapshots-metadata"))
      << refused.ToString();
  EXPECT_TRUE(service_->GetDomain("p").ok());
  ASSERT_TRUE(service_->UndefineDomain("p", {.snapshots_metadata = true}).ok());
  EXPECT_FALSE(fs::exists(dir_.path() / "var/lib/skiff/snapshots/p"));
  EXPECT_EQ(Tags(vda_), (std::vector<std::string>{"s1", "s2"}));  // the images keep them
}

TEST_F(SnapshotsTest, RedefineChangesOnlyTheDescription) {
  DefineWithDisks("e");
  ASSERT_TRUE(Create("e", Named("s1")).ok());
  ASSERT_TRUE(Create("e", Named("s2")).ok());
  std::string xml = service_->snapshots().Xml("e", "s1", true).value();
  std::string edited = xml;
  edited.replace(edited.find("<state>"), 0, "<description>new words</description>\n  ");
  ASSERT_TRUE(Create("e", edited, {.redefine = true, .current = true}).ok());
  EXPECT_EQ(service_->snapshots().List("e").value()[0].def.description, "new words");
  EXPECT_EQ(Current("e"), "s1");
  std::string renamed = xml;
  renamed.replace(renamed.find("<state>shutoff"), 14, "<state>running");
  auto r = Create("e", renamed, {.redefine = true});
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(Has(r.status().message(), "may change only its <description>"));
}

}  // namespace
}  // namespace skiff::daemon
