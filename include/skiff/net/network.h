// Starting and stopping a whole virtual network from its plan: bridge and
// address (netlink), Skiff's nftables table, IP forwarding, dnsmasq.
// The daemon serialises calls per network; different networks may start and
// stop concurrently. Everything acts in the calling thread's network namespace.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>

#include "skiff/base/process.h"
#include "skiff/base/status.h"
#include "skiff/net/dnsmasq.h"
#include "skiff/net/forwarding.h"
#include "skiff/net/plan.h"

namespace skiff::net {

struct NetworkEnv {
  std::filesystem::path dnsmasq_dir;   // ROOT/var/lib/skiff/dnsmasq
  IpForwarding* forwarding = nullptr;  // shared by all networks; must outlive the calls
  std::string dnsmasq_program;         // empty: "dnsmasq" from PATH

  DnsmasqFiles files(const NetworkPlan& p) const { return DnsmasqFilesFor(dnsmasq_dir, p.name); }
};

struct StartedNetwork {
  // The network's dnsmasq, a child of the caller, which must reap it (watch
  // its pidfd and call RestartDnsmasq when it dies while the network is up).
  std::optional<Child> dnsmasq;
};

// Brings the network up. Modes other than bridge: creates the bridge (STP,
// delay, MAC), adds the host address, sets it up, applies the nftables table
// (nat, route, isolated), takes IP forwarding (nat, route, open) and starts
// dnsmasq when the network has an address. Bridge mode only checks that the
// host bridge exists (kFailedPrecondition otherwise). kAlreadyExists when the
// bridge to be created exists. On failure, what was done is undone.
Result<StartedNetwork> StartNetwork(const NetworkPlan& plan, const NetworkEnv& env);

// Undoes StartNetwork: stops dnsmasq (removing its files but keeping the
// leases), releases forwarding, removes the table, deletes the bridge (never
// the host's bridge in bridge mode). Parts already gone are fine; it goes on
// after an error and returns the first one.
Status StopNetwork(const NetworkPlan& plan, const NetworkEnv& env);

// What of a network exists right now. After a daemon restart, networks whose
// probe is complete are still up (their dnsmasq is no longer the daemon's
// child: watch it through its pid, or RestartDnsmasq to adopt a new one); an
// incomplete one is best stopped (StopNetwork) and started again.
struct NetworkProbe {
  bool bridge_exists = false;
  bool nft_table_exists = false;
  std::optional<pid_t> dnsmasq_pid;
  bool forwarding_held = false;
  // Everything StartNetwork creates is present.
  bool complete = false;
};
Result<NetworkProbe> ProbeNetwork(const NetworkPlan& plan, const NetworkEnv& env);

}  // namespace skiff::net
