// JSON output in qemu-img's key order. QEMU prints QDicts in hash-bucket order
// (tdb_hash(key) % 512), so scripts that diff our output against qemu-img's
// see the same text.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace skiff::image {

// Pretty-prints `v` (4-space indent) with object keys in QEMU's order.
std::string QemuJsonText(const nlohmann::json& v);

}  // namespace skiff::image
