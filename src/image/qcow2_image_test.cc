#include "image/qcow2_image.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "image/test_util.h"
#include "testutil/temp_dir.h"

namespace skiff::image {
namespace {

using testing::Pattern;
using testing::ReadAll;

std::unique_ptr<Image> Make(const std::string& path, uint64_t size, const std::string& opts = "",
                            bool writable = true) {
  CreateOptions o;
  o.format = "qcow2";
  o.size = size;
  o.size_given = true;
  EXPECT_TRUE(ParseCreateOptionList(opts, o).ok());
  EXPECT_TRUE(CreateImage(path, o).ok());
  OpenOptions oo;
  oo.writable = writable;
  auto img = OpenImage(path, oo);
  EXPECT_TRUE(img.ok()) << img.status().ToString();
  return std::move(img).value();
}

std::unique_ptr<Image> Reopen(const std::string& path, bool writable = false) {
  OpenOptions oo;
  oo.writable = writable;
  auto img = OpenImage(path, oo);
  EXPECT_TRUE(img.ok()) << img.status().ToString();
  return std::move(img).value();
}

void ExpectClean(const std::string& path) {
  auto r = CheckImage(path, "", RepairMode::kNone);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->corruptions, 0u) << path;
  EXPECT_EQ(r->leaks, 0u) << path;
  for (auto& m : r->messages) ADD_FAILURE() << m;
}

class Qcow2Options : public ::testing::TestWithParam<const char*> {};

TEST_P(Qcow2Options, WritesReadBackAfterReopenAndStayConsistent) {
  skiff::testing::TempDir dir;
  std::string p = (dir / "a.qcow2").string();
  const uint64_t size = 9 << 20;
  std::vector<uint8_t> model(size, 0);
  {
    auto img = Make(p, size, GetParam());
    // Unaligned, cluster-crossing, whole-cluster and sub-cluster writes.
    struct W {
      uint64_t off;
      uint64_t len;
      uint8_t seed;
    } ws[] = {{0, 4096, 1},          {777, 100000, 2},       {1 << 20, 2 << 20, 3},
              {(5 << 20) + 3, 5, 4}, {size - 1000, 1000, 5}, {(1 << 20) + 4096, 512, 6}};
    for (auto w : ws) {
      auto data = Pattern(w.len, w.seed);
      ASSERT_TRUE(img->Write(w.off, data).ok());
      std::memcpy(model.data() + w.off, data.data(), w.len);
    }
    ASSERT_TRUE(img->WriteZeroes(1 << 20, 1 << 20, true).ok());
    std::memset(model.data() + (1 << 20), 0, 1 << 20);
    ASSERT_TRUE(img->WriteZeroes(100, 50, false).ok());
    std::memset(model.data() + 100, 0, 50);
    EXPECT_EQ(ReadAll(*img), model);
    ASSERT_TRUE(img->Close().ok());
  }
  auto img = Reopen(p);
  EXPECT_EQ(ReadAll(*img), model);
  img.reset();
  ExpectClean(p);
}

INSTANTIATE_TEST_SUITE_P(All, Qcow2Options,
                         ::testing::Values("", "cluster_size=512", "cluster_size=4k",
                                           "cluster_size=2M", "refcount_bits=1", "refcount_bits=2",
                                           "refcount_bits=8", "refcount_bits=64,cluster_size=512",
                                           "compat=0.10", "extended_l2=on",
                                           "extended_l2=on,cluster_size=16k", "lazy_refcounts=on",
                                           "compression_type=zstd"));

TEST(Qcow2Image, CompressedClustersReadAndAreCopiedOnWrite) {
  for (const char* ct : {"zlib", "zstd"}) {
    skiff::testing::TempDir dir;
    std::string p = (dir / "c.qcow2").string();
    auto img = Make(p, 1 << 20, std::string("compression_type=") + ct);
    auto* q = dynamic_cast<Qcow2Image*>(img.get());
    std::vector<uint8_t> cluster(65536);
    for (size_t i = 0; i < cluster.size(); ++i)
      cluster[i] = static_cast<uint8_t>("compressible"[i % 12]);
    std::vector<uint8_t> comp;
    bool fits = false;
    ASSERT_TRUE(CompressCluster(q->compression_type(), cluster, 65535, comp, &fits).ok());
    ASSERT_TRUE(fits);
    ASSERT_TRUE(q->WriteCompressedCluster(65536, comp).ok());
    ASSERT_TRUE(q->WriteCompressedCluster(131072, comp).ok());
    std::vector<uint8_t> got(65536);
    ASSERT_TRUE(img->Read(65536, got).ok());
    EXPECT_EQ(got, cluster);
    auto bs = img->GetBlockStatus(65536, 65536);
    ASSERT_TRUE(bs.ok());
    EXPECT_TRUE(bs->compressed);
    // Overwrite part of a compressed cluster: the rest must survive.
    std::vector<uint8_t> patch(10, 0xee);
    ASSERT_TRUE(img->Write(65536 + 100, patch).ok());
    std::memcpy(cluster.data() + 100, patch.data(), 10);
    ASSERT_TRUE(img->Read(65536, got).ok());
    EXPECT_EQ(got, cluster);
    ASSERT_TRUE(img->Close().ok());
    img.reset();
    ExpectClean(p);
  }
}

TEST(Qcow2Image, BackingChainReadsFallThroughAndZeroClustersHideBacking) {
  skiff::testing::TempDir dir;
  std::string base = (dir / "base.qcow2").string(), top = (dir / "top.qcow2").string();
  {
    auto b = Make(base, 4 << 20);
    ASSERT_TRUE(b->Write(0, Pattern(4 << 20, 9)).ok());
    ASSERT_TRUE(b->Close().ok());
  }
  CreateOptions o;
  o.format = "qcow2";
  o.backing_file = "base.qcow2";
  o.backing_format = "qcow2";
  ASSERT_TRUE(CreateImage(top, o).ok());
  auto t = Reopen(top, true);
  EXPECT_EQ(t->size(), 4u << 20);
  auto expect = Pattern(4 << 20, 9);
  auto patch = Pattern(1000, 1);
  ASSERT_TRUE(t->Write(70000, patch).ok());  // partial cluster: copy-on-write from the backing
  std::memcpy(expect.data() + 70000, patch.data(), patch.size());
  ASSERT_TRUE(t->WriteZeroes(2 << 20, 65536, true).ok());
  std::memset(expect.data() + (2 << 20), 0, 65536);
  EXPECT_EQ(ReadAll(*t), expect);
  ASSERT_TRUE(t->Close().ok());
  t.reset();
  ExpectClean(top);
  EXPECT_EQ(ReadAll(*Reopen(top)), expect);
}

TEST(Qcow2Image, BackingLoopIsAnError) {
  skiff::testing::TempDir dir;
  std::string a = (dir / "a.qcow2").string(), b = (dir / "b.qcow2").string();
  EXPECT_TRUE(Make(a, 1 << 20)->Close().ok());
  CreateOptions o;
  o.format = "qcow2";
  o.backing_file = "a.qcow2";
  o.backing_format = "qcow2";
  ASSERT_TRUE(CreateImage(b, o).ok());
  {
    auto img = Reopen(a, true);
    ASSERT_TRUE(dynamic_cast<Qcow2Image*>(img.get())->SetBacking("b.qcow2", "qcow2").ok());
  }
  auto r = OpenImage(b, OpenOptions{});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("loop"), std::string::npos) << r.status().message();
}

TEST(Qcow2Image, SnapshotsKeepOldContentAndRefcountsStayExact) {
  skiff::testing::TempDir dir;
  std::string p = (dir / "s.qcow2").string();
  auto img = Make(p, 2 << 20);
  auto* q = dynamic_cast<Qcow2Image*>(img.get());
  auto v1 = Pattern(2 << 20, 1);
  ASSERT_TRUE(img->Write(0, v1).ok());
  ASSERT_TRUE(q->CreateSnapshot("one").ok());
  EXPECT_EQ(q->CreateSnapshot("one").code(), Code::kAlreadyExists);
  auto v2 = Pattern(100000, 2);
  ASSERT_TRUE(img->Write(5000, v2).ok());
  ASSERT_TRUE(img->Flush().ok());
  ExpectClean(p);
  ASSERT_TRUE(q->ApplySnapshot("one").ok());
  EXPECT_EQ(ReadAll(*img), v1);
  ASSERT_TRUE(q->DeleteSnapshot("1").ok());
  EXPECT_EQ(q->DeleteSnapshot("one").code(), Code::kNotFound);
  ASSERT_TRUE(img->Close().ok());
  ExpectClean(p);
}

TEST(Qcow2Image, RefcountOverflowOnSnapshotIsAnErrorNotCorruption) {
  skiff::testing::TempDir dir;
  std::string p = (dir / "o.qcow2").string();
  auto img = Make(p, 1 << 20, "refcount_bits=2");
  auto* q = dynamic_cast<Qcow2Image*>(img.get());
  ASSERT_TRUE(img->Write(0, Pattern(65536, 3)).ok());
  ASSERT_TRUE(q->CreateSnapshot("a").ok());
  ASSERT_TRUE(q->CreateSnapshot("b").ok());
  Status st = q->CreateSnapshot("c");  // data cluster would need refcount 4 > 3
  EXPECT_EQ(st.code(), Code::kFailedPrecondition) << st.ToString();
  ASSERT_TRUE(img->Close().ok());
  img.reset();
  auto r = CheckImage(p, "", RepairMode::kNone);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->corruptions, 0u);
}

TEST(Qcow2Image, ResizeGrowsL1AndShrinkNeedsTheFlag) {
  skiff::testing::TempDir dir;
  std::string p = (dir / "r.qcow2").string();
  {
    auto img = Make(p, 1 << 20, "cluster_size=512");
    ASSERT_TRUE(img->Write(0, Pattern(1 << 20, 4)).ok());
    ASSERT_TRUE(img->Close().ok());
  }
  ASSERT_TRUE(ResizeImage(p, "", "+100M", false, Preallocation::kOff).ok());
  ExpectClean(p);
  auto img = Reopen(p, true);
  EXPECT_EQ(img->size(), (1u << 20) + (100u << 20));
  ASSERT_TRUE(img->Write(img->size() - 512, Pattern(512, 5)).ok());
  ASSERT_TRUE(img->Close().ok());
  img.reset();
  EXPECT_EQ(ResizeImage(p, "", "512k", false, Preallocation::kOff).code(), Code::kInvalidArgument);
  ASSERT_TRUE(ResizeImage(p, "", "512k", true, Preallocation::kOff).ok());
  ExpectClean(p);
  auto small = Reopen(p);
  auto expect = Pattern(1 << 20, 4);
  expect.resize(512 << 10);
  EXPECT_EQ(ReadAll(*small), expect);
}

TEST(Qcow2Image, SequentialAllocatingWritesGrowTheFileAheadAndCloseTrimsIt) {
  // Whole-cluster writes past the end extend the file in large fallocate steps;
  // on close the file ends where its last cluster does, as without them.
  skiff::testing::TempDir dir;
  std::string p = (dir / "g.qcow2").string();
  auto img = Make(p, 1ull << 30);
  std::vector<uint8_t> model(3 << 20);
  for (uint64_t off = 0; off < model.size(); off += 64 << 10) {
    auto data = Pattern(64 << 10, static_cast<uint8_t>(off >> 16));
    ASSERT_TRUE(img->Write(off, data).ok());
    std::memcpy(model.data() + off, data.data(), data.size());
  }
  const uint64_t open_size = std::filesystem::file_size(p);
  ASSERT_TRUE(img->Close().ok());
  auto r = CheckImage(p, "", RepairMode::kNone);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->corruptions + r->leaks, 0u);
  EXPECT_EQ(std::filesystem::file_size(p), r->image_end_offset);
  EXPECT_GE(open_size, r->image_end_offset);
  EXPECT_LT(r->image_end_offset, 4u << 20);
  auto back = Reopen(p);
  std::vector<uint8_t> got(model.size());
  ASSERT_TRUE(back->Read(0, got).ok());
  EXPECT_EQ(got, model);
  // Writes after a reopen grow and trim the same way; existing data stays.
  back = Reopen(p, true);
  ASSERT_TRUE(back->Write(8 << 20, Pattern(1 << 20, 9)).ok());
  ASSERT_TRUE(back->Close().ok());
  r = CheckImage(p, "", RepairMode::kNone);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->corruptions + r->leaks, 0u);
  EXPECT_EQ(std::filesystem::file_size(p), r->image_end_offset);
  back = Reopen(p);
  ASSERT_TRUE(back->Read(0, got).ok());
  EXPECT_EQ(got, model);
}

TEST(Qcow2Image, ParallelAllocatingWritesPastTheWritebackKickStayConsistent) {
  // 48 MiB from several threads: write-back kicks (every 16 MiB, on the file's
  // own thread), growth ahead of the writes and the trim on close, together.
  skiff::testing::TempDir dir;
  std::string p = (dir / "k.qcow2").string();
  ASSERT_TRUE(Make(p, 1ull << 30)->Close().ok());
  BenchOptions b;
  b.format = "qcow2";
  b.write = true;
  b.count = 768;
  b.depth = 4;
  b.request_size = 64 << 10;
  b.step = 64 << 10;
  b.pattern = 0x5a;
  auto r = RunBench(p, b);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ExpectClean(p);
  auto img = Reopen(p);
  std::vector<uint8_t> got(48 << 20);
  ASSERT_TRUE(img->Read(0, got).ok());
  EXPECT_EQ(std::count(got.begin(), got.end(), 0x5a), static_cast<std::ptrdiff_t>(got.size()));
  std::vector<uint8_t> after(1 << 20);
  ASSERT_TRUE(img->Read(48 << 20, after).ok());
  EXPECT_EQ(std::count(after.begin(), after.end(), 0), static_cast<std::ptrdiff_t>(after.size()));
  auto check = CheckImage(p, "", RepairMode::kNone);
  ASSERT_TRUE(check.ok());
  EXPECT_EQ(std::filesystem::file_size(p), check->image_end_offset);
}

TEST(Qcow2Image, ReadOnlyOpenNeverWrites) {
  skiff::testing::TempDir dir;
  std::string p = (dir / "ro.qcow2").string();
  EXPECT_TRUE(Make(p, 1 << 20, "lazy_refcounts=on")->Close().ok());
  std::string before = testing::FileBytes(p);
  auto img = Reopen(p, false);
  EXPECT_EQ(img->Write(0, Pattern(10, 1)).code(), Code::kFailedPrecondition);
  EXPECT_EQ(img->WriteZeroes(0, 512, true).code(), Code::kFailedPrecondition);
  EXPECT_FALSE(dynamic_cast<Qcow2Image*>(img.get())->CreateSnapshot("x").ok());
  ReadAll(*img);
  ASSERT_TRUE(img->Close().ok());
  EXPECT_EQ(testing::FileBytes(p), before);
}

TEST(Qcow2Image, LazyRefcountsSetTheDirtyBitUntilClose) {
  skiff::testing::TempDir dir;
  std::string p = (dir / "l.qcow2").string();
  auto img = Make(p, 1 << 20, "lazy_refcounts=on");
  ASSERT_TRUE(img->Write(0, Pattern(4096, 1)).ok());
  ASSERT_TRUE(img->Flush().ok());
  {
    auto peek = Reopen(p, false);
    EXPECT_TRUE(dynamic_cast<Qcow2Image*>(peek.get())->header().incompatible_features &
                kIncompatDirty);
  }
  ASSERT_TRUE(img->Close().ok());
  auto after = Reopen(p, false);
  EXPECT_FALSE(dynamic_cast<Qcow2Image*>(after.get())->header().incompatible_features &
               kIncompatDirty);
  after.reset();
  ExpectClean(p);
}

TEST(Qcow2Image, LazyRefcountsWithPreallocationWriteTheRefcounts) {
  // Preallocation used to skip the dirty bit, so with lazy refcounts the new
  // clusters' refcounts were never written (qemu-img check: refcount=0).
  skiff::testing::TempDir dir;
  for (const char* mode : {"metadata", "falloc", "full"}) {
    std::string p = (dir / (std::string(mode) + ".qcow2")).string();
    Make(p, 3 << 20, std::string("lazy_refcounts=on,preallocation=") + mode, false).reset();
    ExpectClean(p);
    auto img = Reopen(p, false);
    EXPECT_FALSE(dynamic_cast<Qcow2Image*>(img.get())->header().incompatible_features &
                 kIncompatDirty);
  }
}

}  // namespace
}  // namespace skiff::image
