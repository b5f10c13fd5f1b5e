// REST handlers for /v1/domains: parse and check the request, call Service, shape JSON.
#include <array>
#include <string_view>

#include "daemon/rest/fields.h"
#include "skiff/api/domstats.h"
#include "skiff/daemon/rest.h"

namespace skiff::daemon {

nlohmann::json ToJson(const DomainSummary& s) {
  return {{"id", s.id},
          {"name", s.name},
          {"uuid", s.uuid.ToString()},
          {"state", StateName(s.state)},
          {"state_code", static_cast<int>(s.state)},
          {"reason", s.reason_name},
          {"reason_code", s.reason},
          {"persistent", s.persistent},
          {"autostart", s.autostart},
          {"managed_save", s.managed_save}};
}

namespace {

Result<Scope> GetScope(const nlohmann::json& j) {
  Scope s;
  SKIFF_ASSIGN_OR_RETURN(s.live, GetBool(j, "live"));
  SKIFF_ASSIGN_OR_RETURN(s.config, GetBool(j, "config"));
  return s;
}

Response Ok() { return JsonResponse(nlohmann::json::object()); }

nlohmann::json DiskJson(const conf::DiskDef& d) {
  std::string source = d.source_path;
  if (d.type == conf::DiskType::kVolume) source = d.source_pool + "/" + d.source_volume;
  return {{"target", d.target_dev}, {"source", source},
          {"type", conf::ToString(d.type)}, {"device", conf::ToString(d.device)},
          {"bus", conf::ToString(d.bus)},   {"format", d.format()},
          {"readonly", d.readonly}};
}

// A simple state action: POST /v1/domains/{id}/<verb>, empty body.
template <Status (Service::*Fn)(const std::string&)>
Response Action(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  TRY_RESPONSE(ParseBody(r, {}));
  ASSIGN_OR_RESPONSE(auto before, s.GetDomain(p.at("id")));
  TRY_RESPONSE((s.*Fn)(before.summary.uuid.ToString()));
  auto after = s.GetDomain(before.summary.uuid.ToString());
  if (after.ok()) return JsonResponse(ToJson(after->summary));
  // A transient domain is gone once it stopped: answer with its last state.
  before.summary.id = -1;
  before.summary.state = DomainState::kShutoff;
  before.summary.reason_name = "destroyed";
  before.summary.reason = 2;
  return JsonResponse(ToJson(before.summary));
}

Response ListDomains(Service& s, const Request& r, const Params&) {
  TRY_RESPONSE(CheckQuery(r, {}));
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& d : s.ListDomains()) arr.push_back(ToJson(d));
  return JsonResponse({{"domains", std::move(arr)}});
}

Response DefineDomain(Service& s, const Request& r, const Params&) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto body, ParseBody(r, {"xml", "source", "start", "paused", "persistent"}));
  ASSIGN_OR_RESPONSE(std::string xml, GetString(body, "xml", true));
  ASSIGN_OR_RESPONSE(std::string source, GetString(body, "source"));
  ASSIGN_OR_RESPONSE(bool start, GetBool(body, "start"));
  ASSIGN_OR_RESPONSE(bool paused, GetBool(body, "paused"));
  ASSIGN_OR_RESPONSE(bool persistent, GetBool(body, "persistent", true));
  if (source.empty()) source = "domain.xml";
  if (!persistent) {
    ASSIGN_OR_RESPONSE(auto sum, s.CreateDomain(xml, source, paused));
    return JsonResponse(ToJson(sum), 201);
  }
  ASSIGN_OR_RESPONSE(auto sum, s.DefineDomain(xml, source));
  if (start) {
    ASSIGN_OR_RESPONSE(sum, s.StartDomain(sum.name, paused));
  }
  return JsonResponse(ToJson(sum), 201);
}

Response GetDomain(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto info, s.GetDomain(p.at("id")));
  nlohmann::json j = ToJson(info.summary);
  j["os_type"] = info.os_type;
  j["vcpus"] = info.vcpus;
  j["max_memory_kib"] = info.max_memory_kib;
  j["used_memory_kib"] = info.used_memory_kib;
  j["cpu_time_ns"] = info.cpu_time_ns;
  return JsonResponse(j);
}

Response UndefineDomain(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {"remove_all_storage", "snapshots_metadata", "managed_save"}));
  UndefineOptions o;
  ASSIGN_OR_RESPONSE(o.remove_all_storage, QueryBool(r, "remove_all_storage"));
  ASSIGN_OR_RESPONSE(o.snapshots_metadata, QueryBool(r, "snapshots_metadata"));
  ASSIGN_OR_RESPONSE(o.managed_save, QueryBool(r, "managed_save"));
  TRY_RESPONSE(s.UndefineDomain(p.at("id"), o));
  return Ok();
}

Response StartDomain(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto body, ParseBody(r, {"paused"}));
  ASSIGN_OR_RESPONSE(bool paused, GetBool(body, "paused"));
  ASSIGN_OR_RESPONSE(auto sum, s.StartDomain(p.at("id"), paused));
  return JsonResponse(ToJson(sum));
}

Response GetXml(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {"inactive"}));
  ASSIGN_OR_RESPONSE(bool inactive, QueryBool(r, "inactive"));
  ASSIGN_OR_RESPONSE(std::string xml, s.DomainXml(p.at("id"), inactive));
  return JsonResponse({{"xml", xml}});
}

Response SetAutostart(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto body, ParseBody(r, {"enabled"}));
  ASSIGN_OR_RESPONSE(bool enabled, GetBool(body, "enabled", true));
  TRY_RESPONSE(s.SetAutostart(p.at("id"), enabled));
  return Ok();
}

// "GROUP.I.FIELD" = value for each field of one device.
template <size_t N>
void AddDeviceStats(nlohmann::json& out, const std::string& group, size_t i,
                    const std::array<std::string_view, N>& fields,
                    const std::array<nlohmann::json, N>& values) {
  const std::string prefix = group + "." + std::to_string(i) + ".";
  for (size_t f = 0; f < N; ++f) out[prefix + std::string(fields[f])] = values[f];
}

Response Stats(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  DomainSummary sum;
  ASSIGN_OR_RESPONSE(RuntimeStats st, s.DomainStats(p.at("id"), &sum));
  nlohmann::json j = ToJson(sum);
  j["stats"] = {{"state.state", static_cast<int>(sum.state)},
                {"state.reason", sum.reason},
                {"cpu.time", st.cpu_time_ns},
                {"balloon.current", st.balloon_current_kib},
                {"balloon.maximum", st.balloon_maximum_kib},
                {"vcpu.current", st.vcpus_current},
                {"vcpu.maximum", st.vcpus_maximum}};
  nlohmann::json& out = j["stats"];
  out["block.count"] = st.blocks.size();
  for (size_t i = 0; i < st.blocks.size(); ++i) {
    const BlockIoStats& b = st.blocks[i];
    AddDeviceStats(out, "block", i, api::kBlockStatFields,
                   {b.name, b.rd_reqs, b.rd_bytes, b.wr_reqs, b.wr_bytes, b.fl_reqs});
  }
  out["net.count"] = st.nets.size();
  for (size_t i = 0; i < st.nets.size(); ++i) {
    const NetIoStats& n = st.nets[i];
    AddDeviceStats(out, "net", i, api::kNetStatFields,
                   {n.name, n.rx_bytes, n.rx_pkts, n.rx_drop, n.tx_bytes, n.tx_pkts, n.tx_drop});
  }
  return JsonResponse(j);
}

Response Disks(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {"inactive"}));
  ASSIGN_OR_RESPONSE(bool inactive, QueryBool(r, "inactive"));
  ASSIGN_OR_RESPONSE(auto disks, s.DomainDisks(p.at("id"), inactive));
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& d : disks) arr.push_back(DiskJson(d));
  return JsonResponse({{"disks", arr}});
}

Response Interfaces(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {"inactive"}));
  ASSIGN_OR_RESPONSE(bool inactive, QueryBool(r, "inactive"));
  ASSIGN_OR_RESPONSE(auto nics, s.DomainInterfaces(p.at("id"), inactive));
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& [dev, n] : nics) {
    arr.push_back({{"interface", dev}, {"type", conf::ToString(n.type)}, {"source", n.source},
                   {"model", conf::ToString(n.model)}, {"mac", n.mac}});
  }
  return JsonResponse({{"interfaces", arr}});
}

Response Addresses(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto addrs, s.DomainAddresses(p.at("id")));
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& a : addrs) {
    arr.push_back({{"name", a.name}, {"mac", a.mac}, {"protocol", a.protocol},
                   {"address", a.address}});
  }
  return JsonResponse({{"addresses", arr}});
}

Response SetMemory(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto body, ParseBody(r, {"kib", "maximum", "live", "config"}));
  ASSIGN_OR_RESPONSE(uint64_t kib, GetUint(body, "kib", true));
  ASSIGN_OR_RESPONSE(bool maximum, GetBool(body, "maximum"));
  ASSIGN_OR_RESPONSE(Scope scope, GetScope(body));
  TRY_RESPONSE(s.SetMemory(p.at("id"), kib, maximum, scope));
  return Ok();
}

Response SetVcpus(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto body, ParseBody(r, {"count", "maximum", "live", "config"}));
  ASSIGN_OR_RESPONSE(uint64_t count, GetUint(body, "count", true));
  if (count > 4096) return ErrorResponse(InvalidArgumentError("vcpu count {} is too large", count));
  ASSIGN_OR_RESPONSE(bool maximum, GetBool(body, "maximum"));
  ASSIGN_OR_RESPONSE(Scope scope, GetScope(body));
  TRY_RESPONSE(s.SetVcpus(p.at("id"), static_cast<unsigned>(count), maximum, scope));
  return Ok();
}

// ?live=true / ?config=true of a query (vcpupin, schedinfo).
Result<Scope> QueryScope(const Request& r) {
  Scope s;
  SKIFF_ASSIGN_OR_RETURN(s.live, QueryBool(r, "live"));
  SKIFF_ASSIGN_OR_RETURN(s.config, QueryBool(r, "config"));
  return s;
}

Response GetVcpus(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(VcpuCounts c, s.VcpuCount(p.at("id")));
  nlohmann::json out = {{"maximum_config", c.maximum_config},
                        {"current_config", c.current_config}};
  if (c.maximum_live) {
    out["maximum_live"] = c.maximum_live;
    out["current_live"] = c.current_live;
    auto vcpus = s.DomainVcpus(p.at("id"));  // fails when it stopped meanwhile
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& v : vcpus.ok() ? *vcpus : std::vector<VcpuRuntime>{}) {
      arr.push_back({{"vcpu", v.vcpu}, {"thread_id", v.thread_id}, {"cpu", v.cpu},
                     {"cpu_time_ns", v.cpu_time_ns}, {"affinity", v.affinity}});
    }
    out["vcpus"] = std::move(arr);
  }
  return JsonResponse(out);
}

Response GetSchedInfo(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {"live", "config"}));
  ASSIGN_OR_RESPONSE(Scope scope, QueryScope(r));
  ASSIGN_OR_RESPONSE(uint64_t shares, s.CpuShares(p.at("id"), scope));
  return JsonResponse({{"scheduler", "posix"}, {"cpu_shares", shares}});
}

Response SetSchedInfo(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto body, ParseBody(r, {"cpu_shares", "live", "config"}));
  ASSIGN_OR_RESPONSE(uint64_t shares, GetUint(body, "cpu_shares", true));
  ASSIGN_OR_RESPONSE(Scope scope, GetScope(body));
  TRY_RESPONSE(s.SetCpuShares(p.at("id"), shares, scope));
  return Ok();
}

Response GetPinning(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {"live", "config"}));
  ASSIGN_OR_RESPONSE(Scope scope, QueryScope(r));
  ASSIGN_OR_RESPONSE(CpuPinning pins, s.Pinning(p.at("id"), scope));
  return JsonResponse({{"vcpus", pins.vcpus}, {"emulator", pins.emulator}});
}

Response PinVcpu(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto body, ParseBody(r, {"vcpu", "cpuset", "live", "config"}));
  ASSIGN_OR_RESPONSE(uint64_t vcpu, GetUint(body, "vcpu", true));
  ASSIGN_OR_RESPONSE(std::string cpuset, GetString(body, "cpuset", true));
  ASSIGN_OR_RESPONSE(Scope scope, GetScope(body));
  if (vcpu > 16383) return ErrorResponse(InvalidArgumentError("vcpu {} is too large", vcpu));
  TRY_RESPONSE(s.PinVcpu(p.at("id"), static_cast<unsigned>(vcpu), cpuset, scope));
  return Ok();
}

Response PinEmulator(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto body, ParseBody(r, {"cpuset", "live", "config"}));
  ASSIGN_OR_RESPONSE(std::string cpuset, GetString(body, "cpuset", true));
  ASSIGN_OR_RESPONSE(Scope scope, GetScope(body));
  TRY_RESPONSE(s.PinEmulator(p.at("id"), cpuset, scope));
  return Ok();
}

Response AttachDisk(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto body, ParseBody(r, {"source", "target", "bus", "driver", "subdriver",
                                               "type", "mode", "cache", "live", "config"}));
  DiskRequest d;
  ASSIGN_OR_RESPONSE(d.source, GetString(body, "source", true));
  ASSIGN_OR_RESPONSE(d.target, GetString(body, "target", true));
  ASSIGN_OR_RESPONSE(d.bus, GetString(body, "bus"));
  ASSIGN_OR_RESPONSE(d.driver, GetString(body, "driver"));
  ASSIGN_OR_RESPONSE(d.subdriver, GetString(body, "subdriver"));
  ASSIGN_OR_RESPONSE(d.type, GetString(body, "type"));
  ASSIGN_OR_RESPONSE(d.mode, GetString(body, "mode"));
  ASSIGN_OR_RESPONSE(d.cache, GetString(body, "cache"));
  ASSIGN_OR_RESPONSE(Scope scope, GetScope(body));
  TRY_RESPONSE(s.AttachDisk(p.at("id"), d, scope));
  return JsonResponse(nlohmann::json::object(), 201);
}

Response DetachDisk(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {"live", "config"}));
  Scope scope;
  ASSIGN_OR_RESPONSE(scope.live, QueryBool(r, "live"));
  ASSIGN_OR_RESPONSE(scope.config, QueryBool(r, "config"));
  TRY_RESPONSE(s.DetachDisk(p.at("id"), p.at("target"), scope));
  return Ok();
}

// POST /v1/domains/{id}/devices {"xml", "source", "live", "config"}; "detach": true
// removes.
Response Device(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto body, ParseBody(r, {"xml", "source", "detach", "live", "config"}));
  ASSIGN_OR_RESPONSE(std::string xml, GetString(body, "xml", true));
  ASSIGN_OR_RESPONSE(std::string source, GetString(body, "source"));
  ASSIGN_OR_RESPONSE(bool detach, GetBool(body, "detach"));
  ASSIGN_OR_RESPONSE(Scope scope, GetScope(body));
  if (detach) {
    TRY_RESPONSE(s.DetachDevice(p.at("id"), xml, source, scope));
    return Ok();
  }
  TRY_RESPONSE(s.AttachDevice(p.at("id"), xml, source, scope));
  return JsonResponse(nlohmann::json::object(), 201);
}

Response AttachInterface(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto body,
                     ParseBody(r, {"type", "source", "model", "mac", "target", "live", "config"}));
  InterfaceRequest n;
  ASSIGN_OR_RESPONSE(n.type, GetString(body, "type", true));
  ASSIGN_OR_RESPONSE(n.source, GetString(body, "source"));
  ASSIGN_OR_RESPONSE(n.model, GetString(body, "model"));
  ASSIGN_OR_RESPONSE(n.mac, GetString(body, "mac"));
  ASSIGN_OR_RESPONSE(n.target, GetString(body, "target"));
  ASSIGN_OR_RESPONSE(Scope scope, GetScope(body));
  TRY_RESPONSE(s.AttachInterface(p.at("id"), n, scope));
  return JsonResponse(nlohmann::json::object(), 201);
}

Response DetachInterface(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {"type", "mac", "live", "config"}));
  auto type = r.query.find("type");
  if (type == r.query.end()) {
    return ErrorResponse(InvalidArgumentError("query parameter 'type' is required"));
  }
  auto mac = r.query.find("mac");
  Scope scope;
  ASSIGN_OR_RESPONSE(scope.live, QueryBool(r, "live"));
  ASSIGN_OR_RESPONSE(scope.config, QueryBool(r, "config"));
  TRY_RESPONSE(s.DetachInterface(p.at("id"), type->second,
                                 mac == r.query.end() ? "" : mac->second, scope));
  return Ok();
}

// virsh's --running/--paused of save and restore: true for paused, false for running,
// none when neither was given.
Result<std::optional<bool>> RunningOrPaused(const nlohmann::json& body) {
  SKIFF_ASSIGN_OR_RETURN(bool paused, GetBool(body, "paused"));
  SKIFF_ASSIGN_OR_RETURN(bool running, GetBool(body, "running"));
  if (paused && running) return InvalidArgumentError("--running and --paused are mutually exclusive");
  std::optional<bool> want;
  if (paused || running) want = paused;
  return want;
}

Response Save(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto body, ParseBody(r, {"file", "paused", "running"}));
  ASSIGN_OR_RESPONSE(std::string file, GetString(body, "file", true));
  ASSIGN_OR_RESPONSE(auto want, RunningOrPaused(body));
  ASSIGN_OR_RESPONSE(uint64_t job, s.SaveDomain(p.at("id"), file, want));
  ASSIGN_OR_RESPONSE(auto j, s.jobs().Get(job));
  return JsonResponse({{"job", j}}, 202);
}

Response ManagedSave(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto body, ParseBody(r, {"paused", "running"}));
  ASSIGN_OR_RESPONSE(auto want, RunningOrPaused(body));
  ASSIGN_OR_RESPONSE(uint64_t job, s.ManagedSave(p.at("id"), want));
  ASSIGN_OR_RESPONSE(auto j, s.jobs().Get(job));
  return JsonResponse({{"job", j}}, 202);
}

Response Restore(Service& s, const Request& r, const Params&) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto body, ParseBody(r, {"file", "paused", "running"}));
  ASSIGN_OR_RESPONSE(std::string file, GetString(body, "file", true));
  ASSIGN_OR_RESPONSE(auto want, RunningOrPaused(body));
  ASSIGN_OR_RESPONSE(uint64_t job, s.RestoreDomain(file, want));
  ASSIGN_OR_RESPONSE(auto j, s.jobs().Get(job));
  return JsonResponse({{"job", j}}, 202);
}

Response Console(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(std::string sock, s.ConsoleSocket(p.at("id")));
  return JsonResponse({{"socket", sock}});
}

}  // namespace

void AddDomainRoutes(Api& api) {
  const bool R = false, W = true;
  api.Add("GET", "/v1/domains", R, ListDomains);
  api.Add("POST", "/v1/domains", W, DefineDomain);
  api.Add("POST", "/v1/domains/restore", W, Restore);
  api.Add("GET", "/v1/domains/{id}", R, GetDomain);
  api.Add("DELETE", "/v1/domains/{id}", W, UndefineDomain);
  api.Add("GET", "/v1/domains/{id}/xml", R, GetXml);
  api.Add("POST", "/v1/domains/{id}/start", W, StartDomain);
  api.Add("POST", "/v1/domains/{id}/shutdown", W, Action<&Service::ShutdownDomain>);
  api.Add("POST", "/v1/domains/{id}/destroy", W, Action<&Service::DestroyDomain>);
  api.Add("POST", "/v1/domains/{id}/reboot", W, Action<&Service::RebootDomain>);
  api.Add("POST", "/v1/domains/{id}/reset", W, Action<&Service::ResetDomain>);
  api.Add("POST", "/v1/domains/{id}/suspend", W, Action<&Service::SuspendDomain>);
  api.Add("POST", "/v1/domains/{id}/resume", W, Action<&Service::ResumeDomain>);
  api.Add("POST", "/v1/domains/{id}/autostart", W, SetAutostart);
  api.Add("GET", "/v1/domains/{id}/stats", R, Stats);
  api.Add("GET", "/v1/domains/{id}/disks", R, Disks);
  api.Add("POST", "/v1/domains/{id}/disks", W, AttachDisk);
  api.Add("DELETE", "/v1/domains/{id}/disks/{target}", W, DetachDisk);
  api.Add("POST", "/v1/domains/{id}/devices", W, Device);
  api.Add("GET", "/v1/domains/{id}/interfaces", R, Interfaces);
  api.Add("POST", "/v1/domains/{id}/interfaces", W, AttachInterface);
  api.Add("DELETE", "/v1/domains/{id}/interfaces", W, DetachInterface);
  api.Add("GET", "/v1/domains/{id}/addresses", R, Addresses);
  api.Add("POST", "/v1/domains/{id}/memory", W, SetMemory);
  api.Add("POST", "/v1/domains/{id}/vcpus", W, SetVcpus);
  api.Add("GET", "/v1/domains/{id}/vcpus", R, GetVcpus);
  api.Add("GET", "/v1/domains/{id}/schedinfo", R, GetSchedInfo);
  api.Add("POST", "/v1/domains/{id}/schedinfo", W, SetSchedInfo);
  api.Add("GET", "/v1/domains/{id}/pinning", R, GetPinning);
  api.Add("POST", "/v1/domains/{id}/vcpupin", W, PinVcpu);
  api.Add("POST", "/v1/domains/{id}/emulatorpin", W, PinEmulator);
  api.Add("POST", "/v1/domains/{id}/save", W, Save);
  api.Add("POST", "/v1/domains/{id}/managedsave", W, ManagedSave);
  api.Add("GET", "/v1/domains/{id}/console", W, Console);
}

}  // namespace skiff::daemon
