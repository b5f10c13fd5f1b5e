// Bad input: truncated, corrupted and hostile qcow2 files give one-line errors
// naming the problem and the offset, and never a crash or a write.
#include <gtest/gtest.h>

#include "image/endian.h"
#include "image/qcow2_image.h"
#include "image/test_util.h"
#include "testutil/temp_dir.h"

namespace skiff::image {
namespace {

using testing::Be32;
using testing::Be64;
using testing::Patch;
using testing::Pattern;

// A 1 MiB image, 64 KiB clusters: header 0, refcount table 0x10000, block
// 0x20000, L1 0x30000, then the L2 table 0x40000 and data 0x50000.
std::string MakeImage(const skiff::testing::TempDir& dir, const std::string& opts = "") {
  std::string p = (dir / "bad.qcow2").string();
  CreateOptions o;
  o.format = "qcow2";
  o.size = 1 << 20;
  o.size_given = true;
  EXPECT_TRUE(ParseCreateOptionList(opts, o).ok());
  EXPECT_TRUE(CreateImage(p, o).ok());
  OpenOptions oo;
  oo.writable = true;
  auto img = OpenImage(p, oo);
  EXPECT_TRUE((*img)->Write(0, Pattern(65536, 1)).ok());
  EXPECT_TRUE((*img)->Close().ok());
  return p;
}

Status ReadEverything(const std::string& p) {
  auto img = OpenImage(p, OpenOptions{});
  if (!img.ok()) return img.status();
  std::vector<uint8_t> buf((*img)->size());
  return (*img)->Read(0, buf);
}

void ExpectOneLine(const Status& st, const std::string& needle) {
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.ToString().find('\n'), std::string::npos);
  EXPECT_NE(st.message().find(needle), std::string::npos) << st.ToString();
}

TEST(BadInput, TruncatedHeader) {
  skiff::testing::TempDir dir;
  std::string p = MakeImage(dir);
  ASSERT_EQ(::truncate(p.c_str(), 50), 0);
  OpenOptions oo;
  oo.format = "qcow2";
  ExpectOneLine(OpenImage(p, oo).status(), "too short");
}

TEST(BadInput, TruncatedBeforeL1Table) {
  skiff::testing::TempDir dir;
  std::string p = MakeImage(dir);
  ASSERT_EQ(::truncate(p.c_str(), 0x30004), 0);
  ExpectOneLine(OpenImage(p, OpenOptions{}).status(), "0x30000");
}

TEST(BadInput, L2TableNotAligned) {
  skiff::testing::TempDir dir;
  std::string p = MakeImage(dir);
  Patch(p, 0x30000, Be64(0x40200 | kOflagCopied));
  std::string before = testing::FileBytes(p);
  ExpectOneLine(ReadEverything(p), "L2 table at 0x40200 (L1 entry 0) is not cluster-aligned");
  EXPECT_EQ(testing::FileBytes(p), before);
}

TEST(BadInput, DataClusterPastEndOfFile) {
  skiff::testing::TempDir dir;
  std::string p = MakeImage(dir);
  Patch(p, 0x40000, Be64(0x7000000 | kOflagCopied));
  ExpectOneLine(ReadEverything(p), "0x7000000");
  auto r = CheckImage(p, "", RepairMode::kNone);
  ASSERT_TRUE(r.ok());
  EXPECT_GT(r->corruptions, 0u);
  EXPECT_EQ(CheckExitCode(*r), 2);
}

TEST(BadInput, CompressedClusterWithGarbage) {
  skiff::testing::TempDir dir;
  std::string p = MakeImage(dir);
  // A compressed descriptor pointing at the random data cluster.
  Patch(p, 0x40008, Be64(kOflagCompressed | (1ull << 54) | 0x50000));
  auto st = ReadEverything(p);
  ExpectOneLine(st, "compressed cluster at 0x50000");
}

TEST(BadInput, SnapshotTableOverrun) {
  skiff::testing::TempDir dir;
  std::string p = MakeImage(dir);
  Patch(p, 60, Be32(1000));     // nb_snapshots
  Patch(p, 64, Be64(0x50000));  // table in the data cluster
  ExpectOneLine(OpenImage(p, OpenOptions{}).status(), "snapshot");
}

TEST(BadInput, RefcountTableTooLarge) {
  skiff::testing::TempDir dir;
  std::string p = MakeImage(dir);
  Patch(p, 56, Be32(0x10000));
  ExpectOneLine(OpenImage(p, OpenOptions{}).status(), "8 MiB");
}

TEST(BadInput, AbsurdVirtualSize) {
  skiff::testing::TempDir dir;
  std::string p = MakeImage(dir);
  Patch(p, 24, Be64(1ull << 62));
  ExpectOneLine(OpenImage(p, OpenOptions{}).status(), "too small for virtual size");
}

TEST(BadInput, UnknownIncompatibleFeatureNamed) {
  skiff::testing::TempDir dir;
  std::string p = MakeImage(dir);
  Patch(p, 72, Be64(1ull << 7));
  auto st = OpenImage(p, OpenOptions{}).status();
  EXPECT_EQ(st.code(), Code::kUnsupported);
  ExpectOneLine(st, "bit 7");
}

TEST(BadInput, CorruptBitRefusesWritesButAllowsReads) {
  skiff::testing::TempDir dir;
  std::string p = MakeImage(dir);
  Patch(p, 72, Be64(kIncompatCorrupt));
  EXPECT_TRUE(ReadEverything(p).ok());
  OpenOptions oo;
  oo.writable = true;
  ExpectOneLine(OpenImage(p, oo).status(), "marked corrupt");
  auto r = CheckImage(p, "", RepairMode::kAll);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(OpenImage(p, oo).ok());
}

TEST(BadInput, RefcountErrorsAreRepairedByCheckAll) {
  skiff::testing::TempDir dir;
  std::string p = MakeImage(dir);
  // Zero the refcount of the data cluster (cluster 5): a corruption.
  Patch(p, 0x20000 + 5 * 2, {0, 0});
  auto r = CheckImage(p, "", RepairMode::kNone);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(CheckExitCode(*r), 2);
  auto fixed = CheckImage(p, "", RepairMode::kAll);
  ASSERT_TRUE(fixed.ok()) << fixed.status().ToString();
  EXPECT_GT(fixed->corruptions_fixed, 0u);
  EXPECT_EQ(CheckExitCode(*fixed), 0);
  auto again = CheckImage(p, "", RepairMode::kNone);
  EXPECT_EQ(CheckExitCode(*again), 0);
  auto img = OpenImage(p, OpenOptions{});
  std::vector<uint8_t> got(65536);
  ASSERT_TRUE((*img)->Read(0, got).ok());
  EXPECT_EQ(got, Pattern(65536, 1));
}

TEST(BadInput, CheckWithoutRepairNeverWrites) {
  skiff::testing::TempDir dir;
  std::string p = MakeImage(dir);
  Patch(p, 0x20000 + 6 * 2, {0, 1});  // cluster 6 lies past the end: a leak
  std::string before = testing::FileBytes(p);
  auto r = CheckImage(p, "", RepairMode::kNone);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->leaks, 1u);
  EXPECT_EQ(CheckExitCode(*r), 3);
  EXPECT_EQ(testing::FileBytes(p), before);
}

TEST(BadInput, RandomBitFlipsNeverCrash) {
  skiff::testing::TempDir dir;
  std::string good = testing::FileBytes(MakeImage(dir, "cluster_size=512"));
  std::string p = (dir / "flip.qcow2").string();
  std::mt19937 rng(42);
  for (int i = 0; i < 300; ++i) {
    std::string bytes = good;
    for (int k = 0; k < 4; ++k) {
      size_t pos = rng() % std::min<size_t>(bytes.size(), 8192);
      bytes[pos] = static_cast<char>(bytes[pos] ^ (1 << (rng() % 8)));
    }
    FILE* f = std::fopen(p.c_str(), "wb");
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
    (void)ReadEverything(p);
    (void)CheckImage(p, "qcow2", RepairMode::kNone);
    EXPECT_EQ(testing::FileBytes(p), bytes);
  }
}

}  // namespace
}  // namespace skiff::image
