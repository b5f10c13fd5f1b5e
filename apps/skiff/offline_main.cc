// skiff-offline: the verbs of `skiff` that run without the daemon (offline_verbs.h).
// `skiff VERB ...` execs it as `skiff-offline VERB ...`; it can also be run directly.
// skiff lists these verbs from kOfflineVerbs without running this binary;
// tests/golden/cli/client_test.py checks that the table matches `skiff-offline help`.
#include <string>
#include <vector>

#include "command.h"

namespace skiff::app {

// Groups not built register nothing: weak defaults keep this file stable.
__attribute__((weak)) void AddImageCommands(std::vector<Command>&) {}
__attribute__((weak)) void AddConfCommands(std::vector<Command>&) {}

}  // namespace skiff::app

int main(int argc, char** argv) {
  using namespace skiff::app;
  std::vector<Command> cmds;
  AddVersionCommands(cmds);
  AddImageCommands(cmds);
  AddConfCommands(cmds);
  return RunCli(argc, argv, cmds);
}
