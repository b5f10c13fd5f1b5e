// NetworkDriver: the daemon's virtual networks. Owns the network registry
// (persistent definitions in ROOT/etc/skiff/networks, the running ones'
// definitions in ROOT/run/skiff/networks), maps each definition to a
// net::NetworkPlan, starts and stops networks through a NetworkBackend,
// supervises their dnsmasq (restarting it when it dies), re-adopts running
// networks after a daemon restart, and makes guests' taps.
//
// Threads: any thread may call any method. Each network has its own lock; the
// registry's lock is a leaf (ObjectRegistry). Lock order: a domain's lock
// (Service), then define_mu_, then a network's lock; never the other way.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "skiff/base/env.h"
#include "skiff/base/fd.h"
#include "skiff/base/status.h"
#include "skiff/conf/domain.h"
#include "skiff/conf/network.h"
#include "skiff/daemon/events.h"
#include "skiff/daemon/hypervisor.h"
#include "skiff/daemon/network.h"
#include "skiff/daemon/object_registry.h"
#include "skiff/daemon/service.h"

namespace skiff::daemon {

// The network XML -> plan table of docs/networking.md. kUnsupported for what the
// net module cannot build yet (IPv6 addresses, several IPv4 addresses);
// kInvalidArgument (from net::ValidatePlan) names the field and value.
Result<net::NetworkPlan> PlanFromDef(const conf::NetworkDef& def);

// The inverse for the default network: libvirt's default.xml on `plan`.
conf::NetworkDef DefFromDefaultPlan(const net::NetworkPlan& plan, const Uuid& uuid);

// NetworkDetails and NetworkLease: see skiff/daemon/service.h.

// Taps made for a starting domain; they close (and, being non-persistent, the
// kernel removes them) when this object is destroyed, unless QEMU holds them.
struct PreparedTaps {
  std::vector<UniqueFd> fds;
  std::vector<GuestTap> taps;
};

class NetworkDriver {
 public:
  // Definitions, autostart links and the status of running networks are stored
  // through `env`, which must outlive the driver.
  NetworkDriver(Paths paths, NetworkBackend& backend, EventBus& events, NetworkOptions options,
                Env& env = DefaultEnv());
  // Stops supervising dnsmasq; networks and their dnsmasq keep running.
  ~NetworkDriver();

  // Reads definitions and the status of running networks, re-adopts those still
  // up (ProbeNetwork; restarts a missing dnsmasq, rebuilds an incomplete one),
  // defines `default` on the first start (NetworkOptions), then starts autostart
  // networks. Failures of single networks are logged, not returned.
  Status Load();

  std::vector<NetworkSummary> List();
  Result<NetworkDetails> Get(const std::string& ref);
  // The running definition unless `inactive` or the network is inactive.
  Result<std::string> Xml(const std::string& ref, bool inactive);
  // Defines (or redefines) a persistent network. Fills in, as libvirt does, a
  // bridge name (virbrN, the first unused) and a bridge MAC when absent.
  Result<NetworkSummary> Define(const std::string& xml, const std::string& source);
  // Starts a transient network from XML (net-create).
  Result<NetworkSummary> Create(const std::string& xml, const std::string& source);
  // An active network becomes transient and is forgotten when destroyed.
  Status Undefine(const std::string& ref);
  Status SetAutostart(const std::string& ref, bool enabled);
  Result<NetworkSummary> Start(const std::string& ref);
  Status Destroy(const std::string& ref);
  // The network's unexpired leases, optionally only those of `mac`.
  Result<std::vector<NetworkLease>> Leases(const std::string& ref, const std::string& mac);
  // net-diagram: text or SVG; `guests` maps tap names to domain names.
  Result<std::string> Diagram(const std::string& ref, bool svg,
                              const std::map<std::string, std::string>& guests);

  // Makes a tap for each <interface type='network'|'bridge'> of `def` (the
  // definition being started) and records its name as the interface's target
  // dev. A network interface needs its network active; a bridge interface
  // needs the bridge to exist (kFailedPrecondition naming the interface and the
  // network or bridge). On error no tap is left.
  Result<PreparedTaps> PrepareInterfaces(conf::DomainDef& def);
  // The taps of a domain that stopped (`def` is its running definition).
  void ReleaseInterfaces(const conf::DomainDef& def);
  // domifaddr: the leases of the running domain's network interfaces, by MAC.
  std::vector<InterfaceAddress> Addresses(const conf::DomainDef& def);

  // Runs one round of dnsmasq supervision now (tests).
  void SuperviseForTest();

  struct Net;

 private:
  Result<ObjectRegistry<Net>::Held> Acquire(const std::string& ref);
  Status StartLocked(Net& n);
  Status StopLocked(Net& n);
  void Adopt(const std::shared_ptr<Net>& n);
  void WatchDnsmasq(Net& n, std::optional<Child> child, std::optional<pid_t> adopted);
  void OnDnsmasqExit(const std::shared_ptr<Net>& n, pid_t pid);
  Status FillDefaults(conf::NetworkDef& def, const conf::NetworkDef* previous);
  void DefineDefaultNetwork();
  Status WriteStatus(const Net& n);
  void Emit(const std::string& name, const std::string& event, const std::string& detail);
  NetworkSummary Summarize(const Net& n) const;
  void WatchLoop();
  void Wake();

  Paths paths_;
  Env& env_;
  NetworkBackend& backend_;
  EventBus& events_;
  NetworkOptions options_;
  std::filesystem::path status_dir_;  // ROOT/run/skiff/networks

  ObjectRegistry<Net> networks_{"network"};
  // Serialises Define, Create and the default network's definition: they read
  // every network's bridge, and only they change a network's `def`.
  std::mutex define_mu_;

  UniqueFd wake_fd_;  // eventfd: the watcher rebuilds its set of pidfds
  std::atomic<bool> stop_{false};
  std::thread watcher_;
};

}  // namespace skiff::daemon
