#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstring>

#include "image/test_util.h"
#include "skiff/image/ops.h"
#include "testutil/temp_dir.h"

namespace skiff::image {
namespace {

using testing::Pattern;
using testing::ReadAll;

std::string MakeRaw(const skiff::testing::TempDir& dir, std::vector<uint8_t>* content) {
  std::string p = (dir / "src.raw").string();
  EXPECT_TRUE(
      CreateImage(p, CreateOptions{.format = "raw", .size = 8 << 20, .size_given = true}).ok());
  OpenOptions oo;
  oo.writable = true;
  auto img = OpenImage(p, oo);
  content->assign(8 << 20, 0);
  auto a = Pattern(1 << 20, 1);
  EXPECT_TRUE((*img)->Write(0, a).ok());
  std::memcpy(content->data(), a.data(), a.size());
  std::vector<uint8_t> text(2 << 20);
  for (size_t i = 0; i < text.size(); ++i) text[i] = static_cast<uint8_t>("text "[i % 5]);
  EXPECT_TRUE((*img)->Write(3 << 20, text).ok());
  std::memcpy(content->data() + (3 << 20), text.data(), text.size());
  EXPECT_TRUE((*img)->Close().ok());
  return p;
}

TEST(Convert, RawToQcow2AndBackPreservesContentAndSparseness) {
  skiff::testing::TempDir dir;
  std::vector<uint8_t> content;
  std::string src = MakeRaw(dir, &content);
  for (bool compress : {false, true}) {
    for (const char* ct : {"zlib", "zstd"}) {
      std::string q = (dir / "out.qcow2").string(), back = (dir / "back.raw").string();
      ConvertOptions o;
      o.target.format = "qcow2";
      o.target.compression_type = ct;
      o.compress = compress;
      ASSERT_TRUE(ConvertImage(src, q, o).ok());
      auto r = CheckImage(q, "", RepairMode::kNone);
      ASSERT_TRUE(r.ok());
      EXPECT_EQ(CheckExitCode(*r), 0);
      EXPECT_EQ(r->compressed_clusters > 0, compress);
      ConvertOptions ro;
      ro.target.format = "raw";
      ASSERT_TRUE(ConvertImage(q, back, ro).ok());
      auto img = OpenImage(back, OpenOptions{});
      EXPECT_EQ(ReadAll(**img), content);
      struct stat st;
      ASSERT_EQ(::stat(back.c_str(), &st), 0);
      EXPECT_LT(static_cast<uint64_t>(st.st_blocks) * 512, 4u << 20);
      auto cmp = CompareImages(src, "", q, "", false, nullptr);
      ASSERT_TRUE(cmp.ok());
      EXPECT_TRUE(cmp->identical) << cmp->message;
    }
  }
}

TEST(Compare, ReportsFirstDifferenceAndSizeRules) {
  skiff::testing::TempDir dir;
  std::vector<uint8_t> content;
  std::string a = MakeRaw(dir, &content);
  std::string b = (dir / "b.qcow2").string();
  ConvertOptions o;
  o.target.format = "qcow2";
  ASSERT_TRUE(ConvertImage(a, b, o).ok());
  {
    OpenOptions oo;
    oo.writable = true;
    auto img = OpenImage(b, oo);
    ASSERT_TRUE((*img)->Write(5 << 20, std::vector<uint8_t>(1, 1)).ok());
    ASSERT_TRUE((*img)->Close().ok());
  }
  auto r = CompareImages(a, "", b, "", false, nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->identical);
  EXPECT_EQ(r->message, "Content mismatch at offset 5242880!");
}

TEST(Measure, EmptyImageMatchesQemuFormula) {
  CreateOptions t;
  t.format = "qcow2";
  auto r = MeasureImage(t, "", "", 1ull << 30);
  ASSERT_TRUE(r.ok());
  // Values printed by qemu-img 7.2 for `measure --size 1G -O qcow2`.
  EXPECT_EQ(r->required, 393216u);
  EXPECT_EQ(r->fully_allocated, 1074135040u);
}

TEST(Map, ExtentsMergeAndCarryHostOffsets) {
  skiff::testing::TempDir dir;
  std::vector<uint8_t> content;
  std::string a = MakeRaw(dir, &content);
  std::string q = (dir / "m.qcow2").string();
  ConvertOptions o;
  o.target.format = "qcow2";
  ASSERT_TRUE(ConvertImage(a, q, o).ok());
  auto img = OpenImage(q, OpenOptions{});
  auto ext = MapImage(**img, 0, UINT64_MAX);
  ASSERT_TRUE(ext.ok());
  ASSERT_GE(ext->size(), 3u);
  EXPECT_TRUE((*ext)[0].data);
  EXPECT_EQ((*ext)[0].length, 1u << 20);
  EXPECT_TRUE((*ext)[0].offset.has_value());
  EXPECT_FALSE((*ext)[1].data);
  uint64_t total = 0;
  for (auto& e : *ext) total += e.length;
  EXPECT_EQ(total, 8u << 20);
}

}  // namespace
}  // namespace skiff::image
