// Volume verbs (vol-*): the daemon's /v1/pools/{pool}/volumes routes, laid out as virsh prints.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>

#include "daemon_cli.h"
#include "skiff/api/errors.h"
#include "skiff/base/fd.h"
#include "skiff/base/size.h"
#include "skiff/base/strings.h"

namespace skiff::app {
namespace {

namespace routes = api::routes;

// Upload and download pieces: raw bytes, one HTTP request each (the daemon's limit).
constexpr uint64_t kChunk = 8 << 20;

// Finds the volume's pool and name: with --pool as given; otherwise `vol` must
// be a volume's path or key, as virsh allows.
bool Locate(api::Client& c, const Args& a, std::string* pool, std::string* vol) {
  *pool = a.get("pool");
  *vol = a.get("vol");
  if (!pool->empty()) return true;
  api::LocatedVolume r;
  std::string q = api::ToQuery(api::VolumeByPathQuery{*vol});
  if (!GetOrFail(c, std::string(routes::kVolumes) + q, &r)) return false;
  *pool = r.pool;
  *vol = r.name;
  return true;
}

// A progress bar on stderr while bytes move (only when stderr is a terminal).
class Progress {
 public:
  Progress(const char* what, uint64_t total) : what_(what), total_(total), on_(::isatty(2) == 1) {
    start_ = last_ = std::chrono::steady_clock::now();
  }
  void Update(uint64_t done, bool force = false) {
    if (!on_) return;
    auto now = std::chrono::steady_clock::now();
    if (!force && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    double f = total_ ? static_cast<double>(done) / static_cast<double>(total_) : 1.0;
    int width = 30, fill = static_cast<int>(f * width);
    double secs = std::chrono::duration<double>(now - start_).count();
    std::string bar(static_cast<size_t>(fill), '#');
    bar.resize(static_cast<size_t>(width), ' ');
    std::fprintf(
        stderr, "\r%s [%s] %3d%%  %s / %s  %s/s   ", what_, bar.c_str(), static_cast<int>(f * 100),
        VirshSize(done).c_str(), VirshSize(total_).c_str(),
        VirshSize(secs > 0 ? static_cast<uint64_t>(static_cast<double>(done) / secs) : 0).c_str());
  }
  void Done() {
    if (!on_) return;
    Update(total_, true);
    std::fputc('\n', stderr);
  }

 private:
  const char* what_;
  uint64_t total_;
  bool on_;
  std::chrono::steady_clock::time_point start_, last_;
};

bool AllZero(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char ch) { return ch == 0; });
}

// The data ranges of [from, to) in a local file (SEEK_DATA/SEEK_HOLE).
std::vector<std::pair<uint64_t, uint64_t>> LocalExtents(int fd, uint64_t from, uint64_t to) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (uint64_t pos = from; pos < to;) {
    off_t data = ::lseek(fd, static_cast<off_t>(pos), SEEK_DATA);
    if (data < 0 && errno == ENXIO) break;
    if (data < 0) {  // no SEEK_DATA here: everything is data
      out.emplace_back(pos, to - pos);
      break;
    }
    if (static_cast<uint64_t>(data) >= to) break;
    off_t hole = ::lseek(fd, data, SEEK_HOLE);
    uint64_t stop = hole < 0 ? to : std::min<uint64_t>(static_cast<uint64_t>(hole), to);
    out.emplace_back(static_cast<uint64_t>(data), stop - static_cast<uint64_t>(data));
    pos = stop;
  }
  return out;
}

// The message of an error answer to a raw (non-JSON) request, else its body.
std::string RawErrorMessage(const api::HttpResponse& r) {
  Status st = api::StatusFromErrorBody(r.status, r.body);
  return st.code() == Code::kInternal && r.body.find("\"error\"") == std::string::npos
             ? r.body
             : st.message();
}

Status PutData(api::Client& c, const std::string& target, std::string_view body) {
  SKIFF_ASSIGN_OR_RETURN(api::HttpResponse r, c.Raw("PUT", target, body));
  if (r.status / 100 == 2) return Status::Ok();
  return UnavailableError("{}", RawErrorMessage(r));
}

// vol-upload: the file's bytes [0, length) go to the volume at `offset`. Without
// --offset/--length the volume becomes a copy of the file (emptied first, its size
// set at the end). Holes and zero pieces are not sent and stay holes.
int Upload(api::Client& c, const std::string& pool, const std::string& vol, const std::string& file,
           std::optional<uint64_t> offset, std::optional<uint64_t> length) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Fail(fmt::format("cannot open '{}': {}", file, std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return Fail(fmt::format("stat '{}': {}", file, std::strerror(errno)));
  uint64_t size = static_cast<uint64_t>(st.st_size);
  bool whole = !offset && !length;
  uint64_t base = offset.value_or(0);
  uint64_t total = length ? std::min(*length, size) : size;
  std::string data_path = routes::Volume(pool, vol, "data");
  // One piece at `at` of the file; `last` sets the volume's size (whole copies only).
  auto put = [&](uint64_t at, std::string_view body, bool first, bool last) -> bool {
    api::VolumeWriteQuery q;
    q.offset = base + at;
    q.truncate = whole && first;
    if (whole && last) q.final_size = total;
    Status s = PutData(c, data_path + api::ToQuery(q), body);
    if (!s.ok()) Fail(s.message());
    return s.ok();
  };
  if (whole && !put(0, {}, true, false)) return 1;
  Progress bar("Uploading", total);
  std::string buf(kChunk, '\0');
  for (auto [from, len] : LocalExtents(fd.get(), 0, total)) {
    for (uint64_t pos = from; pos < from + len;) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, from + len - pos));
      ssize_t got = ::pread(fd.get(), buf.data(), n, static_cast<off_t>(pos));
      if (got != static_cast<ssize_t>(n)) return Fail(fmt::format("read '{}' failed", file));
      std::string_view piece(buf.data(), n);
      if (!AllZero(piece) && !put(pos, piece, false, false)) return 1;
      pos += n;
      bar.Update(pos);
    }
  }
  // The end: the size of a whole copy (synced), or a range that reaches past the end.
  if (!put(total, {}, false, true)) return 1;
  bar.Done();
  return 0;
}

// vol-download: the volume's bytes [offset, offset + length) into a new file;
// holes in the volume (and zero pieces) stay holes in the file.
int Download(api::Client& c, const std::string& pool, const std::string& vol,
             const std::string& file, uint64_t offset, std::optional<uint64_t> length) {
  api::Extents ext;
  std::string q = api::ToQuery(api::ExtentsQuery{offset, length});
  if (!GetOrFail(c, routes::Volume(pool, vol, "extents") + q, &ext)) return 1;
  uint64_t size = ext.size;
  uint64_t total = offset >= size ? 0 : std::min(size - offset, length.value_or(UINT64_MAX));
  UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return Fail(fmt::format("cannot create '{}': {}", file, std::strerror(errno)));
  Progress bar("Downloading", total);
  for (auto [from, len] : ext.extents) {
    for (uint64_t pos = from; pos < from + len;) {
      uint64_t n = std::min<uint64_t>(kChunk, from + len - pos);
      std::string range = api::ToQuery(api::ExtentsQuery{pos, n});
      auto r = c.Raw("GET", routes::Volume(pool, vol, "data") + range, {});
      if (!r.ok()) return Fail(r.status().message());
      if (r->status / 100 != 2) return Fail(RawErrorMessage(*r));
      if (r->body.empty()) return Fail(fmt::format("volume '{}' ended early at byte {}", vol, pos));
      if (!AllZero(r->body) &&
          ::pwrite(fd.get(), r->body.data(), r->body.size(), static_cast<off_t>(pos - offset)) !=
              static_cast<ssize_t>(r->body.size())) {
        return Fail(fmt::format("write '{}': {}", file, std::strerror(errno)));
      }
      pos += r->body.size();
      bar.Update(pos - offset);
    }
  }
  // Like cp, not synced: the local file is the user's to sync (the daemon syncs an upload).
  if (::ftruncate(fd.get(), static_cast<off_t>(total)) != 0) {
    return Fail(fmt::format("write '{}': {}", file, std::strerror(errno)));
  }
  bar.Done();
  return 0;
}

// --offset / --length of vol-upload and vol-download.
bool RangeArgs(const Args& a, std::optional<uint64_t>* offset, std::optional<uint64_t>* length) {
  for (auto [key, out] : {std::pair{"offset", offset}, std::pair{"length", length}}) {
    if (!a.values.count(key)) continue;
    auto v = ParseSize(a.get(key));
    if (!v.ok()) {
      Fail(fmt::format("malformed --{} {}", key, a.get(key)));
      return false;
    }
    *out = *v;
  }
  return true;
}

int CmdVolList(const Args& a, api::Client& c) {
  api::VolumeList r;
  if (!GetOrFail(c, routes::PoolVolumes(a.get("pool")), &r)) return 1;
  const bool details = a.has("details");
  std::vector<std::string> header = {"Name", "Path"};
  if (details) header.insert(header.end(), {"Type", "Capacity", "Allocation"});
  PrintListing<api::Volume>(a, r.volumes, header, [&](const api::Volume& v) {
    std::vector<std::string> row = {v.name, v.path};
    if (details) row.insert(row.end(), {v.type, VirshSize(v.capacity), VirshSize(v.allocation)});
    return row;
  });
  return 0;
}

int CmdVolCreateAs(const Args& a, api::Client& c) {
  auto cap = ParseSize(a.get("capacity"));
  if (!cap.ok()) return Fail(fmt::format("malformed size {}", a.get("capacity")));
  std::string xml =
      fmt::format("<volume>\n  <name>{}</name>\n  <capacity unit='bytes'>{}</capacity>\n",
                  XmlEscape(a.get("name")), *cap);
  if (a.values.count("allocation")) {
    auto al = ParseSize(a.get("allocation"));
    if (!al.ok()) return Fail(fmt::format("malformed size {}", a.get("allocation")));
    xml += fmt::format("  <allocation unit='bytes'>{}</allocation>\n", *al);
  }
  if (a.values.count("format")) {
    xml += fmt::format("  <target>\n    <format type='{}'/>\n  </target>\n",
                       XmlEscape(a.get("format")));
  }
  if (a.values.count("backing-vol")) {
    xml += fmt::format("  <backingStore>\n    <path>{}</path>\n", XmlEscape(a.get("backing-vol")));
    if (a.values.count("backing-vol-format")) {
      xml += fmt::format("    <format type='{}'/>\n", XmlEscape(a.get("backing-vol-format")));
    }
    xml += "  </backingStore>\n";
  }
  xml += "</volume>\n";
  api::CreateVolumeRequest req;
  req.xml = xml;
  req.prealloc_metadata = a.has("prealloc-metadata");
  if (!CallOrFail(c, "POST", routes::PoolVolumes(a.get("pool")), req, nullptr)) return 1;
  std::printf("Vol %s created\n\n", a.get("name").c_str());
  return 0;
}

int CmdVolCreate(const Args& a, api::Client& c) {
  api::CreateVolumeRequest req;
  if (!ReadInputFile(a.get("file"), &req.xml)) return 1;
  req.prealloc_metadata = a.has("prealloc-metadata");
  api::Volume r;
  if (!CallOrFail(c, "POST", routes::PoolVolumes(a.get("pool")), req, &r)) return 1;
  std::printf("Vol %s created from %s\n\n", r.name.c_str(), a.get("file").c_str());
  return 0;
}

int CmdVolCreateFrom(const Args& a, api::Client& c) {
  api::CreateVolumeRequest req;
  if (!ReadInputFile(a.get("file"), &req.xml)) return 1;
  std::string in_pool = a.values.count("inputpool") ? a.get("inputpool") : a.get("pool");
  req.clone_of = api::VolumeRef{in_pool, a.get("vol")};
  api::Volume r;
  if (!CallOrFail(c, "POST", routes::PoolVolumes(a.get("pool")), req, &r)) return 1;
  std::printf("Vol %s created from input vol %s\n\n", r.name.c_str(), a.get("vol").c_str());
  return 0;
}

int CmdVolClone(const Args& a, api::Client& c) {
  std::string pool, vol;
  if (!Locate(c, a, &pool, &vol)) return 1;
  // The clone takes the source's size and format; the capacity here only has to parse.
  api::CreateVolumeRequest req;
  req.xml = fmt::format("<volume>\n  <name>{}</name>\n  <capacity>1</capacity>\n</volume>\n",
                        XmlEscape(a.get("newname")));
  req.clone_of = api::VolumeRef{pool, vol};
  if (!CallOrFail(c, "POST", routes::PoolVolumes(pool), req, nullptr)) return 1;
  std::printf("Vol %s cloned from %s\n\n", a.get("newname").c_str(), vol.c_str());
  return 0;
}

int CmdVolDelete(const Args& a, api::Client& c) {
  std::string pool, vol;
  if (!Locate(c, a, &pool, &vol)) return 1;
  if (!CallOrFail(c, "DELETE", routes::Volume(pool, vol), nullptr, nullptr)) return 1;
  std::printf("Vol %s deleted\n\n", a.get("vol").c_str());
  return 0;
}

int CmdVolWipe(const Args& a, api::Client& c) {
  std::string pool, vol;
  if (!Locate(c, a, &pool, &vol)) return 1;
  if (!CallOrFail(c, "POST", routes::Volume(pool, vol, "wipe"), api::Empty{}, nullptr)) return 1;
  std::printf("Vol %s wiped\n\n", a.get("vol").c_str());
  return 0;
}

int CmdVolResize(const Args& a, api::Client& c) {
  std::string pool, vol;
  if (!Locate(c, a, &pool, &vol)) return 1;
  std::string text = a.get("capacity");
  bool minus = !text.empty() && text[0] == '-';
  if (minus || (!text.empty() && text[0] == '+')) text = text.substr(1);
  auto cap = ParseSize(text);
  if (!cap.ok()) return Fail(fmt::format("malformed size {}", a.get("capacity")));
  api::ResizeVolumeRequest req{*cap, a.has("shrink")};
  if (a.has("delta") || minus) {
    api::Volume v;
    if (!GetOrFail(c, routes::Volume(pool, vol), &v)) return 1;
    if (minus && *cap > v.capacity) return Fail("cannot shrink a volume below zero bytes");
    req.capacity = minus ? v.capacity - *cap : v.capacity + *cap;
  }
  if (minus && !a.has("shrink")) {
    return Fail("negative size requires --shrink");
  }
  if (!CallOrFail(c, "POST", routes::Volume(pool, vol, "resize"), req, nullptr)) return 1;
  std::printf("Size of volume '%s' successfully changed to %s\n\n", vol.c_str(),
              a.get("capacity").c_str());
  return 0;
}

// Finds the volume (vol-info, vol-dumpxml, vol-path, ...) and reads it.
bool GetVolume(const Args& a, api::Client& c, api::Volume* v) {
  std::string pool, vol;
  return Locate(c, a, &pool, &vol) && GetOrFail(c, routes::Volume(pool, vol), v);
}

int CmdVolInfo(const Args& a, api::Client& c) {
  api::Volume v;
  if (!GetVolume(a, c, &v)) return 1;
  if (a.has("json")) {
    PrintJson(v);
    return 0;
  }
  auto sz = [&](uint64_t b) { return a.has("bytes") ? fmt::format("{} bytes", b) : VirshSize(b); };
  std::printf("%-15s %s\n", "Name:", v.name.c_str());
  std::printf("%-15s %s\n", "Type:", v.type.c_str());
  std::printf("%-15s %s\n", "Capacity:", sz(v.capacity).c_str());
  std::printf("%-15s %s\n\n", "Allocation:", sz(v.allocation).c_str());
  return 0;
}

int CmdVolDumpXml(const Args& a, api::Client& c) {
  std::string pool, vol;
  if (!Locate(c, a, &pool, &vol)) return 1;
  api::XmlReply r;
  if (!GetOrFail(c, routes::Volume(pool, vol, "xml"), &r)) return 1;
  std::fputs(r.xml.c_str(), stdout);
  return 0;
}

int PrintVolumeField(const Args& a, api::Client& c, std::string api::Volume::*field) {
  api::Volume v;
  if (!GetVolume(a, c, &v)) return 1;
  std::printf("%s\n\n", (v.*field).c_str());
  return 0;
}

int CmdVolPath(const Args& a, api::Client& c) { return PrintVolumeField(a, c, &api::Volume::path); }
int CmdVolKey(const Args& a, api::Client& c) { return PrintVolumeField(a, c, &api::Volume::key); }
int CmdVolName(const Args& a, api::Client& c) { return PrintVolumeField(a, c, &api::Volume::name); }

int CmdVolUpload(const Args& a, api::Client& c) {
  std::optional<uint64_t> offset, length;
  if (!RangeArgs(a, &offset, &length)) return 1;
  std::string pool, vol;
  if (!Locate(c, a, &pool, &vol)) return 1;
  return Upload(c, pool, vol, a.get("file"), offset, length);
}

int CmdVolDownload(const Args& a, api::Client& c) {
  std::optional<uint64_t> offset, length;
  if (!RangeArgs(a, &offset, &length)) return 1;
  std::string pool, vol;
  if (!Locate(c, a, &pool, &vol)) return 1;
  return Download(c, pool, vol, a.get("file"), offset.value_or(0), length);
}

const ArgSpec kVol{{"vol", "pool"}, 1, {}, {}};
const ArgSpec kTransfer{{"vol", "file", "pool"}, 2, {"sparse"}, {"offset", "length"}};

const VerbDef kVolVerbs[] = {
    {"vol-list", "list volumes", {{"pool"}, 1, {"details", "json"}, {}}, CmdVolList},
    {"vol-create-as",
     "create a volume from a set of args",
     {{"pool", "name", "capacity"},
      3,
      {"prealloc-metadata"},
      {"format", "allocation", "backing-vol", "backing-vol-format"}},
     CmdVolCreateAs},
    {"vol-create",
     "create a volume from an XML file",
     {{"pool", "file"}, 2, {"prealloc-metadata"}, {}},
     CmdVolCreate},
    {"vol-create-from",
     "create a vol, using another volume as input",
     {{"pool", "file", "vol"}, 3, {"prealloc-metadata"}, {"inputpool"}},
     CmdVolCreateFrom},
    {"vol-clone",
     "clone a volume",
     {{"vol", "newname"}, 2, {"prealloc-metadata"}, {"pool"}},
     CmdVolClone},
    {"vol-delete", "delete a volume", kVol, CmdVolDelete},
    {"vol-wipe", "wipe a volume", kVol, CmdVolWipe},
    {"vol-resize",
     "resize a vol",
     {{"vol", "capacity", "pool"}, 2, {"shrink", "delta", "allocate"}, {}},
     CmdVolResize},
    {"vol-info",
     "storage vol information",
     {{"vol", "pool"}, 1, {"bytes", "json"}, {}},
     CmdVolInfo},
    {"vol-dumpxml", "vol information in XML", kVol, CmdVolDumpXml},
    {"vol-path", "returns the volume path for a given volume name", kVol, CmdVolPath},
    {"vol-key", "returns the volume key for a given volume name", kVol, CmdVolKey},
    {"vol-name", "returns the volume name for a given volume key or path", kVol, CmdVolName},
    {"vol-upload", "upload file contents to a volume", kTransfer, CmdVolUpload},
    {"vol-download", "download volume contents to a file", kTransfer, CmdVolDownload},
};

}  // namespace

void AddVolCommands(std::vector<Command>& out) { AddVerbs(out, kVolVerbs); }

}  // namespace skiff::app
