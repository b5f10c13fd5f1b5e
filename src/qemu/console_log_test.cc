#include "qemu/console_log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "skiff/base/fd.h"
#include "skiff/base/fs.h"
#include "testutil/temp_dir.h"

namespace skiff::qemu {
namespace {
namespace fs = std::filesystem;

class ConsoleLogTest : public ::testing::Test {
 protected:
  // Appends as QEMU does: one descriptor opened O_APPEND, kept open across rotations.
  void Print(const std::string& text) {
    ASSERT_EQ(::write(qemu_.get(), text.data(), text.size()), static_cast<ssize_t>(text.size()));
  }
  std::string Read(const fs::path& p) { return ReadFile(p).value_or("<missing>"); }

  skiff::testing::TempDir dir_;
  fs::path log_ = dir_ / "guest.log";
  UniqueFd qemu_{::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)};
};

TEST_F(ConsoleLogTest, WithinTheLimitNothingMoves) {
  Print(std::string(100, 'a'));
  auto r = RotateLogIfLarge(log_, {.max_bytes = 100, .max_files = 3});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(*r);
  EXPECT_EQ(Read(log_), std::string(100, 'a'));
  EXPECT_FALSE(fs::exists(dir_ / "guest.log.1"));
  // No log at all is no error.
  auto none = RotateLogIfLarge(dir_ / "other.log", {});
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(*none);
}

TEST_F(ConsoleLogTest, RotatesKeepingMaxFilesAndQemuWritesOn) {
  const LogLimits limits{.max_bytes = 10, .max_files = 3};
  for (char c : std::string("abcd")) {
    Print(std::string(11, c));
    auto r = RotateLogIfLarge(log_, limits);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(*r);
  }
  // Newest first; 'a' and 'b' beyond the three files are gone.
  EXPECT_EQ(Read(log_), "");
  EXPECT_EQ(Read(dir_ / "guest.log.1"), std::string(11, 'd'));
  EXPECT_EQ(Read(dir_ / "guest.log.2"), std::string(11, 'c'));
  EXPECT_FALSE(fs::exists(dir_ / "guest.log.3"));
  // The writer's descriptor appends at the start of the emptied file: no hole of
  // zeros where the old lines were.
  Print("next line\n");
  EXPECT_EQ(Read(log_), "next line\n");
  EXPECT_FALSE(fs::exists(dir_ / "guest.log.1.tmp"));
}

TEST_F(ConsoleLogTest, OneFileKeepsNoOldLines) {
  Print(std::string(50, 'x'));
  auto r = RotateLogIfLarge(log_, {.max_bytes = 10, .max_files = 1});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(*r);
  EXPECT_EQ(Read(log_), "");
  EXPECT_FALSE(fs::exists(dir_ / "guest.log.1"));
}

TEST_F(ConsoleLogTest, ASymlinkIsNotFollowed) {
  Print(std::string(50, 'x'));
  fs::create_symlink(log_, dir_ / "link.log");
  auto r = RotateLogIfLarge(dir_ / "link.log", {.max_bytes = 10, .max_files = 2});
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("link.log"), std::string::npos) << r.status().ToString();
  EXPECT_EQ(Read(log_), std::string(50, 'x'));
}

}  // namespace
}  // namespace skiff::qemu
