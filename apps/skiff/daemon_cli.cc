// Shared helpers of the daemon command groups: virsh-style arguments, connection, tables.
#include "daemon_cli.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include <chrono>
#include <cstdio>
#include <thread>

#include "skiff/base/fs.h"
#include "skiff/base/strings.h"

namespace skiff::app {
namespace {

// The name in an object's summary, whatever its kind.
struct NameOnly {
  std::string name;
  template <typename V>
  void Visit(V& v) {
    v("name", name);
  }
};

}  // namespace

bool ParseArgs(const std::string& verb, const ArgSpec& spec, const std::vector<std::string>& args,
               Args* out) {
  size_t pos = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    if (a.size() == 2 && a[0] == '-' && spec.short_names.count(a.substr(1))) {
      a = "--" + spec.short_names.at(a.substr(1));
    }
    if (a.size() > 2 && a.rfind("--", 0) == 0) {
      std::string name = a.substr(2), value;
      bool has_value = false;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_value = true;
      }
      bool is_positional_name =
          std::find(spec.positional.begin(), spec.positional.end(), name) != spec.positional.end();
      if (spec.flags.count(name) && !has_value) {
        out->flags.insert(name);
        continue;
      }
      if (spec.options.count(name) || is_positional_name) {
        if (!has_value) {
          if (i + 1 >= args.size()) {
            Fail("command '" + verb + "' requires a value for option --" + name);
            return false;
          }
          value = args[++i];
        }
        out->values[name] = value;
        out->lists[name].push_back(value);
        continue;
      }
      Fail("command '" + verb + "' doesn't support option --" + name);
      return false;
    }
    while (pos < spec.positional.size() && out->values.count(spec.positional[pos])) ++pos;
    if (pos >= spec.positional.size()) {
      Fail("unexpected data '" + a + "'");
      return false;
    }
    out->values[spec.positional[pos++]] = a;
  }
  for (size_t i = 0; i < spec.required; ++i) {
    if (!out->values.count(spec.positional[i])) {
      Fail("command '" + verb + "' requires <" + spec.positional[i] + "> option");
      return false;
    }
  }
  return true;
}

std::unique_ptr<api::Client> ConnectOrFail(const GlobalOptions& g) {
  auto c = api::Client::Connect(g.uri);
  if (!c.ok()) {
    Fail("failed to connect to the daemon: " + c.status().message());
    return nullptr;
  }
  return std::move(*c);
}

bool CallOrFail(api::Client& c, const std::string& method, const std::string& target,
                const nlohmann::json& body, nlohmann::json* out) {
  auto r = c.Call(method, target, body);
  if (!r.ok()) {
    Fail(r.status().message());
    return false;
  }
  if (out) *out = std::move(*r);
  return true;
}

void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w(header.size());
  for (size_t i = 0; i < header.size(); ++i) w[i] = header[i].size();
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], r[i].size());
  }
  std::string out;
  auto row = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t i = 0; i < w.size(); ++i) {
      const std::string& c = i < cells.size() ? cells[i] : std::string();
      line += " " + c;
      if (i + 1 < w.size()) line += std::string(w[i] - c.size() + 2, ' ');
    }
    out += line + "\n";
  };
  row(header);
  size_t dashes = 0;
  for (size_t x : w) dashes += x + 3;
  out += std::string(dashes, '-') + "\n";
  for (const auto& r : rows) row(r);
  out += "\n";
  std::fputs(out.c_str(), stdout);
}

void PrintJson(const nlohmann::json& j) { std::printf("%s\n", j.dump(2).c_str()); }

bool ShownByActivity(const Args& a, bool active) {
  return a.has("inactive") ? !active : (a.has("all") || active);
}

bool ReadInputFile(const std::string& path, std::string* out) {
  // No more than skiffd accepts in a request (its 1 MiB body limit), so that a
  // mistaken argument (/dev/zero, a disk image) fails at once.
  constexpr size_t kMaxDefinitionBytes = 1 << 20;
  auto r = ReadFile(path, kMaxDefinitionBytes);
  if (!r.ok()) {
    Fail("failed to read '" + path + "': " + r.status().message());
    return false;
  }
  *out = std::move(*r);
  return true;
}

bool WaitForJob(api::Client& c, const api::Job& job, bool progress) {
  api::Job j;
  if (progress && ::isatty(STDOUT_FILENO)) {
    // The job's percentage, as `skiff img convert -p` shows its own.
    for (j = job; j.state == "running";) {
      std::printf("    (%d/100%%)\r", j.progress);
      std::fflush(stdout);
      ::usleep(250 * 1000);
      if (!GetOrFail(c, api::routes::Job(job.id), &j)) return false;
    }
    std::printf("%s\r", std::string(20, ' ').c_str());
  }
  if (!GetOrFail(c, api::routes::Job(job.id) + api::ToQuery(api::JobWaitQuery{true}), &j)) {
    return false;
  }
  if (j.state != "completed") {
    Fail(j.error ? j.error->message : "job failed");
    return false;
  }
  return true;
}

int EditXml(api::Client& c, const std::string& kind, const std::string& name,
            const std::string& get_target, const std::string& define_target,
            const nlohmann::json& extra) {
  api::XmlReply r;
  if (!GetOrFail(c, get_target, &r)) return 1;
  const std::string& original = r.xml;
  char tmpl[] = "/tmp/skiff-edit-XXXXXX.xml";
  int fd = ::mkstemps(tmpl, 4);
  if (fd < 0) return Fail("cannot create a temporary file");
  ::close(fd);
  std::string path = tmpl;
  (void)WriteFileAtomic(path, original, 0600);
  const char* ed = std::getenv("VISUAL");
  if (!ed || !*ed) ed = std::getenv("EDITOR");
  std::string editor = ed && *ed ? ed : "vi";
  int rc = std::system((editor + " '" + path + "'").c_str());
  auto edited = ReadFile(path);
  std::filesystem::remove(path);
  if (rc != 0 || !edited.ok()) return Fail("editor '" + editor + "' failed; definition unchanged");
  if (*edited == original) {
    std::printf("%s '%s' XML configuration not changed.\n\n", kind.c_str(), name.c_str());
    return 0;
  }
  api::DefineRequest req;
  req.xml = *edited;
  req.source = "edited.xml";
  nlohmann::json body = req;
  body.update(extra);
  auto d = c.Call("POST", define_target, body);
  if (!d.ok()) {
    return Fail(d.status().message() + " (the old definition of '" + name + "' is kept)");
  }
  // Domains, networks and pools all answer with their summary; only its name is used.
  auto defined = api::ParseResponse<NameOnly>(*d);
  std::printf("%s '%s' XML configuration edited.\n\n", kind.c_str(),
              defined.ok() && !defined->name.empty() ? defined->name.c_str() : name.c_str());
  return 0;
}

void AddDaemonCommands(std::vector<Command>& out) {
  AddDomainCommands(out);
  AddNetCommands(out);
  AddPoolCommands(out);
  AddVolCommands(out);
  AddHostCommands(out);
  AddSnapshotCommands(out);
  AddBackupCommands(out);
}

std::string Absolute(const std::string& p) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(p, ec);
  return ec ? p : abs.string();
}

Command DaemonVerb(std::string name, std::string help, ArgSpec spec,
                   std::function<int(const Args&, api::Client&)> fn) {
  return {name, help,
          [=](const GlobalOptions& g, const std::vector<std::string>& args) {
            Args a;
            if (!ParseArgs(name, spec, args, &a)) return 1;
            auto c = ConnectOrFail(g);
            if (!c) return 1;
            return fn(a, *c);
          },
          spec};
}

std::string VirshSize(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 6) {
    v /= 1024.0;
    ++u;
  }
  return fmt::format("{:.2f} {}", v, kUnits[u]);
}

}  // namespace skiff::app
