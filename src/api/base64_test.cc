// Tests for base64 used by volume upload and download.
#include "skiff/api/base64.h"

#include <gtest/gtest.h>

namespace skiff::api {
namespace {

TEST(Base64, RoundTripsBinaryOfEveryLength) {
  std::string data;
  for (int i = 0; i < 300; ++i) {
    auto enc = Base64Encode(data);
    auto dec = Base64Decode(enc);
    ASSERT_TRUE(dec.ok()) << i;
    EXPECT_EQ(*dec, data) << i;
    data.push_back(static_cast<char>(i * 37));
  }
  EXPECT_EQ(Base64Encode("hi"), "aGk=");
  // RFC 4648 section 10.
  const char* vectors[][2] = {{"", ""},
                              {"f", "Zg=="},
                              {"fo", "Zm8="},
                              {"foo", "Zm9v"},
                              {"foob", "Zm9vYg=="},
                              {"fooba", "Zm9vYmE="},
                              {"foobar", "Zm9vYmFy"}};
  for (auto& v : vectors) {
    EXPECT_EQ(Base64Encode(v[0]), v[1]);
    EXPECT_EQ(*Base64Decode(v[1]), v[0]);
  }
  EXPECT_EQ(Base64Encode(std::string("\xff\xfe\x00", 3)), "//4A");
}

TEST(Base64, RejectsMalformed) {
  EXPECT_FALSE(Base64Decode("abc").ok());
  EXPECT_FALSE(Base64Decode("ab!d").ok());
  EXPECT_FALSE(Base64Decode("a=bc").ok());      // padding in the middle of a group
  EXPECT_FALSE(Base64Decode("ab==Zm9v").ok());  // padding before the last group
  EXPECT_FALSE(Base64Decode("a===").ok());      // at most two pad characters
  EXPECT_FALSE(Base64Decode("Zm9v\n").ok());
}

}  // namespace
}  // namespace skiff::api
