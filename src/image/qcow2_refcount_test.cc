#include "image/qcow2_refcount.h"

#include <gtest/gtest.h>

#include "testutil/temp_dir.h"

namespace skiff::image {
namespace {

TEST(RefcountEntry, EveryWidthRoundTrips) {
  for (uint32_t order = 0; order <= 6; ++order) {
    std::vector<uint8_t> block(512, 0);
    uint64_t bits = 1u << order;
    uint64_t max = order == 6 ? ~0ull : (1ull << bits) - 1;
    uint64_t entries = 512 * 8 / bits;
    for (uint64_t i = 0; i < entries; ++i) SetRefcountEntry(block.data(), order, i, (i * 7) & max);
    for (uint64_t i = 0; i < entries; ++i) {
      ASSERT_EQ(GetRefcountEntry(block.data(), order, i), (i * 7) & max)
          << "order " << order << " i " << i;
    }
  }
}

TEST(RefcountEntry, SubByteEntriesStartAtTheLeastSignificantBit) {
  std::vector<uint8_t> block(4, 0);
  SetRefcountEntry(block.data(), 0, 0, 1);
  SetRefcountEntry(block.data(), 0, 3, 1);
  EXPECT_EQ(block[0], 0x09);
  SetRefcountEntry(block.data(), 2, 1, 0xa);
  EXPECT_EQ(block[0], 0xa9);
}

TEST(Qcow2Refcounts, AllocationGrowsTableAndBlocksThatCoverThemselves) {
  skiff::testing::TempDir dir;
  auto f = HostFile::Create((dir / "r").string());
  ASSERT_TRUE(f.ok());
  // 512-byte clusters with 64-bit refcounts: 64 refcounts per block, so the
  // table has to grow many times.
  Qcow2Refcounts rc(&*f, 9, 6);
  rc.InitEmpty(512, 1, 2);
  ASSERT_TRUE(rc.Add(0, 2, 1).ok());
  std::vector<uint64_t> offs;
  for (int i = 0; i < 3000; ++i) {
    auto off = rc.Allocate(1);
    ASSERT_TRUE(off.ok()) << off.status().ToString();
    offs.push_back(*off);
  }
  for (uint64_t off : offs) {
    auto v = rc.Get(off / 512);
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(*v, 1u);
  }
  // Every block and the table itself are counted.
  auto t = rc.Get(rc.table_offset() / 512);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, 1u);
  for (uint64_t e : rc.table()) {
    if (e == 0) continue;
    auto b = rc.Get(e / 512);
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(*b, 1u);
  }
}

TEST(Qcow2Refcounts, OverflowIsAnErrorAndChangesNothing) {
  skiff::testing::TempDir dir;
  auto f = HostFile::Create((dir / "r").string());
  Qcow2Refcounts rc(&*f, 16, 1);  // 2-bit refcounts: max 3
  rc.InitEmpty(65536, 1, 2);
  ASSERT_TRUE(rc.Add(0, 2, 1).ok());
  ASSERT_TRUE(rc.Add(0, 1, 2).ok());
  Status st = rc.Add(0, 2, 1);
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  EXPECT_EQ(*rc.Get(0), 3u);
  EXPECT_EQ(*rc.Get(1), 1u);
  EXPECT_EQ(rc.Add(5, 1, -1).code(), Code::kCorruption);
}

TEST(Qcow2Refcounts, FreedClustersAreReusedOnlyAfterPendingFreesApply) {
  skiff::testing::TempDir dir;
  auto f = HostFile::Create((dir / "r").string());
  Qcow2Refcounts rc(&*f, 16, 4);
  rc.InitEmpty(65536, 1, 2);
  ASSERT_TRUE(rc.Add(0, 2, 1).ok());
  auto a = rc.Allocate(1);
  ASSERT_TRUE(a.ok());
  rc.FreeLater(*a / 65536, 1);
  auto b = rc.Allocate(1);
  EXPECT_NE(*a, *b);
  ASSERT_TRUE(rc.ApplyPendingFrees().ok());
  auto c = rc.Allocate(1);
  EXPECT_EQ(*a, *c);
}

}  // namespace
}  // namespace skiff::image
