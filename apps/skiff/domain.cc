// Domain verbs (virsh's names and options): thin API calls plus virsh-shaped output.
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>

#include "daemon_cli.h"
#include "skiff/api/domstats.h"
#include "skiff/base/fs.h"
#include "skiff/base/size.h"

namespace skiff::app {
namespace {

using json = nlohmann::json;
using Run = std::function<int(const GlobalOptions&, const Args&, api::Client&)>;

// A verb: parse its arguments, connect, run.
Command Verb(std::string name, std::string help, ArgSpec spec, Run run) {
  return {name, help,
          [name, spec, run](const GlobalOptions& g, const std::vector<std::string>& a) {
            Args args;
            if (!ParseArgs(name, spec, a, &args)) return 1;
            auto c = ConnectOrFail(g);
            if (!c) return 1;
            return run(g, args, *c);
          },
          spec};
}

std::string IdText(const json& d) {
  int id = d.value("id", -1);
  return id < 0 ? "-" : std::to_string(id);
}

void PrintJson(const json& j) { std::printf("%s\n", j.dump(2).c_str()); }

int List(const GlobalOptions&, const Args& a, api::Client& c) {
  json r;
  if (!CallOrFail(c, "GET", "/v1/domains", nullptr, &r)) return 1;
  std::vector<json> shown;
  for (const auto& d : r["domains"]) {
    std::string st = d.value("state", "");
    bool active = d.value("id", -1) >= 0;
    bool any_state = a.has("state-running") || a.has("state-paused") || a.has("state-shutoff");
    if (any_state) {
      if (!((a.has("state-running") && st == "running") ||
            (a.has("state-paused") && st == "paused") ||
            (a.has("state-shutoff") && st == "shut off"))) {
        continue;
      }
    } else if (a.has("inactive")) {
      if (active) continue;
    } else if (!a.has("all") && !active) {
      continue;
    }
    if (a.has("autostart") && !d.value("autostart", false)) continue;
    if (a.has("no-autostart") && d.value("autostart", false)) continue;
    if (a.has("persistent") && !d.value("persistent", true)) continue;
    if (a.has("transient") && d.value("persistent", true)) continue;
    shown.push_back(d);
  }
  // virsh sorts running domains by id first, then inactive ones by name.
  std::stable_sort(shown.begin(), shown.end(), [](const json& x, const json& y) {
    int a = x.value("id", -1), b = y.value("id", -1);
    if ((a < 0) != (b < 0)) return a >= 0;
    if (a >= 0) return a < b;
    return x.value("name", "") < y.value("name", "");
  });
  if (a.has("json")) {
    PrintJson(json(shown));
    return 0;
  }
  if (a.has("name") || a.has("uuid")) {
    for (const auto& d : shown) {
      if (a.has("uuid") && a.has("name")) {
        std::printf("%-36s %s\n", d.value("uuid", "").c_str(), d.value("name", "").c_str());
      } else {
        std::printf("%s\n", d.value(a.has("uuid") ? "uuid" : "name", "").c_str());
      }
    }
    std::printf("\n");
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : shown) rows.push_back({IdText(d), d.value("name", ""), d.value("state", "")});
  PrintTable({"Id", "Name", "State"}, rows);
  return 0;
}

int Define(const GlobalOptions&, const Args& a, api::Client& c, bool create) {
  std::string xml;
  std::string file = a.get("file");
  if (!ReadInputFile(file, &xml)) return 1;
  json body = {{"xml", xml}, {"source", std::filesystem::path(file).filename().string()}};
  if (create) {
    body["persistent"] = false;
    body["paused"] = a.has("paused");
  }
  json r;
  if (!CallOrFail(c, "POST", "/v1/domains", body, &r)) return 1;
  std::printf("Domain '%s' %s from %s\n\n", r.value("name", "").c_str(),
              create ? "created" : "defined", file.c_str());
  return 0;
}

int SimpleAction(api::Client& c, const Args& a, const std::string& action, const char* fmt) {
  std::string dom = a.get("domain");
  json r;
  if (!CallOrFail(c, "POST", DomainPath(dom, "/" + action), json::object(), &r)) return 1;
  std::printf(fmt, r.value("name", dom).c_str());
  std::printf("\n");
  return 0;
}

int Console(const GlobalOptions& g, const std::string& dom, api::Client& c);

int Start(const GlobalOptions& g, const Args& a, api::Client& c) {
  std::string dom = a.get("domain");
  json r;
  if (!CallOrFail(c, "POST", DomainPath(dom, "/start"), {{"paused", a.has("paused")}}, &r)) return 1;
  std::printf("Domain '%s' started\n\n", r.value("name", dom).c_str());
  if (a.has("console")) return Console(g, dom, c);
  return 0;
}

int Undefine(const GlobalOptions&, const Args& a, api::Client& c) {
  std::string dom = a.get("domain");
  json info;
  if (!CallOrFail(c, "GET", DomainPath(dom), nullptr, &info)) return 1;
  std::string q;
  auto add = [&](const char* k) { q += (q.empty() ? "?" : "&") + std::string(k) + "=true"; };
  if (a.has("remove-all-storage")) add("remove_all_storage");
  if (a.has("snapshots-metadata")) add("snapshots_metadata");
  if (a.has("managed-save")) add("managed_save");
  if (!CallOrFail(c, "DELETE", DomainPath(dom, q), nullptr, nullptr)) return 1;
  std::printf("Domain '%s' has been undefined\n\n", info.value("name", dom).c_str());
  return 0;
}

int DomInfo(const GlobalOptions&, const Args& a, api::Client& c) {
  json d;
  if (!CallOrFail(c, "GET", DomainPath(a.get("domain")), nullptr, &d)) return 1;
  if (a.has("json")) {
    PrintJson(d);
    return 0;
  }
  auto line = [](const char* k, const std::string& v) { std::printf("%-15s %s\n", k, v.c_str()); };
  line("Id:", IdText(d));
  line("Name:", d.value("name", ""));
  line("UUID:", d.value("uuid", ""));
  line("OS Type:", d.value("os_type", ""));
  line("State:", d.value("state", ""));
  line("CPU(s):", std::to_string(d.value("vcpus", 0)));
  if (d.value("id", -1) >= 0) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1fs", d.value("cpu_time_ns", uint64_t{0}) / 1e9);
    line("CPU time:", buf);
  }
  line("Max memory:", std::to_string(d.value("max_memory_kib", uint64_t{0})) + " KiB");
  line("Used memory:", std::to_string(d.value("used_memory_kib", uint64_t{0})) + " KiB");
  line("Persistent:", d.value("persistent", true) ? "yes" : "no");
  line("Autostart:", d.value("autostart", false) ? "enable" : "disable");
  line("Managed save:", d.value("managed_save", false) ? "yes" : "no");
  line("Security model:", "none");
  line("Security DOI:", "0");
  std::printf("\n");
  return 0;
}

int DomField(const Args& a, api::Client& c, const std::string& what) {
  json d;
  if (!CallOrFail(c, "GET", DomainPath(a.get("domain")), nullptr, &d)) return 1;
  if (what == "state") {
    if (a.has("reason")) {
      std::printf("%s (%s)\n\n", d.value("state", "").c_str(), d.value("reason", "").c_str());
    } else {
      std::printf("%s\n\n", d.value("state", "").c_str());
    }
  } else if (what == "id") {
    std::printf("%s\n\n", IdText(d).c_str());
  } else {
    std::printf("%s\n\n", d.value(what, "").c_str());
  }
  return 0;
}

int DumpXml(const Args& a, api::Client& c) {
  json r;
  std::string q = a.has("inactive") ? "?inactive=true" : "";
  if (!CallOrFail(c, "GET", DomainPath(a.get("domain"), "/xml" + q), nullptr, &r)) return 1;
  std::fputs(r.value("xml", "").c_str(), stdout);
  return 0;
}

int Edit(const Args& a, api::Client& c) {
  std::string dom = a.get("domain");
  return EditXml(c, "Domain", dom, DomainPath(dom, "/xml?inactive=true"), "/v1/domains");
}

int Autostart(const Args& a, api::Client& c) {
  std::string dom = a.get("domain");
  bool enable = !a.has("disable");
  if (!CallOrFail(c, "POST", DomainPath(dom, "/autostart"), {{"enabled", enable}}, nullptr)) return 1;
  std::printf("Domain '%s' %s as autostarted\n\n", dom.c_str(), enable ? "marked" : "unmarked");
  return 0;
}

int BlkList(const Args& a, api::Client& c) {
  json r;
  std::string q = a.has("inactive") ? "?inactive=true" : "";
  if (!CallOrFail(c, "GET", DomainPath(a.get("domain"), "/disks" + q), nullptr, &r)) return 1;
  if (a.has("json")) {
    PrintJson(r["disks"]);
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : r["disks"]) {
    std::string src = d.value("source", "");
    if (src.empty()) src = "-";
    if (a.has("details")) {
      rows.push_back({d.value("type", ""), d.value("device", ""), d.value("target", ""), src});
    } else {
      rows.push_back({d.value("target", ""), src});
    }
  }
  if (a.has("details")) {
    PrintTable({"Type", "Device", "Target", "Source"}, rows);
  } else {
    PrintTable({"Target", "Source"}, rows);
  }
  return 0;
}

int IfList(const Args& a, api::Client& c) {
  json r;
  std::string q = a.has("inactive") ? "?inactive=true" : "";
  if (!CallOrFail(c, "GET", DomainPath(a.get("domain"), "/interfaces" + q), nullptr, &r)) return 1;
  if (a.has("json")) {
    PrintJson(r["interfaces"]);
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& n : r["interfaces"]) {
    std::string src = n.value("source", "");
    rows.push_back({n.value("interface", "-"), n.value("type", ""), src.empty() ? "-" : src,
                    n.value("model", ""), n.value("mac", "")});
  }
  PrintTable({"Interface", "Type", "Source", "Model", "MAC"}, rows);
  return 0;
}

int IfAddr(const Args& a, api::Client& c) {
  json r;
  if (!CallOrFail(c, "GET", DomainPath(a.get("domain"), "/addresses"), nullptr, &r)) return 1;
  if (a.has("json")) {
    PrintJson(r["addresses"]);
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& n : r["addresses"]) {
    rows.push_back({n.value("name", ""), n.value("mac", ""), n.value("protocol", ""),
                    n.value("address", "")});
  }
  PrintTable({"Name", "MAC address", "Protocol", "Address"}, rows);
  return 0;
}

int Stats(const Args& a, api::Client& c) {
  std::vector<std::string> doms;
  if (a.values.count("domain")) {
    doms.push_back(a.get("domain"));
  } else {
    json l;
    if (!CallOrFail(c, "GET", "/v1/domains", nullptr, &l)) return 1;
    for (const auto& d : l["domains"]) {
      if (a.has("list-running") && d.value("id", -1) < 0) continue;
      doms.push_back(d.value("name", ""));
    }
  }
  json all = json::array();
  for (const auto& dom : doms) {
    json r;
    if (!CallOrFail(c, "GET", DomainPath(dom, "/stats"), nullptr, &r)) return 1;
    all.push_back(r);
  }
  if (a.has("json")) {
    PrintJson(all);
    return 0;
  }
  // virsh's groups and order; with no group option, every group.
  const bool all_groups = !a.has("state") && !a.has("cpu-total") && !a.has("balloon") &&
                          !a.values.count("vcpu") && !a.has("interface") && !a.has("block");
  auto want = [&](const char* group) { return all_groups || a.has(group); };
  for (const auto& r : all) {
    std::printf("Domain: '%s'\n", r.value("name", "").c_str());
    const json& st = r["stats"];
    const bool running = r.value("id", -1) >= 0;
    auto print = [&](const std::string& key) {
      if (!st.contains(key)) return;
      const json& v = st[key];
      std::printf("  %s=%s\n", key.c_str(),
                  v.is_string() ? v.get<std::string>().c_str() : v.dump().c_str());
    };
    auto print_devices = [&](const std::string& group, const auto& fields) {
      print(group + ".count");
      for (unsigned i = 0; i < st.value(group + ".count", 0u); ++i) {
        for (std::string_view f : fields) print(group + "." + std::to_string(i) + "." + std::string(f));
      }
    };
    if (want("state")) {
      print("state.state");
      print("state.reason");
    }
    if (want("cpu-total") && running) print("cpu.time");
    if (want("balloon")) {
      print("balloon.current");
      print("balloon.maximum");
    }
    if (want("vcpu")) {
      print("vcpu.current");
      print("vcpu.maximum");
    }
    if (want("interface") && running) {
      print_devices("net", api::kNetStatFields);
    }
    if (want("block") && running) {
      print_devices("block", api::kBlockStatFields);
    }
    std::printf("\n");
  }
  return 0;
}

json ScopeBody(const Args& a) {
  json b = json::object();
  if (a.has("live")) b["live"] = true;
  if (a.has("config") || a.has("persistent")) b["config"] = true;
  if (a.has("persistent")) b["live"] = true;
  return b;
}

std::string ScopeQuery(const Args& a, std::string q) {
  auto add = [&](const char* k) { q += (q.empty() ? "?" : "&") + std::string(k) + "=true"; };
  if (a.has("live") || a.has("persistent")) add("live");
  if (a.has("config") || a.has("persistent")) add("config");
  return q;
}

// virsh's scaled integers: a bare number is KiB; suffixes as qemu-img's.
bool ParseKib(const std::string& text, uint64_t* kib) {
  auto bare = ParseUint(text);
  if (bare.ok()) {
    *kib = *bare;
    return true;
  }
  auto bytes = ParseSize(text);
  if (!bytes.ok()) {
    Fail("invalid memory size '" + text + "'");
    return false;
  }
  *kib = *bytes / 1024;
  return true;
}

int SetMem(const Args& a, api::Client& c, bool maximum) {
  uint64_t kib;
  if (!ParseKib(a.get("size"), &kib)) return 1;
  json b = ScopeBody(a);
  b["kib"] = kib;
  b["maximum"] = maximum;
  if (!CallOrFail(c, "POST", DomainPath(a.get("domain"), "/memory"), b, nullptr)) return 1;
  std::printf("\n");
  return 0;
}

int SetVcpus(const Args& a, api::Client& c) {
  auto n = ParseUint(a.get("count"));
  if (!n.ok()) return Fail("invalid vcpu count '" + a.get("count") + "'");
  json b = ScopeBody(a);
  b["count"] = *n;
  b["maximum"] = a.has("maximum");
  if (!CallOrFail(c, "POST", DomainPath(a.get("domain"), "/vcpus"), b, nullptr)) return 1;
  std::printf("\n");
  return 0;
}

// virsh's vcpucount: "maximum      config         2", live rows while running.
int VcpuCount(const Args& a, api::Client& c) {
  json r;
  if (!CallOrFail(c, "GET", DomainPath(a.get("domain"), "/vcpus"), nullptr, &r)) return 1;
  bool running = r.contains("maximum_live");
  bool want_live = a.has("live") || (a.has("current") && running);
  bool want_config = a.has("config") || (a.has("current") && !running);
  if (!a.has("live") && !a.has("config") && !a.has("current")) want_live = want_config = true;
  if (a.has("live") && !running) {
    return Fail("domain '" + a.get("domain") + "' is not running");
  }
  bool max = a.has("maximum") || !a.has("active");
  bool cur = a.has("active") || !a.has("maximum");
  auto row = [](const char* what, const char* scope, unsigned n) {
    std::printf("%-12s %-12s %3u\n", what, scope, n);
  };
  if (max && want_config) row("maximum", "config", r.value("maximum_config", 0u));
  if (max && want_live && running) row("maximum", "live", r.value("maximum_live", 0u));
  if (cur && want_config) row("current", "config", r.value("current_config", 0u));
  if (cur && want_live && running) row("current", "live", r.value("current_live", 0u));
  std::printf("\n");
  return 0;
}

// virsh's vcpuinfo: one block per vCPU; the affinity as a y/- map of the host's
// CPUs, or (--pretty) as a cpu list.
int VcpuInfo(const Args& a, api::Client& c) {
  json r;
  if (!CallOrFail(c, "GET", DomainPath(a.get("domain"), "/vcpus"), nullptr, &r)) return 1;
  if (!r.contains("vcpus")) return Fail("domain '" + a.get("domain") + "' is not running");
  long host = ::sysconf(_SC_NPROCESSORS_CONF);
  for (const auto& v : r["vcpus"]) {
    std::string aff = v.value("affinity", "");
    if (!a.has("pretty")) {
      // "0-2,5" -> "yyy--y": one letter per host CPU.
      std::vector<bool> on;
      size_t i = 0;
      while (i < aff.size()) {
        size_t end = aff.find(',', i);
        if (end == std::string::npos) end = aff.size();
        std::string part = aff.substr(i, end - i);
        size_t dash = part.find('-');
        unsigned lo = static_cast<unsigned>(std::atoi(part.c_str()));
        unsigned hi = dash == std::string::npos
                          ? lo : static_cast<unsigned>(std::atoi(part.c_str() + dash + 1));
        if (on.size() <= hi) on.resize(hi + 1, false);
        for (unsigned k = lo; k <= hi; ++k) on[k] = true;
        i = end + 1;
      }
      if (host > 0 && on.size() < static_cast<size_t>(host)) on.resize(host, false);
      aff.clear();
      for (bool b : on) aff += b ? 'y' : '-';
    }
    char t[32];
    std::snprintf(t, sizeof t, "%.1fs", v.value("cpu_time_ns", uint64_t{0}) / 1e9);
    std::printf("%-15s %u\n", "VCPU:", v.value("vcpu", 0u));
    std::printf("%-15s %d\n", "CPU:", v.value("cpu", -1));
    std::printf("%-15s %s\n", "State:", "running");
    std::printf("%-15s %s\n", "CPU time:", t);
    std::printf("%-15s %s\n\n", "CPU Affinity:", aff.c_str());
  }
  return 0;
}

// virsh's schedinfo: "Scheduler      : posix", then the parameters; --set
// cpu_shares=N changes them first.
int SchedInfo(const Args& a, api::Client& c) {
  const std::string dom = a.get("domain");
  if (a.values.count("set")) {
    std::string set = a.get("set");
    size_t eq = set.find('=');
    if (eq == std::string::npos || set.substr(0, eq) != "cpu_shares") {
      return Fail("invalid scheduler parameter '" + set + "' (supported: cpu_shares=N)");
    }
    auto n = ParseUint(set.substr(eq + 1));
    if (!n.ok()) return Fail("invalid cpu_shares value '" + set.substr(eq + 1) + "'");
    json b = ScopeBody(a);
    b["cpu_shares"] = *n;
    if (!CallOrFail(c, "POST", DomainPath(dom, "/schedinfo"), b, nullptr)) return 1;
  }
  // After a --live --config change, show the live values (as virsh does).
  json r;
  std::string q = a.has("live") || a.has("persistent") ? "?live=true"
                  : a.has("config")                    ? "?config=true" : "";
  if (!CallOrFail(c, "GET", DomainPath(dom, "/schedinfo") + q, nullptr, &r)) return 1;
  std::printf("%-15s: %s\n", "Scheduler", r.value("scheduler", "posix").c_str());
  std::printf("%-15s: %llu\n", "cpu_shares",
              static_cast<unsigned long long>(r.value("cpu_shares", uint64_t{0})));
  std::printf("\n");
  return 0;
}

// Query form of vcpupin/emulatorpin: --live/--config pick the definition.
std::string PinQuery(const Args& a) {
  return a.has("live") ? "?live=true" : a.has("config") ? "?config=true" : "";
}

int VcpuPin(const Args& a, api::Client& c) {
  const std::string dom = a.get("domain");
  std::optional<unsigned> vcpu;
  if (a.values.count("vcpu")) {
    auto n = ParseUint(a.get("vcpu"));
    if (!n.ok() || *n > 16383) return Fail("invalid vcpu number '" + a.get("vcpu") + "'");
    vcpu = static_cast<unsigned>(*n);
  }
  if (a.values.count("cpulist")) {
    json b = ScopeBody(a);
    b["vcpu"] = *vcpu;
    b["cpuset"] = a.get("cpulist");
    if (!CallOrFail(c, "POST", DomainPath(dom, "/vcpupin"), b, nullptr)) return 1;
    return 0;
  }
  if (a.has("live") && a.has("config")) return Fail("--live and --config are exclusive for a query");
  json r;
  if (!CallOrFail(c, "GET", DomainPath(dom, "/pinning") + PinQuery(a), nullptr, &r)) return 1;
  std::vector<std::vector<std::string>> rows;
  const auto& v = r["vcpus"];
  if (vcpu && *vcpu >= v.size()) {
    return Fail("vcpu " + std::to_string(*vcpu) + " is out of range of the vcpu count " +
                std::to_string(v.size()));
  }
  for (size_t i = 0; i < v.size(); ++i) {
    if (vcpu && i != *vcpu) continue;
    rows.push_back({std::to_string(i), v[i].get<std::string>()});
  }
  PrintTable({"VCPU", "CPU Affinity"}, rows);
  return 0;
}

int EmulatorPin(const Args& a, api::Client& c) {
  const std::string dom = a.get("domain");
  if (a.values.count("cpulist")) {
    json b = ScopeBody(a);
    b["cpuset"] = a.get("cpulist");
    if (!CallOrFail(c, "POST", DomainPath(dom, "/emulatorpin"), b, nullptr)) return 1;
    return 0;
  }
  if (a.has("live") && a.has("config")) return Fail("--live and --config are exclusive for a query");
  json r;
  if (!CallOrFail(c, "GET", DomainPath(dom, "/pinning") + PinQuery(a), nullptr, &r)) return 1;
  std::printf(" emulator: CPU Affinity\n----------------------------------\n       *: %s\n\n",
              r.value("emulator", "").c_str());
  return 0;
}

int AttachDisk(const Args& a, api::Client& c) {
  json b = ScopeBody(a);
  b["source"] = a.get("source");
  b["target"] = a.get("target");
  for (auto [opt, field] : {std::pair{"targetbus", "bus"}, {"driver", "driver"},
                            {"subdriver", "subdriver"}, {"type", "type"}, {"mode", "mode"},
                            {"cache", "cache"}}) {
    if (a.values.count(opt)) b[field] = a.get(opt);
  }
  if (!CallOrFail(c, "POST", DomainPath(a.get("domain"), "/disks"), b, nullptr)) return 1;
  std::printf("Disk attached successfully\n\n");
  return 0;
}

int DetachDisk(const Args& a, api::Client& c) {
  std::string t = DomainPath(a.get("domain"), "/disks/" + api::UrlEncode(a.get("target")));
  if (!CallOrFail(c, "DELETE", t + ScopeQuery(a, ""), nullptr, nullptr)) return 1;
  std::printf("Disk detached successfully\n\n");
  return 0;
}

// attach-device / detach-device: a <disk> or <interface> element from a file.
int DeviceXml(const Args& a, api::Client& c, bool detach) {
  std::string xml;
  if (!ReadInputFile(a.get("file"), &xml)) return 1;
  json b = ScopeBody(a);
  b["xml"] = xml;
  b["source"] = std::filesystem::path(a.get("file")).filename().string();
  if (detach) b["detach"] = true;
  if (!CallOrFail(c, "POST", DomainPath(a.get("domain"), "/devices"), b, nullptr)) return 1;
  std::printf("Device %s successfully\n\n", detach ? "detached" : "attached");
  return 0;
}

int AttachIface(const Args& a, api::Client& c) {
  json b = ScopeBody(a);
  b["type"] = a.get("type");
  b["source"] = a.get("source");
  for (const char* k : {"model", "mac", "target"}) {
    if (a.values.count(k)) b[k] = a.get(k);
  }
  if (!CallOrFail(c, "POST", DomainPath(a.get("domain"), "/interfaces"), b, nullptr)) return 1;
  std::printf("Interface attached successfully\n\n");
  return 0;
}

int DetachIface(const Args& a, api::Client& c) {
  std::string q = "?type=" + api::UrlEncode(a.get("type"));
  if (a.values.count("mac")) q += "&mac=" + api::UrlEncode(a.get("mac"));
  if (!CallOrFail(c, "DELETE", DomainPath(a.get("domain"), "/interfaces" + ScopeQuery(a, q)),
                  nullptr, nullptr)) {
    return 1;
  }
  std::printf("Interface detached successfully\n\n");
  return 0;
}

std::string Absolute(const std::string& p) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(p, ec);
  return ec ? p : abs.string();
}

int Save(const Args& a, api::Client& c) {
  json r;
  std::string dom = a.get("domain"), file = Absolute(a.get("file"));
  json b = {{"file", file}, {"paused", a.has("paused")}, {"running", a.has("running")}};
  if (!CallOrFail(c, "POST", DomainPath(dom, "/save"), b, &r)) return 1;
  if (!WaitForJob(c, r["job"])) return 1;
  std::printf("\nDomain '%s' saved to %s\n\n", dom.c_str(), a.get("file").c_str());
  return 0;
}

int Restore(const Args& a, api::Client& c) {
  json r;
  // Neither: the guest comes back in the state it was saved in.
  json b = {{"file", Absolute(a.get("file"))}, {"paused", a.has("paused")},
            {"running", a.has("running")}};
  if (!CallOrFail(c, "POST", "/v1/domains/restore", b, &r)) return 1;
  if (!WaitForJob(c, r["job"])) return 1;
  std::printf("Domain restored from %s\n\n", a.get("file").c_str());
  return 0;
}

int ManagedSave(const Args& a, api::Client& c) {
  json r;
  std::string dom = a.get("domain");
  json b = {{"paused", a.has("paused")}, {"running", a.has("running")}};
  if (!CallOrFail(c, "POST", DomainPath(dom, "/managedsave"), b, &r)) return 1;
  if (!WaitForJob(c, r["job"])) return 1;
  std::printf("\nDomain '%s' state saved by skiff\n\n", dom.c_str());
  return 0;
}

// Copies bytes between the terminal and the console socket until Ctrl-] or EOF.
int Console(const GlobalOptions&, const std::string& dom, api::Client& c) {
  json r;
  if (!CallOrFail(c, "GET", DomainPath(dom, "/console"), nullptr, &r)) return 1;
  std::string path = r.value("socket", "");
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return Fail("cannot open the console of domain '" + dom + "' at '" + path + "'");
  }
  std::printf("Connected to domain '%s'\nEscape character is ^] (Ctrl + ])\n", dom.c_str());
  std::fflush(stdout);
  int rc = std::system("stty raw -echo 2>/dev/null");
  (void)rc;
  char buf[4096];
  while (true) {
    fd_set set;
    FD_ZERO(&set);
    FD_SET(0, &set);
    FD_SET(fd, &set);
    if (::select(fd + 1, &set, nullptr, nullptr, nullptr) < 0) break;
    if (FD_ISSET(fd, &set)) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) break;
      if (::write(1, buf, static_cast<size_t>(n)) < 0) break;
    }
    if (FD_ISSET(0, &set)) {
      ssize_t n = ::read(0, buf, sizeof buf);
      if (n <= 0 || std::memchr(buf, 0x1d, static_cast<size_t>(n))) break;
      if (::write(fd, buf, static_cast<size_t>(n)) < 0) break;
    }
  }
  rc = std::system("stty sane 2>/dev/null");
  ::close(fd);
  std::printf("\n");
  return 0;
}

int Events(const Args& a, api::Client& c) {
  int want = a.values.count("count") ? std::atoi(a.get("count").c_str()) : -1;
  int seen = 0;
  Status st = c.Stream("/v1/events", [&](const json& ev) {
    if (a.has("json")) {
      std::printf("%s\n", ev.dump().c_str());
    } else if (ev.value("type", "") == "job") {
      const json& j = ev["job"];
      std::printf("event 'job' for %s '%s': %s %d%%\n", j.value("kind", "").c_str(),
                  j.value("object", "").c_str(), j.value("state", "").c_str(),
                  j.value("progress", 0));
    } else {
      std::printf("event 'lifecycle' for %s '%s': %s %s\n", ev.value("kind", "").c_str(),
                  ev.value("name", "").c_str(), ev.value("event", "").c_str(),
                  ev.value("detail", "").c_str());
    }
    std::fflush(stdout);
    return want < 0 || ++seen < want;
  });
  if (!st.ok()) return Fail(st.message());
  return 0;
}

}  // namespace

void AddDomainCommands(std::vector<Command>& out) {
  const ArgSpec dom{{"domain"}, 1, {}, {}};
  out.push_back(Verb("list", "list domains",
                     {{}, 0, {"all", "inactive", "name", "uuid", "state-running", "state-paused",
                              "state-shutoff", "autostart", "no-autostart", "persistent",
                              "transient", "json", "table"}, {}},
                     List));
  out.push_back(Verb("define", "define (but don't start) a domain from an XML file",
                     {{"file"}, 1, {"validate"}, {}},
                     [](auto& g, auto& a, auto& c) { return Define(g, a, c, false); }));
  out.push_back(Verb("create", "create (start) a transient domain from an XML file",
                     {{"file"}, 1, {"paused", "console", "validate", "autodestroy"}, {}},
                     [](auto& g, auto& a, auto& c) {
                       int rc = Define(g, a, c, true);
                       return rc;
                     }));
  out.push_back(Verb("undefine", "undefine a domain",
                     {{"domain"}, 1, {"remove-all-storage", "snapshots-metadata", "managed-save",
                                      "nvram", "keep-nvram"}, {"storage"}},
                     Undefine));
  out.push_back(Verb("start", "start a (previously defined) inactive domain",
                     {{"domain"}, 1, {"console", "paused", "autodestroy", "force-boot"}, {}}, Start));
  out.push_back(Verb("shutdown", "gracefully shut down a domain", {{"domain"}, 1, {}, {"mode"}},
                     [](auto&, auto& a, auto& c) {
                       return SimpleAction(c, a, "shutdown", "Domain '%s' is being shutdown\n");
                     }));
  out.push_back(Verb("destroy", "destroy (stop) a domain", {{"domain"}, 1, {"graceful"}, {}},
                     [](auto&, auto& a, auto& c) {
                       return SimpleAction(c, a, "destroy", "Domain '%s' destroyed\n");
                     }));
  out.push_back(Verb("reboot", "reboot a domain", {{"domain"}, 1, {}, {"mode"}},
                     [](auto&, auto& a, auto& c) {
                       return SimpleAction(c, a, "reboot", "Domain '%s' is being rebooted\n");
                     }));
  out.push_back(Verb("reset", "reset a domain", dom, [](auto&, auto& a, auto& c) {
    return SimpleAction(c, a, "reset", "Domain '%s' was reset\n");
  }));
  out.push_back(Verb("suspend", "suspend a domain", dom, [](auto&, auto& a, auto& c) {
    return SimpleAction(c, a, "suspend", "Domain '%s' suspended\n");
  }));
  out.push_back(Verb("resume", "resume a domain", dom, [](auto&, auto& a, auto& c) {
    return SimpleAction(c, a, "resume", "Domain '%s' resumed\n");
  }));
  out.push_back(Verb("dominfo", "domain information", {{"domain"}, 1, {"json"}, {}},
                     [](auto& g, auto& a, auto& c) { return DomInfo(g, a, c); }));
  out.push_back(Verb("domstate", "domain state", {{"domain"}, 1, {"reason"}, {}},
                     [](auto&, auto& a, auto& c) { return DomField(a, c, "state"); }));
  out.push_back(Verb("domid", "convert a domain name or UUID to domain id", dom,
                     [](auto&, auto& a, auto& c) { return DomField(a, c, "id"); }));
  out.push_back(Verb("domuuid", "convert a domain name or id to domain UUID", dom,
                     [](auto&, auto& a, auto& c) { return DomField(a, c, "uuid"); }));
  out.push_back(Verb("domname", "convert a domain id or UUID to domain name", dom,
                     [](auto&, auto& a, auto& c) { return DomField(a, c, "name"); }));
  out.push_back(Verb("dumpxml", "domain information in XML",
                     {{"domain"}, 1, {"inactive", "security-info", "migratable"}, {}},
                     [](auto&, auto& a, auto& c) { return DumpXml(a, c); }));
  out.push_back(Verb("edit", "edit XML configuration for a domain", dom,
                     [](auto&, auto& a, auto& c) { return Edit(a, c); }));
  out.push_back(Verb("autostart", "autostart a domain", {{"domain"}, 1, {"disable"}, {}},
                     [](auto&, auto& a, auto& c) { return Autostart(a, c); }));
  out.push_back(Verb("console", "connect to the guest console",
                     {{"domain"}, 1, {"force", "safe"}, {"devname"}},
                     [](auto& g, auto& a, auto& c) { return Console(g, a.get("domain"), c); }));
  out.push_back(Verb("domblklist", "list all domain blocks",
                     {{"domain"}, 1, {"inactive", "details", "json"}, {}},
                     [](auto&, auto& a, auto& c) { return BlkList(a, c); }));
  out.push_back(Verb("domiflist", "list all domain virtual interfaces",
                     {{"domain"}, 1, {"inactive", "json"}, {}},
                     [](auto&, auto& a, auto& c) { return IfList(a, c); }));
  out.push_back(Verb("domifaddr", "get network interfaces' addresses for a running domain",
                     {{"domain", "interface"}, 1, {"full", "json"}, {"source"}},
                     [](auto&, auto& a, auto& c) { return IfAddr(a, c); }));
  out.push_back(Verb("domstats", "get statistics about one or multiple domains",
                     {{"domain"}, 0, {"state", "cpu-total", "balloon", "vcpu", "interface", "block",
                                      "list-running", "json"}, {}},
                     [](auto&, auto& a, auto& c) { return Stats(a, c); }));
  const std::set<std::string> scope = {"live", "config", "current", "persistent"};
  out.push_back(Verb("setmem", "change memory allocation", {{"domain", "size"}, 2, scope, {}},
                     [](auto&, auto& a, auto& c) { return SetMem(a, c, false); }));
  out.push_back(Verb("setmaxmem", "change maximum memory limit", {{"domain", "size"}, 2, scope, {}},
                     [](auto&, auto& a, auto& c) { return SetMem(a, c, true); }));
  std::set<std::string> vscope = scope;
  vscope.insert({"maximum", "guest", "hotpluggable"});
  out.push_back(Verb("setvcpus", "change number of virtual CPUs",
                     {{"domain", "count"}, 2, vscope, {}},
                     [](auto&, auto& a, auto& c) { return SetVcpus(a, c); }));
  std::set<std::string> qscope = {"live", "config", "current"};
  std::set<std::string> cscope = qscope;
  cscope.insert({"maximum", "active", "guest"});
  out.push_back(Verb("vcpucount", "domain vcpu counts", {{"domain"}, 1, cscope, {}},
                     [](auto&, auto& a, auto& c) { return VcpuCount(a, c); }));
  out.push_back(Verb("vcpuinfo", "detailed domain vcpu information",
                     {{"domain"}, 1, {"pretty"}, {}},
                     [](auto&, auto& a, auto& c) { return VcpuInfo(a, c); }));
  out.push_back(Verb("vcpupin", "control or query domain vcpu affinity",
                     {{"domain", "vcpu", "cpulist"}, 1, qscope, {}},
                     [](auto&, auto& a, auto& c) { return VcpuPin(a, c); }));
  out.push_back(Verb("emulatorpin", "control or query domain emulator affinity",
                     {{"domain", "cpulist"}, 1, qscope, {}},
                     [](auto&, auto& a, auto& c) { return EmulatorPin(a, c); }));
  out.push_back(Verb("schedinfo", "show/set scheduler parameters",
                     {{"domain"}, 1, qscope, {"set"}},
                     [](auto&, auto& a, auto& c) { return SchedInfo(a, c); }));
  out.push_back(Verb("attach-disk", "attach disk device",
                     {{"domain", "source", "target"}, 3, scope,
                      {"targetbus", "driver", "subdriver", "type", "mode", "cache"}},
                     [](auto&, auto& a, auto& c) { return AttachDisk(a, c); }));
  out.push_back(Verb("detach-disk", "detach disk device", {{"domain", "target"}, 2, scope, {}},
                     [](auto&, auto& a, auto& c) { return DetachDisk(a, c); }));
  out.push_back(Verb("attach-device", "attach device from an XML file",
                     {{"domain", "file"}, 2, scope, {}},
                     [](auto&, auto& a, auto& c) { return DeviceXml(a, c, false); }));
  out.push_back(Verb("detach-device", "detach device from an XML file",
                     {{"domain", "file"}, 2, scope, {}},
                     [](auto&, auto& a, auto& c) { return DeviceXml(a, c, true); }));
  out.push_back(Verb("attach-interface", "attach network interface",
                     {{"domain", "type", "source"}, 2, scope, {"model", "mac", "target"}},
                     [](auto&, auto& a, auto& c) { return AttachIface(a, c); }));
  out.push_back(Verb("detach-interface", "detach network interface",
                     {{"domain", "type"}, 2, scope, {"mac"}},
                     [](auto&, auto& a, auto& c) { return DetachIface(a, c); }));
  out.push_back(Verb("save", "save a domain state to a file",
                     {{"domain", "file"}, 2, {"bypass-cache", "running", "paused", "verbose"}, {}},
                     [](auto&, auto& a, auto& c) { return Save(a, c); }));
  out.push_back(Verb("restore", "restore a domain from a saved state in a file",
                     {{"file"}, 1, {"bypass-cache", "running", "paused"}, {}},
                     [](auto&, auto& a, auto& c) { return Restore(a, c); }));
  out.push_back(Verb("managedsave", "managed save of a domain state",
                     {{"domain"}, 1, {"bypass-cache", "running", "paused", "verbose"}, {}},
                     [](auto&, auto& a, auto& c) { return ManagedSave(a, c); }));
  out.push_back(Verb("event", "print lifecycle events and job progress",
                     {{}, 0, {"all", "loop", "json"}, {"count"}},
                     [](auto&, auto& a, auto& c) { return Events(a, c); }));
}

}  // namespace skiff::app
