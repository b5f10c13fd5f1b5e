// DomainBackups against FakeHypervisor and real images (Skiff's image engine):
// full and incremental backups of a shut-off domain, each restored to what the
// disk held then; refusals that write nothing; retention; a killed daemon's
// hidden directory removed by the next one.
#include <filesystem>

#include "daemon/backup_manifest.h"
#include "daemon/service_test_fixture.h"
#include "skiff/image/image.h"
#include "skiff/image/ops.h"

namespace skiff::daemon {
namespace {

namespace fs = std::filesystem;

class BackupsTest : public ServiceTest {
 protected:
  void SetUp() override {
    vda_ = (dir_.path() / "web.qcow2").string();
    image::CreateOptions o;
    o.format = "qcow2";
    o.size = 8 << 20;
    o.size_given = true;
    ASSERT_TRUE(image::CreateImage(vda_, o).ok());
    DefineWith(vda_, "qcow2");
    store_ = dir_.path() / "store";
  }
  void DefineWith(const std::string& path, const std::string& format) {
    std::string xml =
        "<domain type='qemu'><name>web</name><memory unit='MiB'>128</memory>"
        "<os><type arch='x86_64' machine='q35'>hvm</type></os><devices>"
        "<disk type='file' device='disk'><driver name='qemu' type='" +
        format + "'/><source file='" + path +
        "'/><target dev='vda' bus='virtio'/></disk>"
        "<disk type='file' device='cdrom'><target dev='sda' bus='sata'/><readonly/></disk>"
        "<interface type='network'><source network='default'/>"
        "<mac address='52:54:00:00:00:01'/></interface></devices></domain>";
    auto r = service_->DefineDomain(xml, "web.xml");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  static void Put(const std::string& path, uint64_t offset, const std::string& text) {
    auto img = image::OpenImage(path, {.format = "", .writable = true});
    ASSERT_TRUE(img.ok()) << img.status().ToString();
    ASSERT_TRUE(
        (*img)
            ->Write(offset, std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()))
            .ok());
    ASSERT_TRUE((*img)->Close().ok());
  }
  static std::string Get(const std::string& path, uint64_t offset, size_t n) {
    auto img = image::OpenImage(path, {});
    EXPECT_TRUE(img.ok()) << img.status().ToString();
    if (!img.ok()) return "";
    std::string buf(n, '\0');
    EXPECT_TRUE(
        (*img)->Read(offset, std::span(reinterpret_cast<uint8_t*>(buf.data()), buf.size())).ok());
    return buf;
  }
  Result<std::string> Backup(bool incremental, unsigned keep_last = 0) {
    DomainBackups::CreateOptions o{store_.string(), incremental, keep_last, 0};
    SKIFF_ASSIGN_OR_RETURN(auto s, service_->backups().Create("web", o));
    SKIFF_TRY(service_->jobs().Wait(s.job));
    return s.id;
  }
  Result<std::string> Restore(const std::string& path, const std::string& name,
                              const std::string& at = "") {
    SKIFF_ASSIGN_OR_RETURN(auto r, service_->backups().Restore(path, {name, at, ""}));
    SKIFF_TRY(service_->jobs().Wait(r.job));
    EXPECT_EQ(r.files.size(), 1u);
    return r.files.empty() ? "" : r.files[0];
  }
  // Waits past the current second: backup ids are times.
  static void NextSecond() {
    const auto now = ::time(nullptr);
    while (::time(nullptr) == now) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  std::string vda_;
  fs::path store_;
};

TEST_F(BackupsTest, FullAndIncrementalEachRestoreTheirPointInTime) {
  Put(vda_, 0, "first");
  Put(vda_, 4 << 20, "far");
  auto full = Backup(false);
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  EXPECT_EQ(*image::BitmapNames(vda_), std::vector<std::string>{"skiff-backup-" + *full});
  NextSecond();
  Put(vda_, 0, "second");  // the engine records it in the bitmap
  auto incr = Backup(true);
  ASSERT_TRUE(incr.ok()) << incr.status().ToString();
  // The older bitmap is gone; the newest one starts empty.
  EXPECT_EQ(*image::BitmapNames(vda_), std::vector<std::string>{"skiff-backup-" + *incr});
  EXPECT_TRUE(image::BitmapDirtyRanges(vda_, "qcow2", "skiff-backup-" + *incr)->empty());
  Put(vda_, 0, "third!");

  // The incremental holds one cluster; its backing file is the full's disk.
  const std::string idisk = (store_ / *incr / "vda.qcow2").string();
  auto img = image::OpenImage(idisk, {.format = "qcow2", .open_backing = false});
  ASSERT_TRUE(img.ok());
  EXPECT_EQ((*img)->backing_name(), "../" + *full + "/vda.qcow2");
  auto map = image::MapImage(**img, 0, (*img)->size());
  uint64_t own = 0;
  for (const auto& e : *map) own += e.depth == 0 && e.data ? e.length : 0;
  EXPECT_EQ(own, 65536u);
  auto listed = service_->backups().List(store_.string());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[1].kind, "incremental");
  EXPECT_EQ((*listed)[1].parent, *full);

  auto r1 = Restore(store_.string(), "r1", *full);
  ASSERT_TRUE(r1.ok()) << r1.status().ToString();
  auto r2 = Restore((store_ / *incr).string(), "r2");
  ASSERT_TRUE(r2.ok()) << r2.status().ToString();
  EXPECT_EQ(Get(*r1, 0, 6), std::string("first\0", 6));
  EXPECT_EQ(Get(*r2, 0, 6), std::string("second", 6));
  EXPECT_EQ(Get(*r2, 4 << 20, 3), "far");
  // The restored domain: its own UUID and MAC, its disk the new volume, the cdrom kept.
  const std::string xml = ConfigXml("r2");
  EXPECT_TRUE(Has(xml, "<source file='" + *r2 + "'/>")) << xml;
  EXPECT_TRUE(Has(xml, "target dev='sda'")) << xml;
  EXPECT_FALSE(Has(xml, "52:54:00:00:00:01")) << xml;
  EXPECT_NE(service_->GetDomain("r2")->summary.uuid, service_->GetDomain("web")->summary.uuid);
  auto verified = service_->backups().Verify(store_.string());
  ASSERT_TRUE(verified.ok());
  for (const auto& f : *verified) {
    EXPECT_TRUE(f.problems.empty()) << f.id << ": " << f.problems[0];
  }
}

TEST_F(BackupsTest, RefusalsNameTheProblemAndWriteNothing) {
  auto no_parent = Backup(true);
  ASSERT_FALSE(no_parent.ok());
  EXPECT_TRUE(Has(no_parent.status().message(), "no backup of 'web'"))
      << no_parent.status().ToString();
  auto full = Backup(false);
  ASSERT_TRUE(full.ok());
  // Changes nobody recorded: the bitmap removed behind Skiff's back.
  image::BitmapEdit rm{.format = "qcow2", .actions = {{image::BitmapActionKind::kRemove, ""}}};
  ASSERT_TRUE(image::EditBitmap(vda_, "skiff-backup-" + *full, rm).ok());
  auto unknown = Backup(true);
  ASSERT_FALSE(unknown.ok());
  EXPECT_TRUE(Has(unknown.status().message(), "what changed since backup"))
      << unknown.status().ToString();
  // Restore over the existing domain, or from a damaged backup.
  auto over = service_->backups().Restore(store_.string(), {"", "", ""});
  ASSERT_FALSE(over.ok());
  EXPECT_TRUE(Has(over.status().message(), "domain 'web' already exists"));
  const fs::path disk = store_ / *full / "vda.qcow2";
  fs::resize_file(disk, fs::file_size(disk) - 512);
  auto damaged = service_->backups().Restore(store_.string(), {"copy", "", ""});
  ASSERT_FALSE(damaged.ok());
  EXPECT_TRUE(Has(damaged.status().message(), "(truncated)")) << damaged.status().ToString();
  EXPECT_FALSE(service_->GetDomain("copy").ok());
  EXPECT_FALSE(fs::exists(dir_.path() / "var/lib/skiff/images/copy-vda.qcow2"));
  // Only the backup directory and its manifest-less neighbours: nothing hidden left.
  for (const auto& e : fs::directory_iterator(store_)) {
    EXPECT_NE(e.path().filename().string()[0], '.') << e.path();
  }
  // A running domain's disks are QEMU's to copy: the fake hypervisor cannot, and
  // the failed job leaves nothing behind.
  ASSERT_TRUE(service_->StartDomain("web", false).ok());
  auto running = Backup(false);
  ASSERT_FALSE(running.ok());
  EXPECT_TRUE(Has(running.status().message(), "backs up no running domain"))
      << running.status().ToString();
  for (const auto& e : fs::directory_iterator(store_)) {
    EXPECT_NE(e.path().filename().string()[0], '.') << e.path();
  }
  EXPECT_TRUE(fs::is_empty(dir_.path() / "var/lib/skiff/backup-jobs"));
}

// A backup (from elsewhere) whose disk names another backing file than its
// parent's disk is refused before anything is written: the restore would copy
// that host file into the guest.
TEST_F(BackupsTest, ADiskThatNamesAnotherBackingFileIsRefused) {
  auto full = Backup(false);
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  const fs::path b = store_ / *full;
  image::CreateOptions o;
  o.format = "qcow2";
  o.backing_file = vda_;  // any host file
  o.backing_format = "qcow2";
  ASSERT_TRUE(image::CreateImage((b / "vda.qcow2").string(), o).ok());
  // Its manifest made to match, as a forger would.
  auto text = ReadFile(b / "manifest.json");
  auto m = ParseManifest(*text, "m");
  ASSERT_TRUE(m.ok());
  for (auto& f : m->files) {
    if (f.name == "vda.qcow2") f = *SumFile(b, "vda.qcow2");
  }
  ASSERT_TRUE(WriteFileAtomic(b / "manifest.json", ManifestToJson(*m)).ok());
  auto r = service_->backups().Restore(store_.string(), {"stolen", "", ""});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Has(r.status().message(), "names backing file '" + vda_ + "'"))
      << r.status().ToString();
  EXPECT_FALSE(service_->GetDomain("stolen").ok());
  EXPECT_FALSE(fs::exists(dir_.path() / "var/lib/skiff/images/stolen-vda.qcow2"));
}

TEST_F(BackupsTest, RawDisksBackUpInFullOnly) {
  const std::string raw = (dir_.path() / "web.raw").string();
  image::CreateOptions o;
  o.size = 1 << 20;
  o.size_given = true;
  ASSERT_TRUE(image::CreateImage(raw, o).ok());
  ASSERT_TRUE(service_->UndefineDomain("web", {}).ok());
  DefineWith(raw, "raw");
  Put(raw, 512, "raw data");
  auto full = Backup(false);
  ASSERT_TRUE(full.ok()) << full.status().ToString();
  auto incr = Backup(true);
  ASSERT_FALSE(incr.ok());
  EXPECT_TRUE(Has(incr.status().message(), "disk vda is raw")) << incr.status().ToString();
  auto back = Restore(store_.string(), "back");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(fs::path(*back).extension(), ".raw");
  EXPECT_EQ(image::ProbeFormat(*back).value_or(""), "raw");
  EXPECT_EQ(Get(*back, 512, 8), "raw data");
}

TEST_F(BackupsTest, RetentionKeepsTheNewestAndWhatTheyNeed) {
  ASSERT_TRUE(Backup(false).ok());
  NextSecond();
  auto full2 = Backup(false);
  ASSERT_TRUE(full2.ok());
  NextSecond();
  Put(vda_, 0, "x");
  auto incr = Backup(true, 1);
  ASSERT_TRUE(incr.ok()) << incr.status().ToString();
  std::vector<std::string> left;
  auto listed = service_->backups().List(store_.string());
  ASSERT_TRUE(listed.ok());
  for (const auto& b : *listed) left.push_back(b.id);
  EXPECT_EQ(left, (std::vector<std::string>{*full2, *incr}));
}

TEST_F(BackupsTest, TheNextDaemonRemovesWhatAKilledOneLeft) {
  // What a daemon killed mid-backup leaves: a hidden directory and its journal.
  const fs::path partial = store_ / ".20261207T231500Z.partial";
  fs::create_directories(partial);
  ASSERT_TRUE(WriteFileAtomic(partial / "vda.qcow2", "half").ok());
  const fs::path journal = dir_.path() / "var/lib/skiff/backup-jobs/web.json";
  fs::create_directories(journal.parent_path());
  ASSERT_TRUE(WriteFileAtomic(journal, nlohmann::json{{"partial", partial.string()}}.dump()).ok());
  service_.reset();
  service_ = std::make_unique<Service>(Paths(dir_.path()), hv_, events_);
  ASSERT_TRUE(service_->Load().ok());
  EXPECT_FALSE(fs::exists(partial));
  EXPECT_FALSE(fs::exists(journal));
  EXPECT_TRUE(service_->GetDomain("web").ok());
}

}  // namespace
}  // namespace skiff::daemon
