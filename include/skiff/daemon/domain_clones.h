// DomainClones: skiff clone, virt-clone's job run by the daemon. A clone is
// planned at once (clone_plan.h: name, UUID, MACs, disk paths, NVRAM; every error
// before anything is written), then made by a job: each file is copied (or made
// a qcow2 overlay, --linked; or shares extents, --reflink) under a hidden partial
// name, all are renamed into place, and only then is the clone defined. A job
// that fails, or a daemon killed during one, leaves no file and no domain behind:
// a journal under ROOT/var/lib/skiff/clones names the files until the clone is
// defined, and the next daemon removes them. The original stays shut off (or
// paused) while its disks are read: start, resume and undefine wait for the job.
// The Service hands it out as clones().
#pragma once

#include <cstdint>
#include <functional>
#include <map>
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
struct ClonePlan;

class DomainClones {
 public:
  // Defines the finished clone (the Service's define).
  using DefineFn =
      std::function<Result<DomainSummary>(const std::string& xml, const std::string& source)>;
  DomainClones(DomainCore& core, JobManager& jobs, DomainBusy& busy, DefineFn define)
      : core_(core), jobs_(jobs), busy_(busy), define_(std::move(define)) {}

  struct File {
    std::string target;  // vda, ..., or nvram
    std::string path;    // the clone's file
    uint64_t bytes = 0;  // the original file's size (0 when not copied)
    std::string how;     // copy, overlay, reflink, kept
  };
  struct Started {
    std::string name;  // the clone's
    std::string xml;   // its definition (with graphics passwords: an admin's call)
    std::vector<File> files;
    uint64_t job = 0;  // 0 for `plan_only`
  };
  // Plans the clone of `ref` and, unless `plan_only` (virt-clone --print-xml),
  // starts the job that makes it. A running original is refused; a paused one is
  // copied as its disks are while it stays paused (not with --linked).
  Result<Started> Clone(const std::string& ref, const CloneOptions& options, bool plan_only);

  // At daemon start (the registry loaded): the files of clone jobs that a killed
  // daemon left unfinished are removed, unless their clone was defined.
  void RecoverInterrupted();

 private:
  Status RunClone(const std::string& original, const ClonePlan& plan, bool reflink, bool nonsparse,
                  const JobControl& job);
  void Release(const std::string& original, const ClonePlan& plan);

  DomainCore& core_;
  JobManager& jobs_;
  DomainBusy& busy_;  // the originals being read
  DefineFn define_;
  std::mutex mu_;                   // a leaf: guards reserved_
  std::set<std::string> reserved_;  // names and paths of clones being made
};

}  // namespace skiff::daemon
