// Tests for QemuProcess against qemu-system-fake (a stand-in QEMU that speaks QMP),
// and for the live status JSON.
#include "skiff/qemu/qemu_process.h"

#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "skiff/base/fs.h"
#include "skiff/base/process.h"
#include "skiff/qemu/qmp_commands.h"
#include "testutil/temp_dir.h"

namespace skiff::qemu {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

bool PidAlive(pid_t pid) { return ::kill(pid, 0) == 0; }

// on_exit runs on the monitor thread, possibly after WaitForExit() returned.
bool WaitUntil(const std::function<bool()>& cond) {
  for (int i = 0; i < 500 && !cond(); ++i) std::this_thread::sleep_for(10ms);
  return cond();
}

class QemuProcessTest : public ::testing::Test {
 protected:
  QemuStartOptions Options(std::vector<std::string> extra = {}) {
    QemuStartOptions o;
    o.argv = {SKIFF_QEMU_FAKE, "--qmp", (dir_ / "run/dom.qmp").string(), "-S"};
    o.argv.insert(o.argv.end(), extra.begin(), extra.end());
    o.qmp_socket = dir_ / "run/dom.qmp";
    o.console_socket = dir_ / "run/dom.console";
    o.log_file = dir_ / "log/dom.log";
    o.pid_file = dir_ / "run/dom.pid";
    o.taps = {"vnet0"};
    o.start_timeout = 10s;
    o.callbacks.on_exit = [this](const QemuExit&) { ++exits_; };
    return o;
  }
  void ExpectNothingLeft() {
    EXPECT_FALSE(std::filesystem::exists(dir_ / "run/dom.qmp"));
    EXPECT_FALSE(std::filesystem::exists(dir_ / "run/dom.console"));
    EXPECT_FALSE(std::filesystem::exists(dir_ / "run/dom.pid"));
  }
  std::string Log() { return ReadFile(dir_ / "log/dom.log").value_or(""); }

  skiff::testing::TempDir dir_;
  std::atomic<int> exits_{0};
};

TEST_F(QemuProcessTest, StartResumesAndRecordsStatus) {
  auto p = QemuProcess::Start(Options());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  QemuProcess& q = **p;
  EXPECT_TRUE(PidAlive(q.pid()));
  auto pidfile = ReadFile(dir_ / "run/dom.pid");
  ASSERT_TRUE(pidfile.ok());
  EXPECT_EQ(*pidfile, std::to_string(q.pid()) + "\n");
  auto st = QueryStatus(q.qmp());
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->state, RunState::kRunning);
  EXPECT_EQ(q.status().qmp_socket, dir_ / "run/dom.qmp");
  EXPECT_EQ(q.status().taps, std::vector<std::string>{"vnet0"});
  EXPECT_GT(q.status().start_time_ms, 1600000000000);
  std::string log = Log();
  EXPECT_NE(log.find("starting up"), std::string::npos) << log;
  EXPECT_NE(log.find("fake qemu starting"), std::string::npos) << log;
  ASSERT_TRUE(q.Destroy().ok());
}

TEST_F(QemuProcessTest, StartPausedStaysPaused) {
  auto o = Options();
  o.start_paused = true;
  auto p = QemuProcess::Start(std::move(o));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  auto st = QueryStatus((*p)->qmp());
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->state, RunState::kPaused);
  EXPECT_EQ(st->reason, "starting-up");
  ASSERT_TRUE((*p)->Destroy().ok());
}

TEST_F(QemuProcessTest, FailedStartReturnsQemuMessageAndLeavesNothing) {
  auto start = std::chrono::steady_clock::now();
  auto p = QemuProcess::Start(Options({"--fail", "-foo: invalid option"}));
  ASSERT_FALSE(p.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_EQ(p.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(p.status().message(),
            "qemu exited during start-up (exit code 1): fake qemu starting; "
            "qemu-system-fake: -foo: invalid option");
  ExpectNothingLeft();
  EXPECT_NE(Log().find("-foo: invalid option"), std::string::npos);
  EXPECT_EQ(exits_.load(), 0);
}

TEST_F(QemuProcessTest, ErrorTailIsFromThisRunOnly) {
  ASSERT_TRUE(MakeDirs(dir_ / "log").ok());
  {
    std::ofstream old(dir_ / "log/dom.log");
    old << "qemu-system-fake: an error from yesterday\n";
  }
  auto p = QemuProcess::Start(Options({"--fail", "today"}));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().message().find("yesterday"), std::string::npos) << p.status().message();
  EXPECT_NE(Log().find("yesterday"), std::string::npos);  // appended, not truncated
}

TEST_F(QemuProcessTest, DeathDuringNegotiationReportsQemuMessage) {
  auto p = QemuProcess::Start(Options({"--die-on-negotiate"}));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(p.status().message().find("could not open kernel file 'x'"), std::string::npos)
      << p.status().message();
  ExpectNothingLeft();
}

TEST_F(QemuProcessTest, MissingBinary) {
  auto o = Options();
  o.argv[0] = (dir_ / "no-such-qemu").string();
  auto p = QemuProcess::Start(std::move(o));
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("no-such-qemu"), std::string::npos);
  ExpectNothingLeft();
}

TEST_F(QemuProcessTest, NoQmpWithinTimeoutKillsIt) {
  auto o = Options({"--no-qmp"});
  o.start_timeout = 300ms;
  auto p = QemuProcess::Start(std::move(o));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), Code::kUnavailable);
  EXPECT_NE(p.status().message().find("within 300 ms"), std::string::npos);
  ExpectNothingLeft();
}

TEST_F(QemuProcessTest, InvalidOptions) {
  EXPECT_EQ(QemuProcess::Start(QemuStartOptions{}).status().code(), Code::kInvalidArgument);
  QemuStartOptions o;
  o.argv = {"x"};
  EXPECT_EQ(QemuProcess::Start(std::move(o)).status().code(), Code::kInvalidArgument);
}

TEST_F(QemuProcessTest, QuitIsNoticedReapedAndCleanedUp) {
  std::vector<std::string> events;
  std::mutex mu;
  auto o = Options();
  o.callbacks.on_event = [&](const QmpEvent& e) {
    std::lock_guard lock(mu);
    events.push_back(e.name);
  };
  auto p = QemuProcess::Start(std::move(o));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  QemuProcess& q = **p;
  pid_t pid = q.pid();
  ASSERT_TRUE(Quit(q.qmp()).ok());
  auto e = q.WaitForExit(5s);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_TRUE(e->reaped);
  EXPECT_EQ(e->exit_code, 0);
  EXPECT_EQ(e->shutdown_reason, "host-qmp-quit");
  EXPECT_FALSE(e->guest_initiated);
  EXPECT_EQ(e->Describe(), "exited with code 0 (host-qmp-quit)");
  EXPECT_TRUE(q.exited());
  EXPECT_TRUE(WaitUntil([&] { return exits_.load() == 1; }));
  ExpectNothingLeft();
  errno = 0;
  EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), -1);  // already reaped by us
  EXPECT_EQ(errno, ECHILD);
  EXPECT_EQ(q.Signal(SIGTERM).code(), Code::kNotFound);
  EXPECT_EQ(QueryStatus(q.qmp()).status().code(), Code::kUnavailable);
  EXPECT_TRUE(q.Destroy().ok());
  std::lock_guard lock(mu);
  EXPECT_NE(std::find(events.begin(), events.end(), "RESUME"), events.end());
}

TEST_F(QemuProcessTest, GuestPowerdownReason) {
  auto p = QemuProcess::Start(Options());
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(SystemPowerdown((*p)->qmp()).ok());
  auto e = (*p)->WaitForExit(5s);
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->guest_initiated);
  EXPECT_EQ(e->shutdown_reason, "guest-shutdown");
}

TEST_F(QemuProcessTest, DestroyEscalatesToSigterm) {
  auto p = QemuProcess::Start(Options({"--ignore-quit"}));
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE((*p)->Destroy(200ms, 5s).ok());
  auto e = (*p)->exit_info();
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->term_signal, SIGTERM);
  ExpectNothingLeft();
}

TEST_F(QemuProcessTest, DestroyEscalatesToSigkill) {
  auto p = QemuProcess::Start(Options({"--ignore-quit", "--ignore-term"}));
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE((*p)->Destroy(100ms, 100ms).ok());
  EXPECT_EQ((*p)->exit_info()->term_signal, SIGKILL);
  EXPECT_TRUE(WaitUntil([&] { return exits_.load() == 1; }));
}

TEST_F(QemuProcessTest, KilledFromOutsideIsNoticed) {
  auto p = QemuProcess::Start(Options());
  ASSERT_TRUE(p.ok());
  ::kill((*p)->pid(), SIGKILL);
  auto e = (*p)->WaitForExit(5s);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->term_signal, SIGKILL);
  EXPECT_EQ(e->shutdown_reason, "");
  ExpectNothingLeft();
}

TEST_F(QemuProcessTest, DetachThenAttachFromAnotherObject) {
  auto p = QemuProcess::Start(Options());
  ASSERT_TRUE(p.ok());
  QemuStatus status = (*p)->status();
  (*p)->Detach();
  EXPECT_EQ((*p)->Destroy().code(), Code::kFailedPrecondition);
  p->reset();
  ASSERT_TRUE(PidAlive(status.pid));
  EXPECT_EQ(exits_.load(), 0);

  auto text = QemuStatusToJson(status).dump();
  auto back = ParseQemuStatus(text);
  ASSERT_TRUE(back.ok());
  std::atomic<int> exits2{0};
  QemuCallbacks cb;
  cb.on_exit = [&](const QemuExit&) { ++exits2; };
  auto a = QemuProcess::Attach(*back, cb);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  auto st = QueryStatus((*a)->qmp());
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->state, RunState::kRunning);
  ASSERT_TRUE((*a)->Destroy().ok());
  EXPECT_TRUE(WaitUntil([&] { return exits2.load() == 1; }));
  EXPECT_FALSE(PidAlive(status.pid));
  ExpectNothingLeft();
}

TEST_F(QemuProcessTest, AttachRejectsGoneAndForeignProcesses) {
  QemuStatus s;
  s.qmp_socket = dir_ / "run/dom.qmp";
  s.log_file = dir_ / "log/dom.log";
  // A pid that has exited and been reaped.
  SpawnOptions so;
  so.argv = {"true"};
  auto t = Spawn(so);
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(WaitForExit(t->pid).ok());
  s.pid = t->pid;
  EXPECT_EQ(QemuProcess::Attach(s, {}).status().code(), Code::kNotFound);
  // A live process that is not QEMU.
  so.argv = {"sleep", "30"};
  auto sl = Spawn(so);
  ASSERT_TRUE(sl.ok());
  s.pid = sl->pid;
  auto a = QemuProcess::Attach(s, {});
  EXPECT_EQ(a.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(a.status().message().find("'sleep', not qemu"), std::string::npos)
      << a.status().message();
  ::kill(sl->pid, SIGKILL);
  (void)WaitForExit(sl->pid);
  // A QEMU serving another socket.
  auto p = QemuProcess::Start(Options());
  ASSERT_TRUE(p.ok());
  s.pid = (*p)->pid();
  s.qmp_socket = dir_ / "run/other.qmp";
  auto o = QemuProcess::Attach(s, {});
  EXPECT_EQ(o.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(o.status().message().find("other.qmp"), std::string::npos);
  ASSERT_TRUE((*p)->Destroy().ok());
}

TEST(QemuStatusJson, RoundTripAndErrors) {
  QemuStatus s;
  s.pid = 4242;
  s.qmp_socket = "/run/skiff/vm1.qmp";
  s.console_socket = "/run/skiff/vm1.console";
  s.log_file = "/var/log/skiff/domains/vm1.log";
  s.pid_file = "/run/skiff/vm1.pid";
  s.start_time_ms = 1700000000123;
  s.taps = {"vnet0", "vnet1"};
  json j = QemuStatusToJson(s);
  EXPECT_EQ(j["pid"], 4242);
  EXPECT_EQ(j["taps"][1], "vnet1");
  auto back = QemuStatusFromJson(j);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, s);

  json missing = j;
  missing.erase("qmp_socket");
  auto m = QemuStatusFromJson(missing);
  EXPECT_EQ(m.status().code(), Code::kCorruption);
  EXPECT_NE(m.status().message().find("qmp_socket"), std::string::npos);
  json wrong = j;
  wrong["pid"] = "4242";
  EXPECT_NE(QemuStatusFromJson(wrong).status().message().find("'pid'"), std::string::npos);
  json badpid = j;
  badpid["pid"] = -1;
  EXPECT_FALSE(QemuStatusFromJson(badpid).ok());
  json notaps = j;
  notaps.erase("taps");
  notaps.erase("console_socket");
  EXPECT_TRUE(QemuStatusFromJson(notaps).ok());
  EXPECT_EQ(ParseQemuStatus("{oops").status().code(), Code::kCorruption);
  EXPECT_EQ(ParseQemuStatus("[]").status().code(), Code::kCorruption);
}

}  // namespace
}  // namespace skiff::qemu
