// START HERE. daemon::Service is the core of skiffd: the REST layer asks it for
// every action, which it runs on a Hypervisor (QEMU or the fake). It runs the
// domains' life cycle itself and hands out the rest: tuning(), devices(), saves(),
// clones() (classes acting on the same domain registry, DomainCore) and the network and
// storage drivers, networks() and storage().
//
// Threads: any worker thread may call any method. Each object has its own lock, so
// actions on one domain serialise and actions on different domains run in parallel.
// Domains, networks and pools share one registry idiom, ObjectRegistry<T>
// (object_registry.h), whose own lock is a leaf.
//
// Where things are (src/daemon/):
//   service.cc            life cycle (define, start, stop)
//   domain_core.h         what every domain action shares: the registry, persistence,
//                         the one place state changes, events
//   domain_tuning.h       tuning(): memory, vcpus, cpu shares, pinning (--live/--config)
//   domain_devices.h      devices(): attach/detach of disks, interfaces, device XML
//   domain_saves.h        saves(): save, restore, managed save (jobs)
//   domain_clones.h       clones(): skiff clone (a job; clone_plan.h decides)
//   domain_snapshots.h    snapshots(): snapshot-create, -list, -revert, -delete
//   service_policy.cc     what a guest does on its own: exits, <on_poweroff>, pauses,
//                         panics and <on_crash>
//   network/driver.h      virtual networks: registry, bridges, dnsmasq, taps
//   storage/driver.h      storage pools and volumes
//   domain_obj.h          the registry's domain object; save_file.h the save file format;
//                         disk_usage.h which running domain holds which image
// The values taken and returned: service_types.h; state and reason: domain_state.h.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "skiff/base/env.h"
#include "skiff/base/status.h"
#include "skiff/conf/domain.h"
#include "skiff/daemon/domain_backups.h"
#include "skiff/daemon/domain_clones.h"
#include "skiff/daemon/domain_devices.h"
#include "skiff/daemon/domain_saves.h"
#include "skiff/daemon/domain_snapshots.h"
#include "skiff/daemon/domain_state.h"
#include "skiff/daemon/domain_tuning.h"
#include "skiff/daemon/events.h"
#include "skiff/daemon/hypervisor.h"
#include "skiff/daemon/jobs.h"
#include "skiff/daemon/network.h"
#include "skiff/daemon/paths.h"
#include "skiff/daemon/service_types.h"
#include "skiff/storage/pool.h"

namespace skiff::daemon {

class DiskUsage;
class DomainCore;
class NetworkDriver;
class StorageDriver;
struct DomainObj;

class Service {
 public:
  // `network_backend` builds virtual networks and taps; it must outlive the
  // Service. Null: an in-memory fake with a started `default` network (tests).
  // Definitions, autostart links and live status are stored through `env`
  // (tests pass a FaultInjectionEnv); it must outlive the Service.
  Service(Paths paths, Hypervisor& hypervisor, EventBus& events,
          NetworkBackend* network_backend = nullptr, NetworkOptions network_options = {},
          Env& env = DefaultEnv());
  ~Service();

  // Reads the definitions under ROOT/etc/skiff (a file that does not parse is logged
  // and kept), re-attaches domains that were running, then starts autostart ones.
  Status Load();

  const Paths& paths() const { return paths_; }
  Hypervisor& hypervisor() { return hv_; }
  JobManager& jobs() { return jobs_; }
  EventBus& events() { return events_; }

  // --- domains. `ref` is a name, a UUID or a numeric id, as virsh accepts. ---
  std::vector<DomainSummary> ListDomains();
  Result<DomainInfo> GetDomain(const std::string& ref);
  // Defines (or redefines) from XML; `source` names the input in errors.
  Result<DomainSummary> DefineDomain(const std::string& xml, const std::string& source);
  // Starts a transient domain from XML.
  Result<DomainSummary> CreateDomain(const std::string& xml, const std::string& source,
                                     bool paused);
  Status UndefineDomain(const std::string& ref, const UndefineOptions& options);
  Result<DomainSummary> StartDomain(const std::string& ref, bool paused);
  Status ShutdownDomain(const std::string& ref);
  Status DestroyDomain(const std::string& ref);
  Status RebootDomain(const std::string& ref);
  Status ResetDomain(const std::string& ref);
  Status SuspendDomain(const std::string& ref);
  Status ResumeDomain(const std::string& ref);
  // Graphics passwords only with `secure` (virsh dumpxml --security-info).
  Result<std::string> DomainXml(const std::string& ref, bool inactive, bool secure = false);
  Status SetAutostart(const std::string& ref, bool enabled);
  Result<RuntimeStats> DomainStats(const std::string& ref, DomainSummary* summary);
  Result<std::string> ConsoleSocket(const std::string& ref);
  // A domain's resources (--live/--config), its devices, its saves (save, restore,
  // managed save: jobs): classes of their own.
  DomainTuning& tuning() { return *tuning_; }
  DomainDevices& devices() { return *devices_; }
  DomainSaves& saves() { return *saves_; }
  // skiff clone (virt-clone): a job that copies the disks and defines the clone.
  DomainClones& clones() { return *clones_; }
  // skiff backup: full and incremental backups of a domain, and their restore.
  DomainBackups& backups() { return *backups_; }
  // Snapshots (virsh snapshot-*): internal qcow2 snapshots and their metadata.
  DomainSnapshots& snapshots() { return *snapshots_; }
  // Virtual networks (src/daemon/network/) and storage pools and volumes
  // (src/daemon/storage/): drivers of their own, which the Service owns.
  NetworkDriver& networks() { return *net_; }
  StorageDriver& storage() { return *storage_; }
  // Text or SVG, with the running guests' names on their taps.
  Result<std::string> NetworkDiagram(const std::string& ref, bool svg);

  // Called by the hypervisor when a guest stops on its own.
  void OnDomainExit(const std::string& name, ExitReason reason);
  // Called by the hypervisor when a guest changes state on its own; a panic starts
  // a "crash" job on the domain that carries out <on_crash> (HandlePanic).
  void OnGuestEvent(const std::string& name, const GuestEvent& ev);

 private:
  Result<DomainSummary> StartLocked(DomainObj& obj, bool paused, const std::string& restore_from);
  Status HandlePanic(const std::string& name);
  Status RequestOnRunning(const std::string& ref, Status (Hypervisor::*op)(const std::string&),
                          const char* event, const char* detail);
  void LoadDomains();

  Paths paths_;
  Env& env_;
  Hypervisor& hv_;
  EventBus& events_;
  JobManager jobs_;
  std::unique_ptr<NetworkBackend> own_network_backend_;  // when none was given
  std::unique_ptr<NetworkDriver> net_;
  std::unique_ptr<DiskUsage> disks_;  // image files held by running domains
  std::unique_ptr<StorageDriver> storage_;
  std::unique_ptr<DomainCore> core_;  // the registry of domains and what acts on it
  std::unique_ptr<DomainTuning> tuning_;
  std::unique_ptr<DomainDevices> devices_;
  std::unique_ptr<DomainSaves> saves_;
  DomainBusy busy_;  // domains whose disks a clone or backup job reads
  std::unique_ptr<DomainClones> clones_;
  std::unique_ptr<DomainBackups> backups_;
  std::unique_ptr<DomainSnapshots> snapshots_;
};

}  // namespace skiff::daemon
