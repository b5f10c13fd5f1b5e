// Tests for UUID generation and parsing.
#include "skiff/base/uuid.h"

#include <gtest/gtest.h>

namespace skiff {
namespace {

TEST(Uuid, GenerateIsV4AndUnique) {
  Uuid a = Uuid::Generate(), b = Uuid::Generate();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.ToString()[14], '4');
  EXPECT_EQ(*Uuid::Parse(a.ToString()), a);
}

TEST(Uuid, ParseLenientLikeLibvirt) {
  auto u = Uuid::Parse("C7A5FDBD-EDAF-9455-926A-D65C16DB1809");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->ToString(), "c7a5fdbd-edaf-9455-926a-d65c16db1809");
  EXPECT_EQ(*Uuid::Parse("c7a5fdbdedaf9455926ad65c16db1809"), *u);
  EXPECT_FALSE(Uuid::Parse("c7a5fdbd-edaf-9455-926a").ok());
  EXPECT_FALSE(Uuid::Parse("c7a5fdbd-edaf-9455-926a-d65c16db1809ff").ok());
  EXPECT_FALSE(Uuid::Parse("z7a5fdbd-edaf-9455-926a-d65c16db1809").ok());
}

}  // namespace
}  // namespace skiff
