// libFuzzer target over REST request parsing: the first line is "METHOD TARGET", the
// rest is the body. Runs the whole route table against a FakeHypervisor on a temp root.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "skiff/daemon/rest.h"
#include "skiff/fake/fake_hypervisor.h"

namespace {

struct World {
  World() {
    char tmpl[] = "/tmp/rest-fuzz-XXXXXX";
    root = ::mkdtemp(tmpl);
    service = std::make_unique<skiff::daemon::Service>(skiff::daemon::Paths(root), hv, events);
    (void)service->Load();
    api = std::make_unique<skiff::daemon::Api>(*service);
  }
  std::string root;
  skiff::fake::FakeHypervisor hv;
  skiff::daemon::EventBus events;
  std::unique_ptr<skiff::daemon::Service> service;
  std::unique_ptr<skiff::daemon::Api> api;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* w = new World();
  std::string in(reinterpret_cast<const char*>(data), size);
  size_t nl = in.find('\n');
  std::string first = in.substr(0, nl);
  std::string body = nl == std::string::npos ? "" : in.substr(nl + 1);
  size_t sp = first.find(' ');
  if (sp == std::string::npos) return 0;
  skiff::daemon::Request req;
  req.method = first.substr(0, sp);
  req.role = skiff::daemon::Role::kAdmin;
  req.peer = "fuzz";
  req.body = body;
  if (!skiff::daemon::ParseTarget(first.substr(sp + 1), &req.path, &req.query).ok()) return 0;
  // Long jobs are not interesting here, and undefine may delete disk images: a fuzzed
  // definition could name any host file, so storage removal is never exercised.
  if (req.path.find("save") != std::string::npos || req.path.find("restore") != std::string::npos ||
      req.query.count("remove_all_storage")) {
    return 0;
  }
  auto resp = w->api->Handle(req);
  if (resp.status < 100 || resp.status > 599) std::abort();
  if (!resp.event_stream && nlohmann::json::parse(resp.body, nullptr, false).is_discarded()) {
    std::abort();
  }
  return 0;
}
