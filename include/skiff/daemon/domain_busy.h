// DomainBusy: the shut-off domains whose disks a job reads now (a clone, a
// backup). Their start, resume, undefine, snapshots and other such jobs are
// refused until the job ends. One per Service, shared by the jobs' owners.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "skiff/base/status.h"

namespace skiff::daemon {

class DomainBusy {
 public:
  // kFailedPrecondition naming the job when `domain`'s disks are being read.
  Status Check(const std::string& domain) const;
  // `domain` is `what` ("cloned", "backed up") until Release: held before the
  // job starts, and the job's id added once known (SetJob does nothing when the
  // job already ended).
  void Hold(const std::string& domain, std::string what);
  void SetJob(const std::string& domain, uint64_t job);
  void Release(const std::string& domain);

 private:
  struct Holder {
    std::string what;
    uint64_t job = 0;
  };
  mutable std::mutex mu_;  // a leaf
  std::map<std::string, Holder> held_;
};

}  // namespace skiff::daemon
