// Tests for reference-counted IP forwarding, on a plain file standing in for the sysctl.
#include "skiff/net/forwarding.h"

#include <gtest/gtest.h>

#include "skiff/base/fs.h"
#include "testutil/temp_dir.h"

namespace skiff::net {
namespace {

TEST(IpForwarding, OnWhileHeldThenRestored) {
  testing::TempDir d;
  ASSERT_TRUE(WriteFileAtomic(d / "ip_forward", "0\n").ok());
  IpForwarding f(d / "ip_forward", d / "run/fwd.state");
  ASSERT_TRUE(f.Acquire("default").ok());
  EXPECT_EQ(*ReadFile(d / "ip_forward"), "1\n");
  ASSERT_TRUE(f.Acquire("routed").ok());
  ASSERT_TRUE(f.Acquire("routed").ok());
  EXPECT_EQ(f.Holders()->size(), 2u);
  ASSERT_TRUE(f.Release("default").ok());
  EXPECT_EQ(*ReadFile(d / "ip_forward"), "1\n");
  ASSERT_TRUE(f.Release("routed").ok());
  EXPECT_EQ(*ReadFile(d / "ip_forward"), "0\n");
  EXPECT_FALSE(std::filesystem::exists(d / "run/fwd.state"));
  EXPECT_TRUE(f.Release("never").ok());
}

TEST(IpForwarding, KeepsOnWhenItWasOn) {
  testing::TempDir d;
  ASSERT_TRUE(WriteFileAtomic(d / "ip_forward", "1\n").ok());
  IpForwarding f(d / "ip_forward", d / "fwd.state");
  ASSERT_TRUE(f.Acquire("a").ok());
  ASSERT_TRUE(f.Release("a").ok());
  EXPECT_EQ(*ReadFile(d / "ip_forward"), "1\n");
}

TEST(IpForwarding, SurvivesRestart) {
  testing::TempDir d;
  ASSERT_TRUE(WriteFileAtomic(d / "ip_forward", "0\n").ok());
  {
    IpForwarding f(d / "ip_forward", d / "fwd.state");
    ASSERT_TRUE(f.Acquire("a").ok());
  }
  IpForwarding again(d / "ip_forward", d / "fwd.state");
  EXPECT_EQ(*again.Holders(), std::set<std::string>{"a"});
  ASSERT_TRUE(again.Release("a").ok());
  EXPECT_EQ(*ReadFile(d / "ip_forward"), "0\n");
}

TEST(IpForwarding, CorruptStateIsReported) {
  testing::TempDir d;
  ASSERT_TRUE(WriteFileAtomic(d / "ip_forward", "0\n").ok());
  ASSERT_TRUE(WriteFileAtomic(d / "fwd.state", "saved 7\nholder a\n").ok());
  IpForwarding f(d / "ip_forward", d / "fwd.state");
  Status st = f.Acquire("b");
  EXPECT_EQ(st.code(), Code::kCorruption);
  EXPECT_NE(st.message().find("saved value '7' is not 0 or 1"), std::string::npos);
}

}  // namespace
}  // namespace skiff::net
