// Shared by `skiff` (main.cc) and `skiff-offline` (offline_main.cc): error output,
// global options and dispatch on the verb.
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

namespace {

void Usage(const std::vector<Command>& cmds, FILE* to) {
  std::fprintf(to, "usage: skiff [-c URI] COMMAND [ARGS...]\n\ncommands:\n");
  for (const auto& c : cmds) std::fprintf(to, "  %-22s %s\n", c.name.c_str(), c.help.c_str());
}

void PrintVerbHelp(const std::string& name, const Command& c) {
  std::string syn = name;
  if (!c.subcommands.empty()) {
    syn += " <command>";
  } else if (c.spec) {
    for (size_t i = 0; i < c.spec->positional.size(); ++i) {
      const std::string& p = c.spec->positional[i];
      syn += i < c.spec->required ? " <" + p + ">" : " [<" + p + ">]";
    }
    for (const auto& f : c.spec->flags) syn += " [--" + f + "]";
    for (const auto& o : c.spec->options) syn += " [--" + o + " <string>]";
  } else {
    syn += " ...  (see 'skiff " + name + " --help')";
  }
  std::printf("  NAME\n    %s - %s\n\n  SYNOPSIS\n    %s\n\n", name.c_str(), c.help.c_str(),
              syn.c_str());
  if (!c.subcommands.empty()) {
    std::printf("  COMMANDS\n");
    for (const auto& sub : c.subcommands) {
      std::printf("    %s - %s\n", sub.name.c_str(), sub.help.c_str());
    }
    std::printf("\n");
  }
}

// virsh's `help VERB`: the verb's one-line help and its arguments; `help VERB
// SUB` (or "VERB SUB" as one word) a group verb's subcommand.
int HelpVerb(const std::vector<Command>& cmds, std::string verb, std::string sub) {
  if (auto sp = verb.find(' '); sp != std::string::npos && sub.empty()) {
    sub = verb.substr(sp + 1);
    verb.resize(sp);
  }
  for (const auto& c : cmds) {
    if (c.name != verb) continue;
    if (sub.empty()) {
      PrintVerbHelp(c.name, c);
      return 0;
    }
    for (const auto& s : c.subcommands) {
      if (s.name != sub) continue;
      PrintVerbHelp(c.name + " " + s.name, s);
      return 0;
    }
    return Fail("command '" + verb + " " + sub + "' doesn't exist");
  }
  return Fail("command '" + verb + "' doesn't exist");
}

}  // namespace

int RunCli(int argc, char** argv, const std::vector<Command>& cmds) {
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
      if (a == "help" && i + 1 < argc) {
        return HelpVerb(cmds, argv[i + 1], i + 2 < argc ? argv[i + 2] : "");
      }
      Usage(cmds, stdout);
      return 0;
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

}  // namespace skiff::app
