// qemu-img's JSON key order (QDict bucket order).
#include "image/qemu_json.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace skiff::image {
namespace {

unsigned QdictBucket(const std::string& key) {
  uint32_t v = 0x238F13AFu * static_cast<uint32_t>(key.size());
  for (size_t i = 0; i < key.size(); ++i) {
    v += static_cast<uint32_t>(static_cast<unsigned char>(key[i])) << (i * 5 % 24);
  }
  return (1103515243u * v + 12345u) % 512;
}

nlohmann::ordered_json Reorder(const nlohmann::json& v) {
  if (v.is_object()) {
    std::vector<std::string> keys;
    for (auto it = v.begin(); it != v.end(); ++it) keys.push_back(it.key());
    std::stable_sort(keys.begin(), keys.end(), [](const std::string& a, const std::string& b) {
      return QdictBucket(a) < QdictBucket(b);
    });
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    for (const auto& k : keys) out[k] = Reorder(v.at(k));
    return out;
  }
  if (v.is_array()) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const auto& e : v) out.push_back(Reorder(e));
    return out;
  }
  return nlohmann::ordered_json(v);
}

// As dump(4), except that QEMU breaks the line in an empty array or object too.
void Emit(const nlohmann::ordered_json& v, int depth, std::string& out) {
  if (!v.is_object() && !v.is_array()) {
    out += v.dump();
    return;
  }
  const bool obj = v.is_object();
  out += obj ? "{\n" : "[\n";
  size_t i = 0;
  for (auto it = v.begin(); it != v.end(); ++it, ++i) {
    out.append((depth + 1) * 4, ' ');
    if (obj) out += nlohmann::ordered_json(it.key()).dump() + ": ";
    Emit(*it, depth + 1, out);
    if (i + 1 < v.size()) out += ",";
    out += "\n";
  }
  out.append(depth * 4, ' ');
  out += obj ? "}" : "]";
}

}  // namespace

std::string QemuJsonText(const nlohmann::json& v) {
  std::string out;
  Emit(Reorder(v), 0, out);
  return out;
}

}  // namespace skiff::image
