// skiff: the command-line client. The daemon verbs run here; the offline verbs
// (offline_verbs.h) exec the helpers skiff-img and skiff-offline, so that this
// binary stays small and starts fast (it links neither the image engine nor the
// XML library).
#include <limits.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "command.h"
#include "offline_verbs.h"

namespace skiff::app {

// Built without the daemon module, the client has no daemon verbs.
__attribute__((weak)) void AddDaemonCommands(std::vector<Command>&) {}

namespace {

// The helper next to this binary (build tree, /usr/bin), else ../libexec/skiff/.
std::string FindHelper(const std::string& name) {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "";
  std::string self(buf, static_cast<size_t>(n));
  std::string dir = self.substr(0, self.rfind('/') + 1);
  for (std::string p : {dir + name, dir + "../libexec/skiff/" + name}) {
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

int ExecOffline(const std::string& verb, const std::string& name,
                const std::vector<std::string>& args) {
  std::string helper = FindHelper(name);
  if (helper.empty()) {
    return Fail("'" + verb + "' needs " + name +
                ", which is installed neither next to skiff nor in ../libexec/skiff/");
  }
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(helper.c_str()));
  argv.push_back(const_cast<char*>(verb.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  ::execv(helper.c_str(), argv.data());
  return Fail("cannot run " + helper + ": " + std::strerror(errno));
}

}  // namespace
}  // namespace skiff::app

int main(int argc, char** argv) {
  using namespace skiff::app;
  std::vector<Command> cmds;
  for (const auto& v : kOfflineVerbs) {
    std::string name = v.name, helper = v.helper;
    cmds.push_back(
        {name, v.help, [name, helper](const GlobalOptions&, const std::vector<std::string>& a) {
           return ExecOffline(name, helper, a);
         }});
  }
  AddDaemonCommands(cmds);
  return RunCli(argc, argv, cmds);
}
