// DomainBackups: skiff backup create/list/verify/restore. Create: checks, then a
// job that writes DIR/.ID.partial, adds the bitmap the next incremental reads,
// renames the directory into place, and drops the bitmaps it no longer needs.
// Restore: verifies the chain, then a job that flattens each disk's chain into a
// hidden file of the pool, renames them into place and defines the domain.
#include "skiff/daemon/domain_backups.h"

#include <fcntl.h>
#include <stdio.h>
#include <time.h>

#include <algorithm>
#include <filesystem>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "daemon/backup_manifest.h"
#include "daemon/domain_core.h"
#include "daemon/storage/driver.h"
#include "skiff/base/fs.h"
#include "skiff/base/uuid.h"
#include "skiff/conf/mac.h"
#include "skiff/image/image.h"
#include "skiff/image/ops.h"

namespace skiff::daemon {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kBitmapPrefix = "skiff-backup-";

std::string BitmapOf(const std::string& id) { return std::string(kBitmapPrefix) + id; }

fs::path JournalDir(const Paths& paths) { return paths.lib_dir / "backup-jobs"; }

fs::path PartialDir(const fs::path& dir, const std::string& id) {
  return dir / ("." + id + ".partial");
}

// The NVRAM file a domain uses: its <nvram>, else the one Skiff made for it.
std::string NvramOf(const conf::DomainDef& def, const Paths& paths) {
  if (!def.os.nvram.empty()) return def.os.nvram;
  return (paths.lib_dir / "nvram" / (def.name + "_VARS.fd")).string();
}

Status CopySmallFile(const fs::path& from, const fs::path& to) {
  SKIFF_ASSIGN_OR_RETURN(std::string data, ReadFile(from, 64 << 20));
  return WriteFileAtomic(to, data, 0600);
}

Status RenameNoReplace(const fs::path& from, const fs::path& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) != 0) {
    if (errno == EEXIST) {
      return AlreadyExistsError("'{}' appeared meanwhile; not overwritten", to.string());
    }
    return ErrnoError(errno, fmt::format("rename '{}'", from.string()));
  }
  return Status::Ok();
}

// Copies guest ranges of `source` into `target` (an overlay on the previous
// backup): data as data, zeroes as zero clusters.
Status CopyRanges(const std::string& source, const std::string& format, const std::string& target,
                  const std::vector<std::pair<uint64_t, uint64_t>>& ranges,
                  const std::function<void(uint64_t)>& copied) {
  image::OpenOptions in_opts;
  in_opts.format = format;
  SKIFF_ASSIGN_OR_RETURN(auto in, image::OpenImage(source, in_opts));
  image::OpenOptions out_opts;
  out_opts.format = "qcow2";
  out_opts.writable = true;
  SKIFF_ASSIGN_OR_RETURN(auto out, image::OpenImage(target, out_opts));
  std::vector<uint8_t> buf(4 << 20);
  for (const auto& [start, length] : ranges) {
    uint64_t off = start;
    const uint64_t end = std::min(start + length, in->size());
    while (off < end) {
      const uint64_t n = std::min<uint64_t>(buf.size(), end - off);
      std::span<uint8_t> chunk(buf.data(), n);
      SKIFF_TRY(in->Read(off, chunk));
      const bool zero = std::all_of(chunk.begin(), chunk.end(), [](uint8_t b) { return b == 0; });
      SKIFF_TRY(zero ? out->WriteZeroes(off, n, false) : out->Write(off, chunk));
      off += n;
      copied(n);
    }
  }
  SKIFF_TRY(out->Flush());
  SKIFF_TRY(out->Close());
  return in->Close();
}

// A backup's disks may only read each other: a full's has no backing file, an
// incremental's is its parent's disk of the same target. A backup from elsewhere
// naming any other file (/etc/shadow, another guest's disk) would copy it into
// the restored domain.
Status CheckChainLinks(const std::vector<const BackupEntry*>& chain) {
  for (size_t i = 0; i < chain.size(); ++i) {
    const BackupManifest& m = chain[i]->manifest;
    for (const auto& d : m.disks) {
      std::string want;
      if (i > 0) {
        const auto& pd = chain[i - 1]->manifest.disks;
        auto base = std::find_if(pd.begin(), pd.end(),
                                 [&](const BackupDisk& b) { return b.target == d.target; });
        if (base == pd.end()) {
          return FailedPreconditionError("backup '{}': disk {} is not in its parent '{}'", m.id,
                                         d.target, m.parent);
        }
        want = "../" + m.parent + "/" + base->file;
      }
      image::OpenOptions oo;
      oo.format = "qcow2";
      oo.open_backing = false;
      const std::string file = (chain[i]->dir / d.file).string();
      SKIFF_ASSIGN_OR_RETURN(auto img, image::OpenImage(file, oo));
      const std::string backing = img->backing_name();
      (void)img->Close();
      if (backing != want) {
        return FailedPreconditionError(
            "backup '{}': {} names backing file '{}'{}; refused", m.id, d.file, backing,
            want.empty() ? " (a full backup's disks have none)" : fmt::format(", not '{}'", want));
      }
    }
  }
  return Status::Ok();
}

}  // namespace

struct DomainBackups::Disk {
  std::string target, path, format, file;
  uint64_t virtual_size = 0;
  std::vector<std::pair<uint64_t, uint64_t>> changed;  // an incremental's ranges
  std::string parent_file;                             // an incremental's base
  bool live = false;  // the guest runs: QEMU copies it (Hypervisor::BackupDisks)
};

Result<DomainBackups::Started> DomainBackups::Create(const std::string& ref,
                                                     const CreateOptions& o) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_.Acquire(ref));
  auto& [obj, lock] = held;
  const conf::DomainDef& def = obj->def;
  // A running (or paused) guest keeps running: QEMU copies its disks as they are
  // when the backup begins (Hypervisor::BackupDisks).
  const bool live = obj->status.active();
  SKIFF_TRY(busy_.Check(def.name));
  const fs::path dir =
      o.dir.empty() ? core_.paths().lib_dir / "backups" / def.name : fs::path(o.dir);
  if (!dir.is_absolute()) return InvalidArgumentError("--to: '{}' is not absolute", o.dir);

  std::vector<Disk> disks;
  for (const auto& d : def.devices.disks) {
    if (d.device != conf::DiskDevice::kDisk) continue;  // cdroms and floppies are media
    SKIFF_ASSIGN_OR_RETURN(std::string path, core_.DiskPath(d));
    if (path.empty()) continue;
    const std::string format = d.format();
    if (format != "raw" && format != "qcow2") {
      return FailedPreconditionError("disk {} is {}: skiff backup reads raw and qcow2 disks",
                                     d.target_dev, format);
    }
    image::OpenOptions oo;
    oo.format = format;
    auto img = image::OpenImage(path, oo);
    if (!img.ok()) return img.status().WithContext(fmt::format("disk {}", d.target_dev));
    Disk disk{d.target_dev, path, format, d.target_dev + ".qcow2", (*img)->size(), {}, {}, live};
    (void)(*img)->Close();
    disks.push_back(std::move(disk));
  }
  if (disks.empty()) {
    return FailedPreconditionError("domain '{}' has no disk to back up", def.name);
  }

  Started s;
  s.dir = dir.string();
  if (o.incremental) {
    auto backups = ScanBackups(dir);
    auto parent = backups.ok() ? NewestBackup(*backups, def.name, 0)
                               : Result<const BackupEntry*>(backups.status());
    if (!parent.ok()) {
      return FailedPreconditionError(
          "no backup of '{}' in '{}' to build on: take a full backup first (without "
          "--incremental)",
          def.name, dir.string());
    }
    const BackupManifest& pm = (*parent)->manifest;
    if (!pm.uuid.empty() && pm.uuid != def.uuid.ToString()) {
      return FailedPreconditionError(
          "backup '{}' in '{}' is of another domain '{}' (UUID {}): take a full backup", pm.id,
          dir.string(), pm.domain, pm.uuid);
    }
    s.parent = pm.id;
    for (auto& disk : disks) {
      if (disk.format != "qcow2") {
        return FailedPreconditionError(
            "disk {} is raw: incremental backups need qcow2 disks, whose bitmaps record what "
            "changed; take a full backup (without --incremental)",
            disk.target);
      }
      auto base = std::find_if(pm.disks.begin(), pm.disks.end(),
                               [&](const BackupDisk& b) { return b.target == disk.target; });
      if (base == pm.disks.end()) {
        return FailedPreconditionError(
            "disk {} is not in backup '{}': take a full backup (without --incremental)",
            disk.target, pm.id);
      }
      disk.parent_file = base->file;
      if (live) {
        // QEMU holds the bitmaps of a running guest's disks, and keeps them current.
        auto names = core_.hv().DiskBitmaps(def.name, disk.target);
        if (!names.ok() ||
            std::find(names->begin(), names->end(), BitmapOf(pm.id)) == names->end()) {
          return FailedPreconditionError(
              "disk {}: what changed since backup '{}' is not known (QEMU has no bitmap '{}'); "
              "take a full backup (without --incremental)",
              disk.target, pm.id, BitmapOf(pm.id));
        }
        continue;
      }
      auto ranges = image::BitmapDirtyRanges(disk.path, "qcow2", BitmapOf(pm.id));
      if (!ranges.ok()) {
        return FailedPreconditionError(
            "disk {}: what changed since backup '{}' is not known ({}); take a full backup "
            "(without --incremental)",
            disk.target, pm.id, ranges.status().message());
      }
      disk.changed = std::move(*ranges);
    }
  }
  // An id is the time; a second backup within the same second waits for the next.
  int64_t now = static_cast<int64_t>(::time(nullptr));
  std::error_code ec;
  while (fs::exists(dir / BackupIdAt(now), ec) || fs::exists(PartialDir(dir, BackupIdAt(now)), ec))
    ++now;
  s.id = BackupIdAt(now);
  const std::string xml = conf::FormatDomainXml(def);
  const std::string domain = def.name;
  busy_.Hold(domain, "backed up");
  s.job = jobs_.Start("backup", domain,
                      [this, domain, xml, disks = std::move(disks), s, o](const JobControl& job) {
                        Status st = RunCreate(domain, xml, disks, s, o, job);
                        busy_.Release(domain);
                        return st;
                      });
  busy_.SetJob(domain, s.job);
  return s;
}

Status DomainBackups::RunCreate(const std::string& domain, const std::string& xml,
                                std::vector<Disk> disks, const Started& s, const CreateOptions& o,
                                const JobControl& job) {
  const fs::path dir(s.dir);
  const fs::path partial = PartialDir(dir, s.id);
  const fs::path journal = JournalDir(core_.paths()) / (domain + ".json");
  SKIFF_TRY(MakeDirs(dir, 0700));
  SKIFF_TRY(MakeDirs(journal.parent_path(), 0700));
  SKIFF_TRY(WriteFileAtomic(journal, nlohmann::json{{"partial", partial.string()}}.dump(), 0600));
  auto undo = [&](Status st) {
    std::error_code ec;
    fs::remove_all(partial, ec);
    (void)RemoveFileIfExists(journal);
    spdlog::warn("backup of '{}' failed, nothing kept: {}", domain, st.ToString());
    return st;
  };
  if (Status st = MakeDirs(partial, 0700); !st.ok()) return undo(st);

  auto def = conf::ParseDomainXml(xml, "domain.xml");
  if (!def.ok()) return undo(def.status());
  BackupManifest m;
  m.id = s.id;
  m.domain = domain;
  m.uuid = def->uuid.ToString();
  m.incremental = !s.parent.empty();
  m.parent = s.parent;
  m.created = *ParseBackupTime(s.id);
  if (Status st = WriteFileAtomic(partial / m.definition, xml, 0600); !st.ok()) return undo(st);

  uint64_t total = 0, done = 0;
  for (const auto& d : disks) {
    if (!m.incremental) total += d.virtual_size;
    for (const auto& r : d.changed) total += r.second;
  }
  auto progress = [&](uint64_t bytes) {
    if (total > 0) job.progress(static_cast<int>(static_cast<double>(bytes) * 99.0 / total));
  };
  const bool live = !disks.empty() && disks[0].live;
  if (live) {
    // The target files first, then one QEMU transaction copies every disk.
    std::vector<Hypervisor::DiskBackup> jobs;
    for (const auto& d : disks) {
      image::CreateOptions co;
      co.format = "qcow2";
      co.size = d.virtual_size;
      co.size_given = true;
      if (m.incremental) {
        co.backing_file = "../" + s.parent + "/" + d.parent_file;
        co.backing_format = "qcow2";
      }
      const std::string file = (partial / d.file).string();
      if (Status st = image::CreateImage(file, co); !st.ok()) {
        return undo(st.WithContext(fmt::format("disk {}", d.target)));
      }
      jobs.push_back({d.target, file, m.incremental ? BitmapOf(s.parent) : "",
                      d.format == "qcow2" ? BitmapOf(s.id) : ""});
    }
    Status st = core_.hv().BackupDisks(
        domain, jobs, [&](double frac) { job.progress(static_cast<int>(frac * 99.0)); },
        [&] { return job.is_cancelled(); });
    if (!st.ok()) return undo(st);
    for (const auto& d : disks) {
      const std::string file = (partial / d.file).string();
      BackupDisk bd{d.target, d.file, d.path, d.format, d.virtual_size, d.virtual_size};
      if (m.incremental) {
        // What the copy holds: the clusters QEMU wrote into the overlay.
        image::OpenOptions oo;
        oo.format = "qcow2";
        oo.open_backing = false;
        auto img = image::OpenImage(file, oo);
        bd.copied = 0;
        if (img.ok()) {
          auto map = image::MapImage(**img, 0, (*img)->size());
          for (const auto& e : map.value_or(std::vector<image::MapExtent>{})) {
            if (e.depth == 0 && e.present) bd.copied += e.length;
          }
          (void)(*img)->Close();
        }
      }
      m.disks.push_back(bd);
    }
  }
  for (const auto& d : disks) {
    if (live) break;
    if (job.is_cancelled()) return undo(CancelledError("backup was cancelled"));
    const std::string file = (partial / d.file).string();
    BackupDisk bd{d.target, d.file, d.path, d.format, d.virtual_size, 0};
    Status st;
    if (!m.incremental) {
      image::ConvertOptions co;
      co.source_format = d.format;
      co.target.format = "qcow2";
      co.unsafe_cache = false;
      const uint64_t before = done;
      co.progress = [&](double frac) {
        progress(before + static_cast<uint64_t>(frac * static_cast<double>(d.virtual_size)));
      };
      st = image::ConvertImage(d.path, file, co);
      bd.copied = d.virtual_size;
      done += d.virtual_size;
    } else {
      image::CreateOptions co;
      co.format = "qcow2";
      co.size = d.virtual_size;
      co.size_given = true;
      co.backing_file = "../" + s.parent + "/" + d.parent_file;
      co.backing_format = "qcow2";
      st = image::CreateImage(file, co);
      if (st.ok()) {
        st = CopyRanges(d.path, d.format, file, d.changed, [&](uint64_t n) {
          bd.copied += n;
          done += n;
          progress(done);
        });
      }
    }
    if (!st.ok()) return undo(st.WithContext(fmt::format("disk {}", d.target)));
    m.disks.push_back(bd);
  }
  const std::string nvram = NvramOf(*def, core_.paths());
  std::error_code ec;
  if (fs::is_regular_file(nvram, ec)) {
    m.nvram = "nvram.fd";
    if (Status st = CopySmallFile(nvram, partial / m.nvram); !st.ok()) return undo(st);
  }
  std::vector<std::string> names = {m.definition};
  if (!m.nvram.empty()) names.push_back(m.nvram);
  for (const auto& d : m.disks) names.push_back(d.file);
  for (const auto& n : names) {
    auto sum = SumFile(partial, n);
    if (!sum.ok()) return undo(sum.status());
    m.files.push_back(*sum);
  }
  if (Status st = WriteFileAtomic(partial / std::string(kManifestName), ManifestToJson(m), 0600);
      !st.ok()) {
    return undo(st);
  }
  (void)core_.env().SyncDir(partial);
  // The bitmap the next incremental reads starts now, before the backup is in
  // place: a daemon killed in between leaves an unused bitmap, never a backup
  // whose changes went unrecorded.
  for (const auto& d : disks) {
    if (d.format != "qcow2" || d.live) continue;  // QEMU started a live one's
    image::BitmapEdit add;
    add.format = "qcow2";
    add.actions = {{image::BitmapActionKind::kAdd, ""}};
    if (Status st = image::EditBitmap(d.path, BitmapOf(s.id), add); !st.ok()) {
      spdlog::warn("backup '{}' of '{}': disk {} records no changes for the next incremental: {}",
                   s.id, domain, d.target, st.ToString());
    }
  }
  if (Status st = RenameNoReplace(partial, dir / s.id); !st.ok()) return undo(st);
  (void)core_.env().SyncDir(dir);
  (void)RemoveFileIfExists(journal);
  // Older backups' bitmaps are done with: only the newest one's is read.
  for (const auto& d : disks) {
    if (d.format != "qcow2") continue;
    auto names = d.live ? core_.hv().DiskBitmaps(domain, d.target) : image::BitmapNames(d.path);
    for (const auto& name : names.value_or(std::vector<std::string>{})) {
      if (name.rfind(kBitmapPrefix, 0) != 0 || name == BitmapOf(s.id)) continue;
      if (d.live) {
        (void)core_.hv().RemoveDiskBitmap(domain, d.target, name);
        continue;
      }
      image::BitmapEdit rm;
      rm.format = "qcow2";
      rm.actions = {{image::BitmapActionKind::kRemove, ""}};
      (void)image::EditBitmap(d.path, name, rm);
    }
  }
  if (o.keep_last > 0 || o.keep_daily > 0) {
    auto backups = ScanBackups(dir);
    if (backups.ok()) {
      const auto keep = BackupsToKeep(*backups, domain, o.keep_last, o.keep_daily);
      for (const auto& b : *backups) {
        if (!b.error.ok() || b.manifest.domain != domain || keep.count(b.manifest.id)) continue;
        fs::remove_all(b.dir, ec);
        spdlog::info("backup '{}' of '{}' removed (retention)", b.manifest.id, domain);
      }
    }
  }
  job.progress(100);
  spdlog::info("domain '{}' backed up as '{}' ({}, {} disk(s))", domain, (dir / s.id).string(),
               m.incremental ? "incremental" : "full", m.disks.size());
  return Status::Ok();
}

Result<std::vector<DomainBackups::Listed>> DomainBackups::List(const std::string& dir) {
  SKIFF_ASSIGN_OR_RETURN(auto backups, ScanBackups(dir));
  std::vector<Listed> out;
  for (const auto& b : backups) {
    Listed l;
    l.id = b.manifest.id;
    if (!b.error.ok()) {
      l.error = b.error.message();
      out.push_back(std::move(l));
      continue;
    }
    const auto& m = b.manifest;
    l.domain = m.domain;
    l.kind = m.incremental ? "incremental" : "full";
    l.parent = m.parent;
    l.created = BackupTimeText(m.created);
    for (const auto& f : m.files) l.bytes += f.bytes;
    for (const auto& d : m.disks) l.disks.push_back(d.target);
    out.push_back(std::move(l));
  }
  return out;
}

Result<std::vector<DomainBackups::Verified>> DomainBackups::Verify(const std::string& path) {
  const fs::path p(path);
  const bool one = IsBackupDir(p);
  SKIFF_ASSIGN_OR_RETURN(auto backups, ScanBackups(one ? p.parent_path() : p));
  std::vector<Verified> out;
  for (const auto& b : backups) {
    if (one && b.dir.filename() != p.filename()) continue;
    out.push_back({b.manifest.id, VerifyBackupFiles(b)});
  }
  if (out.empty()) return NotFoundError("no backup in '{}'", path);
  return out;
}

Result<DomainBackups::Restoring> DomainBackups::Restore(const std::string& path,
                                                        const RestoreOptions& o) {
  const fs::path p = fs::path(path).lexically_normal();
  const bool one = IsBackupDir(p);
  const fs::path dir = one ? p.parent_path() : p;
  SKIFF_ASSIGN_OR_RETURN(auto backups, ScanBackups(dir));
  std::string id;
  if (one) {
    if (!o.at.empty()) return InvalidArgumentError("--at picks among a directory's backups");
    id = p.filename().string();
  } else {
    int64_t at = 0;
    if (!o.at.empty()) {
      SKIFF_ASSIGN_OR_RETURN(at, ParseBackupTime(o.at));
    }
    SKIFF_ASSIGN_OR_RETURN(const BackupEntry* newest, NewestBackup(backups, "", at));
    id = newest->manifest.id;
  }
  SKIFF_ASSIGN_OR_RETURN(auto chain, BackupChain(backups, id));
  // Every file of the chain as its manifest lists it, before anything is written.
  for (const auto* b : chain) {
    auto problems = VerifyBackupFiles(*b);
    if (!problems.empty()) {
      return FailedPreconditionError(
          "backup '{}' is damaged: {}{}", b->manifest.id, problems[0],
          problems.size() > 1 ? fmt::format(" (and {} more)", problems.size() - 1) : "");
    }
  }
  SKIFF_TRY(CheckChainLinks(chain));
  const BackupManifest& top = chain.back()->manifest;
  SKIFF_ASSIGN_OR_RETURN(std::string xml, ReadFile(chain.back()->dir / top.definition, 16 << 20));
  SKIFF_ASSIGN_OR_RETURN(conf::DomainDef def,
                         conf::ParseDomainXml(xml, (chain.back()->dir / top.definition).string()));
  Restoring r;
  r.id = top.id;
  r.name = o.name.empty() ? def.name : o.name;
  const bool renamed = r.name != def.name;
  if (core_.domains().Find(r.name)) {
    return AlreadyExistsError("domain '{}' already exists: restore it under another name (--name)",
                              r.name);
  }
  // The original (or another copy of it) still here: the restored domain gets an
  // identity of its own, as a clone does.
  const bool copy = renamed || core_.domains().Find(def.uuid.ToString()) != nullptr;
  def.name = r.name;
  if (copy) {
    def.uuid = Uuid::Generate();
    for (auto& nic : def.devices.interfaces) nic.mac = conf::GenerateMac();
  }
  const std::string pool = o.pool.empty() ? "default" : o.pool;
  for (const auto& bd : top.disks) {
    const std::string vol = fmt::format("{}-{}.{}", r.name, bd.target, bd.format);
    SKIFF_ASSIGN_OR_RETURN(std::string file, core_.storage().NewVolumePath(pool, vol));
    auto disk = std::find_if(def.devices.disks.begin(), def.devices.disks.end(),
                             [&](const conf::DiskDef& d) { return d.target_dev == bd.target; });
    if (disk == def.devices.disks.end()) {
      return InvalidArgumentError("backup '{}': disk {} is not in its domain.xml", top.id,
                                  bd.target);
    }
    disk->type = conf::DiskType::kFile;
    disk->source_path = file;
    disk->source_pool.clear();
    disk->source_volume.clear();
    disk->backing_chain.clear();
    disk->driver.type = bd.format;
    r.files.push_back(file);
  }
  if (!top.nvram.empty()) {
    // An explicit <nvram> gets NEWNAME_VARS.fd beside it; else Skiff's own path.
    if (renamed && !def.os.nvram.empty()) {
      def.os.nvram = (fs::path(def.os.nvram).parent_path() / (r.name + "_VARS.fd")).string();
    }
    const std::string nvram = NvramOf(def, core_.paths());
    std::error_code ec;
    if (fs::exists(nvram, ec)) {
      return AlreadyExistsError("NVRAM '{}' already exists; nothing is overwritten", nvram);
    }
    r.files.push_back(nvram);
  }
  const std::string new_xml = conf::FormatDomainXml(def);
  SKIFF_TRY(conf::ParseDomainXml(new_xml, "restored domain").status());
  {
    std::lock_guard l(mu_);
    if (!reserved_.insert(r.name).second) {
      return FailedPreconditionError("domain '{}' is being restored already", r.name);
    }
  }
  r.job = jobs_.Start("restore", r.name,
                      [this, r, backups = std::move(backups), new_xml](const JobControl& job) {
                        Status st = RunRestore(r, backups, new_xml, job);
                        std::lock_guard l(mu_);
                        reserved_.erase(r.name);
                        return st;
                      });
  return r;
}

Status DomainBackups::RunRestore(const Restoring& r, const std::vector<BackupEntry>& backups,
                                 const std::string& xml, const JobControl& job) {
  SKIFF_ASSIGN_OR_RETURN(auto chain, BackupChain(backups, r.id));
  const BackupEntry& top = *chain.back();
  auto partial_of = [](const std::string& file) {
    const fs::path f(file);
    return (f.parent_path() / ("." + f.filename().string() + ".skiff-restore")).string();
  };
  const fs::path journal = JournalDir(core_.paths()) / ("restore-" + r.name + ".json");
  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : r.files) files.push_back({{"partial", partial_of(f)}, {"path", f}});
  SKIFF_TRY(MakeDirs(journal.parent_path(), 0700));
  SKIFF_TRY(
      WriteFileAtomic(journal, nlohmann::json{{"name", r.name}, {"files", files}}.dump(), 0600));
  std::vector<std::string> made;
  auto undo = [&](Status st) {
    for (const auto& f : made) (void)RemoveFileIfExists(f);
    (void)RemoveFileIfExists(journal);
    spdlog::warn("restore of backup '{}' as '{}' failed, nothing kept: {}", r.id, r.name,
                 st.ToString());
    return st;
  };
  uint64_t total = 0, done = 0;
  for (const auto& d : top.manifest.disks) total += d.virtual_size;
  size_t i = 0;
  for (const auto& d : top.manifest.disks) {
    if (job.is_cancelled()) return undo(CancelledError("restore was cancelled"));
    const std::string partial = partial_of(r.files[i++]);
    made.push_back(partial);
    image::ConvertOptions co;
    co.source_format = "qcow2";
    co.target.format = d.format;
    co.unsafe_cache = false;
    const uint64_t before = done;
    co.progress = [&](double frac) {
      if (total == 0) return;
      job.progress(static_cast<int>(
          (static_cast<double>(before) + frac * static_cast<double>(d.virtual_size)) * 99.0 /
          static_cast<double>(total)));
    };
    Status st = image::ConvertImage((top.dir / d.file).string(), partial, co);
    if (!st.ok()) return undo(st.WithContext(fmt::format("disk {}", d.target)));
    done += d.virtual_size;
  }
  if (!top.manifest.nvram.empty()) {
    const std::string partial = partial_of(r.files.back());
    made.push_back(partial);
    SKIFF_TRY(MakeDirs(fs::path(partial).parent_path(), 0755));
    if (Status st = CopySmallFile(top.dir / top.manifest.nvram, partial); !st.ok()) return undo(st);
  }
  for (const auto& f : r.files) {
    if (Status st = RenameNoReplace(partial_of(f), f); !st.ok()) return undo(st);
    made.push_back(f);
    (void)core_.env().SyncDir(fs::path(f).parent_path());
  }
  auto defined = define_(xml, "backup " + r.id);
  if (!defined.ok()) return undo(defined.status());
  (void)RemoveFileIfExists(journal);
  job.progress(100);
  spdlog::info("backup '{}' restored as domain '{}' ({} file(s))", r.id, r.name, r.files.size());
  return Status::Ok();
}

void DomainBackups::RecoverInterrupted() {
  const fs::path dir = JournalDir(core_.paths());
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() != ".json") {
      (void)RemoveFileIfExists(entry.path());
      continue;
    }
    auto text = ReadFile(entry.path());
    auto j = nlohmann::json::parse(text.ok() ? *text : "", nullptr, false);
    if (j.is_object() && j.contains("partial") && j["partial"].is_string()) {
      const fs::path partial = j["partial"].get<std::string>();
      if (partial.filename().string().starts_with(".")) fs::remove_all(partial, ec);
      spdlog::warn("a backup was cut off by a daemon restart: '{}' removed, no backup kept",
                   partial.string());
    } else if (j.is_object() && j.contains("files") && j["files"].is_array()) {
      const std::string name = j.value("name", "");
      const bool defined = core_.domains().Find(name) != nullptr;
      for (const auto& f : j["files"]) {
        if (!f.is_object()) continue;
        (void)RemoveFileIfExists(f.value("partial", ""));
        if (!defined && !f.value("path", "").empty()) (void)RemoveFileIfExists(f.value("path", ""));
      }
      spdlog::warn("the restore of '{}' was cut off by a daemon restart: {}", name,
                   defined ? "it was defined and is kept" : "nothing of it is kept");
    }
    (void)RemoveFileIfExists(entry.path());
  }
}

}  // namespace skiff::daemon
