// rtnetlink through libnl-route-3: bridges, taps, ports, addresses and routes.
#include "skiff/net/netlink.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "skiff/net/mac.h"

namespace skiff::net {
namespace {

struct SockDeleter {
  void operator()(nl_sock* s) const { nl_socket_free(s); }
};
struct LinkDeleter {
  void operator()(rtnl_link* l) const { rtnl_link_put(l); }
};
struct AddrDeleter {
  void operator()(rtnl_addr* a) const { rtnl_addr_put(a); }
};
struct NlAddrDeleter {
  void operator()(nl_addr* a) const { nl_addr_put(a); }
};
struct CacheDeleter {
  void operator()(nl_cache* c) const { nl_cache_free(c); }
};
struct MsgDeleter {
  void operator()(nl_msg* m) const { nlmsg_free(m); }
};
using Sock = std::unique_ptr<nl_sock, SockDeleter>;
using Link = std::unique_ptr<rtnl_link, LinkDeleter>;
using Cache = std::unique_ptr<nl_cache, CacheDeleter>;

// A libnl error (negative NLE_*) as a Status about `what`.
Status NlError(int err, const std::string& what) {
  int e = err < 0 ? -err : err;
  std::string msg = fmt::format("{}: {}", what, nl_geterror(e));
  switch (e) {
    case NLE_EXIST:
      return AlreadyExistsError(msg);
    case NLE_OBJ_NOTFOUND:
    case NLE_NODEV:
      return NotFoundError(msg);
    case NLE_PERM:
      return PermissionDeniedError(msg);
    case NLE_INVAL:
    case NLE_RANGE:
      return InvalidArgumentError(msg);
    default:
      return UnavailableError(msg);
  }
}

Result<Sock> Connect() {
  Sock s(nl_socket_alloc());
  if (!s) return InternalError("netlink: cannot allocate a socket");
  int err = nl_connect(s.get(), NETLINK_ROUTE);
  if (err < 0) return NlError(err, "netlink: connect");
  return s;
}

Result<Link> GetKernelLink(nl_sock* sk, const std::string& name) {
  rtnl_link* l = nullptr;
  int err = rtnl_link_get_kernel(sk, 0, name.c_str(), &l);
  if (err < 0) {
    if (err == -NLE_OBJ_NOTFOUND || err == -NLE_NODEV) {
      return NotFoundError("link '{}' does not exist", name);
    }
    return NlError(err, fmt::format("link '{}'", name));
  }
  return Link(l);
}

std::unique_ptr<nl_addr, NlAddrDeleter> MakeNlAddr(const Ipv4Net& n, bool with_prefix) {
  uint32_t be = htonl(n.addr.value);
  std::unique_ptr<nl_addr, NlAddrDeleter> a(nl_addr_build(AF_INET, &be, sizeof be));
  if (a && with_prefix) nl_addr_set_prefixlen(a.get(), n.prefix);
  return a;
}

Ipv4Addr FromNlAddr(nl_addr* a) {
  uint32_t be = 0;
  if (a && nl_addr_get_len(a) == 4) std::memcpy(&be, nl_addr_get_binary_addr(a), 4);
  return Ipv4Addr{ntohl(be)};
}

std::string IndexName(nl_cache* links, int index) {
  if (index <= 0) return "";
  char buf[IFNAMSIZ + 1] = {};
  if (rtnl_link_i2name(links, index, buf, sizeof buf)) return buf;
  return "";
}

Status ChangeLink(nl_sock* sk, rtnl_link* orig, rtnl_link* change, const std::string& what) {
  int err = rtnl_link_change(sk, orig, change, 0);
  if (err < 0) return NlError(err, what);
  return Status::Ok();
}

}  // namespace

Status CreateBridge(const BridgeOptions& o) {
  if (o.name.empty() || o.name.size() >= IFNAMSIZ) {
    return InvalidArgumentError("bridge name '{}' must have 1 to 15 characters", o.name);
  }
  std::array<uint8_t, 6> mac{};
  if (!o.mac.empty()) {
    SKIFF_ASSIGN_OR_RETURN(mac, ParseMac(o.mac));
  }
  SKIFF_ASSIGN_OR_RETURN(Sock sk, Connect());
  // libnl-route 3.7 has no setters for the bridge's STP and forward delay, so
  // the RTM_NEWLINK message is built by hand.
  std::unique_ptr<nl_msg, MsgDeleter> msg(
      nlmsg_alloc_simple(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL));
  if (!msg) return InternalError("netlink: cannot allocate a message");
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  const std::string what = fmt::format("create bridge '{}'", o.name);
  auto put_failed = [&] { return InternalError("{}: message too long", what); };
  if (nlmsg_append(msg.get(), &ifi, sizeof ifi, NLMSG_ALIGNTO) < 0) return put_failed();
  if (nla_put_string(msg.get(), IFLA_IFNAME, o.name.c_str()) < 0) return put_failed();
  if (!o.mac.empty() && nla_put(msg.get(), IFLA_ADDRESS, 6, mac.data()) < 0) return put_failed();
  if (o.mtu != 0 && nla_put_u32(msg.get(), IFLA_MTU, o.mtu) < 0) return put_failed();
  nlattr* info = nla_nest_start(msg.get(), IFLA_LINKINFO);
  if (!info || nla_put_string(msg.get(), IFLA_INFO_KIND, "bridge") < 0) return put_failed();
  nlattr* data = nla_nest_start(msg.get(), IFLA_INFO_DATA);
  if (!data) return put_failed();
  // The kernel handles the forward delay before the STP state, and checks the
  // delay's range only while STP is on, so delay 0 with STP works as in libvirt.
  if (nla_put_u32(msg.get(), IFLA_BR_FORWARD_DELAY, o.delay_s * 100) < 0 ||
      nla_put_u32(msg.get(), IFLA_BR_STP_STATE, o.stp ? 1 : 0) < 0) {
    return put_failed();
  }
  nla_nest_end(msg.get(), data);
  nla_nest_end(msg.get(), info);
  int err = nl_send_sync(sk.get(), msg.release());
  if (err < 0) {
    if (err == -NLE_EXIST) return AlreadyExistsError("link '{}' already exists", o.name);
    return NlError(err, what);
  }
  return Status::Ok();
}

Status SetLinkUp(const std::string& name, bool up) {
  SKIFF_ASSIGN_OR_RETURN(Sock sk, Connect());
  SKIFF_ASSIGN_OR_RETURN(Link l, GetKernelLink(sk.get(), name));
  Link change(rtnl_link_alloc());
  if (up) {
    rtnl_link_set_flags(change.get(), IFF_UP);
  } else {
    rtnl_link_unset_flags(change.get(), IFF_UP);
  }
  return ChangeLink(sk.get(), l.get(), change.get(),
                    fmt::format("set link '{}' {}", name, up ? "up" : "down"));
}

namespace {

Status AddressOp(const std::string& dev, const Ipv4Net& n, bool add) {
  SKIFF_ASSIGN_OR_RETURN(Sock sk, Connect());
  SKIFF_ASSIGN_OR_RETURN(Link l, GetKernelLink(sk.get(), dev));
  std::unique_ptr<rtnl_addr, AddrDeleter> a(rtnl_addr_alloc());
  rtnl_addr_set_ifindex(a.get(), rtnl_link_get_ifindex(l.get()));
  rtnl_addr_set_family(a.get(), AF_INET);
  auto local = MakeNlAddr(n, true);
  rtnl_addr_set_local(a.get(), local.get());
  std::string what = fmt::format("{} address {} {} '{}'", add ? "add" : "delete", n.ToString(),
                                 add ? "to" : "from", dev);
  int err;
  if (add) {
    if (n.prefix < 31) {
      auto bcast = MakeNlAddr(Ipv4Net{n.broadcast(), 32}, false);
      rtnl_addr_set_broadcast(a.get(), bcast.get());
    }
    err = rtnl_addr_add(sk.get(), a.get(), NLM_F_EXCL);
  } else {
    err = rtnl_addr_delete(sk.get(), a.get(), 0);
  }
  if (err < 0) {
    if (!add && (err == -NLE_NOADDR || err == -NLE_OBJ_NOTFOUND)) {
      return NotFoundError("{}: no such address", what);
    }
    return NlError(err, what);
  }
  return Status::Ok();
}

}  // namespace

Status AddIpv4Address(const std::string& dev, const Ipv4Net& addr) {
  return AddressOp(dev, addr, true);
}

Status DeleteIpv4Address(const std::string& dev, const Ipv4Net& addr) {
  return AddressOp(dev, addr, false);
}

Result<Tap> CreateTap(const TapOptions& o) {
  if (o.name.empty() || o.name.size() >= IFNAMSIZ) {
    return InvalidArgumentError("tap name '{}' must have 1 to 15 characters", o.name);
  }
  Tap tap;
  tap.fd.reset(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
  if (!tap.fd) return ErrnoError(errno, "open '/dev/net/tun'");
  ifreq ifr{};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (o.vnet_hdr ? IFF_VNET_HDR : 0);
  std::strncpy(ifr.ifr_name, o.name.c_str(), IFNAMSIZ - 1);
  if (::ioctl(tap.fd.get(), TUNSETIFF, &ifr) < 0) {
    return ErrnoError(errno, fmt::format("create tap '{}'", o.name));
  }
  tap.name = ifr.ifr_name;
  auto fail = [&](Status st) -> Status {
    if (o.persistent) (void)::ioctl(tap.fd.get(), TUNSETPERSIST, 0);
    tap.fd.reset();  // closing the last fd of a non-persistent tap removes it
    return st;
  };
  if (o.persistent && ::ioctl(tap.fd.get(), TUNSETPERSIST, 1) < 0) {
    return fail(ErrnoError(errno, fmt::format("make tap '{}' persistent", tap.name)));
  }
  if (!o.mac.empty()) {
    auto mac = ParseMac(o.mac);
    if (!mac.ok()) return fail(mac.status());
    auto sk = Connect();
    if (!sk.ok()) return fail(sk.status());
    auto l = GetKernelLink(sk->get(), tap.name);
    if (!l.ok()) return fail(l.status());
    Link change(rtnl_link_alloc());
    std::unique_ptr<nl_addr, NlAddrDeleter> a(nl_addr_build(AF_LLC, mac->data(), 6));
    rtnl_link_set_addr(change.get(), a.get());
    Status st = ChangeLink(sk->get(), l->get(), change.get(),
                           fmt::format("set mac {} on tap '{}'", o.mac, tap.name));
    if (!st.ok()) return fail(st);
  }
  if (!o.bridge.empty()) {
    Status st = SetMaster(tap.name, o.bridge);
    if (st.ok()) st = SetLinkUp(tap.name);
    if (!st.ok()) return fail(st);
  }
  return tap;
}

Status SetMaster(const std::string& dev, const std::string& bridge) {
  SKIFF_ASSIGN_OR_RETURN(Sock sk, Connect());
  SKIFF_ASSIGN_OR_RETURN(Link br, GetKernelLink(sk.get(), bridge));
  SKIFF_ASSIGN_OR_RETURN(Link l, GetKernelLink(sk.get(), dev));
  int err = rtnl_link_enslave(sk.get(), br.get(), l.get());
  if (err < 0) return NlError(err, fmt::format("attach '{}' to bridge '{}'", dev, bridge));
  return Status::Ok();
}

Status ReleaseMaster(const std::string& dev) {
  SKIFF_ASSIGN_OR_RETURN(Sock sk, Connect());
  SKIFF_ASSIGN_OR_RETURN(Link l, GetKernelLink(sk.get(), dev));
  int err = rtnl_link_release(sk.get(), l.get());
  if (err < 0) return NlError(err, fmt::format("detach '{}' from its bridge", dev));
  return Status::Ok();
}

Status DeleteLink(const std::string& name) {
  SKIFF_ASSIGN_OR_RETURN(Sock sk, Connect());
  SKIFF_ASSIGN_OR_RETURN(Link l, GetKernelLink(sk.get(), name));
  int err = rtnl_link_delete(sk.get(), l.get());
  if (err < 0) {
    if (err == -NLE_OBJ_NOTFOUND || err == -NLE_NODEV) {
      return NotFoundError("link '{}' does not exist", name);
    }
    return NlError(err, fmt::format("delete link '{}'", name));
  }
  return Status::Ok();
}

Result<bool> LinkExists(const std::string& name) {
  SKIFF_ASSIGN_OR_RETURN(Sock sk, Connect());
  auto l = GetKernelLink(sk.get(), name);
  if (l.ok()) return true;
  if (l.status().code() == Code::kNotFound) return false;
  return l.status();
}

Result<LinkInfo> GetLink(const std::string& name) {
  SKIFF_ASSIGN_OR_RETURN(Sock sk, Connect());
  SKIFF_ASSIGN_OR_RETURN(Link l, GetKernelLink(sk.get(), name));
  LinkInfo info;
  info.name = name;
  info.index = rtnl_link_get_ifindex(l.get());
  const char* kind = rtnl_link_get_type(l.get());
  info.kind = kind ? kind : "";
  nl_addr* a = rtnl_link_get_addr(l.get());
  if (a && nl_addr_get_len(a) == 6) {
    std::array<uint8_t, 6> m{};
    std::memcpy(m.data(), nl_addr_get_binary_addr(a), 6);
    info.mac = FormatMac(m);
  }
  unsigned flags = rtnl_link_get_flags(l.get());
  info.up = flags & IFF_UP;
  info.running = flags & IFF_RUNNING;
  info.mtu = rtnl_link_get_mtu(l.get());
  int master = rtnl_link_get_master(l.get());
  if (master > 0) {
    Link m;
    rtnl_link* ml = nullptr;
    if (rtnl_link_get_kernel(sk.get(), master, nullptr, &ml) >= 0) {
      m.reset(ml);
      info.master = rtnl_link_get_name(ml);
    }
  }
  return info;
}

Result<std::vector<std::string>> ListBridgePorts(const std::string& bridge) {
  SKIFF_ASSIGN_OR_RETURN(Sock sk, Connect());
  SKIFF_ASSIGN_OR_RETURN(Link br, GetKernelLink(sk.get(), bridge));
  int index = rtnl_link_get_ifindex(br.get());
  nl_cache* c = nullptr;
  int err = rtnl_link_alloc_cache(sk.get(), AF_UNSPEC, &c);
  if (err < 0) return NlError(err, "list links");
  Cache cache(c);
  std::vector<std::string> out;
  for (nl_object* o = nl_cache_get_first(c); o; o = nl_cache_get_next(o)) {
    auto* l = reinterpret_cast<rtnl_link*>(o);
    if (rtnl_link_get_master(l) == index) out.push_back(rtnl_link_get_name(l));
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::vector<AddressInfo>> ListIpv4Addresses(const std::string& dev) {
  SKIFF_ASSIGN_OR_RETURN(Sock sk, Connect());
  int want = 0;
  if (!dev.empty()) {
    SKIFF_ASSIGN_OR_RETURN(Link l, GetKernelLink(sk.get(), dev));
    want = rtnl_link_get_ifindex(l.get());
  }
  nl_cache* lc = nullptr;
  int err = rtnl_link_alloc_cache(sk.get(), AF_UNSPEC, &lc);
  if (err < 0) return NlError(err, "list links");
  Cache links(lc);
  nl_cache* ac = nullptr;
  err = rtnl_addr_alloc_cache(sk.get(), &ac);
  if (err < 0) return NlError(err, "list addresses");
  Cache addrs(ac);
  std::vector<AddressInfo> out;
  for (nl_object* o = nl_cache_get_first(ac); o; o = nl_cache_get_next(o)) {
    auto* a = reinterpret_cast<rtnl_addr*>(o);
    if (rtnl_addr_get_family(a) != AF_INET) continue;
    int idx = rtnl_addr_get_ifindex(a);
    if (want && idx != want) continue;
    AddressInfo ai;
    ai.dev = IndexName(lc, idx);
    ai.addr = Ipv4Net{FromNlAddr(rtnl_addr_get_local(a)), rtnl_addr_get_prefixlen(a)};
    out.push_back(ai);
  }
  return out;
}

Result<std::vector<RouteInfo>> ListIpv4Routes() {
  SKIFF_ASSIGN_OR_RETURN(Sock sk, Connect());
  nl_cache* lc = nullptr;
  int err = rtnl_link_alloc_cache(sk.get(), AF_UNSPEC, &lc);
  if (err < 0) return NlError(err, "list links");
  Cache links(lc);
  nl_cache* rc = nullptr;
  err = rtnl_route_alloc_cache(sk.get(), AF_INET, 0, &rc);
  if (err < 0) return NlError(err, "list routes");
  Cache routes(rc);
  std::vector<RouteInfo> out;
  for (nl_object* o = nl_cache_get_first(rc); o; o = nl_cache_get_next(o)) {
    auto* r = reinterpret_cast<rtnl_route*>(o);
    if (rtnl_route_get_table(r) != RT_TABLE_MAIN || rtnl_route_get_type(r) != RTN_UNICAST) {
      continue;
    }
    RouteInfo ri;
    nl_addr* dst = rtnl_route_get_dst(r);
    ri.dst = Ipv4Net{FromNlAddr(dst), dst ? static_cast<int>(nl_addr_get_prefixlen(dst)) : 0};
    if (rtnl_route_get_nnexthops(r) > 0) {
      rtnl_nexthop* nh = rtnl_route_nexthop_n(r, 0);
      ri.dev = IndexName(lc, rtnl_route_nh_get_ifindex(nh));
      if (nl_addr* gw = rtnl_route_nh_get_gateway(nh)) ri.gateway = FromNlAddr(gw);
    }
    out.push_back(ri);
  }
  return out;
}

Result<std::vector<Ipv4Net>> HostIpv4Prefixes() {
  std::vector<Ipv4Net> out;
  SKIFF_ASSIGN_OR_RETURN(auto addrs, ListIpv4Addresses());
  for (const auto& a : addrs) {
    if (a.addr.addr.value >> 24 == 127) continue;
    out.push_back(Ipv4Net{a.addr.network(), a.addr.prefix});
  }
  SKIFF_ASSIGN_OR_RETURN(auto routes, ListIpv4Routes());
  for (const auto& r : routes) {
    if (r.dst.prefix == 0) continue;
    out.push_back(Ipv4Net{r.dst.network(), r.dst.prefix});
  }
  return out;
}

Result<std::string> DefaultRouteDevice() {
  SKIFF_ASSIGN_OR_RETURN(auto routes, ListIpv4Routes());
  for (const auto& r : routes) {
    if (r.dst.prefix == 0) return r.dev;
  }
  return std::string();
}

}  // namespace skiff::net
