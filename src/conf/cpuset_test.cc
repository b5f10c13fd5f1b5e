#include "skiff/conf/cpuset.h"

#include <gtest/gtest.h>

namespace skiff::conf {
namespace {

TEST(Cpuset, FormatJoinsRanges) {
  EXPECT_EQ(FormatCpuset({}), "");
  EXPECT_EQ(FormatCpuset({0}), "0");
  EXPECT_EQ(FormatCpuset({0, 1, 2, 5, 7, 8}), "0-2,5,7-8");
}

TEST(Cpuset, FormatIsTheInverseOfParse) {
  for (const char* text : {"0-3,^2,8", "1", "0-1,4-5,9", "^0,0-2"}) {
    auto cpus = ParseCpuset(text);
    ASSERT_TRUE(cpus.ok()) << text;
    auto again = ParseCpuset(FormatCpuset(*cpus));
    ASSERT_TRUE(again.ok()) << text;
    EXPECT_EQ(*again, *cpus) << text;
  }
  EXPECT_EQ(FormatCpuset(*ParseCpuset("0-3,^2,8")), "0-1,3,8");
}

}  // namespace
}  // namespace skiff::conf
