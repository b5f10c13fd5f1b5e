// DomainBackups: skiff backup, one command for a full or incremental backup, and
// its restore. A backup is a directory (backup_manifest.h): the definition, each
// disk as qcow2 (an incremental's disk is an overlay on its parent's holding only
// the clusters written since, which a qcow2 bitmap "skiff-backup-ID" in the
// domain's disk has recorded, through Skiff's image engine and QEMU alike), the
// NVRAM, and manifest.json with sizes and SHA-256 sums, written last. It is made
// under a hidden name and renamed into place once complete: a failed job, or a
// daemon killed during one, leaves no backup rather than half of one (a journal
// under ROOT/var/lib/skiff/backup-jobs names the hidden directory for the next
// daemon to remove). A restore reads the chain up to one backup into new volumes
// of a pool and defines the domain, under its old name or a new one.
// A shut-off domain's disks are read by the image engine; start, resume, undefine,
// snapshots and clone wait for the job. A running (or paused) domain runs on:
// QEMU copies its disks as they were when the backup began, and keeps the bitmap
// (Hypervisor::BackupDisks).
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "skiff/base/status.h"
#include "skiff/daemon/domain_busy.h"
#include "skiff/daemon/jobs.h"
#include "skiff/daemon/service_types.h"

namespace skiff::daemon {

class DomainCore;
struct BackupEntry;

class DomainBackups {
 public:
  using DefineFn =
      std::function<Result<DomainSummary>(const std::string& xml, const std::string& source)>;
  DomainBackups(DomainCore& core, JobManager& jobs, DomainBusy& busy, DefineFn define)
      : core_(core), jobs_(jobs), busy_(busy), define_(std::move(define)) {}

  struct CreateOptions {
    std::string dir;  // empty: ROOT/var/lib/skiff/backups/DOMAIN
    bool incremental = false;
    unsigned keep_last = 0, keep_daily = 0;  // retention after the backup; 0: no rule
  };
  struct Started {
    std::string id, dir, parent;  // parent: an incremental's
    uint64_t job = 0;
  };
  // Checks the domain and the chain at once, then starts the job.
  Result<Started> Create(const std::string& ref, const CreateOptions& options);

  struct Listed {
    std::string id, domain, kind, parent, created, error;
    uint64_t bytes = 0;  // the files' sizes
    std::vector<std::string> disks;
  };
  Result<std::vector<Listed>> List(const std::string& dir);

  // Every backup in `path` (a directory of them) or the one `path` is, with its
  // problems (none: it is intact).
  struct Verified {
    std::string id;
    std::vector<std::string> problems;
  };
  Result<std::vector<Verified>> Verify(const std::string& path);

  struct RestoreOptions {
    std::string name;  // empty: the backed-up domain's
    std::string at;    // newest at or before this time (ParseBackupTime)
    std::string pool;  // empty: "default"
  };
  struct Restoring {
    std::string name, id;
    std::vector<std::string> files;  // the new volumes
    uint64_t job = 0;
  };
  // `path` is one backup, or a directory (its newest backup, or --at's). The chain
  // is verified and the names checked before the job starts.
  Result<Restoring> Restore(const std::string& path, const RestoreOptions& options);

  // At daemon start: removes the hidden directories of backups a killed daemon
  // left unfinished.
  void RecoverInterrupted();

 private:
  struct Disk;
  Status RunCreate(const std::string& domain, const std::string& xml, std::vector<Disk> disks,
                   const Started& s, const CreateOptions& o, const JobControl& job);
  Status RunRestore(const Restoring& r, const std::vector<BackupEntry>& backups,
                    const std::string& xml, const JobControl& job);

  DomainCore& core_;
  JobManager& jobs_;
  DomainBusy& busy_;
  DefineFn define_;
  std::mutex mu_;                   // a leaf: guards reserved_
  std::set<std::string> reserved_;  // names being restored
};

}  // namespace skiff::daemon
