// Skiff's nftables rules for a virtual network: one table `ip skiff_<network>`
// per network, so that starting and destroying a network adds and removes
// exactly its own rules and never touches anybody else's tables.
#pragma once

#include <string>

#include "skiff/base/status.h"
#include "skiff/net/plan.h"

namespace skiff::net {

// "skiff_<network name>".
std::string NftTableName(const NetworkPlan& plan);

// The table's text as `nft -f` reads it, for nat, route and isolated modes:
//   nat:      forward within the bridge; established/related traffic in to the
//             subnet; anything from the subnet out (through `uplink` when set);
//             everything else to or from the bridge rejected; masquerade the
//             subnet to anything but itself (multicast and broadcast excepted).
//   route:    as nat in both directions, without masquerading.
//   isolated: forward within the bridge only; to or from it rejected.
// Empty for open and bridge modes (Skiff adds no rules). The plan must be valid
// (ValidatePlan); an invalid one gives kInvalidArgument.
Result<std::string> RenderNftRuleset(const NetworkPlan& plan);

// Replaces the network's table with RenderNftRuleset(plan) in one nftables
// transaction (an existing table of that name is deleted in the same batch).
// Does nothing for open and bridge modes. kUnavailable carries nft's error.
// Acts on the network namespace of the calling thread.
Status ApplyNftRuleset(const NetworkPlan& plan);

// Deletes the network's table; ok when there is none.
Status RemoveNftRuleset(const NetworkPlan& plan);

// Runs one nft command (e.g. "list table ip skiff_default") through
// libnftables and returns its output. kUnavailable carries nft's error text.
Result<std::string> RunNft(const std::string& command);

// Whether table `ip <table>` exists.
Result<bool> NftTableExists(const std::string& table);

}  // namespace skiff::net
