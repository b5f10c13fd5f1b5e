// The values daemon::Service takes and returns (service.h): summaries and details
// of domains, networks and pools, and the requests of the tuning and device calls.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "skiff/base/uuid.h"
#include "skiff/conf/domain.h"
#include "skiff/daemon/domain_state.h"
#include "skiff/daemon/network.h"
#include "skiff/storage/pool.h"

namespace skiff::daemon {

struct DomainSummary {
  int id = -1;  // -1 when inactive
  std::string name;
  Uuid uuid;
  DomainStatus status;  // state and reason: "shut off (destroyed)", "running (booted)"
  bool persistent = true;
  bool autostart = false;
  bool managed_save = false;
};

struct DomainInfo {
  DomainSummary summary;
  std::string os_type;
  unsigned vcpus = 0;
  uint64_t max_memory_kib = 0;
  uint64_t used_memory_kib = 0;
  uint64_t cpu_time_ns = 0;  // running only
};

struct UndefineOptions {
  bool remove_all_storage = false;
  bool snapshots_metadata = false;
  bool managed_save = false;
};

// skiff clone (virt-clone's options; see DomainClones). Lists apply in order: the
// n-th path to the n-th disk that is copied, the n-th MAC to the n-th interface.
struct CloneOptions {
  std::string name;                     // empty: ORIG-clone (--auto-clone)
  std::string uuid;                     // empty: a new one
  std::vector<std::string> files;       // paths of the copies; the rest are generated
  std::vector<std::string> macs;        // "RANDOM" or empty: generated
  std::string nvram;                    // the clone's NVRAM file (an explicit <nvram> only)
  std::vector<std::string> skip_copy;   // targets the clone shares with the original
  std::vector<std::string> force_copy;  // read-only or shareable targets copied anyway
  bool preserve_data = false;           // `files` exist already: nothing is copied
  bool nonsparse = false;               // copies fully allocated
  bool reflink = false;                 // copies share extents with the original (FICLONE)
  bool linked = false;                  // qcow2 overlays on the original's disks
};

// Which definition a device or resource change applies to (virsh's --live/--config).
struct Scope {
  bool live = false;
  bool config = false;
  // Neither flag: the running guest when it runs, else the definition (--current).
};

// vcpucount: live values are 0 while the domain is not running.
struct VcpuCounts {
  unsigned maximum_config = 0, current_config = 0, maximum_live = 0, current_live = 0;
};

// vcpupin/emulatorpin: the host CPUs of each vCPU (index = vcpu) and of the emulator.
struct CpuPinning {
  std::vector<std::string> vcpus;
  std::string emulator;
};

struct DiskRequest {
  std::string source, target, bus, driver, subdriver, type, mode, cache;
};
struct InterfaceRequest {
  std::string type, source, model, mac, target;
};

// A virtual network (its machinery: src/daemon/network/ on the net module).
struct NetworkSummary {
  std::string name;
  Uuid uuid;
  bool active = false, autostart = false, persistent = true;
  std::string bridge;
};
// What net-info and GET /v1/networks/{name} show beyond the summary.
struct NetworkDetails {
  NetworkSummary summary;
  std::string mode;              // nat, route, isolated, open, bridge
  std::string ipv4;              // "192.168.122.1/24", or empty
  std::optional<pid_t> dnsmasq;  // while active
};
// One DHCP lease of a network (net-dhcp-leases).
struct NetworkLease {
  net::Lease lease;
  int prefix = 24;  // the network's prefix length
};
struct PoolSummary {
  std::string name;
  Uuid uuid;
  bool active = false, autostart = false, persistent = true;
  std::string type, target;
};

// pool-info: the summary plus the file system's figures (zero while inactive).
struct PoolDetails {
  PoolSummary summary;
  storage::PoolStats stats;
};

// vol-download: the ranges of a volume's file that hold data (offset, length); the
// rest of [offset, offset + length) are holes.
struct VolumeExtents {
  uint64_t file_size = 0;
  std::vector<std::pair<uint64_t, uint64_t>> extents;
};

}  // namespace skiff::daemon
