// Rendering and applying the per-network nftables table through libnftables.
#include "skiff/net/nft.h"

#include <nftables/libnftables.h>

#include <memory>

namespace skiff::net {
namespace {

struct NftCtxDeleter {
  void operator()(nft_ctx* c) const { nft_ctx_free(c); }
};

std::string Quote(const std::string& dev) { return "\"" + dev + "\""; }

}  // namespace

std::string NftTableName(const NetworkPlan& plan) { return "skiff_" + plan.name; }

Result<std::string> RenderNftRuleset(const NetworkPlan& p) {
  SKIFF_TRY(ValidatePlan(p));
  if (p.mode == Mode::kOpen || p.mode == Mode::kBridge) return std::string();
  const std::string br = Quote(p.bridge);
  std::string out;
  auto line = [&](int indent, const std::string& s) {
    out.append(static_cast<size_t>(indent), '\t');
    out += s;
    out += '\n';
  };
  line(0, fmt::format("table ip {} {{", NftTableName(p)));
  line(1, fmt::format("comment \"skiff network {} ({})\"", p.name, ModeName(p.mode)));
  line(1, "chain forward {");
  line(2, "type filter hook forward priority filter; policy accept;");
  line(2, fmt::format("iifname {} oifname {} accept", br, br));
  if (p.mode == Mode::kNat || p.mode == Mode::kRoute) {
    const std::string subnet = p.ipv4->NetworkString();
    const std::string up_in = p.uplink.empty() ? "" : fmt::format("iifname {} ", Quote(p.uplink));
    const std::string up_out = p.uplink.empty() ? "" : fmt::format(" oifname {}", Quote(p.uplink));
    if (p.mode == Mode::kNat) {
      line(2, fmt::format("{}oifname {} ip daddr {} ct state established,related accept", up_in, br,
                          subnet));
    } else {
      line(2, fmt::format("{}oifname {} ip daddr {} accept", up_in, br, subnet));
    }
    line(2, fmt::format("iifname {}{} ip saddr {} accept", br, up_out, subnet));
  }
  line(2, fmt::format("oifname {} reject", br));
  line(2, fmt::format("iifname {} reject", br));
  line(1, "}");
  if (p.mode == Mode::kNat) {
    const std::string subnet = p.ipv4->NetworkString();
    const std::string up = p.uplink.empty() ? "" : fmt::format("oifname {} ", Quote(p.uplink));
    line(1, "chain postrouting {");
    line(2, "type nat hook postrouting priority srcnat; policy accept;");
    line(2, fmt::format("ip saddr {} ip daddr 224.0.0.0/24 return", subnet));
    line(2, fmt::format("ip saddr {} ip daddr 255.255.255.255 return", subnet));
    line(2, fmt::format("{}ip saddr {} ip daddr != {} meta l4proto {{ tcp, udp }} masquerade to "
                        ":1024-65535",
                        up, subnet, subnet));
    line(2, fmt::format("{}ip saddr {} ip daddr != {} masquerade", up, subnet, subnet));
    line(1, "}");
  }
  line(0, "}");
  return out;
}

Result<std::string> RunNft(const std::string& command) {
  std::unique_ptr<nft_ctx, NftCtxDeleter> ctx(nft_ctx_new(NFT_CTX_DEFAULT));
  if (!ctx) return InternalError("nft: cannot create a libnftables context");
  nft_ctx_buffer_output(ctx.get());
  nft_ctx_buffer_error(ctx.get());
  int rc = nft_run_cmd_from_buffer(ctx.get(), command.c_str());
  if (rc != 0) {
    std::string err = nft_ctx_get_error_buffer(ctx.get());
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    return UnavailableError("nft: {}", err.empty() ? "command failed" : err);
  }
  return std::string(nft_ctx_get_output_buffer(ctx.get()));
}

Status ApplyNftRuleset(const NetworkPlan& plan) {
  SKIFF_ASSIGN_OR_RETURN(std::string rules, RenderNftRuleset(plan));
  if (rules.empty()) return Status::Ok();
  const std::string t = NftTableName(plan);
  // "add" then "delete" makes the batch valid whether or not the table exists.
  std::string batch = fmt::format("add table ip {}\ndelete table ip {}\n{}", t, t, rules);
  auto r = RunNft(batch);
  if (!r.ok()) return r.status().WithContext(fmt::format("network '{}': table {}", plan.name, t));
  return Status::Ok();
}

Status RemoveNftRuleset(const NetworkPlan& plan) {
  const std::string t = NftTableName(plan);
  auto r = RunNft(fmt::format("add table ip {}\ndelete table ip {}\n", t, t));
  if (!r.ok()) return r.status().WithContext(fmt::format("network '{}': table {}", plan.name, t));
  return Status::Ok();
}

Result<bool> NftTableExists(const std::string& table) {
  SKIFF_ASSIGN_OR_RETURN(std::string out, RunNft("list tables ip"));
  return out.find("table ip " + table + "\n") != std::string::npos;
}

}  // namespace skiff::net
