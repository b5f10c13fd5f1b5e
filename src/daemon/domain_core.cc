// DomainCore: registry, persistence, state changes and events of domains.
#include "daemon/domain_core.h"

#include <algorithm>
#include <system_error>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "daemon/definitions.h"
#include "daemon/disk_usage.h"
#include "daemon/network/driver.h"
#include "daemon/storage/driver.h"
#include "skiff/base/fs.h"

namespace skiff::daemon {

namespace fs = std::filesystem;

int DomainCore::NextId() {
  std::lock_guard l(id_mu_);
  return next_id_++;
}

void DomainCore::SeenId(int id) {
  std::lock_guard l(id_mu_);
  next_id_ = std::max(next_id_, id + 1);
}

DomainSummary DomainCore::Summarize(const DomainObj& o) const {
  DomainSummary s;
  s.id = o.id;
  s.name = o.def.name;
  s.uuid = o.def.uuid;
  s.status = o.status;
  s.persistent = o.persistent;
  s.autostart = o.autostart;
  std::error_code ec;
  s.managed_save = fs::exists(paths_.managed_save(o.def.name), ec);
  return s;
}

void DomainCore::Emit(const DomainObj& o, const std::string& event, const std::string& detail) {
  auto e = api::Event::Lifecycle("domain", o.def.name, event, detail);
  e.uuid = o.def.uuid.ToString();
  events_.Publish(std::move(e));
}

Status DomainCore::WriteDefinition(const conf::DomainDef& def) {
  return WriteDefinitionFile(env_, paths_.domains_dir, def.name, conf::FormatDomainXml(def))
      .WithContext(fmt::format("save definition of domain '{}'", def.name));
}

Status DomainCore::WriteLiveStatus(const DomainObj& o) {
  const conf::DomainDef& d = o.live ? *o.live : o.def;
  SKIFF_TRY(WriteFileAtomic(env_, paths_.run_domains / (d.name + ".xml"), conf::FormatDomainXml(d),
                            0600));
  nlohmann::json j = {{"id", o.id.load()},
                      {"pid", o.pid},
                      {"state", static_cast<int>(o.status.state())},
                      {"reason", o.status.reason()},
                      {"reason_name", o.status.reason_name()},
                      {"persistent", o.persistent}};
  return WriteFileAtomic(env_, paths_.run_domains / (d.name + ".status.json"), j.dump() + "\n",
                         0600);
}

void DomainCore::RemoveLiveStatus(const std::string& name) {
  (void)env_.RemoveFile(paths_.run_domains / (name + ".xml"));
  (void)env_.RemoveFile(paths_.run_domains / (name + ".status.json"));
}

void DomainCore::MarkStopped(DomainObj& o, ShutoffReason reason) {
  SetStatus(o, DomainStatus::Shutoff(reason));
  const std::string why(o.status.reason_name());
  o.id = -1;
  o.pid = 0;
  if (o.live) net_.ReleaseInterfaces(*o.live);
  o.live.reset();
  TrackDisks(o.def.name, nullptr);
  RemoveLiveStatus(o.def.name);
  spdlog::info("domain '{}' stopped ({})", o.def.name, why);
  Emit(o, "stopped", why);
}

void DomainCore::MarkActive(DomainObj& o, DomainStatus status, const std::string& event,
                            const std::string& detail) {
  SetStatus(o, status);
  (void)WriteLiveStatus(o);
  Emit(o, event, detail);
}

Result<std::string> DomainCore::DiskPath(const conf::DiskDef& d) {
  if (d.type == conf::DiskType::kVolume) {
    return storage_.ResolveVolume(d.source_pool, d.source_volume);
  }
  return d.source_path;
}

void DomainCore::TrackDisks(const std::string& domain, const conf::DomainDef* running_def) {
  std::vector<std::pair<std::string, bool>> files;
  const std::vector<conf::DiskDef> none;
  for (const auto& d : running_def ? running_def->devices.disks : none) {
    std::string path = d.source_path;
    if (d.type == conf::DiskType::kVolume) {
      path = storage_.ResolveVolume(d.source_pool, d.source_volume).value_or("");
    }
    if (!path.empty()) files.emplace_back(path, !d.readonly && !d.shareable);
  }
  disks_.Set(domain, files);
}

std::string DomainCore::DiskHolder(const std::string& path, bool writes) const {
  return writes ? disks_.User(path) : disks_.Writer(path);
}

Status DomainCore::ChangeSettings(DomainObj& o, const Scope& scope,
                                  const std::function<Status(conf::DomainDef&, bool live)>& edit,
                                  const std::function<Status()>& apply_live) {
  SKIFF_ASSIGN_OR_RETURN(auto sc, ResolveScope(scope, o.status.active(), o.persistent, o.def.name));
  auto [live, config] = sc;
  if (live) {
    conf::DomainDef d = *o.live;
    SKIFF_TRY(edit(d, true));
    SKIFF_TRY(apply_live());
    *o.live = std::move(d);
    (void)WriteLiveStatus(o);
  }
  if (config) {
    conf::DomainDef d = o.def;
    SKIFF_TRY(edit(d, false));
    SKIFF_TRY(conf::ValidateDomain(d));
    SKIFF_TRY(WriteDefinition(d));
    o.def = std::move(d);
  }
  return Status::Ok();
}

}  // namespace skiff::daemon
