// Shared helpers of the daemon command groups (domain.cc, net.cc, pool.cc, vol.cc,
// host.cc): argument parsing in virsh's style, the API connection, table output.
#pragma once

#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.h"
#include "skiff/api/client.h"
#include "skiff/api/routes.h"
#include "skiff/api/types.h"

namespace skiff::app {

struct Args {
  std::map<std::string, std::string> values;  // positionals and options by name (the last)
  std::map<std::string, std::vector<std::string>> lists;  // every value of a repeated option
  std::set<std::string> flags;
  bool has(const std::string& f) const { return flags.count(f) > 0; }
  std::string get(const std::string& k) const {
    auto it = values.find(k);
    return it == values.end() ? "" : it->second;
  }
  std::vector<std::string> all(const std::string& k) const {
    auto it = lists.find(k);
    return it == lists.end() ? std::vector<std::string>{} : it->second;
  }
};

// Parses `args` for `verb`; on error prints "error: ..." and returns false.
bool ParseArgs(const std::string& verb, const ArgSpec& spec, const std::vector<std::string>& args,
               Args* out);

// Connects to the daemon named by -c/SKIFF_URI; prints the error and returns null.
std::unique_ptr<api::Client> ConnectOrFail(const GlobalOptions& g);

// Runs one call; on error prints "error: <message>" and returns false. `body` is
// JSON or a request struct of api/types.h (nullptr: none); `out` may be null.
bool CallOrFail(api::Client& c, const std::string& method, const std::string& target,
                const nlohmann::json& body, nlohmann::json* out);

// Reads the daemon's answer as T; prints "error: invalid answer from the daemon: ..."
// and returns false when it does not fit.
template <api::Visitable T>
bool ReadAnswer(const nlohmann::json& j, T* out) {
  auto r = api::ParseResponse<T>(j);
  if (!r.ok()) {
    Fail("invalid answer from the daemon: " + r.status().message());
    return false;
  }
  *out = std::move(*r);
  return true;
}

// CallOrFail with a typed answer.
template <api::Visitable T>
bool CallOrFail(api::Client& c, const std::string& method, const std::string& target,
                const nlohmann::json& body, T* out) {
  nlohmann::json j;
  return CallOrFail(c, method, target, body, &j) && ReadAnswer(j, out);
}

// GET `target` into a typed answer.
template <api::Visitable T>
bool GetOrFail(api::Client& c, const std::string& target, T* out) {
  return CallOrFail(c, "GET", target, nullptr, out);
}

// virsh's table: header row, dashes, rows; each cell left-aligned, a blank line after.
void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);

// Pretty-printed JSON and a newline (the --json output of every verb).
void PrintJson(const nlohmann::json& j);

// The listing verbs' filter of virsh: --inactive shows the inactive objects, --all
// every object, neither the active ones.
bool ShownByActivity(const Args& a, bool active);

// What a listing verb (list, net-list, pool-list, vol-list, domblklist, ...) prints:
// with --json the items as JSON; with --name and/or --uuid those columns (uuid
// first); otherwise the table of `header` and one `row` per item.
template <typename T>
void PrintListing(const Args& a, const std::vector<T>& items,
                  const std::vector<std::string>& header,
                  const std::function<std::vector<std::string>(const T&)>& row) {
  if (a.has("json")) {
    PrintJson(nlohmann::json(items));
    return;
  }
  if constexpr (requires(const T& t) { t.uuid; }) {
    if (a.has("name") || a.has("uuid")) {
      for (const auto& i : items) {
        if (a.has("uuid") && a.has("name")) {
          std::printf("%-36s %s\n", i.uuid.c_str(), i.name.c_str());
        } else {
          std::printf("%s\n", (a.has("uuid") ? i.uuid : i.name).c_str());
        }
      }
      std::printf("\n");
      return;
    }
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& i : items) rows.push_back(row(i));
  PrintTable(header, rows);
}

// `p` made absolute against the current directory (paths the daemon reads).
std::string Absolute(const std::string& p);

// Reads a file for define/create; prints the error and returns false.
bool ReadInputFile(const std::string& path, std::string* out);

// virsh's edit: GETs {"xml"} from `get_target`, opens it in $VISUAL/$EDITOR (vi),
// and when it changed POSTs {"xml", "source"} to `define_target`. `kind` is
// "Domain" or "Network" in the messages; `extra` fields join the POSTed request.
// Returns the exit code.
int EditXml(api::Client& c, const std::string& kind, const std::string& name,
            const std::string& get_target, const std::string& define_target,
            const nlohmann::json& extra = nlohmann::json::object());

// Waits for job `job`, returns true when it completed; prints the error. With
// `progress` and a terminal on stdout, shows the job's percentage while it runs.
bool WaitForJob(api::Client& c, const api::Job& job, bool progress = false);

void AddDomainCommands(std::vector<Command>& out);
void AddNetCommands(std::vector<Command>& out);
void AddPoolCommands(std::vector<Command>& out);
void AddVolCommands(std::vector<Command>& out);
void AddHostCommands(std::vector<Command>& out);
void AddSnapshotCommands(std::vector<Command>& out);  // snapshot.cc
void AddBackupCommands(std::vector<Command>& out);    // backup.cc

// A verb that parses its arguments, connects to the daemon and runs `fn`.
Command DaemonVerb(std::string name, std::string help, ArgSpec spec,
                   std::function<int(const Args&, api::Client&)> fn);

// One row of a command group's verb table, as virsh pairs cmdXxx with its option
// table: each group file (domain.cc, net.cc, ...) defines its handlers as named
// functions and lists them once in a `const VerbDef k...Verbs[]`.
struct VerbDef {
  const char* name;
  const char* help;
  ArgSpec spec;
  int (*run)(const Args&, api::Client&);
};

// Appends a group's table to `out` (each entry through DaemonVerb).
template <size_t N>
void AddVerbs(std::vector<Command>& out, const VerbDef (&table)[N]) {
  for (const VerbDef& v : table) out.push_back(DaemonVerb(v.name, v.help, v.spec, v.run));
}

// virsh's size: two decimals and a binary unit ("1.00 GiB", "196.00 KiB").
std::string VirshSize(uint64_t bytes);

// Escapes text for an XML attribute or element ("&", "<", ">", "'").

// "yes" / "no".
inline const char* YesNo(bool b) { return b ? "yes" : "no"; }

}  // namespace skiff::app
