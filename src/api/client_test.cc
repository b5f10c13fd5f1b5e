// Tests of URI parsing and the error body round trip.
#include <gtest/gtest.h>

#include "skiff/api/client.h"
#include "skiff/api/errors.h"

namespace skiff::api {
namespace {

TEST(UriTest, Parses) {
  auto u = ParseUri("unix:///run/x.sock");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->path, "/run/x.sock");
  u = ParseUri("");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->path, "/run/skiff/skiffd.sock");
  u = ParseUri("tls://host.example:16514");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->kind, Uri::Kind::kTls);
  EXPECT_EQ(u->host, "host.example");
  EXPECT_EQ(u->port, 16514);
  EXPECT_FALSE(ParseUri("tcp://x:1").ok());
  EXPECT_FALSE(ParseUri("tls://x").ok());
  EXPECT_FALSE(ParseUri("tls://x:99999").ok());
  EXPECT_FALSE(ParseUri("unix://relative").ok());
}

TEST(ErrorsTest, RoundTrip) {
  for (Code c : {Code::kNotFound, Code::kInvalidArgument, Code::kPermissionDenied,
                 Code::kUnsupported, Code::kCancelled}) {
    Status st(c, "domain 'x' thing");
    EXPECT_EQ(StatusFromErrorBody(400, ErrorBody(st).dump()), st);
  }
  EXPECT_EQ(StatusFromErrorBody(502, "<html>").code(), Code::kInternal);
  EXPECT_EQ(UrlEncode("a b/c"), "a%20b%2Fc");
}

}  // namespace
}  // namespace skiff::api
