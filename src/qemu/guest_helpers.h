// GuestHelpers: the processes a domain's QEMU talks to, started before it:
// swtpm for an emulated <tpm>, one virtiofsd per virtiofs <filesystem>. Each
// serves one QEMU over a unix socket and ends when QEMU disconnects (swtpm
// --terminate; virtiofsd by design); Stop() ends and reaps those still there.
// DomainResources holds one per running domain.
#pragma once

#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "skiff/base/process.h"
#include "skiff/base/status.h"
#include "skiff/conf/domain.h"
#include "skiff/qemu/argv.h"

namespace skiff::qemu {

struct HelperPaths {
  std::filesystem::path run_dir;    // sockets: NAME.swtpm.sock, NAME.fs0.sock
  std::filesystem::path state_dir;  // swtpm's TPM state: STATE/swtpm/UUID (kept)
  std::filesystem::path log_dir;    // LOG/NAME.swtpm.log, LOG/NAME.virtiofsd.log
};

// The sockets the helpers of domain `domain` listen on under `run_dir`: swtpm's,
// and virtiofsd's for <filesystem> number `index`.
std::filesystem::path SwtpmSocket(const std::filesystem::path& run_dir, const std::string& domain);
std::filesystem::path VirtiofsSocket(const std::filesystem::path& run_dir,
                                     const std::string& domain, size_t index);

// Where the helpers are; empty when not installed.
std::string SwtpmBinary();
std::string VirtiofsdBinary();

class GuestHelpers {
 public:
  GuestHelpers() = default;
  GuestHelpers(const GuestHelpers&) = delete;
  GuestHelpers& operator=(const GuestHelpers&) = delete;
  ~GuestHelpers() { Stop(); }

  // Starts what `def` needs, waits for each socket and names them in `ctx`
  // (tpm_socket, virtiofs_sockets). A missing program or a helper that exits
  // is an error naming it (and its log); then none is left running.
  Status Start(const conf::DomainDef& def, const HelperPaths& paths, ArgvContext& ctx);
  // SIGTERM (then SIGKILL after a second) to those still running, and reaps them.
  // Idempotent.
  void Stop();

 private:
  Result<std::string> StartOne(const std::vector<std::string>& argv,
                               const std::filesystem::path& socket,
                               const std::filesystem::path& log, const std::string& what);

  std::mutex mu_;
  std::vector<Child> children_;
};

}  // namespace skiff::qemu
