// Shared helpers of the daemon command groups (domain.cc, net.cc, pool.cc, vol.cc,
// host.cc): argument parsing in virsh's style, the API connection, table output.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.h"
#include "skiff/api/client.h"

namespace skiff::app {

struct Args {
  std::map<std::string, std::string> values;  // positionals and options by name
  std::set<std::string> flags;
  bool has(const std::string& f) const { return flags.count(f) > 0; }
  std::string get(const std::string& k) const {
    auto it = values.find(k);
    return it == values.end() ? "" : it->second;
  }
};

// Parses `args` for `verb`; on error prints "error: ..." and returns false.
bool ParseArgs(const std::string& verb, const ArgSpec& spec, const std::vector<std::string>& args,
               Args* out);

// Connects to the daemon named by -c/SKIFF_URI; prints the error and returns null.
std::unique_ptr<api::Client> ConnectOrFail(const GlobalOptions& g);

// Runs one call; on error prints "error: <message>" and returns null json with ok=false.
bool CallOrFail(api::Client& c, const std::string& method, const std::string& target,
                const nlohmann::json& body, nlohmann::json* out);

// virsh's table: header row, dashes, rows; each cell left-aligned, a blank line after.
void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);

// Reads a file for define/create; prints the error and returns false.
bool ReadInputFile(const std::string& path, std::string* out);

// virsh's edit: GETs {"xml"} from `get_target`, opens it in $VISUAL/$EDITOR (vi),
// and when it changed POSTs {"xml", "source"} to `define_target`. `kind` is
// "Domain" or "Network" in the messages. Returns the exit code.
int EditXml(api::Client& c, const std::string& kind, const std::string& name,
            const std::string& get_target, const std::string& define_target);

// Waits for job `job` (polling), returns true when it completed; prints the error.
bool WaitForJob(api::Client& c, const nlohmann::json& job);

void AddDomainCommands(std::vector<Command>& out);
void AddNetCommands(std::vector<Command>& out);
void AddPoolCommands(std::vector<Command>& out);
void AddVolCommands(std::vector<Command>& out);
void AddHostCommands(std::vector<Command>& out);

// A verb that parses its arguments, connects to the daemon and runs `fn`.
Command DaemonVerb(std::string name, std::string help, ArgSpec spec,
                   std::function<int(const Args&, api::Client&)> fn);

// virsh's size: two decimals and a binary unit ("1.00 GiB", "196.00 KiB").
std::string VirshSize(uint64_t bytes);

// Escapes text for an XML attribute or element ("&", "<", ">", "'").

// "web1" -> "/v1/domains/web1"
std::string DomainPath(const std::string& ref, const std::string& suffix = "");

}  // namespace skiff::app
