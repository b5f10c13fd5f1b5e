// The Hypervisor seam: what the daemon asks of the thing that runs guests, in the
// shape of libvirt's driver table (src/driver-hypervisor.h), kept outside every
// driver: it depends on conf only. The QEMU driver (src/qemu/qemu_driver.*,
// made by qemu::MakeQemuDriver) runs each guest as a QEMU process; FakeHypervisor
// (include/skiff/fake/) is deterministic and backs the API and CLI tests. skiffd
// picks one and hands it to the daemon.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "skiff/base/status.h"
#include "skiff/conf/domain.h"

namespace skiff::hypervisor {

// libvirt's virDomainState and its reasons, with the same numbers (domstats prints them).
enum class DomainState {
  kNoState = 0,
  kRunning = 1,
  kBlocked = 2,
  kPaused = 3,
  kShutdown = 4,
  kShutoff = 5,
  kCrashed = 6,
  kPmSuspended = 7
};

// A tap made for one guest interface, handed to the hypervisor at start.
struct GuestTap {
  size_t index = 0;  // index into the domain's <interface> list
  int fd = -1;       // the tap queue, owned by the caller until Start returns (-1: fake)
  std::string name;  // vnet0, ...
};

struct StartOptions {
  bool paused = false;
  // One per <interface type='network'|'bridge'>: QEMU gets the fds (-netdev tap,fd=N).
  std::vector<GuestTap> taps;
  std::string restore_from;     // a save file to load the guest's state from; empty: boot
  uint64_t restore_offset = 0;  // where the state starts in it (after the daemon's header)
  // Files of the disks of type volume, by target dev, resolved by the daemon.
  std::map<std::string, std::string> volume_paths;
};

// I/O counters of one disk and of one interface, as `virsh domstats --block
// --interface` shows them (an interface's rx is what the guest received).
struct BlockIoStats {
  std::string name;  // target dev: vda
  uint64_t rd_reqs = 0, rd_bytes = 0, wr_reqs = 0, wr_bytes = 0, fl_reqs = 0;
};
struct NetIoStats {
  std::string name;  // tap device: vnet0
  uint64_t rx_bytes = 0, rx_pkts = 0, rx_drop = 0, tx_bytes = 0, tx_pkts = 0, tx_drop = 0;
};

struct RuntimeStats {
  uint64_t cpu_time_ns = 0;
  uint64_t balloon_current_kib = 0;
  uint64_t balloon_maximum_kib = 0;
  unsigned vcpus_current = 0;
  unsigned vcpus_maximum = 0;
  int pid = 0;
  std::vector<BlockIoStats> blocks;  // filled by the driver
  std::vector<NetIoStats> nets;      // filled by the service from the host's tap counters
};

struct InterfaceAddress {
  std::string name;  // tap device, e.g. vnet0
  std::string mac;
  std::string protocol;  // ipv4 | ipv6
  std::string address;   // 192.168.122.10/24
};

// One vCPU of a running guest, as `virsh vcpuinfo` shows it.
struct VcpuRuntime {
  unsigned vcpu = 0;  // cpu-index
  int thread_id = 0;  // host thread
  int cpu = -1;       // host CPU it ran on last
  uint64_t cpu_time_ns = 0;
  std::string affinity;  // the host CPUs it may run on: "0-3"
};

// Why a running domain stopped, reported by the driver on its own thread.
enum class ExitReason { kShutdown, kDestroyed, kCrashed, kSaved, kFailed };

// A change in a running guest's state that the daemon did not ask for.
struct GuestEvent {
  // kPanicked: the guest reported a panic through its <panic> device; it is
  // stopped and its process kept, for <on_crash> to act on.
  enum class Kind { kPaused, kResumed, kReset, kPanicked };
  Kind kind = Kind::kPaused;
  // kPaused: why, as libvirt names it ("ioerror", "watchdog", "unknown");
  // kReset: "guest" (from inside) or "host"; kPanicked: "panicked".
  std::string detail;
};

// Progress of a long operation (0..100) and a flag that asks it to stop.
struct JobControl {
  std::function<void(int percent)> progress = [](int) {};
  const std::atomic<bool>* cancelled = nullptr;
  bool is_cancelled() const { return cancelled && cancelled->load(); }
};

// Implementations are thread-safe for calls on different domains; the daemon
// never issues two calls on the same domain at once (its per-object lock).
class Hypervisor {
 public:
  virtual ~Hypervisor() = default;

  // "QEMU 7.2.19" or "fake".
  virtual std::string Describe() const = 0;

  // Boots `def` (or restores it from options.restore_from). Returns once the guest
  // runs (or is paused with options.paused). Returns the process id (or 0).
  virtual Result<int> Start(const conf::DomainDef& def, const StartOptions& options) = 0;

  // Re-attaches to a domain that was running when the daemon stopped.
  // kNotFound when it is not running any more.
  virtual Status Attach(const conf::DomainDef& def) = 0;

  virtual Status Shutdown(const std::string& name) = 0;  // ACPI power button; returns at once
  virtual Status Destroy(const std::string& name) = 0;   // kills at once; no exit notice follows
  virtual Status Reboot(const std::string& name) = 0;
  virtual Status Reset(const std::string& name) = 0;
  virtual Status Suspend(const std::string& name) = 0;
  virtual Status Resume(const std::string& name) = 0;
  virtual Result<RuntimeStats> Stats(const std::string& name) = 0;
  virtual Result<std::vector<InterfaceAddress>> Addresses(const std::string& name) = 0;

  virtual Status SetMemory(const std::string& name, uint64_t kib) = 0;
  // Plugs or unplugs vCPUs (only hot-plugged ones can go; the guest must release them).
  virtual Status SetVcpus(const std::string& name, unsigned count) = 0;
  // The vCPUs present, in cpu-index order.
  virtual Result<std::vector<VcpuRuntime>> Vcpus(const std::string& name) = 0;
  // Pins vCPU `vcpu`'s thread to `cpuset` (kNotFound when it is not present).
  virtual Status PinVcpu(const std::string& name, unsigned vcpu, const std::string& cpuset) = 0;
  // Pins every thread that is not a vCPU's (the emulator) to `cpuset`.
  virtual Status PinEmulator(const std::string& name, const std::string& cpuset) = 0;
  // The cpu shares of the domain's cgroup (libvirt's scale, 2..262144; on cgroup v2
  // mapped to and from cpu.weight). kUnavailable when it has no cgroup.
  virtual Result<uint64_t> CpuShares(const std::string& name) = 0;
  virtual Status SetCpuShares(const std::string& name, uint64_t shares) = 0;
  virtual Status AttachDisk(const std::string& name, const conf::DiskDef& disk) = 0;
  virtual Status DetachDisk(const std::string& name, const conf::DiskDef& disk) = 0;
  // `tap` is the tap made for `nic` (fd -1 for type 'user'); the caller keeps its fd.
  virtual Status AttachInterface(const std::string& name, const conf::InterfaceDef& nic,
                                 const GuestTap& tap) = 0;
  virtual Status DetachInterface(const std::string& name, const conf::InterfaceDef& nic) = 0;

  // Appends the guest's state to the file `path` (which holds the daemon's header)
  // and stops the guest; no exit notice follows. `commit` runs once the state is
  // whole and durable in `path` and before the guest is stopped (the daemon names
  // the image there), so that no moment exists where the guest is gone and its
  // image is not. On failure of either (or cancel: kCancelled) the guest keeps
  // running (as it was) and Save returns the error.
  virtual Status Save(const std::string& name, const std::string& path, const JobControl& job,
                      const std::function<Status()>& commit) = 0;

  // Internal snapshots of a running guest (virsh snapshot-create with memory):
  // `disks` are the target devs (vda, ...) of qcow2 disks; the guest's memory and
  // device state go into the first. The guest is paused while the snapshot is
  // written and runs again afterwards if it ran before.
  virtual Status SaveSnapshot(const std::string& name, const std::string& tag,
                              const std::vector<std::string>& disks) = 0;
  // Puts the guest's memory, devices and `disks` back as snapshot `tag` has them.
  // A paused guest (started paused for this) stays paused; a running one runs on.
  virtual Status LoadSnapshot(const std::string& name, const std::string& tag,
                              const std::vector<std::string>& disks) = 0;
  // Removes snapshot `tag` from the running guest's `disks`.
  virtual Status DeleteSnapshot(const std::string& name, const std::string& tag,
                                const std::vector<std::string>& disks) = 0;

  // Resizes disk `target`'s image to `bytes` while the guest runs, and tells the
  // guest (virsh blockresize).
  virtual Status ResizeDisk(const std::string& name, const std::string& target, uint64_t bytes) = 0;
  // The disks whose I/O failed since the guest started (virsh domblkerror):
  // {target, "no space" | "unspecified error"}.
  virtual Result<std::vector<std::pair<std::string, std::string>>> DiskErrors(
      const std::string& name) = 0;

  // A backup of the running guest's disks, consistent at the instant it begins
  // (QEMU's blockdev-backup, one transaction for every disk). Each disk is copied
  // into `file`, a qcow2 image the caller made at the disk's size: every cluster,
  // or with `since_bitmap` only those that bitmap marks (`file` is then an overlay
  // whose backing file QEMU leaves closed). At the same instant the persistent
  // bitmap `new_bitmap` (none when empty: a raw disk holds none) starts on the
  // disk; a backup that fails removes it again.
  // `progress` gets the fraction done; `cancelled` is asked as the jobs run.
  struct DiskBackup {
    std::string target, file, since_bitmap, new_bitmap;
  };
  virtual Status BackupDisks(const std::string& name, const std::vector<DiskBackup>& disks,
                             const std::function<void(double)>& progress,
                             const std::function<bool()>& cancelled) = 0;
  // The persistent dirty bitmaps QEMU keeps for the running guest's disk `target`
  // (those it marks inconsistent left out), and the removal of one.
  virtual Result<std::vector<std::string>> DiskBitmaps(const std::string& name,
                                                       const std::string& target) = 0;
  virtual Status RemoveDiskBitmap(const std::string& name, const std::string& target,
                                  const std::string& bitmap) = 0;

  // The unix socket of the domain's serial console, for `skiff console`.
  virtual Result<std::string> ConsoleSocket(const std::string& name) = 0;

  // Writes the guest's memory as an ELF core file `path` (virsh dump --memory-only),
  // for <on_crash>coredump-*</on_crash>. Returns once the file is complete.
  virtual Status DumpMemory(const std::string& name, const std::string& path) = 0;

  // After Attach, once the daemon has the domain again: reports through the guest
  // event callback what the guest did while nobody watched (paused at an I/O
  // error, panicked, resumed by hand).
  virtual void Recheck(const std::string& name) = 0;

  // Once the daemon has attached every domain it knows to be running: stops the
  // guests of this driver that no domain explains (the daemon was killed between
  // spawning one and recording it) and removes the run files of domains that are
  // not running, so that the next start finds nothing in its way.
  virtual void ReapOrphans() = 0;

  // Called (from any thread) when a running guest stops on its own: shutdown from
  // inside, crash, QEMU killed. Set once, before the first Start.
  using ExitCallback = std::function<void(const std::string& name, ExitReason reason)>;
  virtual void SetExitCallback(ExitCallback cb) = 0;

  // Called (from a driver thread, one event at a time) when a running guest's state
  // changes without a daemon request: paused by the hypervisor (I/O error,
  // watchdog, a monitor command), resumed, reset from inside, panicked. The callback
  // must hand long work (a panic's <on_crash>) to a thread of its own: the driver
  // may be needed to finish it. Requests of the daemon's own (suspend, resume,
  // reset) may be reported too; the callback checks whether the state really
  // changed. Set before the first Start.
  using GuestEventCallback = std::function<void(const std::string& name, const GuestEvent& ev)>;
  virtual void SetGuestEventCallback(GuestEventCallback cb) = 0;
};

}  // namespace skiff::hypervisor
