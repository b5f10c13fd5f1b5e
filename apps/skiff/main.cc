// skiff: the command-line client. Parses global options and dispatches on the verb.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "command.h"

namespace skiff::app {

int Fail(const std::string& message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  return 1;
}

// Groups not built yet register nothing: weak defaults keep main.cc stable.
__attribute__((weak)) void AddImageCommands(std::vector<Command>&) {}
__attribute__((weak)) void AddConfCommands(std::vector<Command>&) {}
__attribute__((weak)) void AddDaemonCommands(std::vector<Command>&) {}

namespace {

void Usage(const std::vector<Command>& cmds, FILE* to) {
  std::fprintf(to, "usage: skiff [-c URI] COMMAND [ARGS...]\n\ncommands:\n");
  for (const auto& c : cmds) std::fprintf(to, "  %-22s %s\n", c.name.c_str(), c.help.c_str());
}

}  // namespace
}  // namespace skiff::app

int main(int argc, char** argv) {
  using namespace skiff::app;
  std::vector<Command> cmds;
  AddVersionCommands(cmds);
  AddImageCommands(cmds);
  AddConfCommands(cmds);
  AddDaemonCommands(cmds);

  GlobalOptions g;
  if (const char* u = std::getenv("SKIFF_URI")) g.uri = u;
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "-c" || a == "--connect") && i + 1 < argc) {
      g.uri = argv[++i];
    } else if (a.rfind("--connect=", 0) == 0) {
      g.uri = a.substr(10);
    } else if (a == "-h" || a == "--help" || a == "help") {
      Usage(cmds, stdout);
      return 0;
    } else if (a == "-V" || a == "--version") {
      a = "version";
      break;
    } else {
      break;
    }
  }
  if (i >= argc) {
    Usage(cmds, stderr);
    return 1;
  }
  std::string verb = std::strcmp(argv[i], "-V") == 0 || std::strcmp(argv[i], "--version") == 0
                         ? "version"
                         : argv[i];
  std::vector<std::string> args(argv + i + 1, argv + argc);
  for (const auto& c : cmds) {
    if (c.name == verb) return c.run(g, args);
  }
  return Fail("unknown command '" + verb + "' (see 'skiff help')");
}
