// Tests for spawning children with passed fds and capturing output.
#include "skiff/base/process.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "skiff/base/fs.h"

namespace skiff {
namespace {

// Runs `script` under `o` and returns what it printed (stdout and stderr).
std::string RunConfined(SpawnOptions o, const std::string& script) {
  char path[] = "/tmp/skiff-confined-XXXXXX";
  int fd = ::mkstemp(path);
  EXPECT_GE(fd, 0);
  o.argv = {"/bin/sh", "-c", script};
  o.stdout_fd = fd;
  o.stderr_fd = fd;
  auto c = Spawn(o);
  ::close(fd);
  std::string out;
  if (c.ok()) {
    (void)WaitForExit(c->pid);
    out = ReadFile(path).value_or("");
  } else {
    out = "spawn: " + c.status().ToString();
  }
  ::unlink(path);
  return out;
}

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

// A child that cannot join its cgroup does not run the program, and the error
// names the file; the write happens in the child ("0": itself).
TEST(Spawn, JoinsCgroupFilesBeforeExec) {
  char path[] = "/tmp/skiff-procs-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  SpawnOptions o;
  o.argv = {"true"};
  o.cgroup_procs = {path};
  auto c = Spawn(o);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_TRUE(WaitForExit(c->pid).ok());
  char buf[8] = {};
  fd = ::open(path, O_RDONLY);
  EXPECT_EQ(::read(fd, buf, sizeof buf), 1);
  EXPECT_EQ(std::string(buf), "0");
  ::close(fd);
  ::unlink(path);

  o.argv = {"sh", "-c", "echo ran > /dev/null"};
  o.cgroup_procs = {"/dev/full"};  // every write fails: ENOSPC
  auto full = Spawn(o);
  ASSERT_FALSE(full.ok());
  EXPECT_NE(full.status().message().find("join cgroup '/dev/full'"), std::string::npos)
      << full.status().ToString();
  EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);  // no child left to reap
  EXPECT_EQ(errno, ECHILD);

  o.cgroup_procs = {"/nonexistent-skiff/cgroup.procs"};
  auto missing = Spawn(o);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("open cgroup file '/nonexistent-skiff"),
            std::string::npos)
      << missing.status().ToString();
}

// The child's /dev holds what was asked for and the host's /dev/pts and
// /dev/shm (and /dev/mqueue, /dev/hugepages where the host has them), and the host's /dev is
// untouched by it.
TEST(Spawn, PrivateDevHoldsOnlyTheNodesAskedFor) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  SpawnOptions o;
  o.private_dev = true;
  o.dev_nodes = {"/dev/null", "/dev/urandom", "/dev/no-such-node-skiff"};
  std::string out =
      RunConfined(o,
                  "ls -A /dev | grep -v -e mqueue -e hugepages; stat -c '%F %t:%T %a' /dev/null; "
                  "head -c 4 /dev/urandom | wc -c; echo x > /dev/null && echo ok");
  EXPECT_EQ(out, "null\npts\nshm\nurandom\ncharacter special file 1:3 666\n4\nok\n") << out;
  struct stat st {};
  EXPECT_EQ(::stat("/dev/zero", &st), 0);  // the host's /dev is as it was

  o.dev_nodes = {"/etc/passwd"};
  out = RunConfined(o, "true");
  EXPECT_NE(out.find("'/etc/passwd' is not a device path under /dev"), std::string::npos) << out;
}

// Switching user leaves no capability, not even in the bounding set, and the
// program cannot gain any (no_new_privs).
TEST(Spawn, RunsAsUserWithoutCapabilities) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  SpawnOptions o;
  o.run_as = SpawnOptions::User{65534, 65534, {65534}};
  o.no_capabilities = true;
  std::string out =
      RunConfined(o,
                  "id -u; id -g; id -G; grep -E '^(CapEff|CapPrm|CapBnd|CapAmb|NoNewPrivs):' "
                  "/proc/self/status | tr -s '\t' ' '");
  EXPECT_EQ(out,
            "65534\n65534\n65534\nCapPrm: 0000000000000000\nCapEff: 0000000000000000\n"
            "CapBnd: 0000000000000000\nCapAmb: 0000000000000000\nNoNewPrivs: 1\n")
      << out;

  // Even as uid 0: no capability left to use.
  SpawnOptions root;
  root.no_capabilities = true;
  out = RunConfined(root, "id -u; grep -E '^CapEff:' /proc/self/status | tr -s '\t' ' '");
  EXPECT_EQ(out, "0\nCapEff: 0000000000000000\n") << out;
}

}  // namespace
}  // namespace skiff
