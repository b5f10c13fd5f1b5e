// Tests for size parsing and formatting (qemu-img and libvirt conventions).
#include "skiff/base/size.h"

#include <gtest/gtest.h>

namespace skiff {
namespace {

TEST(ParseSize, QemuImgSuffixes) {
  EXPECT_EQ(*ParseSize("512"), 512u);
  EXPECT_EQ(*ParseSize("512b"), 512u);
  EXPECT_EQ(*ParseSize("64k"), 64u << 10);
  EXPECT_EQ(*ParseSize("64K"), 64u << 10);
  EXPECT_EQ(*ParseSize("512M"), 512ull << 20);
  EXPECT_EQ(*ParseSize("10G"), 10ull << 30);
  EXPECT_EQ(*ParseSize("1.5T"), 3ull << 39);
  EXPECT_EQ(*ParseSize("2E"), 2ull << 60);
}

TEST(ParseSize, RejectsBadInputWithTheText) {
  for (const char* bad :
       {"", "-1", "abc", "10X", "10GG", "1.5", "1.", ".5G", "8E", "99999999999999999999"}) {
    auto r = ParseSize(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find(bad), std::string::npos) << r.status().message();
    }
  }
}

TEST(FormatSizeHuman, MatchesQemuImg) {
  EXPECT_EQ(FormatSizeHuman(0), "0 B");
  EXPECT_EQ(FormatSizeHuman(512), "512 B");
  EXPECT_EQ(FormatSizeHuman(196608), "192 KiB");
  EXPECT_EQ(FormatSizeHuman(10ull << 30), "10 GiB");
  EXPECT_EQ(FormatSizeHuman(3ull << 29), "1.5 GiB");
  EXPECT_EQ(FormatSizeHuman(1000ull << 10), "0.977 MiB");
}

TEST(ScaleLibvirtUnit, BinaryAndDecimal) {
  EXPECT_EQ(*ScaleLibvirtUnit(1, "KiB", "KiB"), 1024u);
  EXPECT_EQ(*ScaleLibvirtUnit(1, "", "KiB"), 1024u);
  EXPECT_EQ(*ScaleLibvirtUnit(2, "G", "KiB"), 2ull << 30);
  EXPECT_EQ(*ScaleLibvirtUnit(3, "MB", "KiB"), 3000000u);
  EXPECT_EQ(*ScaleLibvirtUnit(7, "bytes", "KiB"), 7u);
  EXPECT_FALSE(ScaleLibvirtUnit(1, "furlong", "KiB").ok());
  EXPECT_FALSE(ScaleLibvirtUnit(1ull << 62, "GiB", "KiB").ok());
}

}  // namespace
}  // namespace skiff
