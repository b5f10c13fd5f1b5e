// skiff-img: `skiff img ...` on its own. `skiff img ARGS` execs it as
// `skiff-img img ARGS` (offline_verbs.h). It holds the image engine and nothing
// else, linked so that it starts fast: `info` and `check` take well under a
// millisecond of work, so start-up is most of what the user waits for
// (apps/CMakeLists.txt). skiff-offline has the same `img` verb for scripts that
// run it directly.
#include <string>
#include <vector>

#include "command.h"

int main(int argc, char** argv) {
  using namespace skiff::app;
  std::vector<Command> cmds;
  AddImageCommands(cmds);
  return RunCli(argc, argv, cmds);
}
