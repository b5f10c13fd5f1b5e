// A Service on FakeHypervisor under a temporary root, for the service_*_test.cc files
// that call Service directly (api_test.cc goes through the REST routes instead).
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "skiff/base/fs.h"
#include "skiff/daemon/service.h"
#include "skiff/fake/fake_hypervisor.h"
#include "testutil/temp_dir.h"

namespace skiff::daemon {

class ServiceTest : public ::testing::Test {
 protected:
  ServiceTest() {
    service_ = std::make_unique<Service>(Paths(dir_.path()), hv_, events_);
    Status st = service_->Load();
    EXPECT_TRUE(st.ok()) << st.ToString();
    sub_ = events_.Subscribe([this](const nlohmann::json& e) {
      std::lock_guard l(mu_);
      if (e["type"] == "lifecycle") {
        seen_.push_back(e["event"].get<std::string>() + "/" + e.value("detail", ""));
      }
    });
  }
  ~ServiceTest() override { events_.Unsubscribe(sub_); }

  // A domain with 1 GiB (maximum) of memory, 4 vCPUs (2 current), disk vda and one
  // network interface; `extra` goes at the end of <domain>.
  static std::string Xml(const std::string& name, const std::string& extra = "") {
    return "<domain type='qemu'><name>" + name +
           "</name><memory unit='MiB'>1024</memory>"
           "<currentMemory unit='MiB'>512</currentMemory><vcpu current='2'>4</vcpu>"
           "<os><type arch='x86_64' machine='q35'>hvm</type></os>"
           "<devices><disk type='file' device='disk'><source file='/var/lib/x/" +
           name +
           ".img'/><target dev='vda' bus='virtio'/></disk>"
           "<interface type='network'><source network='default'/>"
           "<mac address='52:54:00:00:00:01'/></interface></devices>" +
           extra + "</domain>";
  }
  void Define(const std::string& name, const std::string& extra = "") {
    auto r = service_->DefineDomain(Xml(name, extra), name + ".xml");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  void DefineAndStart(const std::string& name, const std::string& extra = "") {
    Define(name, extra);
    auto r = service_->StartDomain(name, false);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  DomainStatus StatusOf(const std::string& name) {
    auto d = service_->GetDomain(name);
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    return d.ok() ? d->summary.status : DomainStatus();
  }
  // Waits (up to 2 s) until the domain `name` is in `want`; returns what it is in.
  DomainStatus WaitFor(const std::string& name, DomainStatus want) {
    DomainStatus now;
    for (int i = 0; i < 400; ++i) {
      auto d = service_->GetDomain(name);
      if (d.ok() && (now = d->summary.status) == want) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return now;
  }
  // Waits (up to 2 s) until `pred` holds.
  static bool Eventually(const std::function<bool()>& pred) {
    for (int i = 0; i < 400; ++i) {
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return pred();
  }
  std::vector<std::string> Seen() {
    std::lock_guard l(mu_);
    return seen_;
  }
  std::string LiveXml(const std::string& name) { return service_->DomainXml(name, false).value(); }
  std::string ConfigXml(const std::string& name) { return service_->DomainXml(name, true).value(); }
  static bool Has(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
  }

  testing::TempDir dir_;
  fake::FakeHypervisor hv_;
  EventBus events_;
  std::unique_ptr<Service> service_;
  std::mutex mu_;
  std::vector<std::string> seen_;  // "event/detail" of lifecycle events
  uint64_t sub_ = 0;
};

constexpr Scope kLive{true, false};
constexpr Scope kConfig{false, true};
constexpr Scope kBoth{true, true};
constexpr Scope kCurrent{false, false};

}  // namespace skiff::daemon
