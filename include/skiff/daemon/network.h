// The seam between the daemon's network driver and the host: what it takes to
// build a virtual network and a guest's tap. HostNetworkBackend drives the net
// module (netlink, nftables, dnsmasq); FakeNetworkBackend keeps everything in
// memory and backs the API and CLI tests that run with --fake-hypervisor.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "skiff/base/process.h"
#include "skiff/base/status.h"
#include "skiff/daemon/hypervisor.h"
#include "skiff/net/diagram.h"
#include "skiff/net/dnsmasq.h"
#include "skiff/net/netlink.h"
#include "skiff/net/network.h"
#include "skiff/net/plan.h"

namespace skiff::daemon {

struct Paths;

// What a backend does, for the driver's decisions that depend on it (it never
// compares Describe() with a name).
struct NetworkBackendCapabilities {
  // Builds bridges, firewall rules and dnsmasq on the host. False: in memory only,
  // so that e.g. the `default` network may be defined under any --root.
  bool touches_host = false;
  // Its dnsmasq are processes of this host, which a restarted daemon can watch
  // by pid. False: Probe() reports the pid it stands for.
  bool host_processes = false;
};

// Implementations are thread-safe; the driver serialises calls per network.
class NetworkBackend {
 public:
  virtual ~NetworkBackend() = default;

  // "host" or "fake", for logs and `skiff version`.
  virtual std::string Describe() const = 0;
  virtual NetworkBackendCapabilities Capabilities() const = 0;
  // net::StartNetwork: the returned child is the network's dnsmasq, if any.
  virtual Result<std::optional<Child>> Start(const net::NetworkPlan& plan) = 0;
  // net::StopNetwork.
  virtual Status Stop(const net::NetworkPlan& plan) = 0;
  // net::ProbeNetwork.
  virtual Result<net::NetworkProbe> Probe(const net::NetworkPlan& plan) = 0;
  // net::RestartDnsmasq: the network's new dnsmasq (a child of this process).
  virtual Result<Child> RestartDnsmasq(const net::NetworkPlan& plan) = 0;
  // The network's current (unexpired) DHCP leases.
  virtual Result<std::vector<net::Lease>> Leases(const net::NetworkPlan& plan) = 0;
  // net::CollectLiveState, for net-diagram.
  virtual Result<net::LiveState> Live(const net::NetworkPlan& plan) = 0;
  // Creates a tap for a guest interface with MAC `guest_mac` (options.bridge set:
  // attached to that bridge and up). `network`: the network it joins, or null for
  // <interface type='bridge'>.
  virtual Result<net::Tap> CreateTap(const net::TapOptions& options, const std::string& guest_mac,
                                     const net::NetworkPlan* network) = 0;
  // Called when the guest that used tap `name` stopped. The host's taps are not
  // persistent: they went away with QEMU's fd, so the host backend does nothing.
  virtual void ReleaseTap(const std::string& name) = 0;
  // Whether a link (bridge, tap) of that name exists on the host.
  virtual Result<bool> LinkExists(const std::string& name) = 0;
  // Prefixes in use on the host (net::HostIpv4Prefixes), for the default network.
  virtual Result<std::vector<net::Ipv4Net>> HostPrefixes() = 0;
};

// The host backend keeps dnsmasq files in ROOT/var/lib/skiff/dnsmasq and the IP
// forwarding state in ROOT/run/skiff/network/ip_forward.state.
std::unique_ptr<NetworkBackend> MakeHostNetworkBackend(const Paths& paths);
// In memory: networks "start" without touching the host; a tap gets the next
// vnetN name and its guest a lease .10, .11, ... on the network's subnet; the host
// has the bridges of active networks and "br0".
std::unique_ptr<NetworkBackend> MakeFakeNetworkBackend();

// When skiffd defines the `default` NAT network (as libvirt's packages do): once,
// on the first start of a daemon, then it is the administrator's to change.
enum class DefaultNetwork {
  kAuto,  // on the first start when the root is "/" or the backend is the fake one
  kYes,   // on the first start whatever the root (--default-network)
  kNo,    // never (--no-default-network)
};

// The default (kNo) suits tests that build a Service by hand; skiffd passes kAuto
// unless told otherwise.
struct NetworkOptions {
  DefaultNetwork default_network = DefaultNetwork::kNo;
};

}  // namespace skiff::daemon
