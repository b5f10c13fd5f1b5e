// Names of domain states and of their reasons (libvirt's numbers), and reading them back.
#include "skiff/daemon/domain_state.h"

#include <array>
#include <span>

namespace skiff::daemon {

namespace {

// Indexed by libvirt's reason number. The names the daemon has always used stay as
// they are (status files and clients know them); the others follow their style.
constexpr std::array<std::string_view, 12> kRunning = {
    "unknown",       "booted",   "migrated",           "restored",
    "from-snapshot", "unpaused", "migration-canceled", "save-canceled",
    "wakeup",        "crashed",  "postcopy",           "postcopy-failed"};
constexpr std::array<std::string_view, 15> kPaused = {
    "unknown", "user",        "migration",     "saved",           "dump",
    "ioerror", "watchdog",    "from-snapshot", "shutting-down",   "snapshot",
    "crashed", "starting-up", "postcopy",      "postcopy-failed", "api-error"};
constexpr std::array<std::string_view, 9> kShutoff = {"unknown", "shutdown",      "destroyed",
                                                      "crashed", "migrated",      "saved",
                                                      "failed",  "from-snapshot", "daemon"};
constexpr std::array<std::string_view, 2> kCrashed = {"unknown", "panicked"};
constexpr std::array<std::string_view, 2> kShutdown = {"unknown", "user"};
constexpr std::array<std::string_view, 1> kOnlyUnknown = {"unknown"};

std::span<const std::string_view> Names(DomainState state) {
  switch (state) {
    case DomainState::kRunning:
      return kRunning;
    case DomainState::kPaused:
      return kPaused;
    case DomainState::kShutoff:
      return kShutoff;
    case DomainState::kCrashed:
      return kCrashed;
    case DomainState::kShutdown:
      return kShutdown;
    case DomainState::kNoState:
    case DomainState::kBlocked:
    case DomainState::kPmSuspended:
      break;
  }
  return kOnlyUnknown;
}

}  // namespace

std::string_view StateName(DomainState s) {
  switch (s) {
    case DomainState::kNoState:
      return "no state";
    case DomainState::kRunning:
      return "running";
    case DomainState::kBlocked:
      return "idle";
    case DomainState::kPaused:
      return "paused";
    case DomainState::kShutdown:
      return "in shutdown";
    case DomainState::kShutoff:
      return "shut off";
    case DomainState::kCrashed:
      return "crashed";
    case DomainState::kPmSuspended:
      return "pmsuspended";
  }
  return "no state";
}

std::string_view ReasonName(DomainState state, int reason) {
  auto names = Names(state);
  if (reason < 0 || static_cast<size_t>(reason) >= names.size()) return names[0];
  return names[static_cast<size_t>(reason)];
}

PausedReason PausedReasonFromDetail(std::string_view detail) {
  for (size_t i = 0; i < kPaused.size(); ++i) {
    if (kPaused[i] == detail) return static_cast<PausedReason>(i);
  }
  return PausedReason::kUnknown;
}

DomainStatus DomainStatus::FromStatusFile(int state, int reason, std::string_view reason_name) {
  DomainState s = state >= 0 && state <= static_cast<int>(DomainState::kPmSuspended)
                      ? static_cast<DomainState>(state)
                      : DomainState::kNoState;
  auto names = Names(s);
  if (reason < 0 || static_cast<size_t>(reason) >= names.size()) reason = 0;
  if (reason == 0) {
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == reason_name) reason = static_cast<int>(i);
    }
  }
  return DomainStatus(s, reason);
}

}  // namespace skiff::daemon
