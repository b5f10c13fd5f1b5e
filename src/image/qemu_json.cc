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

}  // namespace

std::string QemuJsonText(const nlohmann::json& v) { return Reorder(v).dump(4); }

}  // namespace skiff::image
