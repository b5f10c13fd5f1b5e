#include "image/compression.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "image/test_util.h"

namespace skiff::image {
namespace {

TEST(Compression, RoundTripsAndRefusesIncompressibleData) {
  for (auto t : {CompressionType::kZlib, CompressionType::kZstd}) {
    std::vector<uint8_t> text(65536);
    for (size_t i = 0; i < text.size(); ++i) text[i] = static_cast<uint8_t>("abcabd"[i % 6]);
    std::vector<uint8_t> out;
    bool fits = false;
    ASSERT_TRUE(CompressCluster(t, text, 65535, out, &fits).ok());
    ASSERT_TRUE(fits);
    EXPECT_LT(out.size(), 4096u);
    // Trailing bytes (the next compressed cluster) must not matter.
    out.resize(out.size() + 300, 0x5a);
    std::vector<uint8_t> back(65536);
    ASSERT_TRUE(DecompressCluster(t, out, back).ok());
    EXPECT_EQ(back, text);
    auto noise = testing::Pattern(65536, 7);
    ASSERT_TRUE(CompressCluster(t, noise, 65535, out, &fits).ok());
    EXPECT_FALSE(fits);
  }
}

TEST(Compression, EarlyAbortKeepsClustersThatDeflateShrinks) {
  // The zlib early abort (a fast zstd pass) must not give up on a cluster
  // that is mostly noise but still fits compressed, nor on a short noise
  // pattern repeated within deflate's 4 KiB window.
  auto noise = testing::Pattern(65536, 9);
  std::vector<uint8_t> mostly(noise);
  std::fill(mostly.begin() + 60000, mostly.end(), 0);
  std::vector<uint8_t> repeated(65536);
  for (size_t i = 0; i < repeated.size(); ++i) repeated[i] = noise[i % 1000];
  for (const auto* in : {&mostly, &repeated}) {
    std::vector<uint8_t> out;
    bool fits = false;
    ASSERT_TRUE(CompressCluster(CompressionType::kZlib, *in, 65535, out, &fits).ok());
    ASSERT_TRUE(fits);
    std::vector<uint8_t> back(65536);
    ASSERT_TRUE(DecompressCluster(CompressionType::kZlib, out, back).ok());
    EXPECT_EQ(back, *in);
  }
}

TEST(Compression, GarbageIsCorruption) {
  auto junk = testing::Pattern(1000, 3);
  std::vector<uint8_t> out(65536);
  EXPECT_EQ(DecompressCluster(CompressionType::kZstd, junk, out).code(), Code::kCorruption);
  EXPECT_EQ(DecompressCluster(CompressionType::kZlib, junk, out).code(), Code::kCorruption);
  std::vector<uint8_t> empty;
  EXPECT_EQ(DecompressCluster(CompressionType::kZlib, empty, out).code(), Code::kCorruption);
}

}  // namespace
}  // namespace skiff::image
