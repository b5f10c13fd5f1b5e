// Service: lifecycle policy, what happens when a guest acts on its own: it stops
// (<on_poweroff>), pauses or resumes, resets, or panics (<on_crash>, run as a job).
#include "skiff/daemon/service.h"

#include <ctime>

#include <spdlog/spdlog.h>

#include "daemon/domain_core.h"
#include "skiff/base/fs.h"

namespace skiff::daemon {

namespace fs = std::filesystem;

void Service::OnDomainExit(const std::string& name, ExitReason why) {
  auto held = core_->Acquire(name);
  if (!held.ok()) return;
  auto& [obj, lock] = *held;
  if (!obj->status.active()) return;
  // The guest powered off: with <on_poweroff>restart</on_poweroff> it boots again at once,
  // like libvirt (the definition may have been edited in the meantime: the new one boots).
  const conf::LifecycleAction on_poweroff = (obj->live ? *obj->live : obj->def).on_poweroff;
  switch (why) {
    case ExitReason::kShutdown:
      core_->MarkStopped(*obj, ShutoffReason::kShutdown);
      if (on_poweroff == conf::LifecycleAction::kRestart) {
        spdlog::info("domain '{}' powered off; on_poweroff=restart starts it again", name);
        auto started = StartLocked(*obj, false, "");
        if (started.ok()) return;
        spdlog::error("domain '{}': restart after power-off failed: {}", name,
                      started.status().ToString());
      }
      break;
    case ExitReason::kDestroyed:
      core_->MarkStopped(*obj, ShutoffReason::kDestroyed);
      break;
    case ExitReason::kCrashed:
      core_->MarkStopped(*obj, ShutoffReason::kCrashed);
      break;
    case ExitReason::kSaved:
      core_->MarkStopped(*obj, ShutoffReason::kSaved);
      break;
    case ExitReason::kFailed:
      core_->MarkStopped(*obj, ShutoffReason::kFailed);
      break;
  }
  if (!obj->persistent) {
    lock.unlock();
    core_->Forget(obj);
  }
}

void Service::OnGuestEvent(const std::string& name, const GuestEvent& ev) {
  auto held = core_->Acquire(name);
  if (!held.ok()) return;
  DomainObj& o = *held->first;
  switch (ev.kind) {
    case GuestEvent::Kind::kPaused:
      // The daemon's own suspend (and save, start) already set the state it wanted.
      if (o.status.state() != DomainState::kRunning) return;
      spdlog::warn("domain '{}' was paused by the hypervisor ({})", name, ev.detail);
      core_->MarkActive(o, DomainStatus::Paused(PausedReasonFromDetail(ev.detail)), "suspended",
                        ev.detail);
      return;
    case GuestEvent::Kind::kResumed:
      if (o.status.state() != DomainState::kPaused) return;
      core_->MarkActive(o, DomainStatus::Running(RunningReason::kUnpaused), "resumed", "unpaused");
      return;
    case GuestEvent::Kind::kReset:
      // A reset the daemon asked for was announced by its request already.
      if (ev.detail == "guest" && o.status.active()) core_->Emit(o, "rebooted", "guest");
      return;
    case GuestEvent::Kind::kPanicked:
      // <on_crash> runs as a job: its dump, destroy or reset need the driver's
      // event thread, which is the one calling here.
      jobs_.Start("crash", name, [this, name](const JobControl&) { return HandlePanic(name); });
      return;
  }
}

// As libvirt's qemu driver: the domain is "crashed (panicked)" first, then <on_crash>
// runs; a dump that fails leaves it crashed, its QEMU kept.
Status Service::HandlePanic(const std::string& name) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_->Acquire(name));
  auto& [obj, lock] = held;
  DomainObj& o = *obj;
  if (!o.status.active() || o.status.state() == DomainState::kCrashed) return Status::Ok();
  const conf::LifecycleAction action = (o.live ? *o.live : o.def).on_crash;
  spdlog::warn("domain '{}' crashed (guest panic); on_crash={}", name, conf::ToString(action));
  core_->MarkActive(o, DomainStatus::Crashed(CrashedReason::kPanicked), "crashed", "panicked");
  if (action == conf::LifecycleAction::kCoredumpDestroy ||
      action == conf::LifecycleAction::kCoredumpRestart) {
    // libvirt's auto-dump name: ID-NAME-TIMESTAMP, in the dump directory.
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    ::localtime_r(&now, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%d-%H:%M:%S", &tm);
    fs::path file = paths_.dump_dir / fmt::format("{}-{}-{}", o.id.load(), name, stamp);
    SKIFF_TRY(MakeDirs(paths_.dump_dir, 0755));
    Status st = hv_.DumpMemory(name, file.string());
    if (!st.ok()) {
      spdlog::error("domain '{}': crash dump failed, domain left crashed: {}", name, st.ToString());
      return st;
    }
    spdlog::info("domain '{}': crash dump written to '{}'", name, file.string());
  }
  switch (action) {
    case conf::LifecycleAction::kDestroy:
    case conf::LifecycleAction::kCoredumpDestroy: {
      SKIFF_TRY(hv_.Destroy(name));
      core_->MarkStopped(o, ShutoffReason::kCrashed);
      if (!o.persistent) {
        lock.unlock();
        core_->Forget(obj);
      }
      return Status::Ok();
    }
    case conf::LifecycleAction::kRestart:
    case conf::LifecycleAction::kCoredumpRestart: {
      // The same QEMU boots again (libvirt's fake reboot): reset, then run.
      Status st = hv_.Reset(name);
      if (st.ok()) st = hv_.Resume(name);
      if (!st.ok()) {
        spdlog::error("domain '{}': restart after crash failed: {}", name, st.ToString());
        return st;
      }
      core_->MarkActive(o, DomainStatus::Running(RunningReason::kCrashed), "resumed", "unpaused");
      return Status::Ok();
    }
    case conf::LifecycleAction::kPreserve:
    case conf::LifecycleAction::kRenameRestart:  // refused by ValidateDomain
      return Status::Ok();
  }
  return Status::Ok();
}

}  // namespace skiff::daemon
