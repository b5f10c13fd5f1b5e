// Tests for the netlink calls' argument checks, which fail before any kernel call.
#include "skiff/net/netlink.h"

#include <gtest/gtest.h>

namespace skiff::net {
namespace {

TEST(CreateBridge, RejectsBadNameAndMac) {
  Status st = CreateBridge({"a-name-that-is-too-long", true, 0, ""});
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_EQ(st.message(), "bridge name 'a-name-that-is-too-long' must have 1 to 15 characters");
  st = CreateBridge({"skbr0", true, 0, "52:54:00:zz:00:00"});
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_EQ(st.message(), "'52:54:00:zz:00:00' is not a MAC address");
}

TEST(CreateTap, RejectsBadName) {
  TapOptions o;
  o.name = "";
  auto t = CreateTap(o);
  EXPECT_EQ(t.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(t.status().message(), "tap name '' must have 1 to 15 characters");
}

}  // namespace
}  // namespace skiff::net
