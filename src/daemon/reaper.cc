// Reaping of orphaned children: skiffd is a child subreaper, so double-forked
// processes (QEMU, dnsmasq) come back to it when their parent exits.
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <string>

#include "skiff/base/fs.h"
#include "skiff/daemon/server.h"

namespace skiff::daemon {

namespace {

std::set<pid_t> ZombieChildren() {
  std::set<pid_t> out;
  std::error_code ec;
  for (const auto& t : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    std::ifstream in(t.path() / "children");
    pid_t pid;
    while (in >> pid) {
      auto stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
      if (!stat.ok()) continue;
      size_t paren = stat->rfind(')');
      if (paren != std::string::npos && paren + 2 < stat->size() && (*stat)[paren + 2] == 'Z') {
        out.insert(pid);
      }
    }
  }
  return out;
}

}  // namespace

int ReapStaleZombies() {
  static std::mutex mu;
  static std::set<pid_t> seen;
  std::lock_guard l(mu);
  std::set<pid_t> now = ZombieChildren();
  int reaped = 0;
  std::set<pid_t> keep;
  for (pid_t p : now) {
    if (seen.count(p)) {
      int status;
      if (::waitpid(p, &status, WNOHANG) == p) ++reaped;
    } else {
      keep.insert(p);
    }
  }
  seen = std::move(keep);
  return reaped;
}

}  // namespace skiff::daemon
