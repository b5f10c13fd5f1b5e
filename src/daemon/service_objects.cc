// Service: pool definitions (stored, listed, dumped). Networks: service_networks.cc.
#include <spdlog/spdlog.h>

#include "daemon/definitions.h"
#include "daemon/pool_obj.h"
#include "skiff/base/fs.h"
#include "skiff/conf/pool.h"
#include "skiff/daemon/service.h"

namespace skiff::daemon {

namespace fs = std::filesystem;

namespace {

template <typename Map>
auto FindByRef(Map& m, const std::string& ref) -> typename Map::mapped_type {
  auto it = m.find(ref);
  if (it != m.end()) return it->second;
  if (auto u = Uuid::Parse(ref); u.ok()) {
    for (auto& [n, o] : m) {
      if (o->def.uuid == *u) return o;
    }
  }
  return nullptr;
}

PoolSummary SummarizePool(const Service::PoolObj& o) {
  return {o.def.name, o.def.uuid, o.active, o.autostart, true, o.def.type, o.def.target_path};
}

}  // namespace

void Service::LoadNetworksAndPools() {
  LoadDefinitionFiles(env_, paths_.pools_dir, "pool", conf::ParsePoolXml,
                      [&](conf::PoolDef def, const fs::path&) {
                        auto o = std::make_shared<PoolObj>();
                        o->def = std::move(def);
                        o->autostart = HasAutostartLink(env_, paths_.pools_dir, o->def.name);
                        std::lock_guard l(mu_);
                        pools_[o->def.name] = o;
                      });
}

std::vector<PoolSummary> Service::ListPools() {
  std::lock_guard l(mu_);
  std::vector<PoolSummary> out;
  for (auto& [n, o] : pools_) out.push_back(SummarizePool(*o));
  return out;
}

Result<PoolSummary> Service::DefinePool(const std::string& xml, const std::string& source) {
  SKIFF_ASSIGN_OR_RETURN(conf::PoolDef def, conf::ParsePoolXml(xml, source));
  std::lock_guard l(mu_);
  auto it = pools_.find(def.name);
  for (auto& [n, o] : pools_) {
    if (o->def.uuid == def.uuid && n != def.name) {
      return AlreadyExistsError("pool '{}' is already defined with uuid {}", n,
                                def.uuid.ToString());
    }
  }
  if (it != pools_.end() && it->second->def.uuid != def.uuid) {
    if (xml.find("<uuid") != std::string::npos) {
      return AlreadyExistsError("pool '{}' already exists with uuid {}", def.name,
                                it->second->def.uuid.ToString());
    }
    def.uuid = it->second->def.uuid;
  }
  if (it != pools_.end() && it->second->active) {
    // The machinery works on the definition: an active pool keeps where it lives.
    const conf::PoolDef& now = it->second->def;
    if (now.type != def.type || now.target_path != def.target_path ||
        now.source_device != def.source_device || now.source_format != def.source_format) {
      return FailedPreconditionError(
          "storage pool '{}' is active: destroy it before changing its type, source or target",
          def.name);
    }
  }
  SKIFF_TRY(WriteDefinitionFile(env_, paths_.pools_dir, def.name, conf::FormatPoolXml(def)));
  auto o = it != pools_.end() ? it->second : std::make_shared<PoolObj>();
  o->def = std::move(def);
  pools_[o->def.name] = o;
  events_.Publish({{"type", "lifecycle"},
                   {"kind", "pool"},
                   {"name", o->def.name},
                   {"event", "defined"},
                   {"detail", "added"}});
  return SummarizePool(*o);
}

Result<PoolSummary> Service::GetPool(const std::string& ref) {
  std::lock_guard l(mu_);
  auto o = FindByRef(pools_, ref);
  if (!o) return NotFoundError("pool '{}' not found", ref);
  return SummarizePool(*o);
}

Result<std::string> Service::PoolXml(const std::string& ref) {
  std::lock_guard l(mu_);
  auto o = FindByRef(pools_, ref);
  if (!o) return NotFoundError("pool '{}' not found", ref);
  return conf::FormatPoolXml(o->def);
}

Status Service::UndefinePool(const std::string& ref) {
  std::lock_guard l(mu_);
  auto o = FindByRef(pools_, ref);
  if (!o) return NotFoundError("pool '{}' not found", ref);
  if (o->active) {
    return FailedPreconditionError("storage pool '{}' is active: destroy it first", o->def.name);
  }
  SKIFF_TRY(RemoveDefinitionFile(env_, paths_.pools_dir, o->def.name));
  (void)SetAutostartLink(env_, paths_.pools_dir, o->def.name, false);
  pools_.erase(o->def.name);
  events_.Publish({{"type", "lifecycle"},
                   {"kind", "pool"},
                   {"name", o->def.name},
                   {"event", "undefined"},
                   {"detail", "removed"}});
  return Status::Ok();
}

Status Service::SetPoolAutostart(const std::string& ref, bool enabled) {
  std::lock_guard l(mu_);
  auto o = FindByRef(pools_, ref);
  if (!o) return NotFoundError("pool '{}' not found", ref);
  SKIFF_TRY(SetAutostartLink(env_, paths_.pools_dir, o->def.name, enabled));
  o->autostart = enabled;
  return Status::Ok();
}

}  // namespace skiff::daemon
