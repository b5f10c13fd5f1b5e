// Integration test of the QEMU runtime layer: boots the project's test guest under
// TCG through QemuProcess and the QMP operations (no daemon). Label `integration`.
// Needs $SKIFF_BUILD_DIR/guest/{vmlinuz,initrd.img} (or $SKIFF_GUEST_DIR); with
// CI=true a missing guest fails the test instead of skipping it.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

#include <gtest/gtest.h>

#include "skiff/base/fs.h"
#include "skiff/qemu/host.h"
#include "skiff/qemu/qemu_process.h"
#include "skiff/qemu/qmp_commands.h"
#include "testutil/temp_dir.h"

namespace skiff::qemu {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kReady = "SKIFF-GUEST-READY";

std::filesystem::path GuestDir() {
  if (const char* g = std::getenv("SKIFF_GUEST_DIR")) return g;
  const char* b = std::getenv("SKIFF_BUILD_DIR");
  return std::filesystem::path(b ? b : ".") / "guest";
}

bool InCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

class QemuRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto q = FindQemu();
    if (!q.ok()) {
      if (InCi()) FAIL() << "qemu is missing: " << q.status().ToString();
      GTEST_SKIP() << "qemu is missing: " << q.status().ToString();
    }
    qemu_ = q->path;
    kernel_ = GuestDir() / "vmlinuz";
    initrd_ = GuestDir() / "initrd.img";
    if (!std::filesystem::exists(kernel_) || !std::filesystem::exists(initrd_)) {
      std::string why =
          "test guest missing in " + GuestDir().string() + " (cmake --build build --target guest)";
      if (InCi()) FAIL() << why;
      GTEST_SKIP() << why;
    }
  }

  std::filesystem::path Qmp() const { return dir_ / "run/vm.qmp"; }
  std::filesystem::path Console() const { return dir_ / "run/vm.console"; }
  std::filesystem::path Log() const { return dir_ / "log/vm.log"; }
  std::filesystem::path PidFile() const { return dir_ / "run/vm.pid"; }

  // The command line the argv builder produces, in its essentials.
  std::vector<std::string> Argv(std::vector<std::string> extra = {}) {
    std::vector<std::string> a = {
        qemu_,
        "-name",
        "guest=vm,debug-threads=on",
        "-S",
        "-accel",
        "tcg",
        "-machine",
        "q35",
        "-nodefaults",
        "-no-user-config",
        "-m",
        "256",
        "-smp",
        "1,maxcpus=2",
        "-display",
        "none",
        "-nic",
        "none",
        "-kernel",
        kernel_.string(),
        "-initrd",
        initrd_.string(),
        "-append",
        "console=ttyS0",
        "-chardev",
        "socket,id=monitor,path=" + Qmp().string() + ",server=on,wait=off",
        "-mon",
        "chardev=monitor,id=monitor,mode=control",
        "-chardev",
        "socket,id=serial0,path=" + Console().string() +
            ",server=on,wait=off,logfile=" + Log().string() + ",logappend=on",
        "-serial",
        "chardev:serial0",
        "-device",
        "pcie-root-port,id=rp1,bus=pcie.0,chassis=1"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  QemuStartOptions Options(std::vector<std::string> extra = {}) {
    QemuStartOptions o;
    o.argv = Argv(std::move(extra));
    o.qmp_socket = Qmp();
    o.console_socket = Console();
    o.log_file = Log();
    o.pid_file = PidFile();
    o.start_timeout = 60s;
    return o;
  }

  // Waits until `marker` appears in the log after `from` bytes.
  bool WaitForLog(const std::string& marker, size_t from = 0, std::chrono::seconds timeout = 120s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto text = ReadFile(Log());
      if (text.ok() && text->size() > from && text->find(marker, from) != std::string::npos) {
        return true;
      }
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }
  size_t LogSize() {
    std::error_code ec;
    auto n = std::filesystem::file_size(Log(), ec);
    return ec ? 0 : n;
  }

  void ExpectNothingLeft() {
    EXPECT_FALSE(std::filesystem::exists(Qmp()));
    EXPECT_FALSE(std::filesystem::exists(Console()));
    EXPECT_FALSE(std::filesystem::exists(PidFile()));
    // Every QEMU this test process started has been reaped.
    errno = 0;
    EXPECT_EQ(::waitpid(-1, nullptr, WNOHANG), -1);
    EXPECT_EQ(errno, ECHILD);
  }

  // Starts QEMU; the fixture destroys it at the end even when the test failed.
  Result<QemuProcess*> Start(QemuStartOptions o) {
    SKIFF_ASSIGN_OR_RETURN(auto p, QemuProcess::Start(std::move(o)));
    procs_.push_back(std::move(p));
    return procs_.back().get();
  }
  Result<QemuProcess*> Attach(const QemuStatus& s) {
    SKIFF_ASSIGN_OR_RETURN(auto p, QemuProcess::Attach(s, {}));
    procs_.push_back(std::move(p));
    return procs_.back().get();
  }
  void TearDown() override {
    for (auto& p : procs_) {
      if (!p->exited()) (void)p->Destroy(1s, 1s);
    }
  }

  // The guest's acpid may not be listening yet when it prints its marker (more so
  // on a loaded host): press the power button again until QEMU exits.
  Result<QemuExit> PowerdownAndWait(QemuProcess& q, std::chrono::seconds timeout = 120s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      Status s = SystemPowerdown(q.qmp());
      if (!s.ok() && !q.exited()) return s;
      auto e = q.WaitForExit(5s);
      if (e.ok()) return e;
    }
    return q.WaitForExit(1s);
  }

  std::vector<std::unique_ptr<QemuProcess>> procs_;
  skiff::testing::TempDir dir_;
  std::string qemu_;
  std::filesystem::path kernel_, initrd_;
};

TEST_F(QemuRuntimeTest, StartPauseResumeDestroy) {
  std::vector<std::string> events;
  std::mutex mu;
  auto o = Options();
  o.callbacks.on_event = [&](const QmpEvent& e) {
    std::lock_guard lock(mu);
    events.push_back(e.name);
  };
  auto p = Start(std::move(o));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  QemuProcess& q = **p;
  EXPECT_EQ(ReadFile(PidFile()).value_or(""), std::to_string(q.pid()) + "\n");

  auto st = QueryStatus(q.qmp());
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->state, RunState::kRunning);

  ASSERT_TRUE(Pause(q.qmp()).ok());
  st = QueryStatus(q.qmp());
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->state, RunState::kPaused);
  EXPECT_EQ(st->reason, "user");
  ASSERT_TRUE(Resume(q.qmp()).ok());
  EXPECT_EQ(QueryStatus(q.qmp())->state, RunState::kRunning);

  auto cpus = QueryCpusFast(q.qmp());
  ASSERT_TRUE(cpus.ok()) << cpus.status().ToString();
  ASSERT_EQ(cpus->size(), 1u);
  EXPECT_GT((*cpus)[0].thread_id, 0);

  auto balloon = QueryBalloon(q.qmp());  // no balloon device in this domain
  EXPECT_EQ(balloon.status().code(), Code::kFailedPrecondition);

  ASSERT_TRUE(q.Destroy().ok());
  auto e = q.exit_info();
  ASSERT_TRUE(e.has_value());
  EXPECT_TRUE(e->reaped);
  EXPECT_EQ(e->shutdown_reason, "host-qmp-quit");
  ExpectNothingLeft();
  std::lock_guard lock(mu);
  EXPECT_NE(std::find(events.begin(), events.end(), "STOP"), events.end());
  EXPECT_NE(std::find(events.begin(), events.end(), "RESUME"), events.end());
}

TEST_F(QemuRuntimeTest, PowerdownMakesQemuExit) {
  std::atomic<int> exits{0};
  auto o = Options();
  o.callbacks.on_exit = [&](const QemuExit&) { ++exits; };
  auto p = Start(std::move(o));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_TRUE(WaitForLog(kReady)) << ReadFile(Log()).value_or("");
  auto e = PowerdownAndWait(**p);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->exit_code, 0);
  EXPECT_TRUE(e->guest_initiated);
  EXPECT_EQ(e->shutdown_reason, "guest-shutdown");
  for (int i = 0; i < 100 && exits.load() == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(exits.load(), 1);
  ExpectNothingLeft();
}

TEST_F(QemuRuntimeTest, FailingStartReturnsQemuMessageAndLeavesNothing) {
  auto start = std::chrono::steady_clock::now();
  auto p = Start(Options({"-bogus-option"}));
  ASSERT_FALSE(p.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  EXPECT_EQ(p.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(p.status().message().find("-bogus-option: invalid option"), std::string::npos)
      << p.status().message();
  ExpectNothingLeft();

  auto o = Options();
  o.argv[std::find(o.argv.begin(), o.argv.end(), "-kernel") - o.argv.begin() + 1] =
      (dir_ / "missing-vmlinuz").string();
  auto k = Start(std::move(o));
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.status().message().find("missing-vmlinuz"), std::string::npos)
      << k.status().message();
  ExpectNothingLeft();
}

TEST_F(QemuRuntimeTest, AttachFromSecondObject) {
  auto p = Start(Options());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  QemuStatus status = (*p)->status();
  ASSERT_TRUE(WriteFileAtomic(dir_ / "run/vm.status", QemuStatusToJson(status).dump()).ok());
  (*p)->Detach();
  ASSERT_EQ(::kill(status.pid, 0), 0);  // still running, unsupervised

  auto text = ReadFile(dir_ / "run/vm.status");
  ASSERT_TRUE(text.ok());
  auto back = ParseQemuStatus(*text);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  auto a = Attach(*back);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  auto st = QueryStatus((*a)->qmp());
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->state, RunState::kRunning);
  ASSERT_TRUE((*a)->Destroy().ok());
  ExpectNothingLeft();
}

TEST_F(QemuRuntimeTest, SaveToFileAndRestore) {
  auto p = Start(Options());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_TRUE(WaitForLog(kReady)) << ReadFile(Log()).value_or("");

  const auto save_path = dir_ / "vm.save";
  {
    UniqueFd f(::open(save_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    ASSERT_TRUE(f);
    ASSERT_EQ(::write(f.get(), "SKIFFHDR", 8), 8);  // callers may put a header first
    std::vector<MigrationProgress> seen;
    Status s =
        SaveState((*p)->qmp(), f.get(), {}, [&](const MigrationProgress& m) { seen.push_back(m); });
    ASSERT_TRUE(s.ok()) << s.ToString();
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(seen.back().status, "completed");
    EXPECT_GT(seen.back().transferred, 0u);
    auto st = QueryStatus((*p)->qmp());
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st->state, RunState::kPaused);
    EXPECT_EQ(st->reason, "saved");
  }
  ASSERT_TRUE((*p)->Destroy().ok());
  EXPECT_GT(std::filesystem::file_size(save_path), 1u << 20);

  const size_t log_before = LogSize();
  auto o = Options({"-incoming", "defer"});
  o.start_paused = true;
  auto r = Start(std::move(o));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  UniqueFd in(::open(save_path.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(in);
  char hdr[8];
  ASSERT_EQ(::read(in.get(), hdr, 8), 8);
  Status rs = RestoreState((*r)->qmp(), in.get(), 120s);
  ASSERT_TRUE(rs.ok()) << rs.ToString();
  auto st = QueryStatus((*r)->qmp());
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->state, RunState::kPaused);
  ASSERT_TRUE(Resume((*r)->qmp()).ok());
  EXPECT_EQ(QueryStatus((*r)->qmp())->state, RunState::kRunning);
  // The restored guest is the booted one (it did not boot again): it still
  // reacts to the power button and powers off.
  auto e = PowerdownAndWait(**r);
  ASSERT_TRUE(e.ok()) << e.status().ToString() << "\n" << ReadFile(Log()).value_or("");
  EXPECT_EQ(e->shutdown_reason, "guest-shutdown");
  auto log = ReadFile(Log()).value_or("");
  EXPECT_EQ(log.find(kReady, log_before), std::string::npos) << "guest booted again";
  ExpectNothingLeft();
}

TEST_F(QemuRuntimeTest, VcpuHotplug) {
  auto p = Start(Options());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  auto slots = QueryHotpluggableCpus((*p)->qmp());
  ASSERT_TRUE(slots.ok()) << slots.status().ToString();
  EXPECT_EQ(slots->size(), 2u);
  auto n = SetVcpuCount((*p)->qmp(), 2);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 2);
  auto cpus = QueryCpusFast((*p)->qmp());
  ASSERT_TRUE(cpus.ok());
  EXPECT_EQ(cpus->size(), 2u);
  EXPECT_EQ(SetVcpuCount((*p)->qmp(), 3).status().code(), Code::kInvalidArgument);
  ASSERT_TRUE((*p)->Destroy().ok());
}

TEST_F(QemuRuntimeTest, DiskHotplugAndBlockStats) {
  auto p = Start(Options());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_TRUE(WaitForLog(kReady)) << ReadFile(Log()).value_or("");
  const auto img = dir_ / "disk.img";
  {
    UniqueFd f(::open(img.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
    ASSERT_TRUE(f);
    ASSERT_EQ(::ftruncate(f.get(), 16 << 20), 0);
  }
  json bd = {{"node-name", "drive-vdb"},
             {"driver", "raw"},
             {"file", {{"driver", "file"}, {"filename", img.string()}}}};
  json dev = {{"driver", "virtio-blk-pci"}, {"id", "vdb"}, {"drive", "drive-vdb"}, {"bus", "rp1"}};
  Status s = AttachDisk((*p)->qmp(), bd, dev);
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto stats = QueryBlockStats((*p)->qmp());
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  bool found = false;
  for (const auto& b : *stats) found = found || b.node_name == "drive-vdb";
  EXPECT_TRUE(found);
  // A duplicate id fails and leaves no second node behind.
  json bd2 = bd;
  bd2["node-name"] = "drive-vdb2";
  Status dup = AttachDisk((*p)->qmp(), bd2, dev);
  EXPECT_FALSE(dup.ok());
  auto nodes = (*p)->qmp().Execute("query-named-block-nodes");
  ASSERT_TRUE(nodes.ok());
  EXPECT_EQ(nodes->dump().find("drive-vdb2"), std::string::npos);

  Status d = DetachDisk((*p)->qmp(), "vdb", "drive-vdb", 60s);
  ASSERT_TRUE(d.ok()) << d.ToString();
  nodes = (*p)->qmp().Execute("query-named-block-nodes");
  ASSERT_TRUE(nodes.ok());
  EXPECT_EQ(nodes->dump().find("drive-vdb"), std::string::npos);
  ASSERT_TRUE((*p)->Destroy().ok());
}

TEST_F(QemuRuntimeTest, NicHotplugWithPassedFd) {
  auto p = Start(Options());
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_TRUE(WaitForLog(kReady)) << ReadFile(Log()).value_or("");
  // A unix socketpair stands in for the tap fd: the guest's NIC reaches nothing
  // but this test's end of the pair.
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd ours(sv[0]), theirs(sv[1]);
  json netdev = {{"type", "socket"}, {"id", "net1"}};
  json dev = {{"driver", "virtio-net-pci"},
              {"id", "nic1"},
              {"netdev", "net1"},
              {"bus", "rp1"},
              {"mac", "52:54:00:12:34:56"}};
  Status s = AttachNic((*p)->qmp(), theirs.get(), netdev, dev);
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto dup = AttachNic((*p)->qmp(), theirs.get(), netdev, dev);
  EXPECT_FALSE(dup.ok());
  Status d = DetachNic((*p)->qmp(), "nic1", "net1", 60s);
  ASSERT_TRUE(d.ok()) << d.ToString();
  // The netdev is gone: its id can be used again.
  ASSERT_TRUE(AttachNic((*p)->qmp(), theirs.get(), netdev, dev).ok());
  ASSERT_TRUE((*p)->Destroy().ok());
}

}  // namespace
}  // namespace skiff::qemu
