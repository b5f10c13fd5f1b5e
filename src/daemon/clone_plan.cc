// ClonePlan: virt-clone's decisions (cloner.py) made once, before any file is
// written: which disks are copied, shared or kept, their new paths, the new
// name, UUID, MACs and NVRAM.
#include "daemon/clone_plan.h"

#include <algorithm>
#include <filesystem>
#include <regex>
#include <set>

#include "skiff/conf/mac.h"

namespace skiff::daemon {

namespace fs = std::filesystem;

namespace {

bool Listed(const std::vector<std::string>& list, const std::string& v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

// Why virt-clone shares a disk instead of copying it, or "" when it copies it.
std::string ShareReason(const conf::DiskDef& d) {
  if (d.type != conf::DiskType::kVolume && d.source_path.empty()) return "it has no storage";
  if (d.readonly) return "it is read-only";
  if (d.shareable) return "it is shareable";
  return "";
}

// Points `d` (whose file is `source`) at `path` in `format`. A volume's new file
// in the same directory as its old one is a volume of that pool; else a file.
void MoveDisk(conf::DiskDef& d, const std::string& source, const std::string& path,
              const std::string& format) {
  if (d.type == conf::DiskType::kVolume &&
      fs::path(path).parent_path() == fs::path(source).parent_path()) {
    d.source_volume = fs::path(path).filename().string();
  } else {
    d.type = conf::DiskType::kFile;
    d.source_path = path;
    d.source_pool.clear();
    d.source_volume.clear();
  }
  d.backing_chain.clear();  // a copy is whole; an overlay's chain is read at start
  d.driver.type = format;
}

Result<std::string> DiskFormat(const conf::DiskDef& d, const std::string& path,
                               const CloneHost& host) {
  if (!d.driver.type.empty()) return d.driver.type;
  return host.probe_format(path);
}

}  // namespace

std::string GenerateCloneName(const std::string& original,
                              const std::function<bool(const std::string&)>& taken) {
  // "foo-clone" and "foo-clone3" go on counting: foo-clone1, foo-clone4.
  static const std::regex kCloned("-clone([1-9][0-9]*)?$");
  std::string base = original;
  unsigned start = 1;
  bool force_number = false;
  std::smatch m;
  if (std::regex_search(original, m, kCloned)) {
    force_number = true;
    if (m[1].matched) start = static_cast<unsigned>(std::stoul(m[1].str())) + 1;
    base = original.substr(0, static_cast<size_t>(m.position(0)));
  }
  base += "-clone";
  if (!force_number && !taken(base)) return base;
  for (unsigned i = start;; ++i) {
    std::string name = base + std::to_string(i);
    if (!taken(name)) return name;
  }
}

namespace {

// {stem, suffix}: an extension of up to seven characters stays at the end
// (disk.img -> disk, .img), as virt-clone splits it.
std::pair<std::string, std::string> SplitExtension(const std::string& path) {
  if (auto dot = path.rfind('.'); dot != std::string::npos &&
                                  path.find('/', dot) == std::string::npos &&
                                  path.size() - dot - 1 <= 7) {
    return {path.substr(0, dot), path.substr(dot)};
  }
  return {path, ""};
}

// HEAD+SUFFIX, else HEAD-1+SUFFIX, HEAD-2+SUFFIX, ...: the first that does not exist.
std::string FirstFree(const std::string& head, const std::string& suffix,
                      const std::function<bool(const std::string&)>& exists) {
  if (!exists(head + suffix)) return head + suffix;
  for (unsigned i = 1;; ++i) {
    std::string cand = head + "-" + std::to_string(i) + suffix;
    if (!exists(cand)) return cand;
  }
}

}  // namespace

std::string GenerateClonePath(const std::string& path, const std::string& original,
                              const std::string& clone,
                              const std::function<bool(const std::string&)>& exists) {
  auto [stem, suffix] = SplitExtension(path);
  fs::path p(stem);
  std::string base = p.filename().string() == original ? clone : p.filename().string() + "-clone";
  return FirstFree((p.parent_path() / base).string(), suffix, exists);
}

std::string GenerateTopPath(const std::string& path, const std::string& clone,
                            const std::function<bool(const std::string&)>& exists) {
  auto [stem, suffix] = SplitExtension(path);
  return FirstFree(stem + "." + clone, suffix, exists);
}

Result<ClonePlan> PlanClone(const conf::DomainDef& original, const CloneOptions& o,
                            const CloneHost& host) {
  if (o.linked && o.preserve_data) {
    return InvalidArgumentError("--linked and --preserve-data exclude each other");
  }
  if (o.linked && (o.reflink || o.nonsparse)) {
    return InvalidArgumentError("--linked makes overlays: --{} does not apply",
                                o.reflink ? "reflink" : "nonsparse");
  }
  if (o.preserve_data && (o.reflink || o.nonsparse)) {
    return InvalidArgumentError("--preserve-data copies nothing: --{} does not apply",
                                o.reflink ? "reflink" : "nonsparse");
  }
  for (const auto* list : {&o.skip_copy, &o.force_copy}) {
    for (const auto& t : *list) {
      bool known = std::any_of(original.devices.disks.begin(), original.devices.disks.end(),
                               [&](const conf::DiskDef& d) { return d.target_dev == t; });
      if (!known) {
        return InvalidArgumentError("--{}: domain '{}' has no disk '{}'",
                                    list == &o.skip_copy ? "skip-copy" : "force-copy",
                                    original.name, t);
      }
    }
  }

  ClonePlan plan;
  conf::DomainDef& def = plan.def;
  def = original;
  if (o.linked) plan.original_before = plan.original_after = original;
  def.name = o.name.empty() ? GenerateCloneName(original.name, host.name_taken) : o.name;
  if (host.name_taken(def.name)) {
    return AlreadyExistsError("domain '{}' already exists", def.name);
  }
  if (o.uuid.empty()) {
    do {
      def.uuid = Uuid::Generate();
    } while (host.uuid_taken(def.uuid));
  } else {
    auto u = Uuid::Parse(o.uuid);
    if (!u.ok()) return InvalidArgumentError("--uuid: '{}' is not a UUID", o.uuid);
    if (host.uuid_taken(*u)) return AlreadyExistsError("--uuid: '{}' is in use", o.uuid);
    def.uuid = *u;
  }
  def.title.clear();  // as virt-clone: the title described the original

  // Interfaces: new MACs (given in order, the rest random), the tap named at start.
  if (o.macs.size() > def.devices.interfaces.size()) {
    return InvalidArgumentError("--mac: {} addresses for {} interface(s)", o.macs.size(),
                                def.devices.interfaces.size());
  }
  std::set<std::string> used;
  for (size_t i = 0; i < def.devices.interfaces.size(); ++i) {
    auto& nic = def.devices.interfaces[i];
    nic.target_dev.clear();
    if (i < o.macs.size() && o.macs[i] != "RANDOM") {
      auto mac = conf::ParseMac(o.macs[i]);
      if (!mac.ok()) return InvalidArgumentError("--mac: {}", mac.status().message());
      if (*mac == original.devices.interfaces[i].mac) {
        return InvalidArgumentError("--mac: '{}' is the original's own", *mac);
      }
      nic.mac = *mac;
    } else {
      do {
        nic.mac = conf::GenerateMac();
      } while (used.count(nic.mac));
    }
    if (!used.insert(nic.mac).second) {
      return InvalidArgumentError("--mac: '{}' given twice", nic.mac);
    }
  }
  // A fixed graphics port would collide with the original's.
  for (auto& g : def.devices.graphics) {
    if (!g.autoport && g.port > 0) {
      g.autoport = true;
      g.port = -1;
    }
  }

  // Disks: copied (or kept, --preserve-data) unless shared with the original.
  size_t next_file = 0;
  std::set<std::string> planned;
  auto taken_path = [&](const std::string& p) { return planned.count(p) || host.path_exists(p); };
  for (auto& d : def.devices.disks) {
    const std::string reason = ShareReason(d);
    bool shared = Listed(o.skip_copy, d.target_dev) ||
                  (!reason.empty() && !Listed(o.force_copy, d.target_dev));
    if (shared) continue;
    if (d.type != conf::DiskType::kVolume && d.source_path.empty()) {
      return InvalidArgumentError("--force-copy={}: the disk has no storage to copy", d.target_dev);
    }
    std::string source = d.source_path;
    if (d.type == conf::DiskType::kVolume) {
      auto p = host.volume_path(d.source_pool, d.source_volume);
      if (!p.ok()) return p.status().WithContext(fmt::format("disk '{}'", d.target_dev));
      source = *p;
    } else if (d.type != conf::DiskType::kFile) {
      return InvalidArgumentError(
          "disk '{}' is not a file or a volume and cannot be copied: share it "
          "(--skip-copy={}) or give an existing file (--preserve-data --file)",
          d.target_dev, d.target_dev);
    }
    CloneFile f;
    f.target = d.target_dev;
    f.source = source;
    f.copy = !o.preserve_data;
    f.linked = o.linked;
    if (next_file < o.files.size()) {
      const std::string& given = o.files[next_file++];
      if (given.empty() || given[0] != '/') {
        return InvalidArgumentError("--file: '{}' must be an absolute path", given);
      }
      f.path = fs::path(given).lexically_normal().string();
    } else if (o.preserve_data) {
      return InvalidArgumentError("--preserve-data: disk '{}' needs an existing file (--file)",
                                  d.target_dev);
    } else {
      f.path = GenerateClonePath(source, original.name, def.name, taken_path);
    }
    if (f.path == source) {
      return InvalidArgumentError("--file: '{}' is the original's disk '{}'", f.path, d.target_dev);
    }
    if (planned.count(f.path)) {
      return InvalidArgumentError("--file: '{}' given for two disks", f.path);
    }
    if (o.preserve_data && !host.path_exists(f.path)) {
      return NotFoundError("--preserve-data: '{}' (disk '{}') does not exist", f.path,
                           d.target_dev);
    }
    if (!o.preserve_data && taken_path(f.path)) {
      return AlreadyExistsError("'{}' (disk '{}') already exists; nothing is overwritten", f.path,
                                d.target_dev);
    }
    planned.insert(f.path);
    auto format = DiskFormat(d, source, host);
    if (!format.ok()) return format.status().WithContext(fmt::format("disk '{}'", d.target_dev));
    f.format = *format;
    if (f.linked && f.format != "raw" && f.format != "qcow2") {
      return InvalidArgumentError("--linked: disk '{}' is {}; overlays take raw or qcow2",
                                  d.target_dev, f.format);
    }
    if (f.linked) {
      f.original_top = GenerateTopPath(source, def.name, taken_path);
      planned.insert(f.original_top);
      for (auto& od : plan.original_after->devices.disks) {
        if (od.target_dev == d.target_dev) MoveDisk(od, source, f.original_top, "qcow2");
      }
    }
    MoveDisk(d, source, f.path, f.linked ? "qcow2" : f.format);
    plan.files.push_back(std::move(f));
  }
  if (next_file < o.files.size()) {
    return InvalidArgumentError("--file: {} path(s) for {} disk(s) to clone", o.files.size(),
                                next_file);
  }

  // NVRAM: an explicit <nvram> moves to --nvram or NEWNAME_VARS.fd beside it; the
  // one firmware='efi' keeps under the state root follows the clone's name. Copied
  // when the original has one (else the clone's first start makes it).
  std::string old_nvram, new_nvram;
  if (!original.os.nvram.empty()) {
    old_nvram = original.os.nvram;
    new_nvram = o.nvram.empty()
                    ? (fs::path(old_nvram).parent_path() / (def.name + "_VARS.fd")).string()
                    : fs::path(o.nvram).lexically_normal().string();
    if (new_nvram.empty() || new_nvram[0] != '/') {
      return InvalidArgumentError("--nvram: '{}' must be an absolute path", o.nvram);
    }
    def.os.nvram = new_nvram;
  } else if (!o.nvram.empty()) {
    return InvalidArgumentError("--nvram: domain '{}' has no <nvram> of its own{}", original.name,
                                original.os.firmware == "efi"
                                    ? " (firmware='efi' keeps it under skiffd's state root)"
                                    : "");
  } else if (original.os.firmware == "efi" && !original.os.loader) {
    old_nvram = host.implicit_nvram(original.name);
    new_nvram = host.implicit_nvram(def.name);
  }
  if (!old_nvram.empty() && host.path_exists(old_nvram) && !o.preserve_data) {
    if (taken_path(new_nvram)) {
      return AlreadyExistsError("NVRAM '{}' already exists; nothing is overwritten", new_nvram);
    }
    plan.files.push_back({"nvram", old_nvram, new_nvram, "raw", true, false});
  }
  return plan;
}

}  // namespace skiff::daemon
