// service_policy: what the daemon does when a guest acts on its own (exits,
// <on_poweroff>, pauses and resumes, panics and <on_crash>), against FakeHypervisor.
#include <algorithm>
#include <filesystem>

#include "daemon/service_test_fixture.h"

namespace skiff::daemon {
namespace {

using PolicyTest = ServiceTest;
using Kind = hypervisor::GuestEvent::Kind;

const DomainStatus kBooted = DomainStatus::Running(RunningReason::kBooted);

TEST_F(PolicyTest, ExitReasonsBecomeShutoffReasons) {
  DefineAndStart("a");
  // The driver's notice, as it gives it once the guest is gone.
  ASSERT_TRUE(hv_.Destroy("a").ok());
  service_->OnDomainExit("a", hypervisor::ExitReason::kFailed);
  EXPECT_EQ(StatusOf("a"), DomainStatus::Shutoff(ShutoffReason::kFailed));
  EXPECT_EQ(service_->GetDomain("a")->summary.id, -1);
  // A notice for a domain that is not running changes nothing.
  service_->OnDomainExit("a", hypervisor::ExitReason::kCrashed);
  EXPECT_EQ(StatusOf("a"), DomainStatus::Shutoff(ShutoffReason::kFailed));
  service_->OnDomainExit("nope", hypervisor::ExitReason::kCrashed);
  ASSERT_TRUE(service_->StartDomain("a", false).ok());
  hv_.CrashForTest("a");
  EXPECT_EQ(WaitFor("a", DomainStatus::Shutoff(ShutoffReason::kCrashed)),
            DomainStatus::Shutoff(ShutoffReason::kCrashed));
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "run/skiff/domains/a.xml"));
}

TEST_F(PolicyTest, TransientDomainIsForgottenWhenItStops) {
  ASSERT_TRUE(service_->CreateDomain(Xml("t"), "t.xml", false).ok());
  ASSERT_TRUE(service_->ShutdownDomain("t").ok());
  EXPECT_TRUE(Eventually([&] { return !service_->GetDomain("t").ok(); }));
  EXPECT_EQ(service_->GetDomain("t").status().code(), Code::kNotFound);
}

TEST_F(PolicyTest, PowerOffWithOnPoweroffRestartBootsAgain) {
  DefineAndStart("a", "<on_poweroff>restart</on_poweroff>");
  int id = service_->GetDomain("a")->summary.id;
  ASSERT_TRUE(service_->ShutdownDomain("a").ok());
  EXPECT_TRUE(Eventually([&] { return service_->GetDomain("a")->summary.id > id; }));
  EXPECT_EQ(StatusOf("a"), kBooted);
  auto seen = Seen();
  EXPECT_NE(std::find(seen.begin(), seen.end(), "stopped/shutdown"), seen.end());
  // Without it the domain stays off.
  DefineAndStart("b");
  ASSERT_TRUE(service_->ShutdownDomain("b").ok());
  EXPECT_EQ(WaitFor("b", DomainStatus::Shutoff(ShutoffReason::kShutdown)),
            DomainStatus::Shutoff(ShutoffReason::kShutdown));
}

TEST_F(PolicyTest, GuestPausesAndResumes) {
  DefineAndStart("a");
  hv_.GuestEventForTest("a", {Kind::kPaused, "watchdog"});
  EXPECT_EQ(WaitFor("a", DomainStatus::Paused(PausedReason::kWatchdog)),
            DomainStatus::Paused(PausedReason::kWatchdog));
  hv_.GuestEventForTest("a", {Kind::kResumed, "unpaused"});
  EXPECT_EQ(WaitFor("a", DomainStatus::Running(RunningReason::kUnpaused)),
            DomainStatus::Running(RunningReason::kUnpaused));
  // A detail with no reason of its own is paused, unknown; the event keeps the detail.
  hv_.GuestEventForTest("a", {Kind::kPaused, "debug"});
  EXPECT_EQ(WaitFor("a", DomainStatus::Paused(PausedReason::kUnknown)),
            DomainStatus::Paused(PausedReason::kUnknown));
  auto seen = Seen();
  EXPECT_NE(std::find(seen.begin(), seen.end(), "suspended/debug"), seen.end());
  // A daemon's own suspend is not overridden by a later pause notice.
  hv_.GuestEventForTest("a", {Kind::kResumed, "unpaused"});
  WaitFor("a", DomainStatus::Running(RunningReason::kUnpaused));
  ASSERT_TRUE(service_->SuspendDomain("a").ok());
  EXPECT_EQ(StatusOf("a"), DomainStatus::Paused(PausedReason::kUser));
}

TEST_F(PolicyTest, PanicWithOnCrashPreserveStaysCrashed) {
  DefineAndStart("a", "<on_crash>preserve</on_crash>");
  hv_.GuestEventForTest("a", {Kind::kPanicked, "panicked"});
  const auto crashed = DomainStatus::Crashed(CrashedReason::kPanicked);
  EXPECT_EQ(WaitFor("a", crashed), crashed);
  EXPECT_TRUE(crashed.active());
  EXPECT_GT(service_->GetDomain("a")->summary.id, 0);
  ASSERT_TRUE(service_->DestroyDomain("a").ok());
  EXPECT_EQ(StatusOf("a"), DomainStatus::Shutoff(ShutoffReason::kDestroyed));
}

TEST_F(PolicyTest, PanicWithOnCrashRestartRunsAgain) {
  DefineAndStart("a", "<on_crash>restart</on_crash>");
  hv_.GuestEventForTest("a", {Kind::kPanicked, "panicked"});
  const auto again = DomainStatus::Running(RunningReason::kCrashed);
  EXPECT_EQ(WaitFor("a", again), again);
  EXPECT_EQ(again.reason(), 9);
  EXPECT_EQ(again.reason_name(), "crashed");
}

TEST_F(PolicyTest, PanicWithCoredumpDestroyWritesADump) {
  DefineAndStart("a", "<on_crash>coredump-destroy</on_crash>");
  int id = service_->GetDomain("a")->summary.id;
  hv_.GuestEventForTest("a", {Kind::kPanicked, "panicked"});
  const auto off = DomainStatus::Shutoff(ShutoffReason::kCrashed);
  EXPECT_EQ(WaitFor("a", off), off);
  std::vector<std::string> dumps;
  for (const auto& e : std::filesystem::directory_iterator(dir_.path() / "var/lib/skiff/dump")) {
    dumps.push_back(e.path().filename().string());
  }
  ASSERT_EQ(dumps.size(), 1u);
  EXPECT_EQ(dumps[0].rfind(std::to_string(id) + "-a-", 0), 0u) << dumps[0];
}

}  // namespace
}  // namespace skiff::daemon
