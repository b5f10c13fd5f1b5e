// DomainCore: what every domain action shares (the life cycle in service.cc, the
// policy in service_policy.cc, DomainTuning, DomainDevices): the registry of domains,
// the stores of their definitions and live status, the one place a domain's state
// changes, and its events. It holds no policy of its own.
//
// Locks: as ObjectRegistry. Methods taking a DomainObj& expect its lock held.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "daemon/domain_obj.h"
#include "skiff/base/env.h"
#include "skiff/daemon/events.h"
#include "skiff/daemon/hypervisor.h"
#include "skiff/daemon/object_registry.h"
#include "skiff/daemon/paths.h"

namespace skiff::daemon {

class DiskUsage;
class NetworkDriver;
class StorageDriver;

class DomainCore {
 public:
  using Lock = std::unique_lock<std::mutex>;

  DomainCore(const Paths& paths, Env& env, Hypervisor& hv, EventBus& events, NetworkDriver& net,
             StorageDriver& storage, DiskUsage& disks)
      : paths_(paths),
        env_(env),
        hv_(hv),
        net_(net),
        storage_(storage),
        events_(events),
        disks_(disks) {}

  const Paths& paths() const { return paths_; }
  Env& env() { return env_; }
  Hypervisor& hv() { return hv_; }
  NetworkDriver& net() { return net_; }
  StorageDriver& storage() { return storage_; }
  ObjectRegistry<DomainObj>& domains() { return domains_; }

  // Finds `ref` (name, UUID or id) and locks it; kNotFound when absent or removed meanwhile.
  Result<std::pair<std::shared_ptr<DomainObj>, Lock>> Acquire(const std::string& ref) {
    return domains_.Acquire(ref);
  }
  // Drops a domain from the registry; call it with the domain's lock held.
  void Forget(const std::shared_ptr<DomainObj>& obj) { domains_.Remove(obj); }
  // The next domain id (ids grow while the daemon runs; re-attached ones raise it).
  int NextId();
  void SeenId(int id);

  DomainSummary Summarize(const DomainObj& obj) const;
  void Emit(const DomainObj& obj, const std::string& event, const std::string& detail);

  // Persistence: ROOT/etc/skiff/domains/NAME.xml and the live status under ROOT/run.
  Status WriteDefinition(const conf::DomainDef& def);
  Status WriteLiveStatus(const DomainObj& obj);
  void RemoveLiveStatus(const std::string& name);

  // The one place a domain's state and reason change.
  static void SetStatus(DomainObj& obj, DomainStatus status) { obj.status = status; }
  // The domain stopped: its live definition, taps and disks are released.
  void MarkStopped(DomainObj& obj, ShutoffReason reason);
  // A running domain's new state (paused, running again, crashed), saved in its live
  // status and announced as `event` with `detail`.
  void MarkActive(DomainObj& obj, DomainStatus status, const std::string& event,
                  const std::string& detail);
  // The file of disk `d` (a volume's through its pool); "" when it has no media.
  Result<std::string> DiskPath(const conf::DiskDef& d);
  // Records the image files of a running domain (volumes resolved through their
  // pools), or drops them (`running_def` null).
  void TrackDisks(const std::string& domain, const conf::DomainDef* running_def);
  // Which other running domain holds `path` in a way that excludes this use
  // (`writes`: any user; else a writer); empty when none.
  std::string DiskHolder(const std::string& path, bool writes) const;

  // A settings change with virsh's --live/--config: `edit` changes the live definition
  // (before `apply_live` does it on the guest; an error there changes nothing) and a
  // copy of the persistent one, which is validated and written before it is kept.
  Status ChangeSettings(DomainObj& obj, const Scope& scope,
                        const std::function<Status(conf::DomainDef&, bool live)>& edit,
                        const std::function<Status()>& apply_live);

 private:
  const Paths& paths_;
  Env& env_;
  Hypervisor& hv_;
  NetworkDriver& net_;
  StorageDriver& storage_;
  EventBus& events_;
  DiskUsage& disks_;
  std::mutex id_mu_;  // guards next_id_
  int next_id_ = 1;
  ObjectRegistry<DomainObj> domains_{"domain"};
};

}  // namespace skiff::daemon
