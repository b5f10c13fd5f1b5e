// The CLI's command table: each command group file (image.cc, conf.cc, domain.cc, ...)
// returns its entries; main.cc dispatches on the verb.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace skiff::app {

// Options every verb sees, parsed by main.cc before the verb.
struct GlobalOptions {
  std::string uri;  // -c URI, else $SKIFF_URI, else the default socket
};

// A verb's arguments in virsh's style (parsed by ParseArgs in daemon_cli.h).
struct ArgSpec {
  std::vector<std::string> positional;  // names in order, e.g. {"domain", "file"}
  size_t required = 0;                  // how many positionals must be present
  std::set<std::string> flags;          // "--all" style, without the dashes
  std::set<std::string> options;        // take a value: "--mode readonly" or "--mode=readonly"
  // One-letter spellings of options and flags, as virt-clone has them: {"n", "name"}
  // lets "-n web2" stand for "--name web2".
  std::map<std::string, std::string> short_names = {};
};

struct Command {
  std::string name;  // verb, e.g. "list" or "img"
  std::string help;  // one line
  // `args` are the words after the verb. Returns the exit code (0 ok, 1 error).
  // Errors are printed as one line on stderr beginning "error: ".
  std::function<int(const GlobalOptions&, const std::vector<std::string>& args)> run;
  // The verb's arguments, when it parses them with ParseArgs: `skiff help VERB`
  // prints them and the bash completion reads them from there.
  std::optional<ArgSpec> spec;
  // A group verb (skiff backup create ...): its subcommands, each named by its
  // second word. `skiff help VERB SUB` describes one; `run` dispatches.
  std::vector<Command> subcommands = {};
};

// Each group appends its commands. Defined in the group's own file. The first three
// groups are built into the helper skiff-offline (see offline_verbs.h), the daemon
// verbs into skiff itself.
void AddVersionCommands(std::vector<Command>& out);  // version.cc
void AddImageCommands(std::vector<Command>& out);    // image.cc   (skiff img ...)
void AddConfCommands(std::vector<Command>& out);     // conf.cc    (validate, domxml-to-native)
void AddDaemonCommands(std::vector<Command>& out);   // domain.cc, net.cc, pool.cc ... (via the API)

// Prints "error: <message>" on stderr and returns 1.
int Fail(const std::string& message);

// Parses the global options (-c URI, help, -V) and runs the verb's command from
// `cmds`; returns the exit code. Shared by skiff and skiff-offline (cli_main.cc).
int RunCli(int argc, char** argv, const std::vector<Command>& cmds);

}  // namespace skiff::app
