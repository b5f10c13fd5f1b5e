#include "image/raw_image.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "image/test_util.h"
#include "testutil/temp_dir.h"

namespace skiff::image {
namespace {

uint64_t DiskUsage(const std::string& p) {
  struct stat st;
  ::stat(p.c_str(), &st);
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

TEST(RawImage, PreallocationModesAllocateAsNamed) {
  skiff::testing::TempDir dir;
  for (auto mode : {Preallocation::kOff, Preallocation::kFalloc, Preallocation::kFull}) {
    std::string p = (dir / "r.raw").string();
    ASSERT_TRUE(RawImage::Create(p, 16 << 20, mode).ok());
    uint64_t du = DiskUsage(p);
    if (mode == Preallocation::kOff) {
      EXPECT_LT(du, 1u << 20);
    } else {
      EXPECT_GE(du, 16u << 20);
    }
  }
  EXPECT_EQ(RawImage::Create((dir / "m.raw").string(), 1 << 20, Preallocation::kMetadata).code(),
            Code::kInvalidArgument);
}

TEST(RawImage, BlockStatusSeesHolesAndData) {
  skiff::testing::TempDir dir;
  std::string p = (dir / "r.raw").string();
  ASSERT_TRUE(RawImage::Create(p, 4 << 20, Preallocation::kOff).ok());
  auto img = RawImage::Open(p, true);
  ASSERT_TRUE(img.ok());
  ASSERT_TRUE((*img)->Write(1 << 20, testing::Pattern(65536, 1)).ok());
  auto hole = (*img)->GetBlockStatus(0, 4 << 20);
  ASSERT_TRUE(hole.ok());
  EXPECT_EQ(hole->allocation, Allocation::kZero);
  EXPECT_EQ(hole->length, 1u << 20);
  auto data = (*img)->GetBlockStatus(1 << 20, 3 << 20);
  EXPECT_EQ(data->allocation, Allocation::kData);
  EXPECT_GE(data->length, 65536u);
  EXPECT_EQ((*img)->Read(4 << 20, std::span<uint8_t>()).code(), Code::kOk);
  std::vector<uint8_t> one(1);
  EXPECT_EQ((*img)->Read(4 << 20, one).code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace skiff::image
