// Tests for Status, Result and the propagation macros.
#include "skiff/base/status.h"

#include <gtest/gtest.h>

namespace skiff {
namespace {

Result<int> Half(int x) {
  if (x % 2) return InvalidArgumentError("{} is odd", x);
  return x / 2;
}

Result<int> Quarter(int x) {
  SKIFF_ASSIGN_OR_RETURN(int h, Half(x));
  SKIFF_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

Status CheckEven(int x) {
  SKIFF_TRY(Half(x));
  return Status::Ok();
}

TEST(Status, ContextChainsAndFormats) {
  Status st = CorruptionError("L2 table at {:#x} is not cluster-aligned", 0x50000)
                  .WithContext("disk 'vda'");
  EXPECT_EQ(st.code(), Code::kCorruption);
  EXPECT_EQ(st.ToString(), "corruption: disk 'vda': L2 table at 0x50000 is not cluster-aligned");
  EXPECT_EQ(Status::Ok().WithContext("x").ToString(), "ok");
}

TEST(Result, PropagatesFirstError) {
  EXPECT_EQ(*Quarter(8), 2);
  Result<int> r = Quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "3 is odd");
  EXPECT_TRUE(CheckEven(4).ok());
  EXPECT_EQ(CheckEven(5).code(), Code::kInvalidArgument);
}

TEST(Status, ErrnoNamesTheObject) {
  Status st = ErrnoError(ENOENT, "open '/nope'");
  EXPECT_EQ(st.code(), Code::kNotFound);
  EXPECT_EQ(st.message(), "open '/nope': no such file or directory");
}

TEST(ResultDeathTest, ValueOfErrorCrashes) {
  Result<int> r = NotFoundError("x");
  EXPECT_DEATH((void)r.value(), "not found: x");
}

}  // namespace
}  // namespace skiff
