// Operations on a running QEMU, each one QMP command or a short sequence of them.
// All functions take the process's QmpClient (QemuProcess::qmp()); they may be
// called from any thread except the QMP event callback, and never throw.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "skiff/base/status.h"
#include "skiff/conf/domain.h"
#include "skiff/qemu/qmp_client.h"

namespace skiff::qemu {

// Domain states in libvirt's terms, derived from QEMU's RunState.
enum class RunState { kRunning, kPaused, kShutdown, kCrashed, kPmSuspended, kUnknown };
std::string_view RunStateName(RunState state);  // "running", "paused", ...

struct RunStatus {
  RunState state = RunState::kUnknown;
  // Why, in libvirt's words: "user" (paused by stop), "starting-up" (-S, not yet
  // resumed), "migration", "saved", "io-error", "crashed", "panicked",
  // "shutdown", "watchdog", "booted" (running), or QEMU's status for others.
  std::string reason;
  std::string qemu_status;  // QEMU's RunState as reported ("prelaunch", "paused", ...)
  bool running = false;     // QEMU's "running" flag
};

// query-status. kCorruption when the reply lacks "status".
Result<RunStatus> QueryStatus(QmpClient& qmp);
// Maps QEMU's status string (as query-status reports it) to a RunStatus.
RunStatus RunStatusFromQemu(std::string_view qemu_status, bool running);

Status SystemPowerdown(QmpClient& qmp);  // ACPI power button
Status SystemReset(QmpClient& qmp);
Status Pause(QmpClient& qmp);   // stop
Status Resume(QmpClient& qmp);  // cont
// quit: QEMU exits right after replying (watch the process for the exit).
// `timeout` bounds the wait for the reply.
Status Quit(QmpClient& qmp, std::chrono::milliseconds timeout = std::chrono::seconds(30));

// balloon: sets the guest's target memory in bytes. kFailedPrecondition
// (DeviceNotActive) when the domain has no balloon device.
Status SetBalloon(QmpClient& qmp, uint64_t bytes);
// Before a guest first runs (started or restored): its balloon target is
// <currentMemory> when that is below <memory> and it has a virtio balloon, as
// libvirt's qemuProcessSetupBalloon does; otherwise nothing is sent.
Status SetInitialBalloon(QmpClient& qmp, const conf::DomainDef& def);
// Before a guest first runs (started or restored): set_password for every
// <graphics> with a passwd, which BuildQemuArgv keeps off the command line
// (VNC with password=on and SPICE with ticketing start refusing every client).
Status SetGraphicsPasswords(QmpClient& qmp, const conf::DomainDef& def);
// query-balloon: the guest's current memory ("actual") in bytes.
Result<uint64_t> QueryBalloon(QmpClient& qmp);

struct VcpuInfo {
  int cpu_index = -1;
  int64_t thread_id = -1;  // host thread id of the vCPU
  std::string qom_path;
  nlohmann::json props = nlohmann::json::object();  // socket-id, core-id, thread-id, ...
};
// query-cpus-fast, in QEMU's order.
Result<std::vector<VcpuInfo>> QueryCpusFast(QmpClient& qmp);

struct HotpluggableCpu {
  std::string type;  // driver for device_add, e.g. "qemu64-x86_64-cpu"
  int vcpus_count = 1;
  std::string qom_path;  // empty when not plugged
  nlohmann::json props = nlohmann::json::object();
  bool plugged() const { return !qom_path.empty(); }
};
// query-hotpluggable-cpus (needs -smp N,maxcpus=M with M > N).
Result<std::vector<HotpluggableCpu>> QueryHotpluggableCpus(QmpClient& qmp);
// Plugs vCPUs with device_add of free query-hotpluggable-cpus slots, lowest
// first, until `target` vCPUs are present; their ids are "vcpu<index>". Below the
// current count, unplugs hot-plugged vCPUs (device_del, highest slot first, each
// waiting up to `unplug_timeout` for the guest to release it: DEVICE_DELETED).
// Returns the number of vCPUs present after. kInvalidArgument when `target`
// exceeds the slots (maxcpus); kFailedPrecondition when it would need to unplug
// a vCPU QEMU made at boot (-smp N); kUnavailable naming the device when the
// guest does not release one in time (QEMU keeps the request: the guest may
// still let it go later).
Result<int> SetVcpuCount(QmpClient& qmp, int target,
                         std::chrono::milliseconds unplug_timeout = std::chrono::seconds(20));

// Disk hotplug: blockdev-add `blockdev` (QEMU's BlockdevOptions, which must carry
// "node-name"), then device_add `device` (which must carry "id" and "drive" =
// node-name). When device_add fails the node is removed again (blockdev-del).
Status AttachDisk(QmpClient& qmp, const nlohmann::json& blockdev, const nlohmann::json& device);
// Disk unplug: device_del `device_id`, waits up to `timeout` for DEVICE_DELETED
// (the guest must release the device), then blockdev-del `node_name`.
// kUnavailable naming the device when the guest does not release it in time.
Status DetachDisk(QmpClient& qmp, const std::string& device_id, const std::string& node_name,
                  std::chrono::milliseconds timeout = std::chrono::seconds(30));

// NIC hotplug: passes `tap_fd` with getfd (fdname "fd-<netdev id>"), netdev_add
// `netdev` (QEMU's Netdev, with "id" and "type":"tap"; "fd" is filled in), then
// device_add `device` (with "id" and "netdev"). Failures undo the earlier steps
// (netdev_del, closefd). The caller keeps its copy of `tap_fd`.
Status AttachNic(QmpClient& qmp, int tap_fd, const nlohmann::json& netdev,
                 const nlohmann::json& device);
// NIC unplug: device_del, wait for DEVICE_DELETED (as DetachDisk), netdev_del.
Status DetachNic(QmpClient& qmp, const std::string& device_id, const std::string& netdev_id,
                 std::chrono::milliseconds timeout = std::chrono::seconds(30));

struct BlockStats {
  std::string device;     // legacy drive name (often empty with -blockdev)
  std::string qdev;       // the device's id or QOM path
  std::string node_name;  // top node
  uint64_t rd_bytes = 0, wr_bytes = 0;
  uint64_t rd_operations = 0, wr_operations = 0, flush_operations = 0;
  uint64_t rd_total_time_ns = 0, wr_total_time_ns = 0;
};
// query-blockstats (top-level entries; backing/parent nodes are not listed).
Result<std::vector<BlockStats>> QueryBlockStats(QmpClient& qmp);

struct MigrationProgress {
  std::string status;  // QEMU's MigrationStatus: "setup", "active", "completed", ...
  uint64_t transferred = 0;
  uint64_t remaining = 0;
  uint64_t total = 0;
};
using ProgressCallback = std::function<void(const MigrationProgress&)>;

// query-migrate.
Result<MigrationProgress> QueryMigrate(QmpClient& qmp);

struct SaveOptions {
  // Stop a running guest first so the saved state is consistent; it is resumed
  // again when the save fails.
  bool pause_first = true;
  std::chrono::milliseconds timeout = std::chrono::minutes(10);
  std::chrono::milliseconds poll_interval = std::chrono::milliseconds(100);
  // When set and it becomes true, the migration is cancelled (migrate_cancel), the
  // guest resumed if it was running, and SaveState returns kCancelled.
  const std::atomic<bool>* cancelled = nullptr;
};
// Saves the machine state into `fd` (a file opened for writing; QEMU writes from
// its current offset, so the caller may put a header first): lifts the migration
// bandwidth limit, passes `fd` with getfd, runs migrate "fd:NAME" and polls
// query-migrate until "completed", calling `progress` at each poll. Afterwards QEMU
// is paused ("postmigrate"); the caller normally destroys it. On failure or
// timeout the migration is cancelled and the error carries QEMU's error-desc.
Status SaveState(QmpClient& qmp, int fd, const SaveOptions& options = {},
                 const ProgressCallback& progress = nullptr);

// Ends a save whose caller is gone (the daemon was killed during SaveState): a
// migration that still runs is cancelled (migrate_cancel) and waited for until it
// has ended, then, when `resume` (the guest ran before the save), the guest is
// resumed. One that completed left QEMU paused ("postmigrate"); cont takes the
// guest back as well. kUnavailable when the migration has not ended by `timeout`.
Status AbandonSave(QmpClient& qmp, bool resume,
                   std::chrono::milliseconds timeout = std::chrono::seconds(30),
                   std::chrono::milliseconds poll_interval = std::chrono::milliseconds(100));

// Loads state saved by SaveState into a QEMU started with "-incoming defer" (and
// -S / start_paused): passes `fd` (positioned at the state) with getfd, runs
// migrate-incoming "fd:NAME" and polls query-migrate until "completed". QEMU is
// then paused; Resume() starts the guest.
Status RestoreState(QmpClient& qmp, int fd,
                    std::chrono::milliseconds timeout = std::chrono::minutes(10),
                    const ProgressCallback& progress = nullptr);

// Writes the guest's memory as an ELF core into `fd` (a file opened for writing):
// passes it with getfd, runs dump-guest-memory (no paging, detached) and polls
// query-dump until "completed". kFailedPrecondition when QEMU reports the dump
// failed, kUnavailable after `timeout`.
Status DumpGuestMemory(QmpClient& qmp, int fd,
                       std::chrono::milliseconds timeout = std::chrono::minutes(10));

// Internal snapshots (QEMU's snapshot-save, snapshot-load and snapshot-delete
// jobs): `kind` is "save", "load" or "delete"; `nodes` are block node names, the
// first of which holds (or holds) the memory state for save and load. Runs the job
// as "skiff-snapshot-<kind>", polls query-jobs until it concludes, dismisses it and
// returns its error (kFailedPrecondition with QEMU's words), kUnavailable after
// `timeout`.
// block_resize of node `node` to `bytes`.
Status ResizeBlockNode(QmpClient& qmp, const std::string& node, uint64_t bytes);
// query-block: the node name and io-status of every device whose I/O failed
// ("failed" or "nospace"; devices reporting "ok" or none are left out).
Result<std::vector<std::pair<std::string, std::string>>> QueryBlockIoErrors(QmpClient& qmp);

// Runs `transaction` with `actions` (blockdev-backup and block-dirty-bitmap-add,
// say), then waits for the jobs `job_ids` it started to conclude, reporting the
// fraction done of all of them and cancelling them all when `cancelled` says so.
// Dismisses the jobs; the first job's error fails it.
Status RunBlockJobs(QmpClient& qmp, const nlohmann::json& actions,
                    const std::vector<std::string>& job_ids,
                    const std::function<void(double)>& progress,
                    const std::function<bool()>& cancelled);
// The persistent, consistent dirty bitmaps of format node `node` (query-block).
Result<std::vector<std::string>> QueryPersistentBitmaps(QmpClient& qmp, const std::string& node);

Status RunSnapshotJob(QmpClient& qmp, const std::string& kind, const std::string& tag,
                      const std::vector<std::string>& nodes,
                      std::chrono::milliseconds timeout = std::chrono::minutes(30));

// ---- devices and the QOM tree (hot-plug and PCI addressing of a live guest) ----

// device_add with `props` (QEMU's device options: "driver", "id", "bus", ...).
Status DeviceAdd(QmpClient& qmp, const nlohmann::json& props);
// device_del `id` without waiting for the guest (DetachDisk and DetachNic wait).
Status DeviceDel(QmpClient& qmp, const std::string& id);
Status BlockdevDel(QmpClient& qmp, const std::string& node_name);
// netdev_add `netdev` (QEMU's Netdev: "type", "id", ...) and netdev_del.
Status NetdevAdd(QmpClient& qmp, const nlohmann::json& netdev);
Status NetdevDel(QmpClient& qmp, const std::string& id);

// One child of a QOM object (qom-list): "child<pcie-root-port>", "str", ...
struct QomProperty {
  std::string name;
  std::string type;
};
Result<std::vector<QomProperty>> QomList(QmpClient& qmp, const std::string& path);
Result<nlohmann::json> QomGet(QmpClient& qmp, const std::string& path, const std::string& property);
// The devices the command line or device_add made (/machine/peripheral), by id,
// with their QOM type: {"pci.1": "pcie-root-port", "net0": "virtio-net-pci"}.
Result<std::map<std::string, std::string>> PeripheralDevices(QmpClient& qmp);
// The MAC address of the peripheral device `id`, in lower case; an error when it
// is not a NIC.
Result<std::string> DeviceMac(QmpClient& qmp, const std::string& id);

// A PCI function as query-pci reports it.
struct PciDevice {
  std::string qdev_id;  // empty for devices QEMU made by itself (host bridge, ...)
  int slot = -1;
  int function = 0;
  bool bridge = false;             // a bridge (pcie-root-port, pci-bridge)
  std::vector<PciDevice> bridged;  // the devices behind it
};
struct PciBus {
  int bus = 0;  // 0: the root bus (pci.0 / pcie.0)
  std::vector<PciDevice> devices;
};
Result<std::vector<PciBus>> QueryPci(QmpClient& qmp);

}  // namespace skiff::qemu
