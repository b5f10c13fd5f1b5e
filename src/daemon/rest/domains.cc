// REST handlers for /v1/domains: parse the request into its api/types.h struct, call
// Service, answer with the api/types.h struct.
#include <array>
#include <string_view>

#include "daemon/rest/fields.h"
#include "skiff/api/domstats.h"
#include "skiff/daemon/rest.h"

namespace skiff::daemon {

namespace {

// The summary's fields in `out` (a DomainSummary or a struct derived from it).
void FillSummary(const DomainSummary& s, api::DomainSummary& out) {
  out.id = s.id;
  out.name = s.name;
  out.uuid = s.uuid.ToString();
  out.state = std::string(StateName(s.status.state()));
  out.state_code = static_cast<int>(s.status.state());
  out.reason = std::string(s.status.reason_name());
  out.reason_code = s.status.reason();
  out.persistent = s.persistent;
  out.autostart = s.autostart;
  out.managed_save = s.managed_save;
}

api::DomainSummary ToApi(const DomainSummary& s) {
  api::DomainSummary out;
  FillSummary(s, out);
  return out;
}

}  // namespace

nlohmann::json ToJson(const DomainSummary& s) { return ToApi(s); }

namespace {

Response Ok() { return EmptyResponse(); }

api::Disk ToApi(const conf::DiskDef& d) {
  api::Disk out;
  out.target = d.target_dev;
  out.source = d.source_path;
  if (d.type == conf::DiskType::kVolume) out.source = d.source_pool + "/" + d.source_volume;
  out.type = conf::ToString(d.type);
  out.device = conf::ToString(d.device);
  out.bus = conf::ToString(d.bus);
  out.format = d.format();
  out.readonly = d.readonly;
  return out;
}

// A simple state action: POST /v1/domains/{id}/<verb>, empty body.
template <Status (Service::*Fn)(const std::string&)>
Response Action(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  TRY_RESPONSE(ParseRequestBody<api::Empty>(r));
  ASSIGN_OR_RESPONSE(auto before, s.GetDomain(p.at("id")));
  TRY_RESPONSE((s.*Fn)(before.summary.uuid.ToString()));
  auto after = s.GetDomain(before.summary.uuid.ToString());
  if (after.ok()) return JsonResponse(ToApi(after->summary));
  // A transient domain is gone once it stopped: answer with its last state.
  before.summary.id = -1;
  before.summary.status = DomainStatus::Shutoff(ShutoffReason::kDestroyed);
  return JsonResponse(ToApi(before.summary));
}

Response ListDomains(Service& s, const Request& r, const Params&) {
  TRY_RESPONSE(CheckQuery(r, {}));
  api::DomainList out;
  for (const auto& d : s.ListDomains()) out.domains.push_back(ToApi(d));
  return JsonResponse(out);
}

Response DefineDomain(Service& s, const Request& r, const Params&) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto req, ParseRequestBody<api::DefineDomainRequest>(r));
  std::string source = req.source.empty() ? "domain.xml" : req.source;
  if (!req.persistent) {
    ASSIGN_OR_RESPONSE(auto sum, s.CreateDomain(req.xml, source, req.paused));
    return JsonResponse(ToApi(sum), 201);
  }
  ASSIGN_OR_RESPONSE(auto sum, s.DefineDomain(req.xml, source));
  if (req.start) {
    ASSIGN_OR_RESPONSE(sum, s.StartDomain(sum.name, req.paused));
  }
  return JsonResponse(ToApi(sum), 201);
}

Response GetDomain(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto info, s.GetDomain(p.at("id")));
  api::DomainInfo out;
  FillSummary(info.summary, out);
  out.os_type = info.os_type;
  out.vcpus = info.vcpus;
  out.max_memory_kib = info.max_memory_kib;
  out.used_memory_kib = info.used_memory_kib;
  out.cpu_time_ns = info.cpu_time_ns;
  return JsonResponse(out);
}

Response UndefineDomain(Service& s, const Request& r, const Params& p) {
  ASSIGN_OR_RESPONSE(auto q, ParseRequestQuery<api::UndefineDomainQuery>(r));
  UndefineOptions o;
  o.remove_all_storage = q.remove_all_storage;
  o.snapshots_metadata = q.snapshots_metadata;
  o.managed_save = q.managed_save;
  TRY_RESPONSE(s.UndefineDomain(p.at("id"), o));
  return Ok();
}

Response StartDomain(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto req, ParseRequestBody<api::StartDomainRequest>(r));
  ASSIGN_OR_RESPONSE(auto sum, s.StartDomain(p.at("id"), req.paused));
  return JsonResponse(ToApi(sum));
}

Response GetXml(Service& s, const Request& r, const Params& p) {
  ASSIGN_OR_RESPONSE(auto q, ParseRequestQuery<api::DomainXmlQuery>(r));
  if (q.security_info && r.role != Role::kAdmin) {
    return ErrorResponse(PermissionDeniedError(
        "{} has read-only access; dumpxml --security-info needs root (or an admin token)", r.peer));
  }
  api::XmlReply out;
  ASSIGN_OR_RESPONSE(out.xml, s.DomainXml(p.at("id"), q.inactive, q.security_info));
  return JsonResponse(out);
}

Response SetAutostart(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto req, ParseRequestBody<api::AutostartRequest>(r));
  TRY_RESPONSE(s.SetAutostart(p.at("id"), req.enabled));
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
  api::DomainStats j;
  FillSummary(sum, j);
  j.stats = {{"state.state", static_cast<int>(sum.status.state())},
             {"state.reason", sum.status.reason()},
             {"cpu.time", st.cpu_time_ns},
             {"balloon.current", st.balloon_current_kib},
             {"balloon.maximum", st.balloon_maximum_kib},
             {"vcpu.current", st.vcpus_current},
             {"vcpu.maximum", st.vcpus_maximum}};
  nlohmann::json& out = j.stats;
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
  ASSIGN_OR_RESPONSE(auto q, ParseRequestQuery<api::XmlQuery>(r));
  ASSIGN_OR_RESPONSE(auto disks, s.devices().Disks(p.at("id"), q.inactive));
  api::DiskList out;
  for (const auto& d : disks) out.disks.push_back(ToApi(d));
  return JsonResponse(out);
}

Response Interfaces(Service& s, const Request& r, const Params& p) {
  ASSIGN_OR_RESPONSE(auto q, ParseRequestQuery<api::XmlQuery>(r));
  ASSIGN_OR_RESPONSE(auto nics, s.devices().Interfaces(p.at("id"), q.inactive));
  api::InterfaceList out;
  for (const auto& [dev, n] : nics) {
    out.interfaces.push_back({dev, std::string(conf::ToString(n.type)), n.source,
                              std::string(conf::ToString(n.model)), n.mac});
  }
  return JsonResponse(out);
}

Response Addresses(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto addrs, s.devices().Addresses(p.at("id")));
  api::AddressList out;
  for (const auto& a : addrs) out.addresses.push_back({a.name, a.mac, a.protocol, a.address});
  return JsonResponse(out);
}

api::DiskInfo ToApi(const DomainDevices::BlockInfo& b) {
  return {b.target, b.capacity, b.allocation, b.physical};
}

Response DiskInfo(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto info, s.devices().DiskInfo(p.at("id"), p.at("target")));
  return JsonResponse(ToApi(info));
}

Response DiskInfos(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto infos, s.devices().DiskInfos(p.at("id")));
  api::DiskInfoList out;
  for (const auto& b : infos) out.disks.push_back(ToApi(b));
  return JsonResponse(out);
}

Response ResizeDisk(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto req, ParseRequestBody<api::DiskResizeRequest>(r));
  TRY_RESPONSE(s.devices().ResizeDisk(p.at("id"), p.at("target"), req.bytes));
  return Ok();
}

Response DiskErrors(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto errs, s.devices().DiskErrors(p.at("id")));
  api::DiskErrorList out;
  for (const auto& [target, error] : errs) out.errors.push_back({target, error});
  return JsonResponse(out);
}

Response SetMemory(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto req, ParseRequestBody<api::SetMemoryRequest>(r));
  TRY_RESPONSE(s.tuning().SetMemory(p.at("id"), req.kib, req.maximum, ToScope(req)));
  return Ok();
}

Response SetVcpus(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto req, ParseRequestBody<api::SetVcpusRequest>(r));  // count <= 4096
  TRY_RESPONSE(
      s.tuning().SetVcpus(p.at("id"), static_cast<unsigned>(req.count), req.maximum, ToScope(req)));
  return Ok();
}

Response GetVcpus(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(VcpuCounts c, s.tuning().VcpuCount(p.at("id")));
  api::VcpuInfo out;
  out.maximum_config = c.maximum_config;
  out.current_config = c.current_config;
  if (c.maximum_live) {
    out.maximum_live = c.maximum_live;
    out.current_live = c.current_live;
    auto vcpus = s.tuning().Vcpus(p.at("id"));  // fails when it stopped meanwhile
    out.vcpus.emplace();
    for (const auto& v : vcpus.ok() ? *vcpus : std::vector<VcpuRuntime>{}) {
      out.vcpus->push_back({v.vcpu, v.thread_id, v.cpu, v.cpu_time_ns, v.affinity});
    }
  }
  return JsonResponse(out);
}

Response GetSchedInfo(Service& s, const Request& r, const Params& p) {
  ASSIGN_OR_RESPONSE(auto q, ParseRequestQuery<api::Scope>(r));
  api::SchedInfo out;
  ASSIGN_OR_RESPONSE(out.cpu_shares, s.tuning().CpuShares(p.at("id"), ToScope(q)));
  return JsonResponse(out);
}

Response SetSchedInfo(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto req, ParseRequestBody<api::SetSchedInfoRequest>(r));
  TRY_RESPONSE(s.tuning().SetCpuShares(p.at("id"), req.cpu_shares, ToScope(req)));
  return Ok();
}

Response GetPinning(Service& s, const Request& r, const Params& p) {
  ASSIGN_OR_RESPONSE(auto q, ParseRequestQuery<api::Scope>(r));
  ASSIGN_OR_RESPONSE(CpuPinning pins, s.tuning().Pinning(p.at("id"), ToScope(q)));
  return JsonResponse(api::Pinning{pins.vcpus, pins.emulator});
}

Response PinVcpu(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto req, ParseRequestBody<api::PinVcpuRequest>(r));  // vcpu <= 16383
  TRY_RESPONSE(
      s.tuning().PinVcpu(p.at("id"), static_cast<unsigned>(req.vcpu), req.cpuset, ToScope(req)));
  return Ok();
}

Response PinEmulator(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto req, ParseRequestBody<api::PinEmulatorRequest>(r));
  TRY_RESPONSE(s.tuning().PinEmulator(p.at("id"), req.cpuset, ToScope(req)));
  return Ok();
}

Response AttachDisk(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto req, ParseRequestBody<api::AttachDiskRequest>(r));
  DiskRequest d{req.source,    req.target, req.bus,  req.driver,
                req.subdriver, req.type,   req.mode, req.cache};
  TRY_RESPONSE(s.devices().AttachDisk(p.at("id"), d, ToScope(req)));
  return EmptyResponse(201);
}

Response DetachDisk(Service& s, const Request& r, const Params& p) {
  ASSIGN_OR_RESPONSE(auto q, ParseRequestQuery<api::Scope>(r));
  TRY_RESPONSE(s.devices().DetachDisk(p.at("id"), p.at("target"), ToScope(q)));
  return Ok();
}

// POST /v1/domains/{id}/devices {"xml", "source", "live", "config"}; "detach": true
// removes.
Response Device(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto req, ParseRequestBody<api::DeviceRequest>(r));
  if (req.detach) {
    TRY_RESPONSE(s.devices().DetachDevice(p.at("id"), req.xml, req.source, ToScope(req)));
    return Ok();
  }
  TRY_RESPONSE(s.devices().AttachDevice(p.at("id"), req.xml, req.source, ToScope(req)));
  return EmptyResponse(201);
}

Response AttachInterface(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto req, ParseRequestBody<api::AttachInterfaceRequest>(r));
  InterfaceRequest n{req.type, req.source, req.model, req.mac, req.target};
  TRY_RESPONSE(s.devices().AttachInterface(p.at("id"), n, ToScope(req)));
  return EmptyResponse(201);
}

Response DetachInterface(Service& s, const Request& r, const Params& p) {
  ASSIGN_OR_RESPONSE(auto q, ParseRequestQuery<api::DetachInterfaceQuery>(r));
  TRY_RESPONSE(s.devices().DetachInterface(p.at("id"), q.type, q.mac, ToScope(q)));
  return Ok();
}

// The 202 answer of an operation that runs as job `id`.
Response JobAccepted(Service& s, uint64_t id) {
  ASSIGN_OR_RESPONSE(auto j, s.jobs().Get(id));
  return JsonResponse(api::JobReply{std::move(j)}, 202);
}

Response Save(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto req, ParseRequestBody<api::SaveRequest>(r));
  ASSIGN_OR_RESPONSE(uint64_t job, s.saves().Save(p.at("id"), req.file, req.want_paused()));
  return JobAccepted(s, job);
}

Response ManagedSave(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto req, ParseRequestBody<api::ManagedSaveRequest>(r));
  ASSIGN_OR_RESPONSE(uint64_t job, s.saves().ManagedSave(p.at("id"), req.want_paused()));
  return JobAccepted(s, job);
}

Response Clone(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto req, ParseRequestBody<api::CloneRequest>(r));
  CloneOptions o{req.name,      req.uuid,      req.files,      req.macs,
                 req.nvram,     req.skip_copy, req.force_copy, req.preserve_data,
                 req.nonsparse, req.reflink,   req.linked};
  ASSIGN_OR_RESPONSE(auto started, s.clones().Clone(p.at("id"), o, req.print_xml));
  api::CloneReply out;
  out.name = started.name;
  out.xml = started.xml;
  for (const auto& f : started.files) out.files.push_back({f.target, f.path, f.bytes, f.how});
  if (started.job == 0) return JsonResponse(out);
  ASSIGN_OR_RESPONSE(auto j, s.jobs().Get(started.job));
  out.job = std::move(j);
  return JsonResponse(out, 202);
}

Response RemoveManagedSave(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(bool removed, s.saves().RemoveManagedSave(p.at("id")));
  return JsonResponse(api::ManagedSaveRemoved{removed});
}

Response GetManagedSaveXml(Service& s, const Request& r, const Params& p) {
  ASSIGN_OR_RESPONSE(auto q, ParseRequestQuery<api::ManagedSaveXmlQuery>(r));
  if (q.security_info && r.role != Role::kAdmin) {
    return ErrorResponse(PermissionDeniedError(
        "{} has read-only access; managedsave-dumpxml --security-info needs root (or an admin "
        "token)",
        r.peer));
  }
  api::XmlReply out;
  ASSIGN_OR_RESPONSE(out.xml, s.saves().ManagedSaveXml(p.at("id"), q.security_info));
  return JsonResponse(out);
}

Response DefineManagedSave(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto req, ParseRequestBody<api::ManagedSaveDefineRequest>(r));
  TRY_RESPONSE(s.saves().DefineManagedSave(p.at("id"), req.xml, req.source, req.want_paused()));
  return Ok();
}

Response Restore(Service& s, const Request& r, const Params&) {
  TRY_RESPONSE(CheckQuery(r, {}));
  ASSIGN_OR_RESPONSE(auto req, ParseRequestBody<api::SaveRequest>(r));
  ASSIGN_OR_RESPONSE(uint64_t job, s.saves().Restore(req.file, req.want_paused()));
  return JobAccepted(s, job);
}

Response Console(Service& s, const Request& r, const Params& p) {
  TRY_RESPONSE(CheckQuery(r, {}));
  api::ConsoleReply out;
  ASSIGN_OR_RESPONSE(out.socket, s.ConsoleSocket(p.at("id")));
  return JsonResponse(out);
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
  api.Add("GET", "/v1/domains/{id}/disks/{target}/info", R, DiskInfo);
  api.Add("POST", "/v1/domains/{id}/disks/{target}/resize", W, ResizeDisk);
  api.Add("GET", "/v1/domains/{id}/diskinfo", R, DiskInfos);
  api.Add("GET", "/v1/domains/{id}/disk-errors", R, DiskErrors);
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
  api.Add("POST", "/v1/domains/{id}/clone", W, Clone);
  api.Add("POST", "/v1/domains/{id}/managedsave", W, ManagedSave);
  api.Add("DELETE", "/v1/domains/{id}/managedsave", W, RemoveManagedSave);
  api.Add("GET", "/v1/domains/{id}/managedsave", R, GetManagedSaveXml);
  api.Add("PUT", "/v1/domains/{id}/managedsave", W, DefineManagedSave);
  api.Add("GET", "/v1/domains/{id}/console", W, Console);
}

}  // namespace skiff::daemon
