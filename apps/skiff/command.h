// The CLI's command table: each command group file (image.cc, conf.cc, domain.cc, ...)
// returns its entries; main.cc dispatches on the verb.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace skiff::app {

// Options every verb sees, parsed by main.cc before the verb.
struct GlobalOptions {
  std::string uri;  // -c URI, else $SKIFF_URI, else the default socket
};

struct Command {
  std::string name;  // verb, e.g. "list" or "img"
  std::string help;  // one line
  // `args` are the words after the verb. Returns the exit code (0 ok, 1 error).
  // Errors are printed as one line on stderr beginning "error: ".
  std::function<int(const GlobalOptions&, const std::vector<std::string>& args)> run;
};

// Each group appends its commands. Defined in the group's own file.
void AddVersionCommands(std::vector<Command>& out);  // version.cc
void AddImageCommands(std::vector<Command>& out);    // image.cc   (skiff img ...)
void AddConfCommands(std::vector<Command>& out);     // conf.cc    (validate, domxml-to-native)
void AddDaemonCommands(std::vector<Command>& out);   // domain.cc, net.cc, pool.cc ... (via the API)

// Prints "error: <message>" on stderr and returns 1.
int Fail(const std::string& message);

}  // namespace skiff::app
