#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "image/test_util.h"
#include "skiff/image/iso.h"
#include "testutil/temp_dir.h"

namespace skiff::image {
namespace {

void WriteText(const std::filesystem::path& p, const std::string& s) {
  std::ofstream(p, std::ios::binary) << s;
}

class IsoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = dir_ / "src";
    std::filesystem::create_directories(src_ / "nested" / "deeper");
    WriteText(src_ / "user-data", "#cloud-config\nhostname: demo\n");
    WriteText(src_ / "meta-data", "instance-id: i-1\n");
    auto blob = testing::Pattern(300000, 5);
    WriteText(src_ / "nested" / "deeper" / "blob.bin", std::string(blob.begin(), blob.end()));
  }
  skiff::testing::TempDir dir_;
  std::filesystem::path src_;
};

TEST_F(IsoTest, WriteListExtractRoundTrip) {
  for (bool rr : {true, false}) {
    for (bool joliet : {true, false}) {
      std::string iso = (dir_ / "seed.iso").string();
      IsoCreateOptions o;
      o.rock_ridge = rr;
      o.joliet = joliet;
      ASSERT_TRUE(CreateIso(iso, src_.string(), o).ok());
      auto list = ListIso(iso);
      ASSERT_TRUE(list.ok()) << list.status().ToString();
      bool long_names = rr || joliet;
      std::string blob_path = long_names ? "/nested/deeper/blob.bin" : "/NESTED/DEEPER/BLOB.BIN";
      bool found = false;
      for (const auto& e : *list) {
        if (e.path == blob_path) {
          found = true;
          EXPECT_EQ(e.size, 300000u);
        }
      }
      EXPECT_TRUE(found) << "rr=" << rr << " joliet=" << joliet;
      if (long_names) {
        std::string out = (dir_ / "ud").string();
        ASSERT_TRUE(ExtractIsoFile(iso, "/user-data", out).ok());
        EXPECT_EQ(testing::FileBytes(out), "#cloud-config\nhostname: demo\n");
        ASSERT_TRUE(ExtractIsoFile(iso, blob_path, out).ok());
        EXPECT_EQ(testing::FileBytes(out),
                  testing::FileBytes((src_ / "nested/deeper/blob.bin").string()));
        EXPECT_EQ(ExtractIsoFile(iso, "/missing", out).code(), Code::kNotFound);
      }
    }
  }
}

TEST_F(IsoTest, HostileImagesGiveErrorsNamingTheOffset) {
  std::string iso = (dir_ / "seed.iso").string();
  ASSERT_TRUE(CreateIso(iso, src_.string(), IsoCreateOptions{}).ok());
  std::string good = testing::FileBytes(iso);
  // Truncated before the volume descriptors.
  ASSERT_EQ(::truncate(iso.c_str(), 20000), 0);
  auto r = ListIso(iso);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("0x8000"), std::string::npos) << r.status().ToString();
  // Root directory extent pointing far past the end.
  std::ofstream(iso, std::ios::binary) << good;
  testing::Patch(iso, 16 * 2048 + 156 + 2, {0xff, 0xff, 0xff, 0x0f});
  r = ListIso(iso);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("past the end"), std::string::npos) << r.status().ToString();
  // Not an ISO at all.
  std::ofstream(iso, std::ios::binary) << std::string(70000, 'x');
  r = ListIso(iso);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("CD001"), std::string::npos);
  // Random damage never crashes.
  std::mt19937 rng(1);
  for (int i = 0; i < 200; ++i) {
    std::string bad = good;
    for (int k = 0; k < 8; ++k) {
      size_t pos = 16 * 2048 + rng() % std::min<size_t>(bad.size() - 16 * 2048, 40000);
      bad[pos] = static_cast<char>(rng());
    }
    std::ofstream(iso, std::ios::binary | std::ios::trunc) << bad;
    (void)ListIso(iso);
  }
}

}  // namespace
}  // namespace skiff::image
