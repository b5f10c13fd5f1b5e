// Links and addresses through rtnetlink (libnl-route-3): bridges, taps, ports,
// IPv4 addresses and routes. Every call opens its own netlink socket and acts
// in the network namespace of the calling thread, so tests run them inside a
// namespace they created. Safe to call from any thread.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "skiff/base/fd.h"
#include "skiff/base/status.h"
#include "skiff/net/plan.h"

namespace skiff::net {

struct BridgeOptions {
  std::string name;
  bool stp = true;
  unsigned delay_s = 0;  // forward delay
  std::string mac;       // empty: the kernel's choice, which changes as ports join
  unsigned mtu = 0;      // 0: the kernel's default
};

// Creates a bridge (down, no address). kAlreadyExists when a link has the name.
Status CreateBridge(const BridgeOptions& options);

// Sets a link up or down. kNotFound when there is no link `name`.
Status SetLinkUp(const std::string& name, bool up = true);

// Adds `addr` (the host address with the subnet's prefix, e.g. 192.168.122.1/24)
// with its broadcast address to `dev`. kAlreadyExists when present.
Status AddIpv4Address(const std::string& dev, const Ipv4Net& addr);
// Removes it. kNotFound when `dev` or the address is absent.
Status DeleteIpv4Address(const std::string& dev, const Ipv4Net& addr);

struct TapOptions {
  std::string name = "vnet%d";  // a kernel template ("%d") or an exact name
  bool persistent = false;      // persistent: the tap outlives the fd (until DeleteLink)
  bool vnet_hdr = true;         // IFF_VNET_HDR, what QEMU's virtio-net wants
  std::string mac;              // host-side MAC; empty: the kernel's
  std::string bridge;           // when set: attach to this bridge and set the tap up
};

struct Tap {
  UniqueFd fd;       // the /dev/net/tun queue: hand it to QEMU (-netdev tap,fd=N)
  std::string name;  // the name the kernel gave it
};

// Opens /dev/net/tun with IFF_TAP|IFF_NO_PI (and IFF_VNET_HDR) and creates the
// tap. On a later failure (MAC, bridge) the tap is removed again.
Result<Tap> CreateTap(const TapOptions& options);

// Makes `dev` a port of `bridge` (its master). kNotFound names the missing one.
Status SetMaster(const std::string& dev, const std::string& bridge);
// Detaches `dev` from its master.
Status ReleaseMaster(const std::string& dev);

// Deletes a link (bridge, persistent tap, veth). kNotFound when absent.
Status DeleteLink(const std::string& name);

Result<bool> LinkExists(const std::string& name);

struct LinkInfo {
  std::string name;
  int index = 0;
  std::string kind;  // "bridge", "tun", "veth", ... ("" for physical devices)
  std::string mac;
  bool up = false;       // administratively up (IFF_UP)
  bool running = false;  // carrier (IFF_RUNNING)
  std::string master;    // the bridge it is a port of, or ""
  unsigned mtu = 0;
};

// kNotFound when there is no link `name`.
Result<LinkInfo> GetLink(const std::string& name);

// The names of `bridge`'s ports, sorted. kNotFound when it does not exist.
Result<std::vector<std::string>> ListBridgePorts(const std::string& bridge);

struct AddressInfo {
  std::string dev;
  Ipv4Net addr;
};
// IPv4 addresses of `dev`, or of every link when `dev` is empty.
Result<std::vector<AddressInfo>> ListIpv4Addresses(const std::string& dev = "");

struct RouteInfo {
  Ipv4Net dst;      // 0.0.0.0/0 for the default route
  std::string dev;  // the first next hop's device
  std::optional<Ipv4Addr> gateway;
};
// The IPv4 unicast routes of the main table.
Result<std::vector<RouteInfo>> ListIpv4Routes();

// The prefixes in use on this host: each address's subnet and each route's
// destination, the default route excepted. Input for PickFreeSubnet.
Result<std::vector<Ipv4Net>> HostIpv4Prefixes();

// The device of the default route, or "" when there is none.
Result<std::string> DefaultRouteDevice();

}  // namespace skiff::net
