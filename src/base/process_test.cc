// Tests for spawning children with passed fds and capturing output.
#include "skiff/base/process.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace skiff {
namespace {

TEST(RunCommand, CapturesOutputAndExitCode) {
  auto r = RunCommand({"sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
  EXPECT_EQ(r->exit_code, 3);
}

TEST(RunCommand, FeedsStdin) {
  auto r = RunCommand({"cat"}, std::chrono::seconds(5), "hello");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, "hello");
}

TEST(RunCommand, TimesOut) {
  auto r = RunCommand({"sleep", "10"}, std::chrono::milliseconds(200));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
}

TEST(Spawn, MissingProgramIsNotFound) {
  auto c = Spawn({.argv = {"no-such-program-skiff"}});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Code::kNotFound);
}

TEST(Spawn, PassesFdAtChosenNumber) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  SpawnOptions o;
  o.argv = {"sh", "-c", "echo via-fd-7 >&7"};
  o.pass_fds = {{p[1], 7}};
  auto c = Spawn(o);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ::close(p[1]);
  char buf[64] = {};
  ssize_t n = ::read(p[0], buf, sizeof buf - 1);
  ::close(p[0]);
  EXPECT_EQ(std::string(buf, n > 0 ? n : 0), "via-fd-7\n");
  auto st = WaitForExit(c->pid);
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0);
  EXPECT_TRUE(c->pidfd.valid());
}

}  // namespace
}  // namespace skiff
