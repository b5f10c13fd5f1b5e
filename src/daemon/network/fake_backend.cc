// FakeNetworkBackend: networks, taps and leases in memory, for --fake-hypervisor
// (the CLI transcripts) and the driver's unit tests. Deterministic.
#include <map>
#include <mutex>
#include <set>

#include "skiff/daemon/network.h"

namespace skiff::daemon {
namespace {

class FakeNetworkBackend : public NetworkBackend {
 public:
  std::string Describe() const override { return "fake"; }
  NetworkBackendCapabilities Capabilities() const override {
    return {.touches_host = false, .host_processes = false};
  }

  Result<std::optional<Child>> Start(const net::NetworkPlan& plan) override {
    SKIFF_TRY(net::ValidatePlan(plan));
    std::lock_guard l(mu_);
    if (plan.mode == net::Mode::kBridge) {
      if (!HasLinkLocked(plan.bridge)) {
        return FailedPreconditionError("start network '{}': host bridge '{}' does not exist",
                                       plan.name, plan.bridge);
      }
    } else if (HasLinkLocked(plan.bridge)) {
      return AlreadyExistsError("bridge '{}' already exists (used by another network or the host)",
                                plan.bridge);
    }
    active_[plan.name] = plan;
    dnsmasq_pid_[plan.name] = next_pid_++;
    return std::optional<Child>();
  }

  Status Stop(const net::NetworkPlan& plan) override {
    std::lock_guard l(mu_);
    active_.erase(plan.name);
    dnsmasq_pid_.erase(plan.name);
    for (auto it = taps_.begin(); it != taps_.end();) {
      it = it->second == plan.bridge ? taps_.erase(it) : std::next(it);
    }
    return Status::Ok();
  }

  Result<net::NetworkProbe> Probe(const net::NetworkPlan& plan) override {
    std::lock_guard l(mu_);
    net::NetworkProbe p;
    bool up = active_.count(plan.name) > 0;
    p.bridge_exists = up || HasLinkLocked(plan.bridge);
    p.nft_table_exists = up;
    p.forwarding_held = up && net::NeedsForwarding(plan);
    if (up && net::NeedsDnsmasq(plan)) p.dnsmasq_pid = dnsmasq_pid_[plan.name];
    p.complete = up;
    return p;
  }

  Result<Child> RestartDnsmasq(const net::NetworkPlan& plan) override {
    std::lock_guard l(mu_);
    dnsmasq_pid_[plan.name] = next_pid_++;
    return Child{};
  }

  Result<std::vector<net::Lease>> Leases(const net::NetworkPlan& plan) override {
    std::lock_guard l(mu_);
    std::vector<net::Lease> out;
    auto it = leases_.find(plan.name);
    if (it != leases_.end()) {
      for (const auto& [mac, lease] : it->second) out.push_back(lease);
    }
    return out;
  }

  Result<net::LiveState> Live(const net::NetworkPlan& plan) override {
    std::lock_guard l(mu_);
    net::LiveState s;
    bool up = active_.count(plan.name) > 0;
    s.bridge_exists = up || HasLinkLocked(plan.bridge);
    s.bridge_up = s.bridge_exists;
    if (up && plan.ipv4) s.bridge_addresses.push_back(*plan.ipv4);
    for (const auto& [tap, bridge] : taps_) {
      if (bridge == plan.bridge) s.ports.push_back(tap);
    }
    s.nft_table_exists = up && plan.mode != net::Mode::kOpen && plan.mode != net::Mode::kBridge;
    if (up && net::NeedsDnsmasq(plan)) s.dnsmasq_pid = dnsmasq_pid_[plan.name];
    s.uplink = plan.uplink.empty() ? "eth0" : plan.uplink;
    s.uplink_exists = true;
    s.uplink_addresses.push_back(net::Ipv4Net{net::Ipv4Addr{0xCB00710A}, 24});  // 203.0.113.10
    s.ip_forward = up && net::NeedsForwarding(plan);
    return s;
  }

  Result<net::Tap> CreateTap(const net::TapOptions& options, const std::string& guest_mac,
                             const net::NetworkPlan* network) override {
    std::lock_guard l(mu_);
    if (!options.bridge.empty() && !HasLinkLocked(options.bridge)) {
      return NotFoundError("bridge '{}' does not exist", options.bridge);
    }
    net::Tap t;
    t.name = options.name.find('%') == std::string::npos ? options.name
                                                         : "vnet" + std::to_string(next_tap_++);
    taps_[t.name] = options.bridge;
    if (network && network->ipv4 && !guest_mac.empty()) {
      auto& leases = leases_[network->name];
      if (!leases.count(guest_mac)) {
        net::Lease lease;
        lease.mac = guest_mac;
        lease.ip = net::Ipv4Addr{network->ipv4->network().value + 10 +
                                 static_cast<uint32_t>(leases.size())}
                       .ToString();
        lease.hostname = "guest" + std::to_string(leases.size());
        leases[guest_mac] = lease;
      }
    }
    return t;
  }

  void ReleaseTap(const std::string& name) override {
    std::lock_guard l(mu_);
    taps_.erase(name);
  }

  Result<bool> LinkExists(const std::string& name) override {
    std::lock_guard l(mu_);
    return HasLinkLocked(name) || taps_.count(name) > 0;
  }

  Result<std::vector<net::Ipv4Net>> HostPrefixes() override { return std::vector<net::Ipv4Net>{}; }

 private:
  bool HasLinkLocked(const std::string& name) {
    if (name == "br0") return true;
    for (const auto& [n, p] : active_) {
      if (p.bridge == name) return true;
    }
    return false;
  }

  std::mutex mu_;
  std::map<std::string, net::NetworkPlan> active_;
  std::map<std::string, int> dnsmasq_pid_;
  std::map<std::string, std::string> taps_;                          // tap -> bridge
  std::map<std::string, std::map<std::string, net::Lease>> leases_;  // network -> mac -> lease
  int next_pid_ = 5000;
  int next_tap_ = 0;
};

}  // namespace

std::unique_ptr<NetworkBackend> MakeFakeNetworkBackend() {
  return std::make_unique<FakeNetworkBackend>();
}

}  // namespace skiff::daemon
