// ConsoleMux against a fake QEMU console (a unix socket server in the test).
#include "qemu/console_mux.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "testutil/temp_dir.h"

namespace skiff::qemu {
namespace {

namespace fs = std::filesystem;

UniqueFd Listen(const fs::path& p) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, p.c_str(), sizeof a.sun_path - 1);
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(::listen(fd.get(), 4), 0);
  return fd;
}

UniqueFd Connect(const fs::path& p) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strncpy(a.sun_path, p.c_str(), sizeof a.sun_path - 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return UniqueFd();
  return fd;
}

// Reads until `want` has been seen or 5 s passed; returns what was read.
std::string ReadUntil(int fd, const std::string& want) {
  std::string got;
  for (int i = 0; i < 100 && got.find(want) == std::string::npos; ++i) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    char buf[4096];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

void Send(int fd, const std::string& s) {
  ASSERT_EQ(::write(fd, s.data(), s.size()), static_cast<ssize_t>(s.size()));
}

// Whether the peer closed within 5 s.
bool SeesEof(int fd) {
  for (int i = 0; i < 100; ++i) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    char c;
    ssize_t n = ::read(fd, &c, 1);
    if (n == 0) return true;
    if (n < 0) return errno != EAGAIN;
  }
  return false;
}

void WaitViewers(const ConsoleMux& m, int n) {
  for (int i = 0; i < 200 && m.viewers() != n; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(m.viewers(), n);
}

TEST(ConsoleMux, TwoViewersSeeOutputAndBothMayType) {
  testing::TempDir tmp;
  UniqueFd qemu_listen = Listen(tmp / "qemu.sock");
  auto mux = ConsoleMux::Start(tmp / "qemu.sock", tmp / "d.console");
  ASSERT_TRUE(mux.ok()) << mux.status().ToString();
  UniqueFd qemu(::accept(qemu_listen.get(), nullptr, nullptr));
  ASSERT_TRUE(qemu);
  EXPECT_EQ(
      fs::status(tmp / "d.console").permissions() & (fs::perms::group_all | fs::perms::others_all),
      fs::perms::none);

  UniqueFd a = Connect(tmp / "d.console");
  UniqueFd b = Connect(tmp / "d.console");
  ASSERT_TRUE(a && b);
  WaitViewers(**mux, 2);
  Send(qemu.get(), "login: ");
  EXPECT_NE(ReadUntil(a.get(), "login: ").find("login: "), std::string::npos);
  EXPECT_NE(ReadUntil(b.get(), "login: ").find("login: "), std::string::npos);

  Send(a.get(), "root\n");
  EXPECT_EQ(ReadUntil(qemu.get(), "root\n"), "root\n");
  Send(b.get(), "ls\n");
  EXPECT_EQ(ReadUntil(qemu.get(), "ls\n"), "ls\n");

  // One viewer leaves; the other keeps the console.
  a.reset();
  WaitViewers(**mux, 1);
  Send(qemu.get(), "bye");
  EXPECT_EQ(ReadUntil(b.get(), "bye"), "bye");
}

TEST(ConsoleMux, KeepsTheConsoleLogWithinItsLimits) {
  testing::TempDir tmp;
  UniqueFd qemu_listen = Listen(tmp / "qemu.sock");
  const fs::path log = tmp / "d.log";
  auto mux = ConsoleMux::Start(tmp / "qemu.sock", tmp / "d.console", std::chrono::seconds(5), log,
                               LogLimits{.max_bytes = 8192, .max_files = 2});
  ASSERT_TRUE(mux.ok()) << mux.status().ToString();
  UniqueFd qemu(::accept(qemu_listen.get(), nullptr, nullptr));
  ASSERT_TRUE(qemu);
  // As QEMU does: every byte to the log (O_APPEND) and to the console socket.
  UniqueFd log_fd(::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  const std::string chunk(4096, 'g');
  for (int i = 0; i < 12; ++i) {
    ASSERT_EQ(::write(log_fd.get(), chunk.data(), chunk.size()), 4096);
    Send(qemu.get(), chunk);
  }
  // 48 KiB printed: the relay rotated at least once, so the live log holds what
  // came after the last check, not everything.
  for (int i = 0; i < 200 && !fs::exists(tmp / "d.log.1"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(fs::exists(tmp / "d.log.1"));
  EXPECT_LT(fs::file_size(log), 48U << 10);
  EXPECT_GT(fs::file_size(tmp / "d.log.1"), 8192U);
  EXPECT_FALSE(fs::exists(tmp / "d.log.2"));  // two files in all
}

TEST(ConsoleMux, QemuExitDisconnectsViewersAndRemovesTheSocket) {
  testing::TempDir tmp;
  UniqueFd qemu_listen = Listen(tmp / "qemu.sock");
  auto mux = ConsoleMux::Start(tmp / "qemu.sock", tmp / "d.console");
  ASSERT_TRUE(mux.ok());
  UniqueFd qemu(::accept(qemu_listen.get(), nullptr, nullptr));
  UniqueFd a = Connect(tmp / "d.console");
  WaitViewers(**mux, 1);
  qemu.reset();
  EXPECT_TRUE(SeesEof(a.get()));
  for (int i = 0; i < 200 && (*mux)->connected(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_FALSE((*mux)->connected());
  EXPECT_FALSE(fs::exists(tmp / "d.console"));
}

TEST(ConsoleMux, ReplacesAStaleSocketAndRemovesItWhenStopped) {
  testing::TempDir tmp;
  UniqueFd qemu_listen = Listen(tmp / "qemu.sock");
  { UniqueFd stale = Listen(tmp / "d.console"); }  // a killed daemon's leftover
  auto mux = ConsoleMux::Start(tmp / "qemu.sock", tmp / "d.console");
  ASSERT_TRUE(mux.ok()) << mux.status().ToString();
  UniqueFd qemu(::accept(qemu_listen.get(), nullptr, nullptr));
  UniqueFd a = Connect(tmp / "d.console");
  ASSERT_TRUE(a);
  WaitViewers(**mux, 1);
  mux->reset();
  EXPECT_TRUE(SeesEof(a.get()));
  EXPECT_FALSE(fs::exists(tmp / "d.console"));
  // QEMU's side was closed too, so the next daemon can connect.
  char c;
  EXPECT_EQ(::read(qemu.get(), &c, 1), 0);
}

TEST(ConsoleMux, NoQemuSocketIsUnavailable) {
  testing::TempDir tmp;
  auto mux =
      ConsoleMux::Start(tmp / "missing.sock", tmp / "d.console", std::chrono::milliseconds(100));
  ASSERT_FALSE(mux.ok());
  EXPECT_EQ(mux.status().code(), Code::kUnavailable);
  EXPECT_NE(mux.status().message().find("missing.sock"), std::string::npos);
  EXPECT_FALSE(fs::exists(tmp / "d.console"));
}

}  // namespace
}  // namespace skiff::qemu
