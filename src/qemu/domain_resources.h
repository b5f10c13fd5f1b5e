// DomainResources: what skiffd holds for one running QEMU besides the process
// itself: its cgroup (limits, pinning) and its console relay. QemuDriver
// keeps one per running domain.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "qemu/cgroup.h"
#include "qemu/console_log.h"
#include "qemu/console_mux.h"
#include "qemu/guest_helpers.h"
#include "skiff/base/status.h"
#include "skiff/conf/domain.h"
#include "skiff/qemu/qemu_process.h"

namespace skiff::qemu {

class DomainResources {
 public:
  // Before QEMU starts: creates the domain's cgroup and writes the definition's
  // limits into it. Returns the cgroup.procs files QEMU joins before exec, so that
  // all its memory is charged there (empty without usable cgroups: one warning,
  // unless the definition asks for limits: then kFailedPrecondition saying so).
  // On error nothing is left behind; after success Release() removes the cgroup.
  Result<std::vector<std::filesystem::path>> Prepare(const conf::DomainDef& def,
                                                     const CgroupManager& cgroups);

  // For a QEMU just started in that cgroup (still paused, its vCPUs not run yet):
  // pins its threads and starts relaying its console (QEMU's socket in the
  // process status) on `viewer_socket`, keeping its console log within
  // `log_limits`. On error whatever was set up is released again by Release();
  // the caller kills QEMU.
  Status Setup(const conf::DomainDef& def, qemu::QemuProcess& proc,
               const std::filesystem::path& viewer_socket, const LogLimits& log_limits);

  // For a QEMU found again after a daemon restart: finds its cgroup and
  // reconnects the console relay. Problems are logged, never fatal.
  void Adopt(const conf::DomainDef& def, qemu::QemuProcess& proc, const CgroupManager& cgroups,
             const std::filesystem::path& viewer_socket, const LogLimits& log_limits);

  // The helpers (swtpm, virtiofsd) started for this QEMU: stopped by Release().
  void KeepHelpers(std::unique_ptr<GuestHelpers> helpers);
  // QEMU has exited: disconnects the console viewers, stops the helpers and
  // removes the cgroup.
  // Idempotent; Setup/Adopt after it set up nothing. Any thread.
  void Release();

  // The socket viewers connect to; empty when there is no relay.
  std::string console_socket() const;
  // The cgroup, when the domain has one.
  std::optional<DomainCgroup> cgroup() const;

 private:
  // The console relay (when QEMU has a console socket); a failure is logged: the
  // guest runs on without an interactive console, its output still logged.
  void StartConsole(const conf::DomainDef& def, qemu::QemuProcess& proc,
                    const std::filesystem::path& viewer_socket, std::chrono::milliseconds timeout,
                    const LogLimits& log_limits);

  mutable std::mutex mu_;
  bool released_ = false;
  std::optional<DomainCgroup> cgroup_;
  std::unique_ptr<ConsoleMux> console_;
  std::unique_ptr<GuestHelpers> helpers_;
};

}  // namespace skiff::qemu
