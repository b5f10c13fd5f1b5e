// DomainSaves: save, managed save and restore (jobs), and the managed save image's
// definition (managedsave-dumpxml/-define).
#include "skiff/daemon/domain_saves.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>

#include <spdlog/spdlog.h>

#include "daemon/domain_core.h"
#include "daemon/save_file.h"
#include "skiff/base/fd.h"
#include "skiff/base/fs.h"

namespace skiff::daemon {

namespace fs = std::filesystem;

Result<uint64_t> DomainSaves::Save(const std::string& ref, const std::string& file,
                                   std::optional<bool> paused) {
  if (file.empty() || file[0] != '/') {
    return InvalidArgumentError("save file '{}' must be an absolute path", file);
  }
  std::string name;
  {
    SKIFF_ASSIGN_OR_RETURN(auto held, core_.Acquire(ref));
    if (!held.first->status.active()) return NotRunning(held.first->def.name);
    name = held.first->def.name;
  }
  return jobs_.Start("save", name, [this, name, file, paused](const JobControl& job) {
    return RunSave(name, file, paused, job);
  });
}

Status DomainSaves::RunSave(const std::string& name, const std::string& file,
                            std::optional<bool> paused, const JobControl& job) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_.Acquire(name));
  auto& [obj, lock] = held;
  if (!obj->status.active()) return NotRunning(name);
  // The image is written under a temp name and becomes FILE only once whole and
  // durable: a daemon killed mid-save leaves no image that a start or restore
  // would take for one (the temp file goes at the next start, for managed saves).
  const fs::path part = file + fmt::format(".tmp.{}", ::getpid());
  SKIFF_TRY(WriteSaveHeader(part.string(), obj->live ? *obj->live : obj->def,
                            paused.value_or(obj->status.state() == DomainState::kPaused)));
  // Named FILE while the guest still exists (before QEMU is stopped): at no
  // moment is the guest gone and its image not whole under its name.
  auto commit = [&]() -> Status {
    // The state QEMU wrote is durable before the name says the image is whole.
    UniqueFd fd(::open(part.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd || ::fsync(fd.get()) != 0) {
      return ErrnoError(errno, fmt::format("sync '{}'", part.string()));
    }
    SKIFF_TRY(core_.env().RenameFile(part, file));
    Status synced = core_.env().SyncDir(fs::path(file).parent_path());
    if (!synced.ok()) (void)core_.env().RemoveFile(file);  // the guest runs on: no image
    return synced;
  };
  Status st = core_.hv().Save(name, part.string(), job, commit);
  if (!st.ok()) {
    (void)core_.env().RemoveFile(part);
    return st;
  }
  core_.MarkStopped(*obj, ShutoffReason::kSaved);
  if (!obj->persistent) {
    core_.Forget(obj);
  }
  return Status::Ok();
}

Result<uint64_t> DomainSaves::ManagedSave(const std::string& ref, std::optional<bool> paused) {
  std::string name;
  {
    SKIFF_ASSIGN_OR_RETURN(auto held, core_.Acquire(ref));
    if (!held.first->status.active()) return NotRunning(held.first->def.name);
    if (!held.first->persistent) {
      return FailedPreconditionError("cannot do managed save for transient domain '{}'",
                                     held.first->def.name);
    }
    name = held.first->def.name;
  }
  std::string file = (core_.paths().managed_save(name)).string();
  // Transient domains were refused above; one undefined while the job waited is
  // forgotten by RunSave, as every stopped transient domain is.
  return jobs_.Start("managedsave", name, [this, name, file, paused](const JobControl& job) {
    return RunSave(name, file, paused, job);
  });
}

Result<bool> DomainSaves::RemoveManagedSave(const std::string& ref) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_.Acquire(ref));
  const fs::path managed = core_.paths().managed_save(held.first->def.name);
  if (!core_.env().FileExists(managed)) return false;
  SKIFF_TRY(RemoveFileDurably(core_.env(), managed));
  spdlog::info("domain '{}': managed save image removed", held.first->def.name);
  return true;
}

Result<std::string> DomainSaves::ManagedSaveXml(const std::string& ref, bool secure) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_.Acquire(ref));
  const fs::path managed = core_.paths().managed_save(held.first->def.name);
  if (!core_.env().FileExists(managed)) {
    return NotFoundError("domain '{}' has no managed save image", held.first->def.name);
  }
  SKIFF_ASSIGN_OR_RETURN(SaveHeader h, ReadSaveHeader(managed.string()));
  return ShownXml(h.def, secure);
}

Status DomainSaves::DefineManagedSave(const std::string& ref, const std::string& xml,
                                      const std::string& source, std::optional<bool> paused) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_.Acquire(ref));
  const std::string name = held.first->def.name;
  const fs::path managed = core_.paths().managed_save(name);
  if (!core_.env().FileExists(managed))
    return NotFoundError("domain '{}' has no managed save image", name);
  SKIFF_ASSIGN_OR_RETURN(conf::DomainDef next,
                         conf::ParseDomainXml(xml, source.empty() ? "<request>" : source));
  SKIFF_ASSIGN_OR_RETURN(SaveHeader h, ReadSaveHeader(managed.string()));
  auto& gs = next.devices.graphics;
  for (size_t i = 0; i < gs.size() && i < h.def.devices.graphics.size(); ++i) {
    const auto& old = h.def.devices.graphics[i];
    if (gs[i].passwd.empty() && gs[i].type == old.type) gs[i].passwd = old.passwd;
  }
  SKIFF_TRY(CheckSaveCompatible(h.def, next, managed.string()));
  SKIFF_TRY(RewriteSaveHeader(managed.string(), h, next, paused.value_or(h.paused)));
  spdlog::info("domain '{}': managed save image redefined", name);
  return Status::Ok();
}

Result<uint64_t> DomainSaves::Restore(const std::string& file, std::optional<bool> want_paused) {
  SKIFF_ASSIGN_OR_RETURN(SaveHeader h, ReadSaveHeader(file));
  // As virsh: the state it was saved in, unless --running or --paused says otherwise.
  const bool paused = want_paused.value_or(h.paused);
  conf::DomainDef def = std::move(h.def);
  std::string name = def.name;
  return jobs_.Start("restore", name, [this, def, file, paused](const JobControl& job) -> Status {
    job.progress(10);
    // A domain of the same name is restored into (keeping its uuid), as libvirt does.
    conf::DomainDef key = def;
    SKIFF_ASSIGN_OR_RETURN(
        auto slot, core_.domains().FindOrAdd(key, false, [] { return NewDomainObj(false); }));
    auto& [obj, fresh, lock] = slot;
    conf::DomainDef saved = obj->def;
    obj->def = def;
    obj->def.uuid = saved.uuid;
    auto r = start_(*obj, paused, file);
    if (!fresh) obj->def = std::move(saved);
    if (!r.ok()) {
      if (fresh) core_.Forget(obj);
      return r.status();
    }
    if (!fresh) (void)core_.WriteLiveStatus(*obj);
    return Status::Ok();
  });
}

}  // namespace skiff::daemon
