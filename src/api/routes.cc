// The REST API's paths (routes.h).
#include "skiff/api/routes.h"

#include "skiff/api/client.h"

namespace skiff::api::routes {
namespace {

std::string Object(std::string_view collection, std::string_view name, std::string_view sub) {
  std::string out(collection);
  out += "/";
  out += UrlEncode(name);
  if (!sub.empty()) {
    out += "/";
    out += sub;
  }
  return out;
}

}  // namespace

std::string Domain(std::string_view ref, std::string_view sub) {
  return Object(kDomains, ref, sub);
}

std::string DomainDisk(std::string_view ref, std::string_view target, std::string_view sub) {
  std::string path = Domain(ref, "disks/" + UrlEncode(target));
  if (!sub.empty()) path += "/" + std::string(sub);
  return path;
}

std::string DomainSnapshot(std::string_view ref, std::string_view name, std::string_view sub) {
  std::string path = Domain(ref, "snapshots/" + UrlEncode(name));
  if (!sub.empty()) path += "/" + std::string(sub);
  return path;
}

std::string Network(std::string_view name, std::string_view sub) {
  return Object(kNetworks, name, sub);
}

std::string Pool(std::string_view name, std::string_view sub) { return Object(kPools, name, sub); }

std::string PoolVolumes(std::string_view pool) { return Pool(pool, "volumes"); }

std::string Volume(std::string_view pool, std::string_view volume, std::string_view sub) {
  return Object(PoolVolumes(pool), volume, sub);
}

std::string Job(uint64_t id) { return std::string(kJobs) + "/" + std::to_string(id); }

}  // namespace skiff::api::routes
