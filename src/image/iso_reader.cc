// ISO 9660 reader: volume descriptors, directory records, Joliet (UCS-2 names)
// and Rock Ridge NM entries; every structure is bounds-checked against the file.
#include <algorithm>
#include <set>

#include "image/endian.h"
#include "image/host_file.h"
#include "skiff/image/iso.h"

namespace skiff::image {
namespace {

constexpr uint64_t kSector = 2048;
constexpr int kMaxDepth = 64;
constexpr size_t kMaxEntries = 1 << 20;

inline uint32_t Le32(const uint8_t* p) {
  return p[0] | p[1] << 8 | p[2] << 16 | uint32_t{p[3]} << 24;
}
inline uint16_t Le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | p[1] << 8); }

struct Record {
  std::string name;
  bool is_dir = false;
  uint64_t extent = 0;  // byte offset
  uint64_t size = 0;
};

class IsoReader {
 public:
  Status Open(const std::string& path) {
    path_ = path;
    SKIFF_ASSIGN_OR_RETURN(file_, HostFile::Open(path, false));
    SKIFF_ASSIGN_OR_RETURN(file_size_, file_.Size());
    std::vector<uint8_t> vd(kSector);
    bool have_pvd = false;
    std::vector<uint8_t> joliet_root;
    for (uint64_t s = 16; s < 16 + 64; ++s) {
      if ((s + 1) * kSector > file_size_) {
        return CorruptionError("'{}': volume descriptor at 0x{:x} lies past the end of the file",
                               path_, s * kSector);
      }
      SKIFF_TRY(file_.ReadExact(s * kSector, vd));
      if (std::string(vd.begin() + 1, vd.begin() + 6) != "CD001") {
        return CorruptionError("'{}': not an ISO 9660 image (no CD001 at 0x{:x})", path_,
                               s * kSector + 1);
      }
      if (vd[0] == 255) break;
      if (vd[0] == 1 && !have_pvd) {
        block_ = Le16(vd.data() + 128);
        if (block_ != 2048 && block_ != 1024 && block_ != 512) {
          return CorruptionError("'{}': logical block size {} at 0x{:x} is invalid", path_, block_,
                                 s * kSector + 128);
        }
        pvd_root_.assign(vd.begin() + 156, vd.begin() + 190);
        have_pvd = true;
      } else if (vd[0] == 2 && vd[88] == '%' && vd[89] == '/' &&
                 (vd[90] == '@' || vd[90] == 'C' || vd[90] == 'E')) {
        joliet_root.assign(vd.begin() + 156, vd.begin() + 190);
      }
    }
    if (!have_pvd) return CorruptionError("'{}': no primary volume descriptor", path_);
    SKIFF_ASSIGN_OR_RETURN(
        Record root, ParseRecord(pvd_root_.data(), pvd_root_.size(), 16 * kSector + 156, false));
    // Rock Ridge: the root's "." entry carries an SP or RR entry.
    SKIFF_ASSIGN_OR_RETURN(auto first, ReadDirRaw(root));
    rock_ridge_ = false;
    if (!first.empty()) {
      const uint8_t* r = first.data();
      size_t len = r[0];
      size_t name_len = r[32];
      size_t su = 33 + name_len + ((name_len % 2) == 0 ? 1 : 0);
      if (len > su + 4 && len <= first.size() && r[su] == 'S' && r[su + 1] == 'P')
        rock_ridge_ = true;
    }
    if (!rock_ridge_ && !joliet_root.empty()) {
      joliet_ = true;
      SKIFF_ASSIGN_OR_RETURN(root, ParseRecord(joliet_root.data(), joliet_root.size(), 0, false));
    }
    root_ = root;
    return Status::Ok();
  }

  Status Walk(const Record& dir, const std::string& prefix, int depth, std::vector<IsoEntry>& out) {
    if (depth > kMaxDepth)
      return CorruptionError("'{}': directories nest deeper than {}", path_, kMaxDepth);
    if (!visited_.insert(dir.extent).second) {
      return CorruptionError("'{}': directory at 0x{:x} appears twice (loop)", path_, dir.extent);
    }
    SKIFF_ASSIGN_OR_RETURN(std::vector<Record> kids, ReadDir(dir));
    for (const auto& k : kids) {
      if (out.size() >= kMaxEntries)
        return CorruptionError("'{}': more than {} entries", path_, kMaxEntries);
      std::string p = prefix + "/" + k.name;
      out.push_back(IsoEntry{p, k.is_dir, k.is_dir ? 0 : k.size});
      if (k.is_dir) SKIFF_TRY(Walk(k, p, depth + 1, out));
    }
    return Status::Ok();
  }

  Result<Record> Find(const std::string& path) {
    Record cur = root_;
    size_t pos = 0;
    int depth = 0;
    while (pos < path.size()) {
      size_t slash = path.find('/', pos);
      if (slash == std::string::npos) slash = path.size();
      std::string part = path.substr(pos, slash - pos);
      pos = slash + 1;
      if (part.empty()) continue;
      if (++depth > kMaxDepth) return NotFoundError("'{}': no '{}' in the image", path_, path);
      if (!cur.is_dir) return NotFoundError("'{}': no '{}' in the image", path_, path);
      SKIFF_ASSIGN_OR_RETURN(std::vector<Record> kids, ReadDir(cur));
      auto it =
          std::find_if(kids.begin(), kids.end(), [&](const Record& r) { return r.name == part; });
      if (it == kids.end()) return NotFoundError("'{}': no '{}' in the image", path_, path);
      cur = *it;
    }
    return cur;
  }

  const Record& root() const { return root_; }
  const HostFile& file() const { return file_; }

 private:
  Result<Record> ParseRecord(const uint8_t* r, size_t avail, uint64_t at, bool names) {
    if (avail < 34 || r[0] < 34 || r[0] > avail) {
      return CorruptionError("'{}': directory record at 0x{:x} is truncated", path_, at);
    }
    Record rec;
    rec.extent = uint64_t{Le32(r + 2)} * block_;
    rec.size = Le32(r + 10);
    rec.is_dir = (r[25] & 2) != 0;
    size_t name_len = r[32];
    if (33 + name_len > r[0])
      return CorruptionError("'{}': name of the record at 0x{:x} overruns it", path_, at);
    if (rec.extent > file_size_ || rec.size > file_size_ - rec.extent) {
      return CorruptionError(
          "'{}': extent at 0x{:x} ({} bytes, record at 0x{:x}) lies past the end of the file",
          path_, rec.extent, rec.size, at);
    }
    if (!names) return rec;
    const uint8_t* n = r + 33;
    if (name_len == 1 && (n[0] == 0 || n[0] == 1)) {
      rec.name = n[0] == 0 ? "." : "..";
      return rec;
    }
    if (joliet_) {
      for (size_t i = 0; i + 1 < name_len; i += 2) {
        uint32_t c = uint32_t{n[i]} << 8 | n[i + 1];
        if (c < 0x80) {
          rec.name += static_cast<char>(c);
        } else if (c < 0x800) {
          rec.name += static_cast<char>(0xc0 | c >> 6);
          rec.name += static_cast<char>(0x80 | (c & 0x3f));
        } else {
          rec.name += static_cast<char>(0xe0 | c >> 12);
          rec.name += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
          rec.name += static_cast<char>(0x80 | (c & 0x3f));
        }
      }
    } else {
      rec.name.assign(reinterpret_cast<const char*>(n), name_len);
    }
    std::string rr;
    if (rock_ridge_) {
      size_t su = 33 + name_len + ((name_len % 2) == 0 ? 1 : 0);
      while (su + 4 <= r[0]) {
        size_t elen = r[su + 2];
        if (elen < 4 || su + elen > r[0]) break;
        if (r[su] == 'N' && r[su + 1] == 'M' && elen >= 5) {
          rr.append(reinterpret_cast<const char*>(r + su + 5), elen - 5);
        }
        su += elen;
      }
    }
    if (!rr.empty()) {
      rec.name = rr;
    } else {
      // Plain ISO 9660: drop ";1" and a trailing dot.
      size_t semi = rec.name.find(';');
      if (semi != std::string::npos) rec.name.resize(semi);
      if (!rec.name.empty() && rec.name.back() == '.') rec.name.pop_back();
    }
    if (rec.name.empty() || rec.name.find('/') != std::string::npos || rec.name == "." ||
        rec.name == "..") {
      return CorruptionError("'{}': record at 0x{:x} has an invalid name", path_, at);
    }
    return rec;
  }

  Result<std::vector<uint8_t>> ReadDirRaw(const Record& dir) {
    if (dir.size > (64u << 20))
      return CorruptionError("'{}': directory at 0x{:x} is too large", path_, dir.extent);
    std::vector<uint8_t> raw(dir.size);
    SKIFF_TRY(file_.ReadExact(dir.extent, raw));
    return raw;
  }

  Result<std::vector<Record>> ReadDir(const Record& dir) {
    SKIFF_ASSIGN_OR_RETURN(std::vector<uint8_t> raw, ReadDirRaw(dir));
    std::vector<Record> out;
    uint64_t off = 0;
    while (off < raw.size()) {
      uint8_t len = raw[off];
      if (len == 0) {
        off = (off / kSector + 1) * kSector;  // records never cross sectors
        continue;
      }
      uint64_t sector_end = (off / kSector + 1) * kSector;
      SKIFF_ASSIGN_OR_RETURN(
          Record rec,
          ParseRecord(raw.data() + off, std::min<uint64_t>(raw.size(), sector_end) - off,
                      dir.extent + off, true));
      if (rec.name != "." && rec.name != "..") out.push_back(rec);
      off += len;
    }
    return out;
  }

  std::string path_;
  HostFile file_;
  uint64_t file_size_ = 0;
  uint32_t block_ = 2048;
  std::vector<uint8_t> pvd_root_;
  bool rock_ridge_ = false;
  bool joliet_ = false;
  Record root_;
  std::set<uint64_t> visited_;
};

}  // namespace

Result<std::vector<IsoEntry>> ListIso(const std::string& iso_path) {
  IsoReader r;
  SKIFF_TRY(r.Open(iso_path));
  std::vector<IsoEntry> out;
  SKIFF_TRY(r.Walk(r.root(), "", 0, out));
  return out;
}

Status ExtractIsoFile(const std::string& iso_path, const std::string& path_in_iso,
                      const std::string& dest) {
  IsoReader r;
  SKIFF_TRY(r.Open(iso_path));
  SKIFF_ASSIGN_OR_RETURN(Record rec, r.Find(path_in_iso));
  if (rec.is_dir) return InvalidArgumentError("'{}': '{}' is a directory", iso_path, path_in_iso);
  SKIFF_ASSIGN_OR_RETURN(HostFile out, HostFile::Create(dest));
  std::vector<uint8_t> buf(1 << 20);
  for (uint64_t pos = 0; pos < rec.size;) {
    uint64_t n = std::min<uint64_t>(buf.size(), rec.size - pos);
    SKIFF_TRY(r.file().ReadExact(rec.extent + pos, std::span<uint8_t>(buf.data(), n)));
    SKIFF_TRY(out.WriteAll(pos, std::span<const uint8_t>(buf.data(), n)));
    pos += n;
  }
  return out.Sync();
}

}  // namespace skiff::image
