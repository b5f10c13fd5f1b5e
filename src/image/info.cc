// `info`: qemu-img's human and JSON image descriptions (one image or a chain).
#include <time.h>

#include <nlohmann/json.hpp>

#include "image/qcow2_image.h"
#include "image/qemu_json.h"
#include "skiff/base/size.h"
#include "skiff/image/ops.h"

namespace skiff::image {
namespace {

std::vector<SnapshotInfo> SnapshotsOf(const Image& img) {
  std::vector<SnapshotInfo> out;
  auto* q = dynamic_cast<const Qcow2Image*>(&img);
  if (q == nullptr) return out;
  for (const auto& s : q->snapshots()) {
    SnapshotInfo i;
    i.id = s.id;
    i.name = s.name;
    i.vm_state_size = s.vm_state_size;
    i.date_sec = s.date_sec;
    i.date_nsec = s.date_nsec;
    i.vm_clock_nsec = s.vm_clock_nsec;
    i.icount = s.icount;
    out.push_back(i);
  }
  return out;
}

Result<nlohmann::json> InfoJson(const Image& img, const std::string& shown_name) {
  nlohmann::json j;
  j["filename"] = shown_name;
  j["format"] = std::string(img.format());
  j["virtual-size"] = img.size();
  SKIFF_ASSIGN_OR_RETURN(uint64_t actual, img.AllocatedFileSize());
  j["actual-size"] = actual;
  bool dirty = false;
  if (auto* q = dynamic_cast<const Qcow2Image*>(&img)) {
    const Qcow2Header& h = q->header();
    j["cluster-size"] = h.cluster_size();
    nlohmann::json data;
    data["compat"] = h.version == 2 ? "0.10" : "1.1";
    data["compression-type"] = h.compression_type == 1 ? "zstd" : "zlib";
    if (h.version >= 3) {
      data["lazy-refcounts"] = (h.compatible_features & kCompatLazyRefcounts) != 0;
      data["corrupt"] = (h.incompatible_features & kIncompatCorrupt) != 0;
      data["extended-l2"] = h.extended_l2();
    }
    const auto bitmaps = q->bitmaps();
    if (!bitmaps.empty()) {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& b : bitmaps) {
        nlohmann::json flags = nlohmann::json::array();
        if (b.in_use()) flags.push_back("in-use");
        if (b.enabled()) flags.push_back("auto");
        arr.push_back({{"flags", flags}, {"name", b.name}, {"granularity", b.granularity()}});
      }
      data["bitmaps"] = arr;
    }
    data["refcount-bits"] = h.refcount_bits();
    j["format-specific"] = {{"type", "qcow2"}, {"data", data}};
    dirty = (h.incompatible_features & kIncompatDirty) != 0;
    if (!h.backing_file.empty()) {
      j["backing-filename"] = h.backing_file;
      j["full-backing-filename"] = ResolveBackingPath(shown_name, h.backing_file);
      if (!h.backing_format.empty()) j["backing-filename-format"] = h.backing_format;
    }
    auto snaps = SnapshotsOf(img);
    if (!snaps.empty()) {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& s : snaps) {
        nlohmann::json e;
        e["id"] = s.id;
        e["name"] = s.name;
        e["vm-state-size"] = s.vm_state_size;
        e["date-sec"] = s.date_sec;
        e["date-nsec"] = s.date_nsec;
        e["vm-clock-sec"] = s.vm_clock_nsec / 1000000000ull;
        e["vm-clock-nsec"] = s.vm_clock_nsec % 1000000000ull;
        if (s.icount != -1) e["icount"] = s.icount;
        arr.push_back(e);
      }
      j["snapshots"] = arr;
    }
  }
  j["dirty-flag"] = dirty;
  return j;
}

std::string InfoHuman(const nlohmann::json& j) {
  std::string out;
  out += fmt::format("image: {}\n", j["filename"].get<std::string>());
  out += fmt::format("file format: {}\n", j["format"].get<std::string>());
  uint64_t vs = j["virtual-size"].get<uint64_t>();
  out += fmt::format("virtual size: {} ({} bytes)\n", FormatSizeHuman(vs), vs);
  out += fmt::format("disk size: {}\n", FormatSizeHuman(j["actual-size"].get<uint64_t>()));
  if (j.contains("cluster-size"))
    out += fmt::format("cluster_size: {}\n", j["cluster-size"].get<uint64_t>());
  if (j.contains("backing-filename")) {
    std::string b = j["backing-filename"], full = j["full-backing-filename"];
    out += fmt::format("backing file: {}", b);
    if (b != full) out += fmt::format(" (actual path: {})", full);
    out += "\n";
  }
  if (j.contains("backing-filename-format")) {
    out +=
        fmt::format("backing file format: {}\n", j["backing-filename-format"].get<std::string>());
  }
  if (j["dirty-flag"].get<bool>()) out += "cleanly shut down: no\n";
  if (j.contains("snapshots")) {
    std::vector<SnapshotInfo> snaps;
    for (const auto& e : j["snapshots"]) {
      SnapshotInfo s;
      s.id = e["id"];
      s.name = e["name"];
      s.vm_state_size = e["vm-state-size"];
      s.date_sec = e["date-sec"];
      s.date_nsec = e["date-nsec"];
      s.vm_clock_nsec =
          e["vm-clock-sec"].get<uint64_t>() * 1000000000ull + e["vm-clock-nsec"].get<uint64_t>();
      s.icount = e.contains("icount") ? e["icount"].get<int64_t>() : -1;
      snaps.push_back(s);
    }
    out += FormatSnapshotTable(snaps);
  }
  if (j.contains("format-specific")) {
    const auto& d = j["format-specific"]["data"];
    out += "Format specific information:\n";
    out += fmt::format("    compat: {}\n", d["compat"].get<std::string>());
    out += fmt::format("    compression type: {}\n", d["compression-type"].get<std::string>());
    if (d.contains("lazy-refcounts")) {
      out += fmt::format("    lazy refcounts: {}\n",
                         d["lazy-refcounts"].get<bool>() ? "true" : "false");
    }
    if (d.contains("bitmaps")) {
      out += "    bitmaps:\n";
      for (size_t i = 0; i < d["bitmaps"].size(); ++i) {
        const auto& b = d["bitmaps"][i];
        out += fmt::format("        [{}]:\n            flags:\n", i);
        for (size_t k = 0; k < b["flags"].size(); ++k) {
          out += fmt::format("                [{}]: {}\n", k, b["flags"][k].get<std::string>());
        }
        out += fmt::format("            name: {}\n", b["name"].get<std::string>());
        out += fmt::format("            granularity: {}\n", b["granularity"].get<uint64_t>());
      }
    }
    out += fmt::format("    refcount bits: {}\n", d["refcount-bits"].get<uint64_t>());
    if (d.contains("corrupt")) {
      out += fmt::format("    corrupt: {}\n", d["corrupt"].get<bool>() ? "true" : "false");
    }
    if (d.contains("extended-l2")) {
      out += fmt::format("    extended l2: {}\n", d["extended-l2"].get<bool>() ? "true" : "false");
    }
  }
  return out;
}

}  // namespace

std::string FormatSnapshotTable(const std::vector<SnapshotInfo>& snaps) {
  std::string out = "Snapshot list:\n";
  out += fmt::format("{:<10}{:<17}{:>8}{:>20}{:>13}{:>11}\n", "ID", "TAG", "VM SIZE", "DATE",
                     "VM CLOCK", "ICOUNT");
  for (const auto& s : snaps) {
    time_t t = s.date_sec;
    struct tm tm;
    localtime_r(&t, &tm);
    char date[32];
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
    uint64_t ms = s.vm_clock_nsec / 1000000;
    std::string clock = fmt::format("{:02}:{:02}:{:02}.{:03}", ms / 3600000, ms / 60000 % 60,
                                    ms / 1000 % 60, ms % 1000);
    std::string icount = s.icount == -1 ? "" : std::to_string(s.icount);
    out += fmt::format("{:<10}{:<17}{:>8}{:>20}{:>13}{:>11}\n", s.id, s.name,
                       FormatSizeHuman(s.vm_state_size), date, clock, icount);
  }
  return out;
}

Result<std::string> ImageInfoText(const std::string& path, const std::string& format, bool json,
                                  bool backing_chain) {
  OpenOptions oo;
  oo.format = format;
  oo.open_backing = backing_chain;
  SKIFF_ASSIGN_OR_RETURN(auto img, OpenImage(path, oo));
  std::vector<nlohmann::json> infos;
  const Image* cur = img.get();
  std::string name = path;
  while (cur != nullptr) {
    SKIFF_ASSIGN_OR_RETURN(nlohmann::json j, InfoJson(*cur, name));
    infos.push_back(j);
    if (!backing_chain) break;
    const Image* next = cur->backing();
    if (next != nullptr) name = ResolveBackingPath(name, cur->backing_name());
    cur = next;
  }
  if (json) {
    if (!backing_chain) return QemuJsonText(infos[0]) + "\n";
    return QemuJsonText(nlohmann::json(infos)) + "\n";
  }
  std::string out;
  for (size_t i = 0; i < infos.size(); ++i) {
    if (i > 0) out += "\n";
    out += InfoHuman(infos[i]);
  }
  return out;
}

}  // namespace skiff::image
