// StartNetwork/StopNetwork: the bridge, rules, forwarding and dnsmasq of one network.
#include "skiff/net/network.h"

#include "skiff/net/netlink.h"
#include "skiff/net/nft.h"

namespace skiff::net {
namespace {

bool HasRules(const NetworkPlan& p) {
  return p.mode == Mode::kNat || p.mode == Mode::kRoute || p.mode == Mode::kIsolated;
}

Status StartOwned(const NetworkPlan& p, const NetworkEnv& env, StartedNetwork& out,
                  bool& created_bridge) {
  SKIFF_ASSIGN_OR_RETURN(bool exists, LinkExists(p.bridge));
  if (exists) {
    return AlreadyExistsError("bridge '{}' already exists (used by another network or the host)",
                              p.bridge);
  }
  SKIFF_TRY(CreateBridge(BridgeOptions{p.bridge, p.stp, p.delay_s, p.mac, p.mtu}));
  created_bridge = true;
  if (p.ipv4) SKIFF_TRY(AddIpv4Address(p.bridge, *p.ipv4));
  SKIFF_TRY(SetLinkUp(p.bridge));
  if (HasRules(p)) SKIFF_TRY(ApplyNftRuleset(p));
  if (NeedsForwarding(p)) {
    if (env.forwarding == nullptr) {
      return InvalidArgumentError(
          "{} mode needs IP forwarding, but no forwarding control was given", ModeName(p.mode));
    }
    SKIFF_TRY(env.forwarding->Acquire(p.name));
  }
  if (NeedsDnsmasq(p)) {
    DnsmasqFiles files = env.files(p);
    SKIFF_TRY(StopDnsmasq(files));
    SKIFF_TRY(WriteDnsmasqFiles(p, files));
    SKIFF_ASSIGN_OR_RETURN(Child c, StartDnsmasq(files, env.dnsmasq_program));
    out.dnsmasq = std::move(c);
  }
  return Status::Ok();
}

}  // namespace

Result<StartedNetwork> StartNetwork(const NetworkPlan& p, const NetworkEnv& env) {
  SKIFF_TRY(ValidatePlan(p));
  const std::string ctx = fmt::format("start network '{}'", p.name);
  if (p.mode == Mode::kBridge) {
    auto link = GetLink(p.bridge);
    if (!link.ok()) {
      return FailedPreconditionError("{}: host bridge '{}' does not exist", ctx, p.bridge);
    }
    if (link->kind != "bridge") {
      return FailedPreconditionError("{}: host device '{}' is a '{}' device, not a bridge", ctx,
                                     p.bridge, link->kind);
    }
    return StartedNetwork{};
  }
  StartedNetwork out;
  bool created_bridge = false;
  Status st = StartOwned(p, env, out, created_bridge);
  if (!st.ok()) {
    // A bridge that was there before belongs to someone else: leave it.
    if (created_bridge) (void)StopNetwork(p, env);
    return st.WithContext(ctx);
  }
  return out;
}

Status StopNetwork(const NetworkPlan& p, const NetworkEnv& env) {
  Status first;
  auto keep = [&](Status st) {
    if (!st.ok() && first.ok()) first = st.WithContext(fmt::format("stop network '{}'", p.name));
  };
  if (p.mode == Mode::kBridge) return Status::Ok();
  DnsmasqFiles files = env.files(p);
  keep(StopDnsmasq(files));
  keep(RemoveDnsmasqFiles(files));
  if (env.forwarding != nullptr) keep(env.forwarding->Release(p.name));
  if (HasRules(p)) keep(RemoveNftRuleset(p));
  Status del = DeleteLink(p.bridge);
  if (del.code() != Code::kNotFound) keep(del);
  return first;
}

Result<NetworkProbe> ProbeNetwork(const NetworkPlan& p, const NetworkEnv& env) {
  NetworkProbe r;
  SKIFF_ASSIGN_OR_RETURN(r.bridge_exists, LinkExists(p.bridge));
  if (p.mode == Mode::kBridge) {
    r.complete = r.bridge_exists;
    return r;
  }
  if (HasRules(p)) {
    SKIFF_ASSIGN_OR_RETURN(r.nft_table_exists, NftTableExists(NftTableName(p)));
  }
  r.dnsmasq_pid = RunningDnsmasqPid(env.files(p));
  if (env.forwarding != nullptr) {
    SKIFF_ASSIGN_OR_RETURN(auto holders, env.forwarding->Holders());
    r.forwarding_held = holders.count(p.name) > 0;
  }
  r.complete = r.bridge_exists && (!HasRules(p) || r.nft_table_exists) &&
               (!NeedsDnsmasq(p) || r.dnsmasq_pid.has_value()) &&
               (!NeedsForwarding(p) || r.forwarding_held);
  return r;
}

}  // namespace skiff::net
