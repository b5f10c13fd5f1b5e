// HostNetworkBackend: the net module on the real host (netlink, nftables, dnsmasq).
#include <ctime>

#include "skiff/daemon/network.h"
#include "skiff/daemon/service.h"
#include "skiff/net/forwarding.h"

namespace skiff::daemon {
namespace {

class HostNetworkBackend : public NetworkBackend {
 public:
  explicit HostNetworkBackend(const Paths& paths)
      : forwarding_("/proc/sys/net/ipv4/ip_forward",
                    paths.run_dir / "network" / "ip_forward.state") {
    env_.dnsmasq_dir = paths.lib_dir / "dnsmasq";
    env_.forwarding = &forwarding_;
  }

  std::string Describe() const override { return "host"; }
  NetworkBackendCapabilities Capabilities() const override {
    return {.touches_host = true, .host_processes = true};
  }

  Result<std::optional<Child>> Start(const net::NetworkPlan& plan) override {
    SKIFF_ASSIGN_OR_RETURN(net::StartedNetwork s, net::StartNetwork(plan, env_));
    return std::move(s.dnsmasq);
  }
  Status Stop(const net::NetworkPlan& plan) override { return net::StopNetwork(plan, env_); }
  Result<net::NetworkProbe> Probe(const net::NetworkPlan& plan) override {
    return net::ProbeNetwork(plan, env_);
  }
  Result<Child> RestartDnsmasq(const net::NetworkPlan& plan) override {
    return net::RestartDnsmasq(plan, env_.files(plan), env_.dnsmasq_program);
  }
  Result<std::vector<net::Lease>> Leases(const net::NetworkPlan& plan) override {
    return net::ReadLeases(env_.files(plan).leases, static_cast<int64_t>(std::time(nullptr)));
  }
  Result<net::LiveState> Live(const net::NetworkPlan& plan) override {
    return net::CollectLiveState(plan, env_);
  }
  Result<net::Tap> CreateTap(const net::TapOptions& options, const std::string&,
                             const net::NetworkPlan*) override {
    return net::CreateTap(options);
  }
  void ReleaseTap(const std::string&) override {}
  Result<bool> LinkExists(const std::string& name) override { return net::LinkExists(name); }
  Result<std::vector<net::Ipv4Net>> HostPrefixes() override { return net::HostIpv4Prefixes(); }

 private:
  net::IpForwarding forwarding_;
  net::NetworkEnv env_;
};

}  // namespace

std::unique_ptr<NetworkBackend> MakeHostNetworkBackend(const Paths& paths) {
  return std::make_unique<HostNetworkBackend>(paths);
}

}  // namespace skiff::daemon
