// domain_state: libvirt's numbers, the names the daemon has always shown for them, and
// reading back the live status files of older daemons.
#include "skiff/daemon/domain_state.h"

#include <gtest/gtest.h>

namespace skiff::daemon {
namespace {

TEST(DomainStateTest, StateNamesAsVirshPrintsThem) {
  EXPECT_EQ(StateName(DomainState::kRunning), "running");
  EXPECT_EQ(StateName(DomainState::kPaused), "paused");
  EXPECT_EQ(StateName(DomainState::kShutoff), "shut off");
  EXPECT_EQ(StateName(DomainState::kCrashed), "crashed");
  EXPECT_EQ(StateName(DomainState::kShutdown), "in shutdown");
  EXPECT_EQ(StateName(DomainState::kPmSuspended), "pmsuspended");
}

// The pairs the wire (REST "reason"/"reason_code", domstats state.reason) and the
// status files have always carried.
TEST(DomainStateTest, ReasonsKeepTheirNumbersAndNames) {
  struct Case {
    DomainStatus status;
    DomainState state;
    int number;
    std::string_view name;
  };
  const Case cases[] = {
      {DomainStatus(), DomainState::kShutoff, 0, "unknown"},
      {DomainStatus::Running(RunningReason::kBooted), DomainState::kRunning, 1, "booted"},
      {DomainStatus::Running(RunningReason::kRestored), DomainState::kRunning, 3, "restored"},
      {DomainStatus::Running(RunningReason::kUnpaused), DomainState::kRunning, 5, "unpaused"},
      {DomainStatus::Running(RunningReason::kCrashed), DomainState::kRunning, 9, "crashed"},
      {DomainStatus::Paused(PausedReason::kUnknown), DomainState::kPaused, 0, "unknown"},
      {DomainStatus::Paused(PausedReason::kUser), DomainState::kPaused, 1, "user"},
      {DomainStatus::Paused(PausedReason::kIoError), DomainState::kPaused, 5, "ioerror"},
      {DomainStatus::Paused(PausedReason::kWatchdog), DomainState::kPaused, 6, "watchdog"},
      {DomainStatus::Crashed(CrashedReason::kPanicked), DomainState::kCrashed, 1, "panicked"},
      {DomainStatus::Shutoff(ShutoffReason::kUnknown), DomainState::kShutoff, 0, "unknown"},
      {DomainStatus::Shutoff(ShutoffReason::kShutdown), DomainState::kShutoff, 1, "shutdown"},
      {DomainStatus::Shutoff(ShutoffReason::kDestroyed), DomainState::kShutoff, 2, "destroyed"},
      {DomainStatus::Shutoff(ShutoffReason::kCrashed), DomainState::kShutoff, 3, "crashed"},
      {DomainStatus::Shutoff(ShutoffReason::kSaved), DomainState::kShutoff, 5, "saved"},
      {DomainStatus::Shutoff(ShutoffReason::kFailed), DomainState::kShutoff, 6, "failed"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(c.status.state(), c.state) << c.name;
    EXPECT_EQ(c.status.reason(), c.number) << c.name;
    EXPECT_EQ(c.status.reason_name(), c.name);
    EXPECT_EQ(ReasonName(c.state, c.number), c.name);
  }
  EXPECT_FALSE(DomainStatus().active());
  EXPECT_FALSE(DomainStatus::Shutoff(ShutoffReason::kSaved).active());
  EXPECT_TRUE(DomainStatus::Paused(PausedReason::kUser).active());
  EXPECT_TRUE(DomainStatus::Crashed(CrashedReason::kPanicked).active());
}

TEST(DomainStateTest, LibvirtNumbersOfTheLastReasons) {
  EXPECT_EQ(static_cast<int>(RunningReason::kPostcopyFailed), 11);
  EXPECT_EQ(static_cast<int>(PausedReason::kApiError), 14);
  EXPECT_EQ(static_cast<int>(ShutoffReason::kDaemon), 8);
  EXPECT_EQ(static_cast<int>(CrashedReason::kPanicked), 1);
  // Past the end, or negative: unknown.
  EXPECT_EQ(ReasonName(DomainState::kRunning, 12), "unknown");
  EXPECT_EQ(ReasonName(DomainState::kPaused, 15), "unknown");
  EXPECT_EQ(ReasonName(DomainState::kShutoff, -1), "unknown");
  EXPECT_EQ(ReasonName(DomainState::kPmSuspended, 1), "unknown");
}

// The pause details the QEMU driver and the fake report.
TEST(DomainStateTest, PausedReasonFromHypervisorDetail) {
  EXPECT_EQ(PausedReasonFromDetail("ioerror"), PausedReason::kIoError);
  EXPECT_EQ(PausedReasonFromDetail("watchdog"), PausedReason::kWatchdog);
  EXPECT_EQ(PausedReasonFromDetail("user"), PausedReason::kUser);
  EXPECT_EQ(PausedReasonFromDetail("unknown"), PausedReason::kUnknown);
  EXPECT_EQ(PausedReasonFromDetail("migration"), PausedReason::kMigration);
  EXPECT_EQ(PausedReasonFromDetail("snapshot"), PausedReason::kSnapshot);
  EXPECT_EQ(PausedReasonFromDetail("starting-up"), PausedReason::kStartingUp);
  EXPECT_EQ(PausedReasonFromDetail("no-such-detail"), PausedReason::kUnknown);
  for (int i = 0; i <= 14; ++i) {
    EXPECT_EQ(static_cast<int>(PausedReasonFromDetail(ReasonName(DomainState::kPaused, i))), i);
  }
}

// {"state":S,"reason":R,"reason_name":N} as every daemon so far wrote it.
TEST(DomainStateTest, StatusFilesOfOlderDaemonsLoad) {
  EXPECT_EQ(DomainStatus::FromStatusFile(1, 1, "booted"),
            DomainStatus::Running(RunningReason::kBooted));
  EXPECT_EQ(DomainStatus::FromStatusFile(1, 3, "restored"),
            DomainStatus::Running(RunningReason::kRestored));
  EXPECT_EQ(DomainStatus::FromStatusFile(3, 5, "ioerror"),
            DomainStatus::Paused(PausedReason::kIoError));
  EXPECT_EQ(DomainStatus::FromStatusFile(6, 1, "panicked"),
            DomainStatus::Crashed(CrashedReason::kPanicked));
  // The defaults of a file without the keys: running, booted.
  EXPECT_EQ(DomainStatus::FromStatusFile(1, 1, "booted").reason_name(), "booted");
  // Older daemons kept a pause detail they had no number for as its name, with 0.
  EXPECT_EQ(DomainStatus::FromStatusFile(3, 0, "migration"),
            DomainStatus::Paused(PausedReason::kMigration));
  EXPECT_EQ(DomainStatus::FromStatusFile(3, 0, "debug"),
            DomainStatus::Paused(PausedReason::kUnknown));
  // A number the state does not have reads as unknown.
  EXPECT_EQ(DomainStatus::FromStatusFile(6, 7, "x"), DomainStatus::FromStatusFile(6, 0, ""));
  EXPECT_EQ(DomainStatus::FromStatusFile(6, 7, "x").reason(), 0);
  EXPECT_EQ(DomainStatus::FromStatusFile(99, 1, "").state(), DomainState::kNoState);
}

}  // namespace
}  // namespace skiff::daemon
