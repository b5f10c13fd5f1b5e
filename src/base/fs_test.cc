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

namespace skiff {
namespace {

TEST(ReadFileLimited, RefusesWhatIsLargerThanTheLimit) {
  testing::TempDir dir;
  ASSERT_TRUE(WriteFileAtomic(dir / "f", std::string(100, 'x')).ok());
  EXPECT_EQ(ReadFile(dir / "f", 100).value_or(""), std::string(100, 'x'));
  auto r = ReadFile(dir / "f", 99);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("is larger than 99 bytes"), std::string::npos);
  // A device that never ends is refused, not read without end.
  EXPECT_EQ(ReadFile("/dev/zero", 1 << 20).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace skiff
