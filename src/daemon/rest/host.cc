// REST handlers for the host: version, capabilities, host-validate, and the event stream.
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>

#include "daemon/rest/fields.h"
#include "skiff/base/fs.h"
#include "skiff/daemon/rest.h"
#include "skiff/qemu/host.h"

namespace skiff::daemon {
namespace {

constexpr int kApiVersion = 1;

// Asking QEMU for its version costs a process; the answer does not change.
const Result<qemu::QemuBinary>& Qemu() {
  static std::once_flag once;
  static std::optional<Result<qemu::QemuBinary>> q;
  std::call_once(once, [] { q.emplace(qemu::FindQemu()); });
  return *q;
}

Response Version(Service& s, const Request& r, const Params&) {
  TRY_RESPONSE(CheckQuery(r, {}));
  nlohmann::json j = {{"daemon", SKIFF_DAEMON_VERSION}, {"api", kApiVersion},
                      {"hypervisor", s.hypervisor().Describe()}};
  const auto& q = Qemu();
  j["qemu"] = q.ok() ? q->version : "";
  return JsonResponse(j);
}

Response Capabilities(Service& s, const Request& r, const Params&) {
  TRY_RESPONSE(CheckQuery(r, {}));
  utsname u{};
  ::uname(&u);
  struct sysinfo si{};
  ::sysinfo(&si);
  auto kvm = qemu::ProbeKvm();
  const auto& q = Qemu();
  nlohmann::json j = {
      {"host", {{"arch", u.machine},
                {"cpus", ::sysconf(_SC_NPROCESSORS_ONLN)},
                {"memory_kib", static_cast<uint64_t>(si.totalram) * si.mem_unit / 1024},
                {"kernel", u.release}}},
      {"kvm", {{"usable", kvm.usable}, {"module", kvm.module}, {"reason", kvm.reason}}},
      {"qemu", {{"path", q.ok() ? q->path : ""}, {"version", q.ok() ? q->version : ""},
                {"error", q.ok() ? "" : q.status().message()}}},
      {"guests", nlohmann::json::array({
          {{"os_type", "hvm"}, {"arch", "x86_64"}, {"machines", {"pc", "q35"}},
           {"domain_types", kvm.usable ? nlohmann::json{"qemu", "kvm"} : nlohmann::json{"qemu"}}}})},
      {"hypervisor", s.hypervisor().Describe()}};
  return JsonResponse(j);
}

Response Validate(Service&, const Request& r, const Params&) {
  TRY_RESPONSE(CheckQuery(r, {}));
  nlohmann::json checks = nlohmann::json::array();
  auto add = [&](std::string name, std::string result, std::string detail) {
    checks.push_back({{"check", name}, {"result", result}, {"detail", detail}});
  };
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto& q = Qemu();
  add("Checking for a QEMU binary", q.ok() ? "PASS" : "FAIL",
      q.ok() ? q->path + " " + q->version : q.status().message());
  add("Checking if device /dev/kvm exists", fs::exists("/dev/kvm", ec) ? "PASS" : "FAIL",
      fs::exists("/dev/kvm", ec) ? "" : "load the kvm_intel or kvm_amd module");
  auto kvm = qemu::ProbeKvm();
  add("Checking for hardware virtualization", kvm.usable ? "PASS" : "WARN",
      kvm.usable ? kvm.module : kvm.reason + " (guests run with TCG)");
  add("Checking if device /dev/vhost-net exists", fs::exists("/dev/vhost-net", ec) ? "PASS" : "WARN",
      fs::exists("/dev/vhost-net", ec) ? "" : "load the vhost_net module for faster networking");
  add("Checking if device /dev/net/tun exists", fs::exists("/dev/net/tun", ec) ? "PASS" : "FAIL",
      fs::exists("/dev/net/tun", ec) ? "" : "load the tun module");
  bool v2 = fs::exists("/sys/fs/cgroup/cgroup.controllers", ec);
  for (const char* c : {"cpu", "memory", "pids"}) {
    bool ok = false;
    if (v2) {
      auto text = ReadFile("/sys/fs/cgroup/cgroup.controllers");
      ok = text.ok() && text->find(c) != std::string::npos;
    }
    if (!ok) ok = fs::exists(std::string("/sys/fs/cgroup/") + c, ec);
    add(std::string("Checking for cgroup '") + c + "' controller support", ok ? "PASS" : "WARN",
        ok ? (v2 ? "cgroup v2" : "cgroup v1") : "resource limits are not available");
  }
  return JsonResponse({{"checks", checks}});
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
