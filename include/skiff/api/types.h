// The REST API's requests and answers as typed structs (docs/api.md is the prose).
// The CLI builds requests and reads answers with them; the daemon's handlers
// (src/daemon/rest/) parse requests into them and build answers from them. Each
// struct's Visit lists its wire names (fields.h): `nlohmann::json j = value;`
// writes it, ParseRequest<T>/ParseResponse<T> read it, ToQuery/ParseQuery do the
// same for the structs that travel in a query string (*Query).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "skiff/api/fields.h"
#include "skiff/base/status.h"

namespace skiff::api {

// A body or query without fields: POST .../start of a network, {} answers.
struct Empty {
  template <typename V>
  void Visit(V&) {}
};

// virsh's --live / --config: which definition a change applies to. Neither: the
// running guest when it runs, else the definition. Also a query (?live&config).
struct Scope {
  bool live = false;
  bool config = false;
  template <typename V>
  void Visit(V& v) {
    v("live", live);
    v("config", config);
  }
};

// ?inactive: the persistent definition instead of the live one.
struct XmlQuery {
  bool inactive = false;
  template <typename V>
  void Visit(V& v) {
    v("inactive", inactive);
  }
};

// GET /v1/domains/{id}/xml. `security_info` (virsh dumpxml --security-info, an
// admin's only) includes graphics passwords, which are left out otherwise.
struct DomainXmlQuery {
  bool inactive = false;
  bool security_info = false;
  template <typename V>
  void Visit(V& v) {
    v("inactive", inactive);
    v("security_info", security_info);
  }
};

// {"xml"}: a definition's XML (dumpxml and friends).
struct XmlReply {
  std::string xml;
  template <typename V>
  void Visit(V& v) {
    v("xml", xml);
  }
};

// POST .../autostart.
struct AutostartRequest {
  bool enabled = true;
  template <typename V>
  void Visit(V& v) {
    v("enabled", enabled);
  }
};

// POST /v1/networks, /v1/pools: define, optionally start, or (persistent false)
// create a transient object. `source` names the XML in errors.
struct DefineRequest {
  std::string xml;
  std::string source;
  bool start = false;
  bool persistent = true;
  template <typename V>
  void Visit(V& v) {
    v("xml", xml, kRequired);
    v("source", source);
    v("start", start);
    v("persistent", persistent);
  }
};

// ---------------------------------------------------------------- domains

struct DomainSummary {
  int id = -1;  // -1 when inactive
  std::string name;
  std::string uuid;
  std::string state;  // virsh's words: "running", "shut off"
  int state_code = 0;
  std::string reason;  // "booted", "destroyed"
  int reason_code = 0;
  bool persistent = true;
  bool autostart = false;
  bool managed_save = false;
  template <typename V>
  void Visit(V& v) {
    v("id", id);
    v("name", name);
    v("uuid", uuid);
    v("state", state);
    v("state_code", state_code);
    v("reason", reason);
    v("reason_code", reason_code);
    v("persistent", persistent);
    v("autostart", autostart);
    v("managed_save", managed_save);
  }
};

struct DomainList {
  std::vector<DomainSummary> domains;
  template <typename V>
  void Visit(V& v) {
    v("domains", domains);
  }
};

// GET /v1/domains/{id}.
struct DomainInfo : DomainSummary {
  std::string os_type;
  unsigned vcpus = 0;
  uint64_t max_memory_kib = 0;
  uint64_t used_memory_kib = 0;
  uint64_t cpu_time_ns = 0;  // running only
  template <typename V>
  void Visit(V& v) {
    DomainSummary::Visit(v);
    v("os_type", os_type);
    v("vcpus", vcpus);
    v("max_memory_kib", max_memory_kib);
    v("used_memory_kib", used_memory_kib);
    v("cpu_time_ns", cpu_time_ns);
  }
};

// POST /v1/domains: define (and start), or create a transient domain.
struct DefineDomainRequest {
  std::string xml;
  std::string source;
  bool start = false;
  bool paused = false;
  bool persistent = true;
  template <typename V>
  void Visit(V& v) {
    v("xml", xml, kRequired);
    v("source", source);
    v("start", start);
    v("paused", paused);
    v("persistent", persistent);
  }
};

// DELETE /v1/domains/{id}?...
struct UndefineDomainQuery {
  bool remove_all_storage = false;
  bool snapshots_metadata = false;
  bool managed_save = false;
  template <typename V>
  void Visit(V& v) {
    v("remove_all_storage", remove_all_storage);
    v("snapshots_metadata", snapshots_metadata);
    v("managed_save", managed_save);
  }
};

struct StartDomainRequest {
  bool paused = false;
  template <typename V>
  void Visit(V& v) {
    v("paused", paused);
  }
};

// GET /v1/domains/{id}/stats: the summary plus virsh domstats' flat map
// ("state.state", "block.0.rd.bytes", ...: see domstats.h for the device fields).
struct DomainStats : DomainSummary {
  nlohmann::json stats = nlohmann::json::object();
  template <typename V>
  void Visit(V& v) {
    DomainSummary::Visit(v);
    v("stats", stats);
  }
};

struct Disk {
  std::string target;
  std::string source;  // a path, or "pool/volume"
  std::string type;
  std::string device;
  std::string bus;
  std::string format;
  bool readonly = false;
  template <typename V>
  void Visit(V& v) {
    v("target", target);
    v("source", source);
    v("type", type);
    v("device", device);
    v("bus", bus);
    v("format", format);
    v("readonly", readonly);
  }
};

struct DiskList {
  std::vector<Disk> disks;
  template <typename V>
  void Visit(V& v) {
    v("disks", disks);
  }
};

struct Interface {
  std::string interface;  // the tap, or empty while inactive
  std::string type;
  std::string source;
  std::string model;
  std::string mac;
  template <typename V>
  void Visit(V& v) {
    v("interface", interface);
    v("type", type);
    v("source", source);
    v("model", model);
    v("mac", mac);
  }
};

struct InterfaceList {
  std::vector<Interface> interfaces;
  template <typename V>
  void Visit(V& v) {
    v("interfaces", interfaces);
  }
};

struct Address {
  std::string name;
  std::string mac;
  std::string protocol;
  std::string address;
  template <typename V>
  void Visit(V& v) {
    v("name", name);
    v("mac", mac);
    v("protocol", protocol);
    v("address", address);
  }
};

struct AddressList {
  std::vector<Address> addresses;
  template <typename V>
  void Visit(V& v) {
    v("addresses", addresses);
  }
};

// GET /v1/domains/{id}/disks/{target}/info (domblkinfo); a list from
// GET /v1/domains/{id}/diskinfo (domblkinfo --all).
struct DiskInfo {
  std::string target;
  uint64_t capacity = 0;    // bytes the guest sees
  uint64_t allocation = 0;  // bytes the image occupies on the host
  uint64_t physical = 0;    // the image file's length
  template <typename V>
  void Visit(V& v) {
    v("target", target);
    v("capacity", capacity);
    v("allocation", allocation);
    v("physical", physical);
  }
};

struct DiskInfoList {
  std::vector<DiskInfo> disks;
  template <typename V>
  void Visit(V& v) {
    v("disks", disks);
  }
};

// POST /v1/domains/{id}/disks/{target}/resize (blockresize).
struct DiskResizeRequest {
  uint64_t bytes = 0;
  template <typename V>
  void Visit(V& v) {
    v("bytes", bytes, kRequired);
  }
};

// GET /v1/domains/{id}/disk-errors (domblkerror).
struct DiskError {
  std::string target;
  std::string error;  // "no space", "unspecified error"
  template <typename V>
  void Visit(V& v) {
    v("target", target);
    v("error", error);
  }
};

struct DiskErrorList {
  std::vector<DiskError> errors;
  template <typename V>
  void Visit(V& v) {
    v("errors", errors);
  }
};

// POST /v1/domains/{id}/memory.
struct SetMemoryRequest : Scope {
  uint64_t kib = 0;
  bool maximum = false;
  template <typename V>
  void Visit(V& v) {
    v("kib", kib, kRequired);
    v("maximum", maximum);
    Scope::Visit(v);
  }
};

// POST /v1/domains/{id}/vcpus. Validate: at most kMaxVcpus.
struct SetVcpusRequest : Scope {
  static constexpr uint64_t kMaxVcpus = 4096;
  uint64_t count = 0;
  bool maximum = false;
  template <typename V>
  void Visit(V& v) {
    v("count", count, kRequired);
    v("maximum", maximum);
    Scope::Visit(v);
  }
  Status Validate() const;
};

struct VcpuRuntime {
  unsigned vcpu = 0;
  int64_t thread_id = 0;
  int cpu = -1;
  uint64_t cpu_time_ns = 0;
  std::string affinity;  // host CPU list, "0-3,6"
  template <typename V>
  void Visit(V& v) {
    v("vcpu", vcpu);
    v("thread_id", thread_id);
    v("cpu", cpu);
    v("cpu_time_ns", cpu_time_ns);
    v("affinity", affinity);
  }
};

// GET /v1/domains/{id}/vcpus: the live fields only while the domain runs.
struct VcpuInfo {
  unsigned maximum_config = 0;
  unsigned current_config = 0;
  std::optional<unsigned> maximum_live;
  std::optional<unsigned> current_live;
  std::optional<std::vector<VcpuRuntime>> vcpus;
  template <typename V>
  void Visit(V& v) {
    v("maximum_config", maximum_config);
    v("current_config", current_config);
    v("maximum_live", maximum_live);
    v("current_live", current_live);
    v("vcpus", vcpus);
  }
};

struct SchedInfo {
  std::string scheduler = "posix";
  uint64_t cpu_shares = 0;
  template <typename V>
  void Visit(V& v) {
    v("scheduler", scheduler);
    v("cpu_shares", cpu_shares);
  }
};

struct SetSchedInfoRequest : Scope {
  uint64_t cpu_shares = 0;
  template <typename V>
  void Visit(V& v) {
    v("cpu_shares", cpu_shares, kRequired);
    Scope::Visit(v);
  }
};

// GET /v1/domains/{id}/pinning: the host CPUs of each vCPU (index = vcpu) and of the
// emulator threads.
struct Pinning {
  std::vector<std::string> vcpus;
  std::string emulator;
  template <typename V>
  void Visit(V& v) {
    v("vcpus", vcpus);
    v("emulator", emulator);
  }
};

// POST /v1/domains/{id}/vcpupin. Validate: vcpu at most kMaxVcpu.
struct PinVcpuRequest : Scope {
  static constexpr uint64_t kMaxVcpu = 16383;
  uint64_t vcpu = 0;
  std::string cpuset;
  template <typename V>
  void Visit(V& v) {
    v("vcpu", vcpu, kRequired);
    v("cpuset", cpuset, kRequired);
    Scope::Visit(v);
  }
  Status Validate() const;
};

struct PinEmulatorRequest : Scope {
  std::string cpuset;
  template <typename V>
  void Visit(V& v) {
    v("cpuset", cpuset, kRequired);
    Scope::Visit(v);
  }
};

// POST /v1/domains/{id}/disks (attach-disk; virsh's option names in comments).
struct AttachDiskRequest : Scope {
  std::string source;
  std::string target;
  std::string bus;  // --targetbus
  std::string driver;
  std::string subdriver;
  std::string type;
  std::string mode;
  std::string cache;
  template <typename V>
  void Visit(V& v) {
    v("source", source, kRequired);
    v("target", target, kRequired);
    v("bus", bus);
    v("driver", driver);
    v("subdriver", subdriver);
    v("type", type);
    v("mode", mode);
    v("cache", cache);
    Scope::Visit(v);
  }
};

// POST /v1/domains/{id}/devices: one <disk> or <interface>; detach removes it.
struct DeviceRequest : Scope {
  std::string xml;
  std::string source;  // names the XML in errors
  bool detach = false;
  template <typename V>
  void Visit(V& v) {
    v("xml", xml, kRequired);
    v("source", source);
    v("detach", detach);
    Scope::Visit(v);
  }
};

// POST /v1/domains/{id}/interfaces (attach-interface).
struct AttachInterfaceRequest : Scope {
  std::string type;
  std::string source;
  std::string model;
  std::string mac;
  std::string target;
  template <typename V>
  void Visit(V& v) {
    v("type", type, kRequired);
    v("source", source);
    v("model", model);
    v("mac", mac);
    v("target", target);
    Scope::Visit(v);
  }
};

// DELETE /v1/domains/{id}/interfaces?type=&mac=&live&config (detach-interface).
struct DetachInterfaceQuery : Scope {
  std::string type;
  std::string mac;  // empty: the only interface of `type`
  template <typename V>
  void Visit(V& v) {
    v("type", type, kRequired);
    v("mac", mac);
    Scope::Visit(v);
  }
};

// virsh's --running / --paused of save, managedsave and restore. Validate: not both.
struct RunningOrPaused {
  bool paused = false;
  bool running = false;
  template <typename V>
  void Visit(V& v) {
    v("paused", paused);
    v("running", running);
  }
  Status Validate() const;
  // true: paused, false: running, none: as the guest was (restore) or is (save).
  std::optional<bool> want_paused() const;
};

// POST /v1/domains/{id}/save and /v1/domains/restore: `file` is absolute.
struct SaveRequest : RunningOrPaused {
  std::string file;
  template <typename V>
  void Visit(V& v) {
    v("file", file, kRequired);
    RunningOrPaused::Visit(v);
  }
};

using ManagedSaveRequest = RunningOrPaused;

struct ConsoleReply {
  std::string socket;  // the console's unix socket (same host only)
  template <typename V>
  void Visit(V& v) {
    v("socket", socket);
  }
};

// ---------------------------------------------------------------- jobs and events

struct ErrorInfo {
  std::string code;  // errors.h's ErrorId
  std::string message;
  template <typename V>
  void Visit(V& v) {
    v("code", code);
    v("message", message);
  }
};

// A long operation (save, restore, managed save).
struct Job {
  uint64_t id = 0;
  std::string kind;    // "save"
  std::string object;  // "web1"
  std::string state;   // running, completed, failed, cancelled
  int progress = 0;    // percent
  std::optional<ErrorInfo> error;
  template <typename V>
  void Visit(V& v) {
    v("id", id);
    v("kind", kind);
    v("object", object);
    v("state", state);
    v("progress", progress);
    v("error", error);
  }
};

// The 202 answer of an operation that runs as a job.
struct JobReply {
  Job job;
  template <typename V>
  void Visit(V& v) {
    v("job", job);
  }
};

// DELETE /v1/domains/{id}/managedsave (managedsave-remove): whether there was an
// image to remove.
// GET /v1/domains/{id}/managedsave (managedsave-dumpxml): graphics passwords only
// with security_info, which needs an admin.
struct ManagedSaveXmlQuery {
  bool security_info = false;
  template <typename V>
  void Visit(V& v) {
    v("security_info", security_info);
  }
};

// PUT /v1/domains/{id}/managedsave (managedsave-define): the definition the managed
// save image restores, and whether it comes back paused or running (neither: as saved).
struct ManagedSaveDefineRequest : RunningOrPaused {
  std::string xml;
  std::string source;  // the file name, for errors
  template <typename V>
  void Visit(V& v) {
    v("xml", xml, kRequired);
    v("source", source);
    RunningOrPaused::Visit(v);
  }
};

struct ManagedSaveRemoved {
  bool removed = false;
  template <typename V>
  void Visit(V& v) {
    v("removed", removed);
  }
};

// ---- snapshots (virsh snapshot-*) ----

// POST /v1/domains/{id}/snapshots (snapshot-create, snapshot-create-as): `xml` is
// a <domainsnapshot>; `redefine` (snapshot-edit) changes an existing one's
// description, and with `current` makes it the current snapshot.
struct SnapshotCreateRequest {
  std::string xml;
  std::string source;  // the file name, for errors
  bool disk_only = false;
  bool no_metadata = false;
  bool redefine = false;
  bool current = false;
  template <typename V>
  void Visit(V& v) {
    v("xml", xml, kRequired);
    v("source", source);
    v("disk_only", disk_only);
    v("no_metadata", no_metadata);
    v("redefine", redefine);
    v("current", current);
  }
};

struct SnapshotCreated {
  std::string name;
  template <typename V>
  void Visit(V& v) {
    v("name", name);
  }
};

// GET /v1/domains/{id}/snapshots: every snapshot, oldest first.
struct Snapshot {
  std::string name;
  std::string description;
  std::string parent;  // "" for a root
  std::string state;   // running, paused, shutoff
  std::string memory;  // internal, no
  std::string location;
  int64_t creation_time = 0;
  bool current = false;
  uint64_t children = 0;
  uint64_t descendants = 0;
  template <typename V>
  void Visit(V& v) {
    v("name", name);
    v("description", description);
    v("parent", parent);
    v("state", state);
    v("memory", memory);
    v("location", location);
    v("creation_time", creation_time);
    v("current", current);
    v("children", children);
    v("descendants", descendants);
  }
};

struct SnapshotList {
  std::vector<Snapshot> snapshots;
  template <typename V>
  void Visit(V& v) {
    v("snapshots", snapshots);
  }
};

// GET /v1/domains/{id}/snapshots/{name} (snapshot-dumpxml): graphics passwords in
// its <domain> only with security_info, which needs an admin.
struct SnapshotXmlQuery {
  bool security_info = false;
  template <typename V>
  void Visit(V& v) {
    v("security_info", security_info);
  }
};

// POST /v1/domains/{id}/snapshots/{name}/revert (snapshot-revert).
struct SnapshotRevertRequest : RunningOrPaused {
  bool force = false;
  template <typename V>
  void Visit(V& v) {
    RunningOrPaused::Visit(v);
    v("force", force);
  }
};

// DELETE /v1/domains/{id}/snapshots/{name} (snapshot-delete).
struct SnapshotDeleteQuery {
  bool children = false;
  bool children_only = false;
  bool metadata = false;
  template <typename V>
  void Visit(V& v) {
    v("children", children);
    v("children_only", children_only);
    v("metadata", metadata);
  }
};

struct SnapshotsDeleted {
  std::vector<std::string> deleted;
  template <typename V>
  void Visit(V& v) {
    v("deleted", deleted);
  }
};

// POST /v1/domains/{id}/clone (skiff clone, virt-clone's options): lists apply in
// order, the n-th file to the n-th disk that is copied, the n-th MAC to the n-th
// interface. `print_xml` plans only: the answer has the XML and no job.
struct CloneRequest {
  std::string name;  // empty: ORIG-clone
  std::string uuid;  // empty: a new one
  std::vector<std::string> files;
  std::vector<std::string> macs;
  std::string nvram;
  std::vector<std::string> skip_copy;
  std::vector<std::string> force_copy;
  bool preserve_data = false;
  bool nonsparse = false;
  bool reflink = false;
  bool linked = false;
  bool print_xml = false;
  template <typename V>
  void Visit(V& v) {
    v("name", name);
    v("uuid", uuid);
    v("files", files);
    v("macs", macs);
    v("nvram", nvram);
    v("skip_copy", skip_copy);
    v("force_copy", force_copy);
    v("preserve_data", preserve_data);
    v("nonsparse", nonsparse);
    v("reflink", reflink);
    v("linked", linked);
    v("print_xml", print_xml);
  }
};

// POST /v1/domains/{id}/backups (skiff backup create): a full backup, or with
// `incremental` only what changed since the newest backup in `dir`. `dir`
// empty: the daemon's ROOT/var/lib/skiff/backups/DOMAIN. Retention afterwards
// with keep_last / keep_daily (0: no rule).
struct BackupCreateRequest {
  std::string dir;
  bool incremental = false;
  unsigned keep_last = 0;
  unsigned keep_daily = 0;
  template <typename V>
  void Visit(V& v) {
    v("dir", dir);
    v("incremental", incremental);
    v("keep_last", keep_last);
    v("keep_daily", keep_daily);
  }
};

// 202: the backup's id and directory, and the job that writes it.
struct BackupCreateReply {
  std::string id;
  std::string dir;
  std::string kind;    // full, incremental
  std::string parent;  // an incremental's
  Job job;
  template <typename V>
  void Visit(V& v) {
    v("id", id);
    v("dir", dir);
    v("kind", kind);
    v("parent", parent);
    v("job", job);
  }
};

// GET /v1/backups?dir=DIR (skiff backup list).
struct BackupListQuery {
  std::string dir;
  template <typename V>
  void Visit(V& v) {
    v("dir", dir);
  }
};

// One backup of a directory; `error` says why its manifest cannot be read.
struct BackupInfo {
  std::string id;
  std::string domain;
  std::string kind;
  std::string parent;
  std::string created;  // UTC, "2026-12-07 23:15:00"
  uint64_t bytes = 0;
  std::vector<std::string> disks;
  std::string error;
  template <typename V>
  void Visit(V& v) {
    v("id", id);
    v("domain", domain);
    v("kind", kind);
    v("parent", parent);
    v("created", created);
    v("bytes", bytes);
    v("disks", disks);
    v("error", error);
  }
};

struct BackupList {
  std::vector<BackupInfo> backups;
  template <typename V>
  void Visit(V& v) {
    v("backups", backups);
  }
};

// POST /v1/backups/verify: `path` is one backup or a directory of them.
struct BackupPathRequest {
  std::string path;
  template <typename V>
  void Visit(V& v) {
    v("path", path);
  }
};

struct BackupVerified {
  std::string id;
  std::vector<std::string> problems;  // none: intact
  template <typename V>
  void Visit(V& v) {
    v("id", id);
    v("problems", problems);
  }
};

struct BackupVerifyReply {
  std::vector<BackupVerified> backups;
  template <typename V>
  void Visit(V& v) {
    v("backups", backups);
  }
};

// POST /v1/backups/restore: `path` is one backup, or a directory (its newest, or
// the newest taken by `at`); the domain comes back as `name` (empty: its own)
// with its disks as new volumes of `pool` (empty: default).
struct BackupRestoreRequest {
  std::string path;
  std::string name;
  std::string at;
  std::string pool;
  template <typename V>
  void Visit(V& v) {
    v("path", path);
    v("name", name);
    v("at", at);
    v("pool", pool);
  }
};

struct BackupRestoreReply {
  std::string name;
  std::string id;
  std::vector<std::string> files;
  Job job;
  template <typename V>
  void Visit(V& v) {
    v("name", name);
    v("id", id);
    v("files", files);
    v("job", job);
  }
};

// One file of a clone: what becomes of the original's disk `target` (or "nvram").
struct CloneFile {
  std::string target;
  std::string path;    // the clone's file
  uint64_t bytes = 0;  // what a copy reads (0: nothing copied)
  std::string how;     // copy, reflink, overlay (--linked), kept (--preserve-data)
  template <typename V>
  void Visit(V& v) {
    v("target", target);
    v("path", path);
    v("bytes", bytes);
    v("how", how);
  }
};

// The answer to a clone: 202 with the job that makes it, or 200 with the plan only.
struct CloneReply {
  std::string name;
  std::string xml;
  std::vector<CloneFile> files;
  std::optional<Job> job;
  template <typename V>
  void Visit(V& v) {
    v("name", name);
    v("xml", xml);
    v("files", files);
    v("job", job);
  }
};

// GET /v1/jobs.
struct JobList {
  std::vector<Job> jobs;
  template <typename V>
  void Visit(V& v) {
    v("jobs", jobs);
  }
};

struct JobWaitQuery {
  bool wait = false;  // block until the job ends
  template <typename V>
  void Visit(V& v) {
    v("wait", wait);
  }
};

// One event of GET /v1/events: type "lifecycle" (kind, name, uuid for domains,
// event, detail) or "job" (job). The daemon numbers them (seq, from 1) and stamps
// them with the time (unix ms) as it publishes them.
struct Event {
  std::string type;
  std::optional<std::string> kind;  // domain, network, pool
  std::optional<std::string> name;
  std::optional<std::string> uuid;
  std::optional<std::string> event;  // defined, started, stopped, ...
  std::optional<std::string> detail;
  std::optional<Job> job;
  uint64_t seq = 0;
  uint64_t time = 0;
  template <typename V>
  void Visit(V& v) {
    v("type", type);
    v("kind", kind);
    v("name", name);
    v("uuid", uuid);
    v("event", event);
    v("detail", detail);
    v("job", job);
    v("seq", seq);
    v("time", time);
  }

  static Event Lifecycle(std::string kind, std::string name, std::string event,
                         std::string detail) {
    Event e;
    e.type = "lifecycle";
    e.kind = std::move(kind);
    e.name = std::move(name);
    e.event = std::move(event);
    e.detail = std::move(detail);
    return e;
  }
};

// ---------------------------------------------------------------- networks

struct NetworkSummary {
  std::string name;
  std::string uuid;
  bool active = false;
  bool autostart = false;
  bool persistent = true;
  std::string bridge;
  template <typename V>
  void Visit(V& v) {
    v("name", name);
    v("uuid", uuid);
    v("active", active);
    v("autostart", autostart);
    v("persistent", persistent);
    v("bridge", bridge);
  }
};

struct NetworkList {
  std::vector<NetworkSummary> networks;
  template <typename V>
  void Visit(V& v) {
    v("networks", networks);
  }
};

// GET /v1/networks/{name}.
struct NetworkInfo : NetworkSummary {
  std::string mode;                    // nat, route, isolated, open, bridge
  std::string ipv4;                    // "192.168.122.1/24", or empty
  std::optional<int64_t> dnsmasq_pid;  // null unless active with DHCP/DNS
  template <typename V>
  void Visit(V& v) {
    NetworkSummary::Visit(v);
    v("mode", mode);
    v("ipv4", ipv4);
    v("dnsmasq_pid", dnsmasq_pid, kNullWhenEmpty);
  }
};

struct LeasesQuery {
  std::string mac;  // empty: every lease
  template <typename V>
  void Visit(V& v) {
    v("mac", mac);
  }
};

struct Lease {
  int64_t expiry = 0;  // seconds since the epoch; 0: never
  std::string mac;
  std::string type = "ipv4";
  std::string ip;
  int prefix = 24;
  std::string hostname;
  std::string client_id;
  template <typename V>
  void Visit(V& v) {
    v("expiry", expiry);
    v("mac", mac);
    v("type", type);
    v("ip", ip);
    v("prefix", prefix);
    v("hostname", hostname);
    v("client_id", client_id);
  }
};

struct LeaseList {
  std::vector<Lease> leases;
  template <typename V>
  void Visit(V& v) {
    v("leases", leases);
  }
};

// ?format=text|svg. Validate: one of the two (empty is text).
struct DiagramQuery {
  std::string format;
  template <typename V>
  void Visit(V& v) {
    v("format", format);
  }
  Status Validate() const;
};

struct Diagram {
  std::string format;
  std::string diagram;
  template <typename V>
  void Visit(V& v) {
    v("format", format);
    v("diagram", diagram);
  }
};

// ---------------------------------------------------------------- pools and volumes

struct PoolSummary {
  std::string name;
  std::string uuid;
  bool active = false;
  bool autostart = false;
  bool persistent = true;
  std::string type;    // dir, fs
  std::string target;  // the pool's directory
  template <typename V>
  void Visit(V& v) {
    v("name", name);
    v("uuid", uuid);
    v("active", active);
    v("autostart", autostart);
    v("persistent", persistent);
    v("type", type);
    v("target", target);
  }
};

struct PoolList {
  std::vector<PoolSummary> pools;
  template <typename V>
  void Visit(V& v) {
    v("pools", pools);
  }
};

// GET /v1/pools/{name}/info.
struct PoolInfo : PoolSummary {
  uint64_t capacity = 0;
  uint64_t allocation = 0;
  uint64_t available = 0;
  template <typename V>
  void Visit(V& v) {
    PoolSummary::Visit(v);
    v("capacity", capacity);
    v("allocation", allocation);
    v("available", available);
  }
};

// POST /v1/pools/{name}/build (an fs pool's mkfs). Validate: not both.
struct BuildPoolRequest {
  bool overwrite = false;
  bool no_overwrite = false;
  template <typename V>
  void Visit(V& v) {
    v("overwrite", overwrite);
    v("no_overwrite", no_overwrite);
  }
  Status Validate() const;
};

struct RefreshReply {
  uint64_t volumes = 0;  // how many the pool holds now
  template <typename V>
  void Visit(V& v) {
    v("volumes", volumes);
  }
};

struct Backing {
  std::string path;
  std::string format;
  template <typename V>
  void Visit(V& v) {
    v("path", path);
    v("format", format);
  }
};

struct Volume {
  std::string name;
  std::string path;
  std::string key;  // the path, as libvirt's dir pools use it
  std::string type;
  std::string format;
  uint64_t capacity = 0;
  uint64_t allocation = 0;
  std::optional<Backing> backing;
  template <typename V>
  void Visit(V& v) {
    v("name", name);
    v("path", path);
    v("key", key);
    v("type", type);
    v("format", format);
    v("capacity", capacity);
    v("allocation", allocation);
    v("backing", backing);
  }
};

struct VolumeList {
  std::vector<Volume> volumes;
  template <typename V>
  void Visit(V& v) {
    v("volumes", volumes);
  }
};

// GET /v1/volumes?path=P: the volume whose path or key is P, and its pool.
struct VolumeByPathQuery {
  std::string path;
  template <typename V>
  void Visit(V& v) {
    v("path", path, kRequired);
  }
};

struct LocatedVolume : Volume {
  std::string pool;
  template <typename V>
  void Visit(V& v) {
    Volume::Visit(v);
    v("pool", pool);
  }
};

struct VolumeRef {
  std::string pool;
  std::string volume;
  template <typename V>
  void Visit(V& v) {
    v("pool", pool, kRequired);
    v("volume", volume, kRequired);
  }
};

// POST /v1/pools/{name}/volumes: a new volume from XML, or a clone of `clone_of`
// (which takes the source's size and format).
struct CreateVolumeRequest {
  std::string xml;
  bool prealloc_metadata = false;
  std::optional<VolumeRef> clone_of;
  template <typename V>
  void Visit(V& v) {
    v("xml", xml, kRequired);
    v("prealloc_metadata", prealloc_metadata);
    v("clone_of", clone_of);
  }
};

struct ResizeVolumeRequest {
  uint64_t capacity = 0;  // bytes
  bool shrink = false;
  template <typename V>
  void Visit(V& v) {
    v("capacity", capacity, kRequired);
    v("shrink", shrink);
  }
};

// GET .../extents?offset&length, and GET .../data (raw bytes) of the same range.
struct ExtentsQuery {
  uint64_t offset = 0;
  std::optional<uint64_t> length;  // none: to the end
  template <typename V>
  void Visit(V& v) {
    v("offset", offset);
    v("length", length);
  }
};

// PUT .../data?offset=N[&truncate=true][&final_size=S], raw bytes written at N:
// truncate empties the file first (the first piece of an upload); final_size sets
// the file's size at the end (unwritten ranges stay holes) and syncs it.
struct VolumeWriteQuery {
  uint64_t offset = 0;
  bool truncate = false;
  std::optional<uint64_t> final_size;
  template <typename V>
  void Visit(V& v) {
    v("offset", offset);
    v("truncate", truncate);
    v("final_size", final_size);
  }
};

// The ranges of a volume's file that hold data; the rest are holes.
struct Extents {
  uint64_t size = 0;                                   // of the file
  std::vector<std::pair<uint64_t, uint64_t>> extents;  // [offset, length]
  template <typename V>
  void Visit(V& v) {
    v("size", size);
    v("extents", extents);
  }
};

// ---------------------------------------------------------------- host

struct Version {
  std::string daemon;
  int api = 0;
  std::string hypervisor;  // "qemu", "fake"
  std::string qemu;        // QEMU's version, empty when none was found
  template <typename V>
  void Visit(V& v) {
    v("daemon", daemon);
    v("api", api);
    v("hypervisor", hypervisor);
    v("qemu", qemu);
  }
};

struct HostFacts {
  std::string arch;
  int64_t cpus = 0;
  uint64_t memory_kib = 0;
  std::string kernel;
  template <typename V>
  void Visit(V& v) {
    v("arch", arch);
    v("cpus", cpus);
    v("memory_kib", memory_kib);
    v("kernel", kernel);
  }
};

struct KvmFacts {
  bool usable = false;
  std::string module;
  std::string reason;
  template <typename V>
  void Visit(V& v) {
    v("usable", usable);
    v("module", module);
    v("reason", reason);
  }
};

struct QemuFacts {
  std::string path;
  std::string version;
  std::string error;  // why no QEMU was found
  template <typename V>
  void Visit(V& v) {
    v("path", path);
    v("version", version);
    v("error", error);
  }
};

struct GuestCaps {
  std::string os_type;
  std::string arch;
  std::vector<std::string> machines;
  std::vector<std::string> domain_types;  // qemu, and kvm when usable
  template <typename V>
  void Visit(V& v) {
    v("os_type", os_type);
    v("arch", arch);
    v("machines", machines);
    v("domain_types", domain_types);
  }
};

// ?format=json (the default: Capabilities) or xml (XmlReply: libvirt's
// <capabilities> document, from the qemu module). Validate: one of the two.
struct CapabilitiesQuery {
  std::string format;
  template <typename V>
  void Visit(V& v) {
    v("format", format);
  }
  Status Validate() const;
};

// GET /v1/host/capabilities.
struct Capabilities {
  HostFacts host;
  KvmFacts kvm;
  QemuFacts qemu;
  std::vector<GuestCaps> guests;
  std::string hypervisor;
  template <typename V>
  void Visit(V& v) {
    v("host", host);
    v("kvm", kvm);
    v("qemu", qemu);
    v("guests", guests);
    v("hypervisor", hypervisor);
  }
};

// One line of host-validate, as virt-host-validate prints it.
struct HostCheck {
  std::string area;    // QEMU, NET, CGROUP
  std::string check;   // "Checking if device /dev/kvm exists"
  std::string result;  // PASS, WARN, FAIL
  std::string detail;  // why not, and what to do
  template <typename V>
  void Visit(V& v) {
    v("area", area);
    v("check", check);
    v("result", result);
    v("detail", detail);
  }
};

struct HostValidation {
  std::vector<HostCheck> checks;
  template <typename V>
  void Visit(V& v) {
    v("checks", checks);
  }
};

}  // namespace skiff::api
