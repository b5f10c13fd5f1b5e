// swtpm and virtiofsd beside a domain's QEMU.
#include "qemu/guest_helpers.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "skiff/base/fs.h"

namespace skiff::qemu {

namespace fs = std::filesystem;

fs::path SwtpmSocket(const fs::path& run_dir, const std::string& domain) {
  return run_dir / (domain + ".swtpm.sock");
}

fs::path VirtiofsSocket(const fs::path& run_dir, const std::string& domain, size_t index) {
  return run_dir / fmt::format("{}.fs{}.sock", domain, index);
}

std::string SwtpmBinary() { return FindProgram("swtpm"); }

std::string VirtiofsdBinary() {
  // Debian 12 ships QEMU's C virtiofsd with QEMU; later releases the Rust one.
  for (const char* p : {"/usr/libexec/virtiofsd", "/usr/lib/qemu/virtiofsd"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return FindProgram("virtiofsd");
}

namespace {

// The last line of a helper's log, for an error message.
std::string LastLogLine(const fs::path& log) {
  auto text = ReadFile(log, 1 << 16);
  if (!text.ok()) return "";
  std::string t = *text;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  size_t nl = t.rfind('\n');
  return nl == std::string::npos ? t : t.substr(nl + 1);
}

// Reaps `pid` within `wait`; false when it still runs.
bool ReapWithin(pid_t pid, std::chrono::milliseconds wait) {
  auto deadline = std::chrono::steady_clock::now() + wait;
  do {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno == ECHILD)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  } while (std::chrono::steady_clock::now() < deadline);
  return false;
}

}  // namespace

Result<std::string> GuestHelpers::StartOne(const std::vector<std::string>& argv,
                                           const fs::path& socket, const fs::path& log,
                                           const std::string& what) {
  std::error_code ec;
  fs::remove(socket, ec);  // a stale one from a helper that died
  UniqueFd log_fd(::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!log_fd) return ErrnoError(errno, fmt::format("open '{}'", log.string()));
  SpawnOptions so;
  so.argv = argv;
  so.stdout_fd = log_fd.get();
  so.stderr_fd = log_fd.get();
  so.new_session = true;  // not killed with skiffd's session: it serves the guest
  SKIFF_ASSIGN_OR_RETURN(Child child, Spawn(so));
  const pid_t pid = child.pid;
  {
    std::lock_guard l(mu_);
    children_.push_back(std::move(child));
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!fs::exists(socket, ec)) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      std::lock_guard l(mu_);
      std::erase_if(children_, [&](const Child& c) { return c.pid == pid; });
      std::string last = LastLogLine(log);
      return FailedPreconditionError("{} exited at start{}{} (log: {})", what,
                                     last.empty() ? "" : ": ", last, log.string());
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return UnavailableError("{} did not create its socket '{}' within 10 s (log: {})", what,
                              socket.string(), log.string());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return socket.string();
}

Status GuestHelpers::Start(const conf::DomainDef& def, const HelperPaths& paths, ArgvContext& ctx) {
  Status st = [&]() -> Status {
    SKIFF_TRY(MakeDirs(paths.log_dir, 0755));
    for (const auto& t : def.devices.tpms) {
      if (t.backend != "emulator") continue;
      std::string swtpm = SwtpmBinary();
      if (swtpm.empty()) {
        return FailedPreconditionError(
            "domain '{}': an emulated <tpm> needs swtpm (install the swtpm package)", def.name);
      }
      const bool tpm2 = t.version != "1.2";
      // The TPM's state lives as long as the domain's UUID, as libvirt keeps it.
      const fs::path state =
          paths.state_dir / "swtpm" / def.uuid.ToString() / (tpm2 ? "tpm2" : "tpm1.2");
      SKIFF_TRY(MakeDirs(state, 0700));
      const fs::path sock = SwtpmSocket(paths.run_dir, def.name);
      const fs::path log = paths.log_dir / (def.name + ".swtpm.log");
      std::vector<std::string> argv = {
          swtpm,        "socket",
          "--tpmstate", "dir=" + state.string() + ",mode=0600",
          "--ctrl",     "type=unixio,path=" + sock.string() + ",mode=0600",
          "--log",      "file=" + log.string(),
          "--terminate"};
      if (tpm2) argv.push_back("--tpm2");
      SKIFF_ASSIGN_OR_RETURN(ctx.tpm_socket, StartOne(argv, sock, log, "swtpm"));
    }
    for (size_t i = 0; i < def.devices.filesystems.size(); ++i) {
      const auto& f = def.devices.filesystems[i];
      if (f.driver != "virtiofs") continue;
      std::string bin = VirtiofsdBinary();
      if (bin.empty()) {
        return FailedPreconditionError(
            "domain '{}': filesystem '{}' uses virtiofs, and no virtiofsd is installed", def.name,
            f.target_dir);
      }
      std::error_code ec;
      if (!fs::is_directory(f.source_dir, ec)) {
        return InvalidArgumentError("domain '{}': filesystem source dir '{}' is not a directory",
                                    def.name, f.source_dir);
      }
      const fs::path sock = VirtiofsSocket(paths.run_dir, def.name, i);
      const fs::path log = paths.log_dir / (def.name + ".virtiofsd.log");
      SKIFF_ASSIGN_OR_RETURN(
          ctx.virtiofs_sockets[i],
          StartOne({bin, "--socket-path=" + sock.string(), "-o", "source=" + f.source_dir}, sock,
                   log, fmt::format("virtiofsd of filesystem '{}'", f.target_dir)));
    }
    return Status::Ok();
  }();
  if (!st.ok()) Stop();
  return st;
}

void GuestHelpers::Stop() {
  std::vector<Child> children;
  {
    std::lock_guard l(mu_);
    children.swap(children_);
  }
  for (auto& c : children) {
    if (ReapWithin(c.pid, std::chrono::milliseconds(0))) continue;
    ::kill(c.pid, SIGTERM);
    if (ReapWithin(c.pid, std::chrono::seconds(1))) continue;
    spdlog::warn("helper process {} ignored SIGTERM; killed", c.pid);
    ::kill(c.pid, SIGKILL);
    (void)ReapWithin(c.pid, std::chrono::seconds(5));
  }
}

}  // namespace skiff::qemu
