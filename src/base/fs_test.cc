// Tests for atomic writes and whole-file reads.
#include "skiff/base/fs.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "testutil/temp_dir.h"

namespace skiff {
namespace {

TEST(WriteFileAtomic, ReplacesWholeAndLeavesNoTemp) {
  testing::TempDir d;
  auto p = d / "x.xml";
  ASSERT_TRUE(WriteFileAtomic(p, "old").ok());
  ASSERT_TRUE(WriteFileAtomic(p, "new content", 0600).ok());
  EXPECT_EQ(*ReadFile(p), "new content");
  struct stat st {};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  int n = 0;
  for (auto& e : std::filesystem::directory_iterator(d.path())) n += e.is_regular_file();
  EXPECT_EQ(n, 1);
}

TEST(WriteFileAtomic, FailureChangesNothing) {
  testing::TempDir d;
  auto st = WriteFileAtomic(d / "missing-dir" / "x", "data");
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("missing-dir"), std::string::npos);
}

TEST(ReadFile, MissingIsNotFound) {
  testing::TempDir d;
  EXPECT_EQ(ReadFile(d / "nope").status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace skiff
