// A domain's state and the reason it is in it, as one value: libvirt's virDomainState
// and its per-state reason enums (include/libvirt/libvirt-domain.h), with the same
// numbers, since domstats and the REST API print them. The reason's name (REST
// "reason", `domstate --reason`) is derived from the value by ReasonName.
#pragma once

#include <string_view>

#include "skiff/hypervisor/hypervisor.h"

namespace skiff::daemon {

using hypervisor::DomainState;

enum class RunningReason {  // virDomainRunningReason
  kUnknown = 0,
  kBooted = 1,
  kMigrated = 2,
  kRestored = 3,
  kFromSnapshot = 4,
  kUnpaused = 5,
  kMigrationCanceled = 6,
  kSaveCanceled = 7,
  kWakeup = 8,
  kCrashed = 9,
  kPostcopy = 10,
  kPostcopyFailed = 11,
};
enum class PausedReason {  // virDomainPausedReason
  kUnknown = 0,
  kUser = 1,
  kMigration = 2,
  kSave = 3,
  kDump = 4,
  kIoError = 5,
  kWatchdog = 6,
  kFromSnapshot = 7,
  kShuttingDown = 8,
  kSnapshot = 9,
  kCrashed = 10,
  kStartingUp = 11,
  kPostcopy = 12,
  kPostcopyFailed = 13,
  kApiError = 14,
};
enum class ShutoffReason {  // virDomainShutoffReason
  kUnknown = 0,
  kShutdown = 1,
  kDestroyed = 2,
  kCrashed = 3,
  kMigrated = 4,
  kSaved = 5,
  kFailed = 6,
  kFromSnapshot = 7,
  kDaemon = 8,
};
enum class CrashedReason { kUnknown = 0, kPanicked = 1 };  // virDomainCrashedReason

// "running", "paused", "shut off", ... as virsh prints them.
std::string_view StateName(DomainState state);

// The name of libvirt's reason number `reason` of `state` ("booted", "destroyed",
// "ioerror", ...); "unknown" for a number the state does not have.
std::string_view ReasonName(DomainState state, int reason);

// The paused reason a hypervisor names in a pause event's detail ("ioerror",
// "watchdog", "user", "migration", ...): the one whose ReasonName it is, else kUnknown.
PausedReason PausedReasonFromDetail(std::string_view detail);

// A state with one of its reasons. Made only from a typed reason (or, for status files
// of the daemon, from libvirt's numbers), so the state, the number and the name agree.
class DomainStatus {
 public:
  DomainStatus() = default;  // shut off, reason unknown: defined, never started
  static DomainStatus Running(RunningReason r) { return {DomainState::kRunning, int(r)}; }
  static DomainStatus Paused(PausedReason r) { return {DomainState::kPaused, int(r)}; }
  static DomainStatus Shutoff(ShutoffReason r) { return {DomainState::kShutoff, int(r)}; }
  static DomainStatus Crashed(CrashedReason r) { return {DomainState::kCrashed, int(r)}; }
  // From the numbers a live status file keeps (`state`, `reason`) and the name it
  // kept beside them: a number the state does not have reads as unknown (0), and
  // an unknown (0) with a name the state knows reads as that reason.
  static DomainStatus FromStatusFile(int state, int reason, std::string_view reason_name);

  DomainState state() const { return state_; }
  int reason() const { return reason_; }  // libvirt's number
  std::string_view reason_name() const { return ReasonName(state_, reason_); }
  // A crashed domain (<on_crash>preserve</on_crash>) keeps its stopped QEMU: it is active.
  bool active() const { return state_ != DomainState::kShutoff; }

  bool operator==(const DomainStatus&) const = default;

 private:
  DomainStatus(DomainState s, int r) : state_(s), reason_(r) {}
  DomainState state_ = DomainState::kShutoff;
  int reason_ = 0;
};

}  // namespace skiff::daemon
