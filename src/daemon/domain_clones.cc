// DomainClones: plan (clone_plan.cc), then a job that copies under partial names,
// renames, and defines; a journal lets the next daemon undo a killed job.
#include "skiff/daemon/domain_clones.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "daemon/clone_plan.h"
#include "daemon/domain_core.h"
#include "daemon/storage/driver.h"
#include "skiff/base/fd.h"
#include "skiff/base/fs.h"
#include "skiff/image/image.h"
#include "skiff/image/ops.h"

namespace skiff::daemon {

namespace fs = std::filesystem;

namespace {

// Where a file is made before it is renamed into place: hidden beside it.
fs::path PartialOf(const std::string& path) {
  fs::path p(path);
  return p.parent_path() / ("." + p.filename().string() + ".skiff-clone");
}

fs::path JournalDir(const Paths& paths) { return paths.lib_dir / "clones"; }

// cp --reflink=always: the copy shares the original's extents.
Status Reflink(const std::string& from, const fs::path& to) {
  UniqueFd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) return ErrnoError(errno, fmt::format("open '{}'", from));
  UniqueFd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!out) return ErrnoError(errno, fmt::format("create '{}'", to.string()));
  if (::ioctl(out.get(), FICLONE, in.get()) != 0) {
    int e = errno;
    if (e == EOPNOTSUPP || e == EXDEV || e == EINVAL || e == ENOTTY) {
      return FailedPreconditionError(
          "--reflink: '{}' cannot share extents with '{}' (the file system has no reflinks, or "
          "they are on different file systems)",
          to.parent_path().string(), from);
    }
    return ErrnoError(e, fmt::format("reflink '{}'", from));
  }
  if (::fsync(out.get()) != 0) return ErrnoError(errno, fmt::format("sync '{}'", to.string()));
  return Status::Ok();
}

// Moves `from` to `to` unless `to` exists (a file that appeared since the plan).
Status RenameNoReplace(const fs::path& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) != 0) {
    if (errno == EEXIST) return AlreadyExistsError("'{}' appeared meanwhile; not overwritten", to);
    return ErrnoError(errno, fmt::format("rename '{}'", from.string()));
  }
  return Status::Ok();
}

}  // namespace

Result<DomainClones::Started> DomainClones::Clone(const std::string& ref,
                                                  const CloneOptions& options, bool plan_only) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_.Acquire(ref));
  auto& [obj, lock] = held;
  const std::string original = obj->def.name;
  const bool paused = obj->status.state() == DomainState::kPaused;
  if (obj->status.active() && !paused) {
    return FailedPreconditionError(
        "domain '{}' is running: clone needs it shut off, or paused (skiff suspend)", original);
  }
  if (paused && options.linked) {
    return FailedPreconditionError(
        "domain '{}' is paused: --linked needs it shut off, as its disks become the clone's "
        "backing files",
        original);
  }
  SKIFF_TRY(busy_.Check(original));

  CloneHost host;
  host.name_taken = [this](const std::string& n) {
    if (core_.domains().Find(n)) return true;
    std::lock_guard l(mu_);
    return reserved_.count("name:" + n) > 0;
  };
  host.uuid_taken = [this](const Uuid& u) { return core_.domains().Find(u.ToString()) != nullptr; };
  host.path_exists = [this](const std::string& p) {
    std::error_code ec;
    if (fs::exists(p, ec)) return true;
    std::lock_guard l(mu_);
    return reserved_.count(p) > 0;
  };
  host.volume_path = [this](const std::string& pool, const std::string& vol) {
    return core_.storage().ResolveVolume(pool, vol);
  };
  host.probe_format = [](const std::string& path) { return image::ProbeFormat(path); };
  host.implicit_nvram = [this](const std::string& domain) {
    return (core_.paths().lib_dir / "nvram" / (domain + "_VARS.fd")).string();
  };
  // The original's definition as the admin sees it (its graphics passwords too).
  SKIFF_ASSIGN_OR_RETURN(ClonePlan plan, PlanClone(obj->def, options, host));
  Started out;
  out.name = plan.def.name;
  out.xml = conf::FormatDomainXml(plan.def);
  // The clone's definition must define: refused here, before any copy.
  SKIFF_TRY(conf::ParseDomainXml(out.xml, "clone").status());
  for (const auto& f : plan.files) {
    File shown{f.target, f.path, 0, !f.copy ? "kept" : f.linked ? "overlay" : "copy"};
    if (f.copy && !f.linked) {
      std::error_code ec;
      shown.bytes = fs::file_size(f.source, ec);
      if (options.reflink && f.target != "nvram") shown.how = "reflink";
    }
    out.files.push_back(shown);
    if (!f.original_top.empty()) out.files.push_back({f.target, f.original_top, 0, "original"});
  }
  if (plan_only) return out;

  {
    std::lock_guard l(mu_);
    reserved_.insert("name:" + plan.def.name);
    for (const auto& f : plan.files) {
      reserved_.insert(f.path);
      if (!f.original_top.empty()) reserved_.insert(f.original_top);
    }
  }
  auto shared_plan = std::make_shared<ClonePlan>(std::move(plan));
  const bool reflink = options.reflink, nonsparse = options.nonsparse;
  busy_.Hold(original, "cloned");
  out.job = jobs_.Start("clone", original,
                        [this, original, shared_plan, reflink, nonsparse](const JobControl& job) {
                          Status st = RunClone(original, *shared_plan, reflink, nonsparse, job);
                          Release(original, *shared_plan);
                          return st;
                        });
  busy_.SetJob(original, out.job);
  return out;
}

void DomainClones::Release(const std::string& original, const ClonePlan& plan) {
  busy_.Release(original);
  std::lock_guard l(mu_);
  reserved_.erase("name:" + plan.def.name);
  for (const auto& f : plan.files) {
    reserved_.erase(f.path);
    reserved_.erase(f.original_top);
  }
}

Status DomainClones::RunClone(const std::string& original, const ClonePlan& plan, bool reflink,
                              bool nonsparse, const JobControl& job) {
  const std::string& name = plan.def.name;
  // Every file this job makes: {partial, final, backing (overlays), source (copies)}.
  struct Made {
    fs::path partial;
    std::string path, backing, backing_format, source, format;
    bool share = false;  // FICLONE instead of a copy
  };
  std::vector<Made> todo;
  uint64_t total = 0;
  for (const auto& f : plan.files) {
    if (!f.copy) continue;
    if (f.linked) {
      todo.push_back({PartialOf(f.path), f.path, f.source, f.format, "", ""});
      todo.push_back({PartialOf(f.original_top), f.original_top, f.source, f.format, "", ""});
    } else {
      // The NVRAM is always copied: it is small, and under the state root, which
      // need not share a file system (or reflinks) with the disks.
      const bool share = reflink && f.target != "nvram";
      todo.push_back({PartialOf(f.path), f.path, "", "", f.source, f.format, share});
      std::error_code ec;
      if (!share) total += fs::file_size(f.source, ec);
    }
  }
  // The journal names them before the first is made, with the original's
  // definitions before and after (a linked clone moves it onto its overlays).
  nlohmann::json files = nlohmann::json::array();
  for (const auto& m : todo) files.push_back({{"partial", m.partial.string()}, {"path", m.path}});
  nlohmann::json jj{{"name", name}, {"uuid", plan.def.uuid.ToString()}, {"files", files}};
  std::string before_xml;
  if (plan.original_before) {
    before_xml = conf::FormatDomainXml(*plan.original_before);
    jj["original"] = original;
    jj["original_before"] = before_xml;
  }
  const fs::path journal = JournalDir(core_.paths()) / (name + ".json");
  SKIFF_TRY(MakeDirs(journal.parent_path(), 0700));
  SKIFF_TRY(WriteFileAtomic(journal, jj.dump(), 0600));
  std::vector<std::string> made;  // partial or final files to remove on failure
  bool original_moved = false;
  auto undo = [&](Status st) {
    if (original_moved) {
      auto back = define_(before_xml, "definition of " + original + " before the clone");
      if (!back.ok()) spdlog::error("clone of '{}': {}", original, back.status().ToString());
    }
    for (const auto& p : made) (void)RemoveFileIfExists(p);
    (void)RemoveFileIfExists(journal);
    spdlog::warn("clone of '{}' as '{}' failed, nothing kept: {}", original, name, st.ToString());
    return st;
  };

  uint64_t done = 0;
  for (const auto& m : todo) {
    if (job.is_cancelled()) return undo(CancelledError("clone was cancelled"));
    made.push_back(m.partial.string());
    Status st;
    if (!m.backing.empty()) {
      image::CreateOptions co;
      co.format = "qcow2";
      co.backing_file = m.backing;
      co.backing_format = m.backing_format;
      st = image::CreateImage(m.partial.string(), co);
    } else if (m.share) {
      st = Reflink(m.source, m.partial);
    } else {
      std::error_code ec;
      const uint64_t size = fs::file_size(m.source, ec);
      image::ConvertOptions co;
      co.source_format = m.format;
      co.target.format = m.format;
      co.sparse_size = nonsparse ? 0 : 4096;
      if (nonsparse) co.target.preallocation = image::Preallocation::kFull;
      co.unsafe_cache = false;  // durable before it is named
      co.progress = [&job, done, size, total](double frac) {
        if (total == 0) return;
        job.progress(
            static_cast<int>((static_cast<double>(done) + frac * static_cast<double>(size)) * 99.0 /
                             static_cast<double>(total)));
      };
      st = image::ConvertImage(m.source, m.partial.string(), co);
      done += size;
    }
    const std::string& from = m.backing.empty() ? m.source : m.backing;
    if (!st.ok()) return undo(st.WithContext(fmt::format("clone of '{}'", from)));
  }
  // All made: into place, the original onto its overlays, then the clone defined.
  for (const auto& m : todo) {
    Status st = RenameNoReplace(m.partial, m.path);
    if (!st.ok()) return undo(st);
    made.push_back(m.path);
    (void)core_.env().SyncDir(fs::path(m.path).parent_path());
  }
  if (plan.original_after) {
    auto moved = define_(conf::FormatDomainXml(*plan.original_after), "linked clone " + name);
    if (!moved.ok()) return undo(moved.status().WithContext("original '" + original + "'"));
    original_moved = true;
  }
  auto defined = define_(conf::FormatDomainXml(plan.def), "clone of " + original);
  if (!defined.ok()) return undo(defined.status());
  (void)RemoveFileIfExists(journal);
  job.progress(100);
  spdlog::info("domain '{}' cloned as '{}' ({} file(s){})", original, name, todo.size(),
               plan.original_after ? ", the original now on overlays" : "");
  return Status::Ok();
}

void DomainClones::RecoverInterrupted() {
  const fs::path dir = JournalDir(core_.paths());
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() != ".json") {
      (void)RemoveFileIfExists(entry.path());  // a journal's own temp file
      continue;
    }
    auto text = ReadFile(entry.path());
    auto j = nlohmann::json::parse(text.ok() ? *text : "", nullptr, false);
    if (!j.is_object()) {
      spdlog::error("clone journal '{}' is unreadable; removed", entry.path().string());
      (void)RemoveFileIfExists(entry.path());
      continue;
    }
    const std::string name = j.value("name", "");
    auto obj = core_.domains().Find(name);
    const bool defined = obj && obj->def.uuid.ToString() == j.value("uuid", "");
    // A linked clone cut off after the original moved onto its overlays: the
    // original goes back to its disks, which the removed overlays would need.
    if (!defined && j.contains("original_before") && j["original_before"].is_string()) {
      auto back = define_(j["original_before"].get<std::string>(),
                          "definition of " + j.value("original", "") + " before the clone");
      if (!back.ok()) {
        spdlog::error("clone '{}': restoring the original's definition: {}", name,
                      back.status().ToString());
        continue;  // the files stay, and the journal, for the next start or the admin
      }
    }
    size_t removed = 0;
    if (j.contains("files") && j["files"].is_array()) {
      for (const auto& f : j["files"]) {
        if (!f.is_object()) continue;
        std::vector<std::string> gone = {f.value("partial", "")};
        if (!defined) gone.push_back(f.value("path", ""));
        for (const auto& p : gone) {
          if (!p.empty() && fs::exists(p, ec) && RemoveFileIfExists(p).ok()) ++removed;
        }
      }
    }
    spdlog::warn("clone '{}' was cut off by a daemon restart: {}; {} file(s) removed", name,
                 defined ? "it was defined and is kept" : "nothing of it is kept", removed);
    (void)RemoveFileIfExists(entry.path());
  }
}

}  // namespace skiff::daemon
