// Volume verbs (vol-*): the daemon's /v1/pools/{pool}/volumes routes, laid out as virsh prints.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "daemon_cli.h"
#include "skiff/base/fd.h"
#include "skiff/base/size.h"
#include "skiff/base/strings.h"

namespace skiff::app {
namespace {

using json = nlohmann::json;

// Upload and download pieces: raw bytes, one HTTP request each (the daemon's limit).
constexpr uint64_t kChunk = 8 << 20;

std::string PoolVols(const std::string& pool) {
  return "/v1/pools/" + api::UrlEncode(pool) + "/volumes";
}

std::string VolPath(const std::string& pool, const std::string& vol, const std::string& suffix = "") {
  return PoolVols(pool) + "/" + api::UrlEncode(vol) + suffix;
}

// Finds the volume's pool and name: with --pool as given; otherwise `vol` must
// be a volume's path or key, as virsh allows.
bool Locate(api::Client& c, const Args& a, std::string* pool, std::string* vol) {
  *pool = a.get("pool");
  *vol = a.get("vol");
  if (!pool->empty()) return true;
  json r;
  if (!CallOrFail(c, "GET", "/v1/volumes?path=" + api::UrlEncode(*vol), nullptr, &r)) return false;
  *pool = r.value("pool", "");
  *vol = r.value("name", "");
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
    std::fprintf(stderr, "\r%s [%s] %3d%%  %s / %s  %s/s   ", what_, bar.c_str(),
                 static_cast<int>(f * 100), VirshSize(done).c_str(), VirshSize(total_).c_str(),
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

Status PutData(api::Client& c, const std::string& target, std::string_view body) {
  SKIFF_ASSIGN_OR_RETURN(api::HttpResponse r, c.Raw("PUT", target, body));
  if (r.status / 100 == 2) return Status::Ok();
  auto j = json::parse(r.body, nullptr, false);
  std::string msg = j.is_object() && j.contains("error") ? j["error"].value("message", r.body) : r.body;
  return UnavailableError("{}", msg);
}

// vol-upload: the file's bytes [0, length) go to the volume at `offset`. Without
// --offset/--length the volume becomes a copy of the file (emptied first, its size
// set at the end). Holes and zero pieces are not sent and stay holes.
int Upload(api::Client& c, const std::string& pool, const std::string& vol, const std::string& file,
           std::optional<uint64_t> offset, std::optional<uint64_t> length) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Fail(fmt::format("cannot open '{}': {}", file, std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Fail(fmt::format("stat '{}': {}", file, std::strerror(errno)));
  uint64_t size = static_cast<uint64_t>(st.st_size);
  bool whole = !offset && !length;
  uint64_t base = offset.value_or(0);
  uint64_t total = length ? std::min(*length, size) : size;
  std::string data_path = VolPath(pool, vol, "/data");
  auto put = [&](uint64_t at, std::string_view body, const std::string& extra) -> bool {
    Status s = PutData(c, fmt::format("{}?offset={}{}", data_path, base + at, extra), body);
    if (!s.ok()) Fail(s.message());
    return s.ok();
  };
  if (whole && !put(0, {}, "&truncate=true")) return 1;
  Progress bar("Uploading", total);
  std::string buf(kChunk, '\0');
  for (auto [from, len] : LocalExtents(fd.get(), 0, total)) {
    for (uint64_t pos = from; pos < from + len;) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(kChunk, from + len - pos));
      ssize_t got = ::pread(fd.get(), buf.data(), n, static_cast<off_t>(pos));
      if (got != static_cast<ssize_t>(n)) return Fail(fmt::format("read '{}' failed", file));
      std::string_view piece(buf.data(), n);
      if (!AllZero(piece) && !put(pos, piece, "")) return 1;
      pos += n;
      bar.Update(pos);
    }
  }
  // The end: the size of a whole copy (synced), or a range that reaches past the end.
  if (!put(total, {}, whole ? fmt::format("&final_size={}", total) : "")) return 1;
  bar.Done();
  return 0;
}

// vol-download: the volume's bytes [offset, offset + length) into a new file;
// holes in the volume (and zero pieces) stay holes in the file.
int Download(api::Client& c, const std::string& pool, const std::string& vol, const std::string& file,
             uint64_t offset, std::optional<uint64_t> length) {
  json ext;
  std::string q = fmt::format("/extents?offset={}", offset);
  if (length) q += fmt::format("&length={}", *length);
  if (!CallOrFail(c, "GET", VolPath(pool, vol, q), nullptr, &ext)) return 1;
  uint64_t size = ext.value("size", uint64_t{0});
  uint64_t total = offset >= size ? 0 : std::min(size - offset, length.value_or(UINT64_MAX));
  UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return Fail(fmt::format("cannot create '{}': {}", file, std::strerror(errno)));
  Progress bar("Downloading", total);
  for (const auto& e : ext["extents"]) {
    uint64_t from = e[0].get<uint64_t>(), len = e[1].get<uint64_t>();
    for (uint64_t pos = from; pos < from + len;) {
      uint64_t n = std::min<uint64_t>(kChunk, from + len - pos);
      auto r = c.Raw("GET", VolPath(pool, vol, fmt::format("/data?offset={}&length={}", pos, n)), {});
      if (!r.ok()) return Fail(r.status().message());
      if (r->status / 100 != 2) {
        auto j = json::parse(r->body, nullptr, false);
        return Fail(j.is_object() && j.contains("error") ? j["error"].value("message", r->body) : r->body);
      }
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

}  // namespace

void AddVolCommands(std::vector<Command>& out) {
  out.push_back(DaemonVerb("vol-list", "list volumes", {{"pool"}, 1, {"details", "json"}, {}},
                        [](const Args& a, api::Client& c) {
    json r;
    if (!CallOrFail(c, "GET", PoolVols(a.get("pool")), nullptr, &r)) return 1;
    if (a.has("json")) {
      std::printf("%s\n", r["volumes"].dump(2).c_str());
      return 0;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& v : r["volumes"]) {
      if (a.has("details")) {
        rows.push_back({v.value("name", ""), v.value("path", ""), v.value("type", ""),
                        VirshSize(v.value("capacity", uint64_t{0})),
                        VirshSize(v.value("allocation", uint64_t{0}))});
      } else {
        rows.push_back({v.value("name", ""), v.value("path", "")});
      }
    }
    if (a.has("details")) {
      PrintTable({"Name", "Path", "Type", "Capacity", "Allocation"}, rows);
    } else {
      PrintTable({"Name", "Path"}, rows);
    }
    return 0;
  }));
  out.push_back(DaemonVerb("vol-create-as", "create a volume from a set of args",
                        {{"pool", "name", "capacity"}, 3, {"prealloc-metadata"},
                         {"format", "allocation", "backing-vol", "backing-vol-format"}},
                        [](const Args& a, api::Client& c) {
    auto cap = ParseSize(a.get("capacity"));
    if (!cap.ok()) return Fail(fmt::format("malformed size {}", a.get("capacity")));
    std::string xml = fmt::format("<volume>\n  <name>{}</name>\n  <capacity unit='bytes'>{}</capacity>\n",
                                  XmlEscape(a.get("name")), *cap);
    if (a.values.count("allocation")) {
      auto al = ParseSize(a.get("allocation"));
      if (!al.ok()) return Fail(fmt::format("malformed size {}", a.get("allocation")));
      xml += fmt::format("  <allocation unit='bytes'>{}</allocation>\n", *al);
    }
    if (a.values.count("format")) {
      xml += fmt::format("  <target>\n    <format type='{}'/>\n  </target>\n", XmlEscape(a.get("format")));
    }
    if (a.values.count("backing-vol")) {
      xml += fmt::format("  <backingStore>\n    <path>{}</path>\n", XmlEscape(a.get("backing-vol")));
      if (a.values.count("backing-vol-format")) {
        xml += fmt::format("    <format type='{}'/>\n", XmlEscape(a.get("backing-vol-format")));
      }
      xml += "  </backingStore>\n";
    }
    xml += "</volume>\n";
    json body = {{"xml", xml}, {"prealloc_metadata", a.has("prealloc-metadata")}};
    if (!CallOrFail(c, "POST", PoolVols(a.get("pool")), body, nullptr)) return 1;
    std::printf("Vol %s created\n\n", a.get("name").c_str());
    return 0;
  }));
  out.push_back(DaemonVerb("vol-create", "create a volume from an XML file",
                        {{"pool", "file"}, 2, {"prealloc-metadata"}, {}},
                        [](const Args& a, api::Client& c) {
    std::string xml;
    if (!ReadInputFile(a.get("file"), &xml)) return 1;
    json r;
    json body = {{"xml", xml}, {"prealloc_metadata", a.has("prealloc-metadata")}};
    if (!CallOrFail(c, "POST", PoolVols(a.get("pool")), body, &r)) return 1;
    std::printf("Vol %s created from %s\n\n", r.value("name", "").c_str(), a.get("file").c_str());
    return 0;
  }));
  out.push_back(DaemonVerb("vol-create-from", "create a vol, using another volume as input",
                        {{"pool", "file", "vol"}, 3, {"prealloc-metadata"}, {"inputpool"}},
                        [](const Args& a, api::Client& c) {
    std::string xml;
    if (!ReadInputFile(a.get("file"), &xml)) return 1;
    std::string in_pool = a.values.count("inputpool") ? a.get("inputpool") : a.get("pool");
    json r;
    json body = {{"xml", xml}, {"clone_of", {{"pool", in_pool}, {"volume", a.get("vol")}}}};
    if (!CallOrFail(c, "POST", PoolVols(a.get("pool")), body, &r)) return 1;
    std::printf("Vol %s created from input vol %s\n\n", r.value("name", "").c_str(),
                a.get("vol").c_str());
    return 0;
  }));
  out.push_back(DaemonVerb("vol-clone", "clone a volume", {{"vol", "newname"}, 2, {"prealloc-metadata"}, {"pool"}},
                        [](const Args& a, api::Client& c) {
    std::string pool, vol;
    if (!Locate(c, a, &pool, &vol)) return 1;
    // The clone takes the source's size and format; the capacity here only has to parse.
    std::string xml = fmt::format("<volume>\n  <name>{}</name>\n  <capacity>1</capacity>\n</volume>\n",
                                  XmlEscape(a.get("newname")));
    json body = {{"xml", xml}, {"clone_of", {{"pool", pool}, {"volume", vol}}}};
    if (!CallOrFail(c, "POST", PoolVols(pool), body, nullptr)) return 1;
    std::printf("Vol %s cloned from %s\n\n", a.get("newname").c_str(), vol.c_str());
    return 0;
  }));
  out.push_back(DaemonVerb("vol-delete", "delete a volume", {{"vol", "pool"}, 1, {}, {}},
                        [](const Args& a, api::Client& c) {
    std::string pool, vol;
    if (!Locate(c, a, &pool, &vol)) return 1;
    if (!CallOrFail(c, "DELETE", VolPath(pool, vol), nullptr, nullptr)) return 1;
    std::printf("Vol %s deleted\n\n", a.get("vol").c_str());
    return 0;
  }));
  out.push_back(DaemonVerb("vol-wipe", "wipe a volume", {{"vol", "pool"}, 1, {}, {}},
                        [](const Args& a, api::Client& c) {
    std::string pool, vol;
    if (!Locate(c, a, &pool, &vol)) return 1;
    if (!CallOrFail(c, "POST", VolPath(pool, vol, "/wipe"), json::object(), nullptr)) return 1;
    std::printf("Vol %s wiped\n\n", a.get("vol").c_str());
    return 0;
  }));
  out.push_back(DaemonVerb("vol-resize", "resize a vol", {{"vol", "capacity", "pool"}, 2, {"shrink", "delta", "allocate"}, {}},
                        [](const Args& a, api::Client& c) {
    std::string pool, vol;
    if (!Locate(c, a, &pool, &vol)) return 1;
    std::string text = a.get("capacity");
    bool minus = !text.empty() && text[0] == '-';
    if (minus || (!text.empty() && text[0] == '+')) text = text.substr(1);
    auto cap = ParseSize(text);
    if (!cap.ok()) return Fail(fmt::format("malformed size {}", a.get("capacity")));
    uint64_t target = *cap;
    if (a.has("delta") || minus) {
      json v;
      if (!CallOrFail(c, "GET", VolPath(pool, vol), nullptr, &v)) return 1;
      uint64_t now = v.value("capacity", uint64_t{0});
      if (minus && *cap > now) return Fail("cannot shrink a volume below zero bytes");
      target = minus ? now - *cap : now + *cap;
    }
    if (minus && !a.has("shrink")) {
      return Fail("negative size requires --shrink");
    }
    json body = {{"capacity", target}, {"shrink", a.has("shrink")}};
    if (!CallOrFail(c, "POST", VolPath(pool, vol, "/resize"), body, nullptr)) return 1;
    std::printf("Size of volume '%s' successfully changed to %s\n\n", vol.c_str(),
                a.get("capacity").c_str());
    return 0;
  }));
  out.push_back(DaemonVerb("vol-info", "storage vol information", {{"vol", "pool"}, 1, {"bytes", "json"}, {}},
                        [](const Args& a, api::Client& c) {
    std::string pool, vol;
    if (!Locate(c, a, &pool, &vol)) return 1;
    json v;
    if (!CallOrFail(c, "GET", VolPath(pool, vol), nullptr, &v)) return 1;
    if (a.has("json")) {
      std::printf("%s\n", v.dump(2).c_str());
      return 0;
    }
    auto sz = [&](const char* k) {
      uint64_t b = v.value(k, uint64_t{0});
      return a.has("bytes") ? fmt::format("{} bytes", b) : VirshSize(b);
    };
    std::printf("%-15s %s\n", "Name:", v.value("name", "").c_str());
    std::printf("%-15s %s\n", "Type:", v.value("type", "").c_str());
    std::printf("%-15s %s\n", "Capacity:", sz("capacity").c_str());
    std::printf("%-15s %s\n\n", "Allocation:", sz("allocation").c_str());
    return 0;
  }));
  out.push_back(DaemonVerb("vol-dumpxml", "vol information in XML", {{"vol", "pool"}, 1, {}, {}},
                        [](const Args& a, api::Client& c) {
    std::string pool, vol;
    if (!Locate(c, a, &pool, &vol)) return 1;
    json r;
    if (!CallOrFail(c, "GET", VolPath(pool, vol, "/xml"), nullptr, &r)) return 1;
    std::fputs(r.value("xml", "").c_str(), stdout);
    return 0;
  }));
  for (const char* verb : {"vol-path", "vol-key", "vol-name"}) {
    std::string v = verb;
    out.push_back(DaemonVerb(v, v == "vol-name" ? "returns the volume name for a given volume key or path"
                                             : "returns the volume " + v.substr(4) + " for a given volume name",
                          {{"vol", "pool"}, 1, {}, {}}, [v](const Args& a, api::Client& c) {
      std::string pool, vol;
      if (!Locate(c, a, &pool, &vol)) return 1;
      json r;
      if (!CallOrFail(c, "GET", VolPath(pool, vol), nullptr, &r)) return 1;
      std::printf("%s\n\n", r.value(v == "vol-name" ? "name" : v == "vol-key" ? "key" : "path", "").c_str());
      return 0;
    }));
  }
  out.push_back(DaemonVerb("vol-upload", "upload file contents to a volume",
                        {{"vol", "file", "pool"}, 2, {"sparse"}, {"offset", "length"}},
                        [](const Args& a, api::Client& c) {
    std::optional<uint64_t> offset, length;
    if (!RangeArgs(a, &offset, &length)) return 1;
    std::string pool, vol;
    if (!Locate(c, a, &pool, &vol)) return 1;
    return Upload(c, pool, vol, a.get("file"), offset, length);
  }));
  out.push_back(DaemonVerb("vol-download", "download volume contents to a file",
                        {{"vol", "file", "pool"}, 2, {"sparse"}, {"offset", "length"}},
                        [](const Args& a, api::Client& c) {
    std::optional<uint64_t> offset, length;
    if (!RangeArgs(a, &offset, &length)) return 1;
    std::string pool, vol;
    if (!Locate(c, a, &pool, &vol)) return 1;
    return Download(c, pool, vol, a.get("file"), offset.value_or(0), length);
  }));
}

}  // namespace skiff::app
