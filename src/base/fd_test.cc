#include "skiff/base/fd.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>

#include <string>

#include <gtest/gtest.h>

namespace skiff {
namespace {

TEST(Fd, WriteAllWritesEverythingThroughAPipe) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd r(p[0]), w(p[1]);
  std::string data(40000, 'x');  // bigger than one pipe buffer page; fits the 64 KiB pipe
  ASSERT_TRUE(WriteAll(w.get(), data, "pipe").ok());
  w.reset();
  std::string got;
  char buf[4096];
  for (ssize_t n; (n = ::read(r.get(), buf, sizeof buf)) > 0;) got.append(buf, size_t(n));
  EXPECT_EQ(got, data);
}

TEST(Fd, WriteAllNamesWhatFailed) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd r(p[0]), w(p[1]);
  Status st = WriteAll(r.get(), "x", "the read end");  // EBADF: not open for writing
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.ToString().find("write 'the read end'"), std::string::npos) << st.ToString();
}

TEST(Fd, PidfdBecomesReadableWhenTheChildExits) {
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  UniqueFd pidfd = PidfdOpen(child);
  ASSERT_TRUE(pidfd.valid()) << errno;
  pollfd pfd{pidfd.get(), POLLIN, 0};
  EXPECT_EQ(::poll(&pfd, 1, 5000), 1);
  int status = 0;
  EXPECT_EQ(::waitpid(child, &status, 0), child);
}

}  // namespace
}  // namespace skiff
