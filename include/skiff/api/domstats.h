// The per-device fields of GET /v1/domains/{id}/stats ("block.N.FIELD",
// "net.N.FIELD"), in virsh domstats' order: the daemon fills them in this order and
// `skiff domstats` prints them in this order.
#pragma once

#include <array>
#include <string_view>

namespace skiff::api {

inline constexpr std::array<std::string_view, 6> kBlockStatFields = {
    "name", "rd.reqs", "rd.bytes", "wr.reqs", "wr.bytes", "fl.reqs"};
inline constexpr std::array<std::string_view, 7> kNetStatFields = {
    "name", "rx.bytes", "rx.pkts", "rx.drop", "tx.bytes", "tx.pkts", "tx.drop"};

}  // namespace skiff::api
