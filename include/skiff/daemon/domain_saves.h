// DomainSaves: a domain's memory on disk, as virsh save, restore and managedsave
// have it. A save runs as a job: the image is written beside FILE and named FILE
// only once whole and durable, while QEMU still holds the guest; then the domain
// is shut off (saved). A managed save is ROOT/var/lib/skiff/save/NAME.save, which
// the domain's next start resumes from. The Service hands it out as saves(); the
// image's format is save_file.h. `ref` is a name, a UUID or a numeric id.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "skiff/base/status.h"
#include "skiff/daemon/jobs.h"
#include "skiff/daemon/service_types.h"

namespace skiff::daemon {

class DomainCore;
struct DomainObj;

class DomainSaves {
 public:
  // The life cycle's start of a locked domain, which a restore shares (it boots
  // from `restore_from`, a save image).
  using StartFn = std::function<Result<DomainSummary>(DomainObj&, bool paused,
                                                      const std::string& restore_from)>;
  DomainSaves(DomainCore& core, JobManager& jobs, StartFn start)
      : core_(core), jobs_(jobs), start_(std::move(start)) {}

  // save: each returns a job id at once. `paused` (virsh save --paused/--running)
  // is the state the image records for the restore; by default the domain's own.
  Result<uint64_t> Save(const std::string& ref, const std::string& file,
                        std::optional<bool> paused = std::nullopt);
  Result<uint64_t> ManagedSave(const std::string& ref, std::optional<bool> paused = std::nullopt);
  // managedsave-remove: deletes the domain's managed save image; false when it has
  // none. Its next start boots afresh.
  Result<bool> RemoveManagedSave(const std::string& ref);
  // managedsave-dumpxml: the definition the managed save image restores (graphics
  // passwords only with `secure`); kNotFound when the domain has none.
  Result<std::string> ManagedSaveXml(const std::string& ref, bool secure);
  // managedsave-define: the image restores `xml` instead, which may change only
  // what the guest cannot see (CheckSaveCompatible); `paused`, when given, is the
  // state it comes back in. A graphics password the new XML leaves out is kept
  // (managedsave-dumpxml shows none without --security-info). `source` names the
  // XML in errors.
  Status DefineManagedSave(const std::string& ref, const std::string& xml,
                           const std::string& source, std::optional<bool> paused);
  // restore (a job): the guest comes back paused or running as `paused` says, else
  // as it was saved; into the domain of its name when there is one.
  Result<uint64_t> Restore(const std::string& file, std::optional<bool> paused);

 private:
  // The body of a save or managed-save job: header, the driver's Save, then the
  // domain is shut off (saved); a transient one is forgotten. On failure the
  // file goes and the guest keeps running.
  Status RunSave(const std::string& name, const std::string& file, std::optional<bool> paused,
                 const JobControl& job);

  DomainCore& core_;
  JobManager& jobs_;
  StartFn start_;
};

}  // namespace skiff::daemon
