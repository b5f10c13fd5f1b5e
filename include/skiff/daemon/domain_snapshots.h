// DomainSnapshots: virsh's snapshot-* verbs on internal (qcow2) snapshots. A
// running domain's snapshot holds its memory and devices too (QEMU's
// snapshot-save job, through the Hypervisor); a shut-off domain's is taken by
// Skiff's image engine in each qcow2 disk. A UEFI domain's NVRAM file is copied
// beside the snapshot's metadata and put back on revert.
//
// Metadata: ROOT/var/lib/skiff/snapshots/DOMAIN/NAME.xml, libvirt's
// <domainsnapshot> with the <domain> it was taken of, written atomically after
// the images hold the snapshot (a daemon killed in between leaves an unnamed tag
// in an image, never metadata without data); `current` there names the current
// snapshot. The Service hands it out as snapshots(). `ref` is a name, a UUID or
// a numeric id. Each action holds the domain's lock while it runs.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "skiff/base/status.h"
#include "skiff/conf/snapshot.h"
#include "skiff/daemon/service_types.h"

namespace skiff::daemon {

class DomainCore;
struct DomainObj;

// One snapshot as snapshot-list and snapshot-info show it.
struct SnapshotSummary {
  conf::SnapshotDef def;  // domain_xml left out
  std::string location;   // internal
  bool current = false;
  unsigned children = 0;
  unsigned descendants = 0;
};

struct SnapshotCreateOptions {
  bool disk_only = false;    // --disk-only: external, not supported yet
  bool no_metadata = false;  // --no-metadata: the images only
  bool redefine = false;     // --redefine: change an existing snapshot's description
  bool current = false;      // with redefine: make it the current one
};

struct SnapshotRevertOptions {
  bool running = false;  // --running: running afterwards
  bool paused = false;   // --paused: paused afterwards
  bool force = false;    // --force: accepted; a revert always restarts QEMU
};

struct SnapshotDeleteOptions {
  bool children = false;       // and every descendant
  bool children_only = false;  // only the descendants
  bool metadata_only = false;  // the metadata only; the images keep the data
};

class DomainSnapshots {
 public:
  // The life cycle's start and stop of a locked domain, which a revert shares.
  using StartFn = std::function<Result<DomainSummary>(DomainObj&, bool paused)>;
  using StopFn = std::function<Status(DomainObj&)>;
  // Whether another job (a clone) reads the domain's disks now: its error if so.
  using BusyFn = std::function<Status(const std::string& domain)>;
  DomainSnapshots(DomainCore& core, StartFn start, StopFn stop, BusyFn busy)
      : core_(core), start_(std::move(start)), stop_(std::move(stop)), busy_(std::move(busy)) {}

  // snapshot-create / snapshot-create-as: `xml` is a <domainsnapshot> (from
  // `source`, named in errors). Returns the snapshot's name.
  Result<std::string> Create(const std::string& ref, const std::string& xml,
                             const std::string& source, const SnapshotCreateOptions& options);
  // Every snapshot of the domain, oldest first.
  Result<std::vector<SnapshotSummary>> List(const std::string& ref);
  // snapshot-dumpxml: the metadata file's <domainsnapshot>, with its <domain>
  // (graphics passwords only with `secure`).
  Result<std::string> Xml(const std::string& ref, const std::string& name, bool secure);
  Status Revert(const std::string& ref, const std::string& name,
                const SnapshotRevertOptions& options);
  // Returns the names deleted.
  Result<std::vector<std::string>> Delete(const std::string& ref, const std::string& name,
                                          const SnapshotDeleteOptions& options);

  // For undefine (the domain's lock held): how many snapshots `domain` has, and
  // removing their metadata (--snapshots-metadata).
  size_t CountLocked(const std::string& domain);
  Status RemoveAllMetadataLocked(const std::string& domain);

 private:
  struct Store;
  Result<std::string> CreateLocked(DomainObj& obj, conf::SnapshotDef snap,
                                   const SnapshotCreateOptions& options);
  Status RevertLocked(DomainObj& obj, const conf::SnapshotDef& snap,
                      const SnapshotRevertOptions& options);
  // Before Skiff's image engine changes `paths` of `domain`: no clone job reads
  // them and no other running domain holds them.
  Status CheckImagesFree(const std::string& domain, const std::vector<std::string>& paths);

  DomainCore& core_;
  StartFn start_;
  StopFn stop_;
  BusyFn busy_;
};

}  // namespace skiff::daemon
