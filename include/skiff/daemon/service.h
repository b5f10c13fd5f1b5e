// START HERE. daemon::Service is the core of skiffd: it owns the domain registry,
// persists definitions, tracks running state, and runs every action the REST layer
// asks for on a Hypervisor (QEMU or the fake). Networks and storage pools are
// drivers of their own that it owns and hands out (networks(), storage()).
//
// Threads: any worker thread may call any method. Each object has its own lock, so
// actions on one domain serialise and actions on different domains run in parallel.
// Domains, networks and pools share one registry idiom, ObjectRegistry<T>
// (object_registry.h), whose own lock is a leaf.
//
// Where things are (src/daemon/):
//   service.cc            domain registry, persistence, life cycle (define, start, stop,
//                         save and restore jobs)
//   service_tuning.cc     memory, vcpus, cpu shares, pinning (--live/--config)
//   service_devices.cc    attach/detach of disks, interfaces, device XML
//   service_policy.cc     what a guest does on its own: exits, <on_poweroff>, pauses,
//                         panics and <on_crash>
//   network/driver.h      virtual networks: registry, bridges, dnsmasq, taps
//   storage/driver.h      storage pools and volumes
//   domain_obj.h          the registry's domain object; save_file.h the save file format;
//                         disk_usage.h which running domain holds which image
// The values taken and returned: service_types.h; state and reason: domain_state.h.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "skiff/base/env.h"
#include "skiff/base/status.h"
#include "skiff/conf/domain.h"
#include "skiff/daemon/domain_state.h"
#include "skiff/daemon/events.h"
#include "skiff/daemon/hypervisor.h"
#include "skiff/daemon/jobs.h"
#include "skiff/daemon/network.h"
#include "skiff/daemon/object_registry.h"
#include "skiff/daemon/paths.h"
#include "skiff/daemon/service_types.h"
#include "skiff/storage/pool.h"

namespace skiff::daemon {

class DiskUsage;
class NetworkDriver;
class StorageDriver;

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
  Result<std::vector<conf::DiskDef>> DomainDisks(const std::string& ref, bool inactive);
  // Interfaces with their tap names when running ("-" otherwise).
  Result<std::vector<std::pair<std::string, conf::InterfaceDef>>> DomainInterfaces(
      const std::string& ref, bool inactive);
  Result<std::vector<InterfaceAddress>> DomainAddresses(const std::string& ref);
  Status SetMemory(const std::string& ref, uint64_t kib, bool maximum, const Scope& scope);
  Status SetVcpus(const std::string& ref, unsigned count, bool maximum, const Scope& scope);
  // vcpucount: maximum and current of the definition and (running) of the guest.
  Result<VcpuCounts> VcpuCount(const std::string& ref);
  // vcpuinfo: the running guest's vCPU threads.
  Result<std::vector<VcpuRuntime>> DomainVcpus(const std::string& ref);
  // schedinfo: cpu shares of the running domain's cgroup (live) or of its
  // definition's <cputune><shares> (config; 0 when unset). Queries take at most
  // one of live/config; neither: live when running.
  Result<uint64_t> CpuShares(const std::string& ref, const Scope& scope);
  Status SetCpuShares(const std::string& ref, uint64_t shares, const Scope& scope);
  // vcpupin / emulatorpin: the pinning of the live or persistent definition (as
  // libvirt: a vCPU without <vcpupin> shows <vcpu cpuset> or every host CPU).
  Result<CpuPinning> Pinning(const std::string& ref, const Scope& scope);
  Status PinVcpu(const std::string& ref, unsigned vcpu, const std::string& cpuset,
                 const Scope& scope);
  Status PinEmulator(const std::string& ref, const std::string& cpuset, const Scope& scope);
  Status AttachDisk(const std::string& ref, const DiskRequest& req, const Scope& scope);
  Status DetachDisk(const std::string& ref, const std::string& target, const Scope& scope);
  Status AttachInterface(const std::string& ref, const InterfaceRequest& req, const Scope& scope);
  // virsh attach-device / detach-device: `xml` is one <disk> (file, block or
  // volume) or <interface>, from the file `source` (named in errors); detach finds
  // a disk by its target, an interface by type and MAC.
  Status AttachDevice(const std::string& ref, const std::string& xml, const std::string& source,
                      const Scope& scope);
  Status DetachDevice(const std::string& ref, const std::string& xml, const std::string& source,
                      const Scope& scope);
  Status DetachInterface(const std::string& ref, const std::string& type, const std::string& mac,
                         const Scope& scope);
  Result<std::string> ConsoleSocket(const std::string& ref);
  // Long operations: each returns a job id at once.
  // `paused` (virsh save --paused/--running) is the state the file records for the
  // restore; by default the domain's own.
  Result<uint64_t> SaveDomain(const std::string& ref, const std::string& file,
                              std::optional<bool> paused = std::nullopt);
  Result<uint64_t> ManagedSave(const std::string& ref, std::optional<bool> paused = std::nullopt);
  // managedsave-remove: deletes the domain's managed save image; false when it has
  // none. Its next start boots afresh.
  Result<bool> RemoveManagedSave(const std::string& ref);
  // The guest comes back paused or running as `paused` says, else as it was saved.
  Result<uint64_t> RestoreDomain(const std::string& file, std::optional<bool> paused);

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

  struct DomainObj;

 private:
  using Lock = std::unique_lock<std::mutex>;
  // Finds `ref` and locks it; kNotFound when absent or removed meanwhile.
  Result<std::pair<std::shared_ptr<DomainObj>, Lock>> Acquire(const std::string& ref);
  // Drops a domain from the registry; call it with the domain's lock held.
  void Forget(const std::shared_ptr<DomainObj>& obj);
  Result<DomainSummary> StartLocked(DomainObj& obj, bool paused, const std::string& restore_from);
  // attach-disk and attach-device: `disk` into the live and/or persistent definition.
  Status AttachDiskLocked(DomainObj& obj, const conf::DiskDef& disk, const Scope& scope);
  // The one place a domain's state and reason change.
  void SetStatus(DomainObj& obj, DomainStatus status);
  // The domain stopped: its live definition, taps and disks are released.
  void MarkStopped(DomainObj& obj, ShutoffReason reason);
  // A running domain's new state (paused, running again, crashed), saved in its live
  // status and announced as `event` with `detail`.
  void MarkActive(DomainObj& obj, DomainStatus status, const std::string& event,
                  const std::string& detail);
  Status HandlePanic(const std::string& name);
  // The body of a save or managed-save job: header, the driver's Save, then the
  // domain is shut off (saved); a transient one is forgotten. On failure the
  // file goes and the guest keeps running.
  Status RunSave(const std::string& name, const std::string& file, std::optional<bool> paused,
                 const JobControl& job);
  Status ChangeSettings(DomainObj& o, const Scope& scope,
                        const std::function<Status(conf::DomainDef&, bool live)>& edit,
                        const std::function<Status()>& apply_live);
  Status RequestOnRunning(const std::string& ref, Status (Hypervisor::*op)(const std::string&),
                          const char* event, const char* detail);
  Status WriteDefinition(const conf::DomainDef& def);
  Status WriteLiveStatus(const DomainObj& obj);
  void RemoveLiveStatus(const std::string& name);
  void Emit(const DomainObj& obj, const std::string& event, const std::string& detail);
  DomainSummary Summarize(const DomainObj& obj);
  void LoadDomains();

  Paths paths_;
  Env& env_;
  Hypervisor& hv_;
  EventBus& events_;
  JobManager jobs_;

  // Records the image files of a running domain (volumes resolved through their
  // pools) in disks_, or drops them (`running_def` null).
  void TrackDisks(const std::string& domain, const conf::DomainDef* running_def);

  ObjectRegistry<DomainObj> domains_{"domain"};
  std::mutex mu_;  // guards next_id_
  int next_id_ = 1;

  std::unique_ptr<DiskUsage> disks_;                     // image files held by running domains
  std::unique_ptr<NetworkBackend> own_network_backend_;  // when none was given
  std::unique_ptr<NetworkDriver> net_;
  std::unique_ptr<StorageDriver> storage_;
};

}  // namespace skiff::daemon
