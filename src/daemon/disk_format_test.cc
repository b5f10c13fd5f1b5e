// disk_format: the backing chain skiffd reads from a disk's images before QEMU
// starts (it hands every layer over as an fd), and the chains it refuses.
#include "daemon/disk_format.h"

#include <gtest/gtest.h>

#include <string>

#include "image/qcow2_image.h"
#include "skiff/image/image.h"
#include "testutil/temp_dir.h"

namespace skiff::daemon {
namespace {

void Create(const std::string& path, const std::string& format, const std::string& backing = "",
            const std::string& backing_format = "") {
  image::CreateOptions o;
  o.format = format;
  o.size = 1 << 20;
  o.size_given = true;
  o.backing_file = backing;
  o.backing_format = backing_format;
  o.open_backing = false;
  Status st = image::CreateImage(path, o);
  ASSERT_TRUE(st.ok()) << st.ToString();
}

// An overlay as older qemu-img wrote them: the backing file named, its format not.
void CreateWithoutBackingFormat(const std::string& path, const std::string& backing) {
  Create(path, "qcow2");
  image::OpenOptions o;
  o.format = "qcow2";
  o.writable = true;
  o.open_backing = false;
  auto img = image::Qcow2Image::Open(path, o);
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  Status st = (*img)->SetBacking(backing, "");
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_TRUE((*img)->Close().ok());
}

conf::DiskDef Qcow2Disk(const std::string& path) {
  conf::DiskDef d;
  d.target_dev = "vda";
  d.driver.type = "qcow2";
  d.source_path = path;
  return d;
}

TEST(FillBackingChain, ReadsEveryLayerNearestFirstWithRelativeNamesResolved) {
  testing::TempDir dir;
  const std::string base = dir.path() / "base.raw";
  const std::string mid = dir.path() / "mid.qcow2";
  const std::string top = dir.path() / "top.qcow2";
  Create(base, "raw");
  Create(mid, "qcow2", "base.raw", "raw");  // relative: beside mid
  Create(top, "qcow2", mid, "qcow2");
  conf::DiskDef d = Qcow2Disk(top);
  ASSERT_TRUE(FillBackingChain(d, top).ok());
  ASSERT_EQ(d.backing_chain.size(), 2u);
  EXPECT_EQ(d.backing_chain[0].path, mid);
  EXPECT_EQ(d.backing_chain[0].format, "qcow2");
  EXPECT_EQ(d.backing_chain[1].path, base);
  EXPECT_EQ(d.backing_chain[1].format, "raw");
  EXPECT_EQ(d.backing_chain[1].type, conf::DiskType::kFile);
}

TEST(FillBackingChain, KeepsAChainTheDefinitionGivesAndLeavesRawDisksAlone) {
  testing::TempDir dir;
  const std::string base = dir.path() / "base.qcow2";
  const std::string top = dir.path() / "top.qcow2";
  Create(base, "qcow2");
  Create(top, "qcow2", base, "qcow2");
  conf::DiskDef d = Qcow2Disk(top);
  d.backing_chain.push_back({conf::DiskType::kFile, "qcow2", "/given/by/the/xml.qcow2"});
  ASSERT_TRUE(FillBackingChain(d, top).ok());
  ASSERT_EQ(d.backing_chain.size(), 1u);
  EXPECT_EQ(d.backing_chain[0].path, "/given/by/the/xml.qcow2");

  conf::DiskDef raw = Qcow2Disk(top);
  raw.driver.type = "raw";  // the guest sees the qcow2's bytes; nothing below it
  ASSERT_TRUE(FillBackingChain(raw, top).ok());
  EXPECT_TRUE(raw.backing_chain.empty());

  conf::DiskDef alone = Qcow2Disk(base);
  ASSERT_TRUE(FillBackingChain(alone, base).ok());
  EXPECT_TRUE(alone.backing_chain.empty());
}

TEST(FillBackingChain, AnUnrecordedFormatIsRawOnlyWhenItProbesAsRaw) {
  testing::TempDir dir;
  const std::string raw = dir.path() / "base.img";
  const std::string over_raw = dir.path() / "over-raw.qcow2";
  Create(raw, "raw");
  CreateWithoutBackingFormat(over_raw, raw);
  conf::DiskDef d = Qcow2Disk(over_raw);
  ASSERT_TRUE(FillBackingChain(d, over_raw).ok());
  ASSERT_EQ(d.backing_chain.size(), 1u);
  EXPECT_EQ(d.backing_chain[0].format, "raw");

  const std::string q = dir.path() / "base.qcow2";
  const std::string over_q = dir.path() / "over-q.qcow2";
  Create(q, "qcow2");
  CreateWithoutBackingFormat(over_q, q);
  conf::DiskDef e = Qcow2Disk(over_q);
  Status st = FillBackingChain(e, over_q);
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  EXPECT_NE(st.message().find("disk 'vda'"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("which looks like qcow2"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("skiff img rebase -u -b '" + q + "' -F qcow2 '" + over_q + "'"),
            std::string::npos)
      << st.message();
  EXPECT_TRUE(e.backing_chain.empty());
}

TEST(FillBackingChain, AMissingLayerOrALoopIsNamed) {
  testing::TempDir dir;
  const std::string top = dir.path() / "top.qcow2";
  Create(top, "qcow2", dir.path() / "gone.qcow2", "qcow2");
  conf::DiskDef d = Qcow2Disk(top);
  Status st = FillBackingChain(d, top);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("gone.qcow2"), std::string::npos) << st.message();

  const std::string a = dir.path() / "a.qcow2";
  const std::string b = dir.path() / "b.qcow2";
  Create(a, "qcow2", b, "qcow2");
  Create(b, "qcow2", a, "qcow2");
  conf::DiskDef l = Qcow2Disk(a);
  st = FillBackingChain(l, a);
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  EXPECT_NE(st.message().find("loops"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace skiff::daemon
