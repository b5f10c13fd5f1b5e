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
}

TEST(Base64, RejectsMalformed) {
  EXPECT_FALSE(Base64Decode("abc").ok());
  EXPECT_FALSE(Base64Decode("ab!d").ok());
}

}  // namespace
}  // namespace skiff::api
