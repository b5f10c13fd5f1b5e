// REST handlers for the host: version, capabilities, host-validate, and the event stream.
#include "skiff/qemu/host.h"
#include "daemon/rest/fields.h"
#include "skiff/daemon/rest.h"
#include "skiff/qemu/host_caps.h"

namespace skiff::daemon {
namespace {

constexpr int kApiVersion = 1;

Response Version(Service& s, const Request& r, const Params&) {
  TRY_RESPONSE(CheckQuery(r, {}));
  const auto& q = qemu::InstalledQemu();
  return JsonResponse(api::Version{SKIFF_DAEMON_VERSION, kApiVersion, s.hypervisor().Describe(),
                                   q.ok() ? q->version : ""});
}

// ?format=xml: libvirt's <capabilities>, as the qemu module writes it (it asks QEMU
// for its machine types); JSON: the qemu module's host probes.
Response Capabilities(Service& s, const Request& r, const Params&) {
  ASSIGN_OR_RESPONSE(auto query, ParseRequestQuery<api::CapabilitiesQuery>(r));
  if (query.format == "xml") {
    api::XmlReply xml;
    ASSIGN_OR_RESPONSE(xml.xml, qemu::CapabilitiesXml());
    return JsonResponse(xml);
  }
  const qemu::HostFacts host = qemu::ProbeHostFacts();
  auto kvm = qemu::ProbeKvm();
  const auto& q = qemu::InstalledQemu();
  api::Capabilities out;
  out.host = {host.arch, host.cpus, host.memory_kib, host.kernel_release};
  out.kvm = {kvm.usable, kvm.module, kvm.reason};
  out.qemu = {q.ok() ? q->path : "", q.ok() ? q->version : "", q.ok() ? "" : q.status().message()};
  api::GuestCaps hvm{"hvm", "x86_64", {"pc", "q35"}, {"qemu"}};
  if (kvm.usable) hvm.domain_types.push_back("kvm");
  out.guests.push_back(std::move(hvm));
  out.hypervisor = s.hypervisor().Describe();
  return JsonResponse(out);
}

// virt-host-validate's checks, as the qemu module makes them (host_caps.h).
Response Validate(Service&, const Request& r, const Params&) {
  TRY_RESPONSE(CheckQuery(r, {}));
  api::HostValidation out;
  for (const auto& c : qemu::ValidateHost()) {
    const char* result = c.result == qemu::CheckResult::kPass   ? "PASS"
                         : c.result == qemu::CheckResult::kWarn ? "WARN"
                                                                : "FAIL";
    out.checks.push_back({c.area, c.what, result, c.note});
  }
  return JsonResponse(out);
}

Response Events(Service&, const Request& r, const Params&) {
  TRY_RESPONSE(CheckQuery(r, {}));
  Response resp;
  resp.event_stream = true;
  return resp;
}

}  // namespace

void AddHostRoutes(Api& api) {
  api.Add("GET", "/v1/version", false, Version);
  api.Add("GET", "/v1/host/capabilities", false, Capabilities);
  api.Add("GET", "/v1/host/validate", false, Validate);
  api.Add("GET", "/v1/events", false, Events);
}

}  // namespace skiff::daemon
