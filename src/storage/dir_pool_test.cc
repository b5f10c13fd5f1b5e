// Tests for directory pools: thin and thick volumes as `du` sees them, clones,
// wipes, resizes, refresh, and refusals with clear messages.
#include "skiff/storage/pool.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include <gtest/gtest.h>

#include "skiff/base/process.h"
#include "skiff/image/image.h"
#include "testutil/temp_dir.h"

namespace skiff::storage {
namespace {

constexpr uint64_t kMiB = 1 << 20;

uint64_t Du(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

conf::VolumeDef Vol(const std::string& name, uint64_t capacity, const std::string& format = "raw") {
  conf::VolumeDef v;
  v.name = name;
  v.capacity = capacity;
  v.format = format;
  return v;
}

std::vector<uint8_t> ReadAll(const std::string& path) {
  auto img = image::OpenImage(path, {});
  EXPECT_TRUE(img.ok()) << img.status().ToString();
  std::vector<uint8_t> buf((*img)->size());
  EXPECT_TRUE((*img)->Read(0, buf).ok());
  return buf;
}

void WritePattern(const std::string& path, uint64_t offset, size_t len, uint8_t byte) {
  image::OpenOptions oo;
  oo.writable = true;
  auto img = image::OpenImage(path, oo);
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  std::vector<uint8_t> buf(len, byte);
  ASSERT_TRUE((*img)->Write(offset, buf).ok());
  ASSERT_TRUE((*img)->Close().ok());
}

class DirPoolTest : public ::testing::Test {
 protected:
  DirPoolTest() {
    conf::PoolDef def;
    def.name = "test";
    def.target_path = (dir_ / "images").string();
    pool_ = std::make_unique<DirPool>(def);
    EXPECT_TRUE(pool_->Build().ok());
    EXPECT_TRUE(pool_->CheckTarget().ok());
  }
  testing::TempDir dir_;
  std::unique_ptr<DirPool> pool_;
};

TEST_F(DirPoolTest, ThinVolumesStaySmallThickTakeTheirCapacity) {
  auto thin = pool_->CreateVolume(Vol("thin.raw", 256 * kMiB));
  ASSERT_TRUE(thin.ok()) << thin.status().ToString();
  EXPECT_EQ(thin->capacity, 256 * kMiB);
  EXPECT_LT(Du(thin->path), 1 * kMiB);

  auto q = pool_->CreateVolume(Vol("thin.qcow2", 256 * kMiB, "qcow2"));
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(q->format, "qcow2");
  EXPECT_LT(Du(q->path), 1 * kMiB);

  conf::VolumeDef thick = Vol("thick.raw", 64 * kMiB);
  thick.allocation = 64 * kMiB;
  auto t = pool_->CreateVolume(thick);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_GE(Du(t->path), 64 * kMiB);
  EXPECT_GE(t->allocation, 64 * kMiB);

  conf::VolumeDef part = Vol("part.raw", 64 * kMiB);
  part.allocation = 16 * kMiB;
  auto pt = pool_->CreateVolume(part);
  ASSERT_TRUE(pt.ok());
  EXPECT_GE(Du(pt->path), 16 * kMiB);
  EXPECT_LT(Du(pt->path), 32 * kMiB);
}

TEST_F(DirPoolTest, DuplicateAndBadNamesAreRefused) {
  ASSERT_TRUE(pool_->CreateVolume(Vol("a.img", kMiB)).ok());
  auto dup = pool_->CreateVolume(Vol("a.img", kMiB));
  EXPECT_EQ(dup.status().code(), Code::kAlreadyExists);
  EXPECT_NE(dup.status().message().find("'a.img'"), std::string::npos);
  for (const char* bad : {"", ".", "..", "x/y", "../escape"}) {
    EXPECT_EQ(pool_->CreateVolume(Vol(bad, kMiB)).status().code(), Code::kInvalidArgument) << bad;
  }
  EXPECT_EQ(pool_->CreateVolume(Vol("v.vmdk", kMiB, "vmdk")).status().code(), Code::kUnsupported);
  EXPECT_EQ(pool_->GetVolume("missing").status().code(), Code::kNotFound);
}

TEST_F(DirPoolTest, CloneReadsEqualToSource) {
  auto src = pool_->CreateVolume(Vol("src.qcow2", 8 * kMiB, "qcow2"));
  ASSERT_TRUE(src.ok());
  WritePattern(src->path, 3 * kMiB + 17, 70000, 0xab);
  auto clone = pool_->CreateVolumeFrom(Vol("clone.qcow2", 0, ""), src->path);
  ASSERT_TRUE(clone.ok()) << clone.status().ToString();
  EXPECT_EQ(clone->format, "qcow2");
  EXPECT_EQ(ReadAll(clone->path), ReadAll(src->path));
  auto as_raw = pool_->CreateVolumeFrom(Vol("clone.raw", 0, "raw"), src->path);
  ASSERT_TRUE(as_raw.ok());
  EXPECT_EQ(as_raw->format, "raw");
  EXPECT_EQ(ReadAll(as_raw->path), ReadAll(src->path));
}

TEST_F(DirPoolTest, BackingVolumeReadsThrough) {
  auto base = pool_->CreateVolume(Vol("base.raw", 4 * kMiB));
  ASSERT_TRUE(base.ok());
  WritePattern(base->path, 0, 4096, 0x11);
  conf::VolumeDef overlay = Vol("overlay.qcow2", 0, "qcow2");
  overlay.backing = conf::VolumeBacking{base->path, "raw", {}};
  auto ov = pool_->CreateVolume(overlay);
  ASSERT_TRUE(ov.ok()) << ov.status().ToString();
  EXPECT_EQ(ov->capacity, 4 * kMiB);
  EXPECT_EQ(ov->backing_path, base->path);
  EXPECT_EQ(ReadAll(ov->path)[100], 0x11);
}

TEST_F(DirPoolTest, WipeReadsZeroesAndKeepsThickness) {
  conf::VolumeDef thick = Vol("thick.raw", 8 * kMiB);
  thick.allocation = 8 * kMiB;
  auto t = pool_->CreateVolume(thick);
  ASSERT_TRUE(t.ok());
  WritePattern(t->path, kMiB, 4096, 0x5a);
  ASSERT_TRUE(pool_->WipeVolume("thick.raw").ok());
  auto data = ReadAll(t->path);
  EXPECT_TRUE(std::all_of(data.begin(), data.end(), [](uint8_t b) { return b == 0; }));
  EXPECT_GE(Du(t->path), 8 * kMiB);

  auto q = pool_->CreateVolume(Vol("q.qcow2", 8 * kMiB, "qcow2"));
  ASSERT_TRUE(q.ok());
  WritePattern(q->path, 2 * kMiB, 65536, 0x77);
  ASSERT_TRUE(pool_->WipeVolume("q.qcow2").ok());
  data = ReadAll(q->path);
  EXPECT_TRUE(std::all_of(data.begin(), data.end(), [](uint8_t b) { return b == 0; }));
}

TEST_F(DirPoolTest, ResizeGrowsAndGuardsShrink) {
  ASSERT_TRUE(pool_->CreateVolume(Vol("r.qcow2", 8 * kMiB, "qcow2")).ok());
  ASSERT_TRUE(pool_->ResizeVolume("r.qcow2", 16 * kMiB, false).ok());
  EXPECT_EQ(pool_->GetVolume("r.qcow2")->capacity, 16 * kMiB);
  Status st = pool_->ResizeVolume("r.qcow2", 4 * kMiB, false);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("--shrink"), std::string::npos);
  EXPECT_EQ(pool_->GetVolume("r.qcow2")->capacity, 16 * kMiB);
}

TEST_F(DirPoolTest, RefreshFindsFilesDroppedIn) {
  {
    std::ofstream f(pool_->path() + "/dropped.img");
    f << std::string(8192, 'x');
  }
  auto vols = pool_->ListVolumes();
  ASSERT_TRUE(vols.ok());
  ASSERT_EQ(vols->size(), 1u);
  EXPECT_EQ((*vols)[0].name, "dropped.img");
  EXPECT_EQ((*vols)[0].format, "raw");
  EXPECT_EQ((*vols)[0].capacity, 8192u);
  auto xml = pool_->VolumeXml("dropped.img");
  ASSERT_TRUE(xml.ok());
  EXPECT_NE(xml->find("<name>dropped.img</name>"), std::string::npos) << *xml;
}

TEST_F(DirPoolTest, DeleteVolumeAndPool) {
  ASSERT_TRUE(pool_->CreateVolume(Vol("x.raw", kMiB)).ok());
  Status busy = pool_->Delete();
  EXPECT_EQ(busy.code(), Code::kFailedPrecondition);
  EXPECT_NE(busy.message().find("not empty"), std::string::npos);
  ASSERT_TRUE(pool_->DeleteVolume("x.raw").ok());
  EXPECT_EQ(pool_->DeleteVolume("x.raw").code(), Code::kNotFound);
  EXPECT_TRUE(pool_->Delete().ok());
  EXPECT_FALSE(pool_->CheckTarget().ok());
}

// fs pools without mounting (that needs root; tests/integration covers it): pool-build
// formats a blank image file, keeps a filesystem of the pool's format, and refuses to
// format over another filesystem unless told to overwrite.
class FsPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (FindProgram("mkfs.ext4").empty() || FindProgram("blkid").empty()) {
      GTEST_SKIP() << "mkfs.ext4 or blkid not installed";
    }
    def_.name = "fsp";
    def_.type = "fs";
    def_.source_device = (dir_ / "disk.img").string();
    def_.source_format = "ext4";
    def_.target_path = (dir_ / "mnt").string();
    std::ofstream(def_.source_device).close();
    std::filesystem::resize_file(def_.source_device, 32 * kMiB);
  }
  std::string Uuid() {
    auto r = RunCommand({"blkid", "-p", "-o", "value", "-s", "UUID", def_.source_device});
    return r.ok() ? r->out : "";
  }
  testing::TempDir dir_;
  conf::PoolDef def_;
};

TEST_F(FsPoolTest, BuildFormatsBlankDeviceAndKeepsItsOwnFilesystem) {
  EXPECT_EQ(ProbeFilesystem(def_.source_device).value_or("?"), "");
  ASSERT_TRUE(DirPool(def_).Build().ok());
  EXPECT_EQ(ProbeFilesystem(def_.source_device).value_or("?"), "ext4");
  EXPECT_TRUE(std::filesystem::is_directory(def_.target_path));
  std::string uuid = Uuid();
  ASSERT_FALSE(uuid.empty());
  // Again: the filesystem (and its data) is kept.
  ASSERT_TRUE(DirPool(def_).Build().ok());
  EXPECT_EQ(Uuid(), uuid);
  Status no = DirPool(def_).Build(BuildMode::kNoOverwrite);
  EXPECT_EQ(no.code(), Code::kFailedPrecondition);
  EXPECT_NE(no.message().find("already has a ext4 filesystem"), std::string::npos) << no.message();
  // --overwrite formats anew.
  ASSERT_TRUE(DirPool(def_).Build(BuildMode::kOverwrite).ok());
  EXPECT_NE(Uuid(), uuid);
  EXPECT_FALSE(DirPool(def_).IsMounted());
}

TEST_F(FsPoolTest, OtherFilesystemAutoFormatAndMissingDeviceAreRefused) {
  ASSERT_TRUE(DirPool(def_).Build().ok());
  conf::PoolDef other = def_;
  other.source_format = "ext2";
  other.target_path = (dir_ / "other").string();
  Status st = DirPool(other).Build();
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  EXPECT_NE(st.message().find("has a ext4 filesystem, not ext2"), std::string::npos)
      << st.message();
  EXPECT_NE(st.message().find("--overwrite"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(other.target_path));  // nothing made
  EXPECT_EQ(ProbeFilesystem(def_.source_device).value_or("?"), "ext4");
  ASSERT_TRUE(DirPool(other).Build(BuildMode::kOverwrite).ok());
  EXPECT_EQ(ProbeFilesystem(def_.source_device).value_or("?"), "ext2");

  conf::PoolDef automatic = def_;
  automatic.source_format = "auto";
  EXPECT_TRUE(DirPool(automatic).Build().ok());  // keeps the ext2
  st = DirPool(automatic).Build(BuildMode::kOverwrite);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("'auto'"), std::string::npos) << st.message();

  conf::PoolDef missing = def_;
  missing.source_device = (dir_ / "nope.img").string();
  st = DirPool(missing).Build();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("nope.img"), std::string::npos) << st.message();
  EXPECT_FALSE(DirPool(missing).Start().ok());
}

}  // namespace
}  // namespace skiff::storage
