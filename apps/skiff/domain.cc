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
namespace routes = api::routes;

std::string IdText(const api::DomainSummary& d) { return d.id < 0 ? "-" : std::to_string(d.id); }

// virsh's CPU time: "12.3s".
std::string Seconds(uint64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ns) / 1e9);
  return buf;
}

// virsh's --live/--config/--persistent (--current: neither) of a change.
api::Scope ScopeOf(const Args& a) {
  return {a.has("live") || a.has("persistent"), a.has("config") || a.has("persistent")};
}

bool ListedByState(const Args& a, const api::DomainSummary& d) {
  bool active = d.id >= 0;
  if (a.has("state-running") || a.has("state-paused") || a.has("state-shutoff")) {
    if (!((a.has("state-running") && d.state == "running") ||
          (a.has("state-paused") && d.state == "paused") ||
          (a.has("state-shutoff") && d.state == "shut off"))) {
      return false;
    }
  } else if (!ShownByActivity(a, active)) {
    return false;
  }
  if (a.has("autostart") && !d.autostart) return false;
  if (a.has("no-autostart") && d.autostart) return false;
  if (a.has("persistent") && !d.persistent) return false;
  if (a.has("transient") && d.persistent) return false;
  return true;
}

int CmdList(const Args& a, api::Client& c) {
  api::DomainList r;
  if (!GetOrFail(c, std::string(routes::kDomains), &r)) return 1;
  std::vector<api::DomainSummary> shown;
  for (const auto& d : r.domains) {
    if (ListedByState(a, d)) shown.push_back(d);
  }
  // virsh sorts running domains by id first, then inactive ones by name.
  std::stable_sort(shown.begin(), shown.end(),
                   [](const api::DomainSummary& x, const api::DomainSummary& y) {
                     if ((x.id < 0) != (y.id < 0)) return x.id >= 0;
                     if (x.id >= 0) return x.id < y.id;
                     return x.name < y.name;
                   });
  PrintListing<api::DomainSummary>(a, shown, {"Id", "Name", "State"},
                                   [](const api::DomainSummary& d) {
                                     return std::vector<std::string>{IdText(d), d.name, d.state};
                                   });
  return 0;
}

int DefineOrCreate(const Args& a, api::Client& c, bool create) {
  std::string file = a.get("file");
  api::DefineDomainRequest req;
  if (!ReadInputFile(file, &req.xml)) return 1;
  req.source = std::filesystem::path(file).filename().string();
  if (create) {
    req.persistent = false;
    req.paused = a.has("paused");
  }
  api::DomainSummary r;
  if (!CallOrFail(c, "POST", std::string(routes::kDomains), req, &r)) return 1;
  std::printf("Domain '%s' %s from %s\n\n", r.name.c_str(), create ? "created" : "defined",
              file.c_str());
  return 0;
}

int CmdDefine(const Args& a, api::Client& c) { return DefineOrCreate(a, c, false); }
int CmdCreate(const Args& a, api::Client& c) { return DefineOrCreate(a, c, true); }

// A state change without options: POST .../<action>, then `fmt` with the domain's name.
int SimpleAction(const Args& a, api::Client& c, const char* action, const char* fmt) {
  std::string dom = a.get("domain");
  api::DomainSummary r;
  if (!CallOrFail(c, "POST", routes::Domain(dom, action), api::Empty{}, &r)) return 1;
  std::printf(fmt, r.name.empty() ? dom.c_str() : r.name.c_str());
  std::printf("\n\n");
  return 0;
}

int CmdShutdown(const Args& a, api::Client& c) {
  return SimpleAction(a, c, "shutdown", "Domain '%s' is being shutdown");
}
int CmdDestroy(const Args& a, api::Client& c) {
  return SimpleAction(a, c, "destroy", "Domain '%s' destroyed");
}
int CmdReboot(const Args& a, api::Client& c) {
  return SimpleAction(a, c, "reboot", "Domain '%s' is being rebooted");
}
int CmdReset(const Args& a, api::Client& c) {
  return SimpleAction(a, c, "reset", "Domain '%s' was reset");
}
int CmdSuspend(const Args& a, api::Client& c) {
  return SimpleAction(a, c, "suspend", "Domain '%s' suspended");
}
int CmdResume(const Args& a, api::Client& c) {
  return SimpleAction(a, c, "resume", "Domain '%s' resumed");
}

int Console(const std::string& dom, api::Client& c);

int CmdStart(const Args& a, api::Client& c) {
  std::string dom = a.get("domain");
  api::DomainSummary r;
  api::StartDomainRequest req{a.has("paused")};
  if (!CallOrFail(c, "POST", routes::Domain(dom, "start"), req, &r)) return 1;
  std::printf("Domain '%s' started\n\n", r.name.empty() ? dom.c_str() : r.name.c_str());
  if (a.has("console")) return Console(dom, c);
  return 0;
}

int CmdUndefine(const Args& a, api::Client& c) {
  std::string dom = a.get("domain");
  api::DomainSummary info;
  if (!GetOrFail(c, routes::Domain(dom), &info)) return 1;
  api::UndefineDomainQuery q{a.has("remove-all-storage"), a.has("snapshots-metadata"),
                             a.has("managed-save")};
  if (!CallOrFail(c, "DELETE", routes::Domain(dom) + api::ToQuery(q), nullptr, nullptr)) return 1;
  std::printf("Domain '%s' has been undefined\n\n",
              info.name.empty() ? dom.c_str() : info.name.c_str());
  return 0;
}

int CmdDomInfo(const Args& a, api::Client& c) {
  api::DomainInfo d;
  if (!GetOrFail(c, routes::Domain(a.get("domain")), &d)) return 1;
  if (a.has("json")) {
    PrintJson(d);
    return 0;
  }
  auto line = [](const char* k, const std::string& v) { std::printf("%-15s %s\n", k, v.c_str()); };
  line("Id:", IdText(d));
  line("Name:", d.name);
  line("UUID:", d.uuid);
  line("OS Type:", d.os_type);
  line("State:", d.state);
  line("CPU(s):", std::to_string(d.vcpus));
  if (d.id >= 0) line("CPU time:", Seconds(d.cpu_time_ns));
  line("Max memory:", std::to_string(d.max_memory_kib) + " KiB");
  line("Used memory:", std::to_string(d.used_memory_kib) + " KiB");
  line("Persistent:", YesNo(d.persistent));
  line("Autostart:", d.autostart ? "enable" : "disable");
  line("Managed save:", YesNo(d.managed_save));
  line("Security model:", "none");
  line("Security DOI:", "0");
  std::printf("\n");
  return 0;
}

// domstate, domid, domuuid, domname: one field of the domain.
int PrintDomainField(const Args& a, api::Client& c,
                     std::string (*field)(const Args&, const api::DomainSummary&)) {
  api::DomainSummary d;
  if (!GetOrFail(c, routes::Domain(a.get("domain")), &d)) return 1;
  std::printf("%s\n\n", field(a, d).c_str());
  return 0;
}

int CmdDomState(const Args& a, api::Client& c) {
  return PrintDomainField(a, c, [](const Args& a, const api::DomainSummary& d) {
    return a.has("reason") ? d.state + " (" + d.reason + ")" : d.state;
  });
}
int CmdDomId(const Args& a, api::Client& c) {
  return PrintDomainField(a, c, [](const Args&, const api::DomainSummary& d) { return IdText(d); });
}
int CmdDomUuid(const Args& a, api::Client& c) {
  return PrintDomainField(a, c, [](const Args&, const api::DomainSummary& d) { return d.uuid; });
}
int CmdDomName(const Args& a, api::Client& c) {
  return PrintDomainField(a, c, [](const Args&, const api::DomainSummary& d) { return d.name; });
}

int CmdDumpXml(const Args& a, api::Client& c) {
  api::XmlReply r;
  std::string q = api::ToQuery(api::DomainXmlQuery{a.has("inactive"), a.has("security-info")});
  if (!GetOrFail(c, routes::Domain(a.get("domain"), "xml") + q, &r)) return 1;
  std::fputs(r.xml.c_str(), stdout);
  return 0;
}

int CmdEdit(const Args& a, api::Client& c) {
  std::string dom = a.get("domain");
  // As virsh edit: the whole definition, secrets included, comes back unchanged.
  return EditXml(c, "Domain", dom,
                 routes::Domain(dom, "xml") + api::ToQuery(api::DomainXmlQuery{true, true}),
                 std::string(routes::kDomains));
}

int CmdAutostart(const Args& a, api::Client& c) {
  std::string dom = a.get("domain");
  api::AutostartRequest req{!a.has("disable")};
  if (!CallOrFail(c, "POST", routes::Domain(dom, "autostart"), req, nullptr)) return 1;
  std::printf("Domain '%s' %s as autostarted\n\n", dom.c_str(),
              req.enabled ? "marked" : "unmarked");
  return 0;
}

int CmdConsole(const Args& a, api::Client& c) { return Console(a.get("domain"), c); }

std::string DashIfEmpty(const std::string& s) { return s.empty() ? "-" : s; }

int CmdDomBlkList(const Args& a, api::Client& c) {
  api::DiskList r;
  std::string q = api::ToQuery(api::XmlQuery{a.has("inactive")});
  if (!GetOrFail(c, routes::Domain(a.get("domain"), "disks") + q, &r)) return 1;
  if (a.has("details")) {
    PrintListing<api::Disk>(
        a, r.disks, {"Type", "Device", "Target", "Source"}, [](const api::Disk& d) {
          return std::vector<std::string>{d.type, d.device, d.target, DashIfEmpty(d.source)};
        });
  } else {
    PrintListing<api::Disk>(a, r.disks, {"Target", "Source"}, [](const api::Disk& d) {
      return std::vector<std::string>{d.target, DashIfEmpty(d.source)};
    });
  }
  return 0;
}

int CmdDomIfList(const Args& a, api::Client& c) {
  api::InterfaceList r;
  std::string q = api::ToQuery(api::XmlQuery{a.has("inactive")});
  if (!GetOrFail(c, routes::Domain(a.get("domain"), "interfaces") + q, &r)) return 1;
  PrintListing<api::Interface>(
      a, r.interfaces, {"Interface", "Type", "Source", "Model", "MAC"},
      [](const api::Interface& n) {
        return std::vector<std::string>{n.interface, n.type, DashIfEmpty(n.source), n.model, n.mac};
      });
  return 0;
}

// virsh's --human sizes: "10.000 GiB".
std::string PrettyBytes(uint64_t n) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 6) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", n) : fmt::format("{:.3f} {}", v, kUnits[u]);
}

// A disk named by its file (as virsh allows) becomes its target: the API takes
// targets in the path. "" after an error (printed).
std::string DiskTarget(api::Client& c, const std::string& dom, const std::string& disk) {
  if (disk.find('/') == std::string::npos) return disk;
  api::DiskList r;
  if (!GetOrFail(c, routes::Domain(dom, "disks"), &r)) return "";
  for (const auto& d : r.disks) {
    if (d.source == disk) return d.target;
  }
  Fail("domain '" + dom + "' has no disk '" + disk + "'");
  return "";
}

int CmdDomBlkInfo(const Args& a, api::Client& c) {
  auto size = [&](uint64_t n) { return a.has("human") ? PrettyBytes(n) : std::to_string(n); };
  if (a.has("all")) {
    api::DiskInfoList r;
    if (!GetOrFail(c, routes::Domain(a.get("domain"), "diskinfo"), &r)) return 1;
    PrintListing<api::DiskInfo>(
        a, r.disks, {"Target", "Capacity", "Allocation", "Physical"}, [&](const api::DiskInfo& d) {
          return std::vector<std::string>{d.target, size(d.capacity), size(d.allocation),
                                          size(d.physical)};
        });
    return 0;
  }
  if (a.get("device").empty()) return Fail("domblkinfo: a device (or --all) is required");
  const std::string target = DiskTarget(c, a.get("domain"), a.get("device"));
  if (target.empty()) return 1;
  api::DiskInfo r;
  if (!GetOrFail(c, routes::DomainDisk(a.get("domain"), target, "info"), &r)) return 1;
  if (a.has("json")) {
    PrintJson(r);
    return 0;
  }
  std::printf("%-15s %s\n%-15s %s\n%-15s %s\n\n", "Capacity:", size(r.capacity).c_str(),
              "Allocation:", size(r.allocation).c_str(), "Physical:", size(r.physical).c_str());
  return 0;
}

int CmdBlockResize(const Args& a, api::Client& c) {
  api::DiskResizeRequest req;
  const std::string text = a.get("size");
  if (auto bare = ParseUint(text); bare.ok()) {
    req.bytes = *bare * 1024;  // a bare number is KiB, as virsh's
  } else if (auto bytes = ParseSize(text); bytes.ok()) {
    req.bytes = *bytes;
  } else {
    return Fail("blockresize: invalid size '" + text + "'");
  }
  const std::string target = DiskTarget(c, a.get("domain"), a.get("path"));
  if (target.empty()) return 1;
  if (!CallOrFail(c, "POST", routes::DomainDisk(a.get("domain"), target, "resize"), req, nullptr)) {
    return 1;
  }
  std::printf("Block device '%s' is resized\n\n", a.get("path").c_str());
  return 0;
}

int CmdDomBlkError(const Args& a, api::Client& c) {
  api::DiskErrorList r;
  if (!GetOrFail(c, routes::Domain(a.get("domain"), "disk-errors"), &r)) return 1;
  if (r.errors.empty()) std::printf("No errors found\n");
  for (const auto& e : r.errors) std::printf("%s: %s\n", e.target.c_str(), e.error.c_str());
  std::printf("\n");
  return 0;
}

int CmdDomIfAddr(const Args& a, api::Client& c) {
  api::AddressList r;
  if (!GetOrFail(c, routes::Domain(a.get("domain"), "addresses"), &r)) return 1;
  PrintListing<api::Address>(
      a, r.addresses, {"Name", "MAC address", "Protocol", "Address"}, [](const api::Address& n) {
        return std::vector<std::string>{n.name, n.mac, n.protocol, n.address};
      });
  return 0;
}

// virsh domstats' layout of one domain: the groups asked for (all without options).
void PrintStats(const Args& a, const api::DomainStats& r) {
  const bool all_groups = !a.has("state") && !a.has("cpu-total") && !a.has("balloon") &&
                          !a.values.count("vcpu") && !a.has("interface") && !a.has("block");
  auto want = [&](const char* group) { return all_groups || a.has(group); };
  std::printf("Domain: '%s'\n", r.name.c_str());
  const json& st = r.stats;
  const bool running = r.id >= 0;
  auto print = [&](const std::string& key) {
    auto it = st.find(key);
    if (it == st.end()) return;
    std::printf("  %s=%s\n", key.c_str(),
                it->is_string() ? it->get<std::string>().c_str() : it->dump().c_str());
  };
  auto print_devices = [&](const std::string& group, const auto& fields) {
    print(group + ".count");
    auto count = st.find(group + ".count");
    unsigned n = count != st.end() && count->is_number_unsigned() ? count->get<unsigned>() : 0;
    for (unsigned i = 0; i < n; ++i) {
      for (std::string_view f : fields) print(fmt::format("{}.{}.{}", group, i, f));
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
  if (want("interface") && running) print_devices("net", api::kNetStatFields);
  if (want("block") && running) print_devices("block", api::kBlockStatFields);
  std::printf("\n");
}

int CmdDomStats(const Args& a, api::Client& c) {
  std::vector<std::string> doms;
  if (a.values.count("domain")) {
    doms.push_back(a.get("domain"));
  } else {
    api::DomainList l;
    if (!GetOrFail(c, std::string(routes::kDomains), &l)) return 1;
    for (const auto& d : l.domains) {
      if (a.has("list-running") && d.id < 0) continue;
      doms.push_back(d.name);
    }
  }
  std::vector<api::DomainStats> all;
  for (const auto& dom : doms) {
    api::DomainStats r;
    if (!GetOrFail(c, routes::Domain(dom, "stats"), &r)) return 1;
    all.push_back(std::move(r));
  }
  if (a.has("json")) {
    PrintJson(all);
    return 0;
  }
  for (const auto& r : all) PrintStats(a, r);
  return 0;
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
  api::SetMemoryRequest req;
  if (!ParseKib(a.get("size"), &req.kib)) return 1;
  static_cast<api::Scope&>(req) = ScopeOf(a);
  req.maximum = maximum;
  if (!CallOrFail(c, "POST", routes::Domain(a.get("domain"), "memory"), req, nullptr)) return 1;
  std::printf("\n");
  return 0;
}

int CmdSetMem(const Args& a, api::Client& c) { return SetMem(a, c, false); }
int CmdSetMaxMem(const Args& a, api::Client& c) { return SetMem(a, c, true); }

int CmdSetVcpus(const Args& a, api::Client& c) {
  auto n = ParseUint(a.get("count"));
  if (!n.ok()) return Fail("invalid vcpu count '" + a.get("count") + "'");
  api::SetVcpusRequest req;
  static_cast<api::Scope&>(req) = ScopeOf(a);
  req.count = *n;
  req.maximum = a.has("maximum");
  if (!CallOrFail(c, "POST", routes::Domain(a.get("domain"), "vcpus"), req, nullptr)) return 1;
  std::printf("\n");
  return 0;
}

// virsh's vcpucount: "maximum      config         2", live rows while running.
int CmdVcpuCount(const Args& a, api::Client& c) {
  api::VcpuInfo r;
  if (!GetOrFail(c, routes::Domain(a.get("domain"), "vcpus"), &r)) return 1;
  bool running = r.maximum_live.has_value();
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
  if (max && want_config) row("maximum", "config", r.maximum_config);
  if (max && want_live && running) row("maximum", "live", r.maximum_live.value_or(0));
  if (cur && want_config) row("current", "config", r.current_config);
  if (cur && want_live && running) row("current", "live", r.current_live.value_or(0));
  std::printf("\n");
  return 0;
}

// "0-2,5" -> "yyy--y": one letter per host CPU (at least `host_cpus` letters).
std::string AffinityMap(const std::string& list, long host_cpus) {
  std::vector<bool> on;
  size_t i = 0;
  while (i < list.size()) {
    size_t end = list.find(',', i);
    if (end == std::string::npos) end = list.size();
    std::string part = list.substr(i, end - i);
    size_t dash = part.find('-');
    unsigned lo = static_cast<unsigned>(std::atoi(part.c_str()));
    unsigned hi =
        dash == std::string::npos ? lo : static_cast<unsigned>(std::atoi(part.c_str() + dash + 1));
    if (on.size() <= hi) on.resize(hi + 1, false);
    for (unsigned k = lo; k <= hi; ++k) on[k] = true;
    i = end + 1;
  }
  if (host_cpus > 0 && on.size() < static_cast<size_t>(host_cpus)) on.resize(host_cpus, false);
  std::string out;
  for (bool b : on) out += b ? 'y' : '-';
  return out;
}

// virsh's vcpuinfo: one block per vCPU; the affinity as a y/- map of the host's
// CPUs, or (--pretty) as a cpu list.
int CmdVcpuInfo(const Args& a, api::Client& c) {
  api::VcpuInfo r;
  if (!GetOrFail(c, routes::Domain(a.get("domain"), "vcpus"), &r)) return 1;
  if (!r.vcpus) return Fail("domain '" + a.get("domain") + "' is not running");
  long host = ::sysconf(_SC_NPROCESSORS_CONF);
  for (const auto& v : *r.vcpus) {
    std::string aff = a.has("pretty") ? v.affinity : AffinityMap(v.affinity, host);
    std::printf("%-15s %u\n", "VCPU:", v.vcpu);
    std::printf("%-15s %d\n", "CPU:", v.cpu);
    std::printf("%-15s %s\n", "State:", "running");
    std::printf("%-15s %s\n", "CPU time:", Seconds(v.cpu_time_ns).c_str());
    std::printf("%-15s %s\n\n", "CPU Affinity:", aff.c_str());
  }
  return 0;
}

// The query form of schedinfo, vcpupin and emulatorpin: --live/--config pick the
// definition (--live first).
api::Scope QueryScope(const Args& a, bool persistent_is_live) {
  if (a.has("live") || (persistent_is_live && a.has("persistent"))) return {true, false};
  if (a.has("config")) return {false, true};
  return {};
}

// virsh's schedinfo: "Scheduler      : posix", then the parameters; --set
// cpu_shares=N changes them first.
int CmdSchedInfo(const Args& a, api::Client& c) {
  const std::string dom = a.get("domain");
  if (a.values.count("set")) {
    std::string set = a.get("set");
    size_t eq = set.find('=');
    if (eq == std::string::npos || set.substr(0, eq) != "cpu_shares") {
      return Fail("invalid scheduler parameter '" + set + "' (supported: cpu_shares=N)");
    }
    auto n = ParseUint(set.substr(eq + 1));
    if (!n.ok()) return Fail("invalid cpu_shares value '" + set.substr(eq + 1) + "'");
    api::SetSchedInfoRequest req;
    static_cast<api::Scope&>(req) = ScopeOf(a);
    req.cpu_shares = *n;
    if (!CallOrFail(c, "POST", routes::Domain(dom, "schedinfo"), req, nullptr)) return 1;
  }
  // After a --live --config change, show the live values (as virsh does).
  api::SchedInfo r;
  std::string q = api::ToQuery(QueryScope(a, true));
  if (!GetOrFail(c, routes::Domain(dom, "schedinfo") + q, &r)) return 1;
  std::printf("%-15s: %s\n", "Scheduler", r.scheduler.c_str());
  std::printf("%-15s: %llu\n", "cpu_shares", static_cast<unsigned long long>(r.cpu_shares));
  std::printf("\n");
  return 0;
}

int CmdVcpuPin(const Args& a, api::Client& c) {
  const std::string dom = a.get("domain");
  std::optional<unsigned> vcpu;
  if (a.values.count("vcpu")) {
    auto n = ParseUint(a.get("vcpu"));
    if (!n.ok() || *n > api::PinVcpuRequest::kMaxVcpu) {
      return Fail("invalid vcpu number '" + a.get("vcpu") + "'");
    }
    vcpu = static_cast<unsigned>(*n);
  }
  if (a.values.count("cpulist")) {
    api::PinVcpuRequest req;
    static_cast<api::Scope&>(req) = ScopeOf(a);
    req.vcpu = *vcpu;
    req.cpuset = a.get("cpulist");
    if (!CallOrFail(c, "POST", routes::Domain(dom, "vcpupin"), req, nullptr)) return 1;
    return 0;
  }
  if (a.has("live") && a.has("config")) {
    return Fail("--live and --config are exclusive for a query");
  }
  api::Pinning r;
  if (!GetOrFail(c, routes::Domain(dom, "pinning") + api::ToQuery(QueryScope(a, false)), &r)) {
    return 1;
  }
  std::vector<std::vector<std::string>> rows;
  if (vcpu && *vcpu >= r.vcpus.size()) {
    return Fail("vcpu " + std::to_string(*vcpu) + " is out of range of the vcpu count " +
                std::to_string(r.vcpus.size()));
  }
  for (size_t i = 0; i < r.vcpus.size(); ++i) {
    if (vcpu && i != *vcpu) continue;
    rows.push_back({std::to_string(i), r.vcpus[i]});
  }
  PrintTable({"VCPU", "CPU Affinity"}, rows);
  return 0;
}

int CmdEmulatorPin(const Args& a, api::Client& c) {
  const std::string dom = a.get("domain");
  if (a.values.count("cpulist")) {
    api::PinEmulatorRequest req;
    static_cast<api::Scope&>(req) = ScopeOf(a);
    req.cpuset = a.get("cpulist");
    if (!CallOrFail(c, "POST", routes::Domain(dom, "emulatorpin"), req, nullptr)) return 1;
    return 0;
  }
  if (a.has("live") && a.has("config")) {
    return Fail("--live and --config are exclusive for a query");
  }
  api::Pinning r;
  if (!GetOrFail(c, routes::Domain(dom, "pinning") + api::ToQuery(QueryScope(a, false)), &r)) {
    return 1;
  }
  std::printf(" emulator: CPU Affinity\n----------------------------------\n       *: %s\n\n",
              r.emulator.c_str());
  return 0;
}

int CmdAttachDisk(const Args& a, api::Client& c) {
  api::AttachDiskRequest req;
  static_cast<api::Scope&>(req) = ScopeOf(a);
  req.source = a.get("source");
  req.target = a.get("target");
  req.bus = a.get("targetbus");
  req.driver = a.get("driver");
  req.subdriver = a.get("subdriver");
  req.type = a.get("type");
  req.mode = a.get("mode");
  req.cache = a.get("cache");
  if (!CallOrFail(c, "POST", routes::Domain(a.get("domain"), "disks"), req, nullptr)) return 1;
  std::printf("Disk attached successfully\n\n");
  return 0;
}

int CmdDetachDisk(const Args& a, api::Client& c) {
  std::string t = routes::DomainDisk(a.get("domain"), a.get("target"));
  if (!CallOrFail(c, "DELETE", t + api::ToQuery(ScopeOf(a)), nullptr, nullptr)) return 1;
  std::printf("Disk detached successfully\n\n");
  return 0;
}

// attach-device / detach-device: a <disk> or <interface> element from a file.
int DeviceXml(const Args& a, api::Client& c, bool detach) {
  api::DeviceRequest req;
  if (!ReadInputFile(a.get("file"), &req.xml)) return 1;
  static_cast<api::Scope&>(req) = ScopeOf(a);
  req.source = std::filesystem::path(a.get("file")).filename().string();
  req.detach = detach;
  if (!CallOrFail(c, "POST", routes::Domain(a.get("domain"), "devices"), req, nullptr)) return 1;
  std::printf("Device %s successfully\n\n", detach ? "detached" : "attached");
  return 0;
}

int CmdAttachDevice(const Args& a, api::Client& c) { return DeviceXml(a, c, false); }
int CmdDetachDevice(const Args& a, api::Client& c) { return DeviceXml(a, c, true); }

int CmdAttachInterface(const Args& a, api::Client& c) {
  api::AttachInterfaceRequest req;
  static_cast<api::Scope&>(req) = ScopeOf(a);
  req.type = a.get("type");
  req.source = a.get("source");
  req.model = a.get("model");
  req.mac = a.get("mac");
  req.target = a.get("target");
  if (!CallOrFail(c, "POST", routes::Domain(a.get("domain"), "interfaces"), req, nullptr)) {
    return 1;
  }
  std::printf("Interface attached successfully\n\n");
  return 0;
}

int CmdDetachInterface(const Args& a, api::Client& c) {
  api::DetachInterfaceQuery q;
  static_cast<api::Scope&>(q) = ScopeOf(a);
  q.type = a.get("type");
  q.mac = a.get("mac");
  if (!CallOrFail(c, "DELETE", routes::Domain(a.get("domain"), "interfaces") + api::ToQuery(q),
                  nullptr, nullptr)) {
    return 1;
  }
  std::printf("Interface detached successfully\n\n");
  return 0;
}

api::RunningOrPaused RunningOrPausedOf(const Args& a) {
  return {a.has("paused"), a.has("running")};
}

// POSTs a request that starts a job and waits for the job.
template <typename Request>
bool RunJob(api::Client& c, const std::string& target, const Request& req) {
  api::JobReply r;
  return CallOrFail(c, "POST", target, req, &r) && WaitForJob(c, r.job);
}

int CmdSave(const Args& a, api::Client& c) {
  std::string dom = a.get("domain");
  api::SaveRequest req;
  static_cast<api::RunningOrPaused&>(req) = RunningOrPausedOf(a);
  req.file = Absolute(a.get("file"));
  if (!RunJob(c, routes::Domain(dom, "save"), req)) return 1;
  std::printf("\nDomain '%s' saved to %s\n\n", dom.c_str(), a.get("file").c_str());
  return 0;
}

int CmdRestore(const Args& a, api::Client& c) {
  // Neither --running nor --paused: the guest comes back in the state it was saved in.
  api::SaveRequest req;
  static_cast<api::RunningOrPaused&>(req) = RunningOrPausedOf(a);
  req.file = Absolute(a.get("file"));
  if (!RunJob(c, std::string(routes::kDomainRestore), req)) return 1;
  std::printf("Domain restored from %s\n\n", a.get("file").c_str());
  return 0;
}

int CmdManagedSave(const Args& a, api::Client& c) {
  std::string dom = a.get("domain");
  if (!RunJob(c, routes::Domain(dom, "managedsave"), RunningOrPausedOf(a))) return 1;
  std::printf("\nDomain '%s' state saved by skiff\n\n", dom.c_str());
  return 0;
}

// virt-clone, with its options and messages.
int CmdClone(const Args& a, api::Client& c) {
  const std::string original = a.get("original");
  if (original.empty()) {
    return Fail("An original machine name is required, use '--original src_name' and try again.");
  }
  if (a.all("file").empty() && !a.has("auto-clone")) {
    return Fail(
        "Either --auto-clone or --file is required, use '--auto-clone or --file' and try again.");
  }
  if (a.get("name").empty() && !a.has("auto-clone")) {
    return Fail(
        "A name is required for the new virtual machine, use '--name NEW_VM_NAME' to specify "
        "one.");
  }
  api::CloneRequest req;
  req.name = a.get("name");
  req.uuid = a.get("uuid");
  for (const auto& f : a.all("file")) req.files.push_back(Absolute(f));
  req.macs = a.all("mac");
  if (!a.get("nvram").empty()) req.nvram = Absolute(a.get("nvram"));
  req.skip_copy = a.all("skip-copy");
  req.force_copy = a.all("force-copy");
  req.preserve_data = a.has("preserve-data");
  req.nonsparse = a.has("nonsparse");
  req.reflink = a.has("reflink");
  req.linked = a.has("linked");
  req.print_xml = a.has("print-xml");
  api::CloneReply r;
  if (!CallOrFail(c, "POST", routes::Domain(original, "clone"), req, &r)) return 1;
  if (req.print_xml) {
    std::fputs(r.xml.c_str(), stdout);
    return 0;
  }
  const bool quiet = a.has("quiet");
  for (const auto& f : r.files) {
    if (quiet || f.how == "kept") continue;
    std::string name = std::filesystem::path(f.path).filename().string();
    if (f.how == "overlay") {
      std::printf("Creating overlay '%s' on the original's disk %s\n", name.c_str(),
                  f.target.c_str());
    } else if (f.how == "original") {
      std::printf("Moving '%s' onto overlay '%s': its disk %s is now the clones' base\n",
                  original.c_str(), name.c_str(), f.target.c_str());
    } else {
      std::printf("Allocating '%s' (%s%s)\n", name.c_str(), FormatSizeHuman(f.bytes).c_str(),
                  f.how == "reflink" ? ", shared extents" : "");
    }
  }
  std::fflush(stdout);
  if (!r.job || !WaitForJob(c, *r.job, !quiet))
    return r.job ? 1 : Fail("the daemon started no job");
  if (!quiet) std::printf("\nClone '%s' created successfully.\n", r.name.c_str());
  return 0;
}

int CmdManagedSaveDumpXml(const Args& a, api::Client& c) {
  api::XmlReply r;
  std::string q = api::ToQuery(api::ManagedSaveXmlQuery{a.has("security-info")});
  if (!GetOrFail(c, routes::Domain(a.get("domain"), "managedsave") + q, &r)) return 1;
  std::fputs(r.xml.c_str(), stdout);
  return 0;
}

int CmdManagedSaveDefine(const Args& a, api::Client& c) {
  std::string dom = a.get("domain");
  std::string file = a.get("xml");
  api::ManagedSaveDefineRequest req;
  static_cast<api::RunningOrPaused&>(req) = RunningOrPausedOf(a);
  if (!ReadInputFile(file, &req.xml)) return 1;
  req.source = std::filesystem::path(file).filename().string();
  nlohmann::json answer;
  if (!CallOrFail(c, "PUT", routes::Domain(dom, "managedsave"), req, &answer)) return 1;
  // virsh's words.
  std::printf("Managed save state file of domain '%s' updated.\n", dom.c_str());
  return 0;
}

int CmdManagedSaveRemove(const Args& a, api::Client& c) {
  std::string dom = a.get("domain");
  api::ManagedSaveRemoved r;
  if (!CallOrFail(c, "DELETE", routes::Domain(dom, "managedsave"), nullptr, &r)) return 1;
  // virsh's words.
  if (r.removed) {
    std::printf("Removed managedsave image for domain '%s'\n", dom.c_str());
  } else {
    std::printf("Domain '%s' has no manage save image; removal skipped\n", dom.c_str());
  }
  return 0;
}

// Copies bytes between the terminal and the console socket until Ctrl-] or EOF.
int Console(const std::string& dom, api::Client& c) {
  api::ConsoleReply r;
  if (!GetOrFail(c, routes::Domain(dom, "console"), &r)) return 1;
  const std::string& path = r.socket;
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

int CmdEvent(const Args& a, api::Client& c) {
  int want = a.values.count("count") ? std::atoi(a.get("count").c_str()) : -1;
  int seen = 0;
  Status bad;
  Status st = c.Stream(std::string(routes::kEvents), [&](const json& raw) {
    if (a.has("json")) {
      std::printf("%s\n", raw.dump().c_str());
    } else {
      auto ev = api::ParseResponse<api::Event>(raw);
      if (!ev.ok()) {
        bad = ev.status();
        return false;
      }
      if (ev->type == "job" && ev->job) {
        const api::Job& j = *ev->job;
        std::printf("event 'job' for %s '%s': %s %d%%\n", j.kind.c_str(), j.object.c_str(),
                    j.state.c_str(), j.progress);
      } else {
        std::printf("event 'lifecycle' for %s '%s': %s %s\n", ev->kind.value_or("").c_str(),
                    ev->name.value_or("").c_str(), ev->event.value_or("").c_str(),
                    ev->detail.value_or("").c_str());
      }
    }
    std::fflush(stdout);
    return want < 0 || ++seen < want;
  });
  if (!bad.ok()) return Fail("invalid event from the daemon: " + bad.message());
  if (!st.ok()) return Fail(st.message());
  return 0;
}

const ArgSpec kDomain{{"domain"}, 1, {}, {}};
const std::set<std::string> kScope = {"live", "config", "current", "persistent"};
const std::set<std::string> kQueryScope = {"live", "config", "current"};
const std::set<std::string> kJobFlags = {"bypass-cache", "running", "paused", "verbose"};

std::set<std::string> With(std::set<std::string> base, std::initializer_list<std::string> more) {
  base.insert(more);
  return base;
}

const VerbDef kDomainVerbs[] = {
    {"list",
     "list domains",
     {{},
      0,
      {"all", "inactive", "name", "uuid", "state-running", "state-paused", "state-shutoff",
       "autostart", "no-autostart", "persistent", "transient", "json", "table"},
      {}},
     CmdList},
    {"define",
     "define (but don't start) a domain from an XML file",
     {{"file"}, 1, {"validate"}, {}},
     CmdDefine},
    {"create",
     "create (start) a transient domain from an XML file",
     {{"file"}, 1, {"paused", "console", "validate", "autodestroy"}, {}},
     CmdCreate},
    {"undefine",
     "undefine a domain",
     {{"domain"},
      1,
      {"remove-all-storage", "snapshots-metadata", "managed-save", "nvram", "keep-nvram"},
      {"storage"}},
     CmdUndefine},
    {"start",
     "start a (previously defined) inactive domain",
     {{"domain"}, 1, {"console", "paused", "autodestroy", "force-boot"}, {}},
     CmdStart},
    {"shutdown", "gracefully shut down a domain", {{"domain"}, 1, {}, {"mode"}}, CmdShutdown},
    {"destroy", "destroy (stop) a domain", {{"domain"}, 1, {"graceful"}, {}}, CmdDestroy},
    {"reboot", "reboot a domain", {{"domain"}, 1, {}, {"mode"}}, CmdReboot},
    {"reset", "reset a domain", kDomain, CmdReset},
    {"suspend", "suspend a domain", kDomain, CmdSuspend},
    {"resume", "resume a domain", kDomain, CmdResume},
    {"dominfo", "domain information", {{"domain"}, 1, {"json"}, {}}, CmdDomInfo},
    {"domstate", "domain state", {{"domain"}, 1, {"reason"}, {}}, CmdDomState},
    {"domid", "convert a domain name or UUID to domain id", kDomain, CmdDomId},
    {"domuuid", "convert a domain name or id to domain UUID", kDomain, CmdDomUuid},
    {"domname", "convert a domain id or UUID to domain name", kDomain, CmdDomName},
    {"dumpxml",
     "domain information in XML",
     {{"domain"}, 1, {"inactive", "security-info", "migratable"}, {}},
     CmdDumpXml},
    {"edit", "edit XML configuration for a domain", kDomain, CmdEdit},
    {"autostart", "autostart a domain", {{"domain"}, 1, {"disable"}, {}}, CmdAutostart},
    {"console",
     "connect to the guest console",
     {{"domain"}, 1, {"force", "safe"}, {"devname"}},
     CmdConsole},
    {"domblklist",
     "list all domain blocks",
     {{"domain"}, 1, {"inactive", "details", "json"}, {}},
     CmdDomBlkList},
    {"domblkinfo",
     "domain block device size information",
     {{"domain", "device"}, 1, {"human", "all", "json"}, {}},
     CmdDomBlkInfo},
    {"blockresize",
     "resize block device of domain",
     {{"domain", "path", "size"}, 3, {}, {}},
     CmdBlockResize},
    {"domblkerror", "show errors on block devices", kDomain, CmdDomBlkError},
    {"domiflist",
     "list all domain virtual interfaces",
     {{"domain"}, 1, {"inactive", "json"}, {}},
     CmdDomIfList},
    {"domifaddr",
     "get network interfaces' addresses for a running domain",
     {{"domain", "interface"}, 1, {"full", "json"}, {"source"}},
     CmdDomIfAddr},
    {"domstats",
     "get statistics about one or multiple domains",
     {{"domain"},
      0,
      {"state", "cpu-total", "balloon", "vcpu", "interface", "block", "list-running", "json"},
      {}},
     CmdDomStats},
    {"setmem", "change memory allocation", {{"domain", "size"}, 2, kScope, {}}, CmdSetMem},
    {"setmaxmem", "change maximum memory limit", {{"domain", "size"}, 2, kScope, {}}, CmdSetMaxMem},
    {"setvcpus",
     "change number of virtual CPUs",
     {{"domain", "count"}, 2, With(kScope, {"maximum", "guest", "hotpluggable"}), {}},
     CmdSetVcpus},
    {"vcpucount",
     "domain vcpu counts",
     {{"domain"}, 1, With(kQueryScope, {"maximum", "active", "guest"}), {}},
     CmdVcpuCount},
    {"vcpuinfo", "detailed domain vcpu information", {{"domain"}, 1, {"pretty"}, {}}, CmdVcpuInfo},
    {"vcpupin",
     "control or query domain vcpu affinity",
     {{"domain", "vcpu", "cpulist"}, 1, kQueryScope, {}},
     CmdVcpuPin},
    {"emulatorpin",
     "control or query domain emulator affinity",
     {{"domain", "cpulist"}, 1, kQueryScope, {}},
     CmdEmulatorPin},
    {"schedinfo",
     "show/set scheduler parameters",
     {{"domain"}, 1, kQueryScope, {"set"}},
     CmdSchedInfo},
    {"attach-disk",
     "attach disk device",
     {{"domain", "source", "target"},
      3,
      kScope,
      {"targetbus", "driver", "subdriver", "type", "mode", "cache"}},
     CmdAttachDisk},
    {"detach-disk", "detach disk device", {{"domain", "target"}, 2, kScope, {}}, CmdDetachDisk},
    {"attach-device",
     "attach device from an XML file",
     {{"domain", "file"}, 2, kScope, {}},
     CmdAttachDevice},
    {"detach-device",
     "detach device from an XML file",
     {{"domain", "file"}, 2, kScope, {}},
     CmdDetachDevice},
    {"attach-interface",
     "attach network interface",
     {{"domain", "type", "source"}, 2, kScope, {"model", "mac", "target"}},
     CmdAttachInterface},
    {"detach-interface",
     "detach network interface",
     {{"domain", "type"}, 2, kScope, {"mac"}},
     CmdDetachInterface},
    {"save", "save a domain state to a file", {{"domain", "file"}, 2, kJobFlags, {}}, CmdSave},
    {"restore",
     "restore a domain from a saved state in a file",
     {{"file"}, 1, {"bypass-cache", "running", "paused"}, {}},
     CmdRestore},
    {"clone",
     "clone a shut-off or paused domain: new name, UUID, MACs and copies of its disks "
     "(virt-clone)",
     {{"original"},
      0,
      {"auto-clone", "preserve-data", "nonsparse", "reflink", "linked", "print-xml", "quiet"},
      {"name", "uuid", "file", "mac", "nvram", "skip-copy", "force-copy"},
      {{"o", "original"},
       {"n", "name"},
       {"u", "uuid"},
       {"f", "file"},
       {"m", "mac"},
       {"q", "quiet"}}},
     CmdClone},
    {"managedsave",
     "managed save of a domain state",
     {{"domain"}, 1, kJobFlags, {}},
     CmdManagedSave},
    {"managedsave-remove",
     "remove the managed save of a domain",
     {{"domain"}, 1, {}, {}},
     CmdManagedSaveRemove},
    {"managedsave-dumpxml",
     "domain information of a managed save state file in XML",
     {{"domain"}, 1, {"security-info"}, {}},
     CmdManagedSaveDumpXml},
    {"managedsave-define",
     "redefine the XML for a domain's managed save state file",
     {{"domain", "xml"}, 2, {"running", "paused"}, {}},
     CmdManagedSaveDefine},
    {"event",
     "print lifecycle events and job progress",
     {{}, 0, {"all", "loop", "json"}, {"count"}},
     CmdEvent},
};

}  // namespace

void AddDomainCommands(std::vector<Command>& out) { AddVerbs(out, kDomainVerbs); }

}  // namespace skiff::app
