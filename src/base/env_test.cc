// The real Env, WriteFileAtomic on it, and the crash model of the test Env that
// the persistence tests rely on (tests/testutil/fault_injection_env.h).
#include "skiff/base/env.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "testutil/fault_injection_env.h"
#include "testutil/temp_dir.h"

namespace skiff {
namespace {

using skiff::testing::FaultInjectionEnv;
using skiff::testing::TempDir;

TEST(Env, WriteFileAtomicReplacesTheFileWithItsMode) {
  TempDir dir;
  Env& env = DefaultEnv();
  auto path = dir / "a.xml";
  ASSERT_TRUE(WriteFileAtomic(env, path, "one", 0600).ok());
  ASSERT_TRUE(WriteFileAtomic(env, path, "two", 0600).ok());
  EXPECT_EQ(env.ReadFile(path).value_or(""), "two");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(env.ListDir(dir.path()).value_or(std::vector<std::string>{}),
            std::vector<std::string>{"a.xml"});  // no temp file left
}

TEST(Env, ListDirAndLinks) {
  TempDir dir;
  Env& env = DefaultEnv();
  EXPECT_EQ(env.ListDir(dir / "nope").status().code(), Code::kNotFound);
  ASSERT_TRUE(WriteFileAtomic(env, dir / "b", "x").ok());
  ASSERT_TRUE(env.CreateDirs(dir / "auto").ok());
  ASSERT_TRUE(env.Symlink(dir / "b", dir / "auto" / "b").ok());
  ASSERT_TRUE(env.Symlink(dir / "b", dir / "auto" / "b").ok());  // replaces
  EXPECT_TRUE(env.FileExists(dir / "auto" / "b"));
  EXPECT_EQ(env.ListDir(dir.path()).value_or(std::vector<std::string>{}),
            (std::vector<std::string>{"auto", "b"}));
  ASSERT_TRUE(env.RemoveFile(dir / "auto" / "b").ok());
  ASSERT_TRUE(env.RemoveFile(dir / "auto" / "b").ok());  // already gone: fine
  EXPECT_FALSE(env.FileExists(dir / "auto" / "b"));
}

TEST(FaultInjectionEnv, FailsEveryWriteFromTheNth) {
  TempDir dir;
  FaultInjectionEnv env(DefaultEnv());
  ASSERT_TRUE(WriteFileAtomic(env, dir / "a", "old").ok());
  for (int n = 1;; ++n) {
    env.FailFromNthWrite(n);
    Status st = WriteFileAtomic(env, dir / "a", "new");
    if (!env.fault_hit()) {
      ASSERT_TRUE(st.ok());
      EXPECT_EQ(n, 6);  // create, append, sync, rename, sync dir: 5 writes
      break;
    }
    // A failed write leaves the old content, or the new one when only the final
    // directory sync failed; never a mix. Its temp file may stay behind when the
    // disk fails its removal too; it is never taken for the file.
    EXPECT_EQ(st.code(), Code::kIo) << n;
    auto text = env.ReadFile(dir / "a").value_or("");
    EXPECT_TRUE(text == "old" || (text == "new" && n == 5)) << n << ": " << text;
    for (const auto& name : env.ListDir(dir.path()).value_or(std::vector<std::string>{})) {
      EXPECT_TRUE(name == "a" || name.rfind("a.tmp.", 0) == 0) << n << ": " << name;
    }
  }
}

TEST(FaultInjectionEnv, ACrashForgetsWhatWasNotSynced) {
  TempDir dir;
  FaultInjectionEnv env(DefaultEnv());
  // Synced data and a synced directory entry survive.
  ASSERT_TRUE(WriteFileAtomic(env, dir / "kept", "kept").ok());
  // A file written in place and never synced loses its data.
  {
    auto f = env.NewWritableFile(dir / "kept", 0644);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Append("half").ok());
  }
  // A rename whose directory was not synced is undone.
  {
    auto f = env.NewWritableFile(dir / "tmp", 0644);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Append("whole").ok());
    ASSERT_TRUE((*f)->Sync().ok());
  }
  ASSERT_TRUE(WriteFileAtomic(env, dir / "other", "before").ok());
  ASSERT_TRUE(env.RenameFile(dir / "tmp", dir / "other").ok());
  ASSERT_TRUE(env.Crash().ok());
  EXPECT_EQ(env.ReadFile(dir / "kept").value_or("?"), "");  // truncated, never synced
  EXPECT_EQ(env.ReadFile(dir / "other").value_or("?"), "before");
  EXPECT_EQ(env.ReadFile(dir / "tmp").value_or("?"), "whole");
}

}  // namespace
}  // namespace skiff
