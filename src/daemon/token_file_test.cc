// The token file: roles by name only, line numbers in errors, private files only.
#include "daemon/token_file.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "skiff/base/fs.h"
#include "testutil/temp_dir.h"

namespace skiff::daemon {
namespace {

TEST(TokenFileTest, RolesAndComments) {
  auto t = ParseTokenFile(
      "# admins\n0123456789abcdef0123\n\nreadonlytoken-0123456789 readonly\n"
      "admintoken-0123456789 admin\n",
      "tokens");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->size(), 3u);
  EXPECT_EQ((*t)[0].role, Role::kAdmin);
  EXPECT_EQ((*t)[1].value, "readonlytoken-0123456789");
  EXPECT_EQ((*t)[1].role, Role::kReadOnly);
  EXPECT_EQ((*t)[2].role, Role::kAdmin);
}

// Issue 23 item 7: "read-only" used to grant admin.
TEST(TokenFileTest, MisspeltRoleIsRefusedNotAdmin) {
  auto t = ParseTokenFile("0123456789abcdef0123\nreadonlytoken-0123456789 read-only\n", "/etc/t");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(t.status().message(),
            "token file '/etc/t' line 2: unknown role 'read-only' (expected 'admin' or "
            "'readonly')");
}

TEST(TokenFileTest, ShortTokenExtraWordsAndEmpty) {
  EXPECT_EQ(ParseTokenFile("\nshort\n", "t").status().message(),
            "token file 't' line 2: tokens must have 16 characters or more");
  EXPECT_EQ(ParseTokenFile("0123456789abcdef0123 readonly admin\n", "t").status().message(),
            "token file 't' line 1: unexpected 'admin' after the role");
  EXPECT_EQ(ParseTokenFile("# nothing\n", "t").status().message(), "token file 't' has no token");
}

TEST(TokenFileTest, FileReadableByOthersIsRefused) {
  testing::TempDir dir;
  const auto path = dir.path() / "tokens";
  ASSERT_TRUE(WriteFileAtomic(path, "0123456789abcdef0123\n", 0644).ok());
  auto t = LoadTokenFile(path);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(t.status().message().find("mode 0644"), std::string::npos) << t.status().ToString();
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  EXPECT_FALSE(LoadTokenFile(path).ok());
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  auto ok = LoadTokenFile(path);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->size(), 1u);
}

}  // namespace
}  // namespace skiff::daemon
