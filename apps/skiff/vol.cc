// Volume verbs (vol-*): the daemon's /v1/pools/{pool}/volumes routes, laid out as virsh prints.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "daemon_cli.h"
#include "skiff/api/base64.h"
#include "skiff/base/fd.h"
#include "skiff/base/size.h"

namespace skiff::app {
namespace {

using json = nlohmann::json;

constexpr uint64_t kChunk = 512 * 1024;

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

int Upload(api::Client& c, const std::string& pool, const std::string& vol, const std::string& file) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Fail(fmt::format("cannot open '{}': {}", file, std::strerror(errno)));
  struct stat st {};
  ::fstat(fd.get(), &st);
  uint64_t size = static_cast<uint64_t>(st.st_size);
  std::string buf(kChunk, '\0');
  bool first = true;
  for (uint64_t off = 0; off < size;) {
    uint64_t len = std::min<uint64_t>(kChunk, size - off);
    json body = {{"offset", off}, {"first", first}};
    off_t data = ::lseek(fd.get(), static_cast<off_t>(off), SEEK_DATA);
    bool hole = (data < 0 && errno == ENXIO) || (data >= 0 && static_cast<uint64_t>(data) >= off + len);
    if (!hole) {
      ssize_t n = ::pread(fd.get(), buf.data(), len, static_cast<off_t>(off));
      if (n != static_cast<ssize_t>(len)) return Fail(fmt::format("read '{}' failed", file));
      std::string_view chunk(buf.data(), len);
      hole = std::all_of(chunk.begin(), chunk.end(), [](char ch) { return ch == 0; });
      if (!hole) body["data"] = api::Base64Encode(chunk);
    }
    if (hole) body["zero"] = len;
    if (!CallOrFail(c, "POST", VolPath(pool, vol, "/upload"), body, nullptr)) return 1;
    first = false;
    off += len;
  }
  json fin = {{"offset", size}, {"first", first}, {"final_size", size}};
  if (!CallOrFail(c, "POST", VolPath(pool, vol, "/upload"), fin, nullptr)) return 1;
  return 0;
}

int Download(api::Client& c, const std::string& pool, const std::string& vol, const std::string& file) {
  UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return Fail(fmt::format("cannot create '{}': {}", file, std::strerror(errno)));
  uint64_t off = 0, size = 1;
  while (off < size) {
    json r;
    if (!CallOrFail(c, "GET", VolPath(pool, vol, fmt::format("/download?offset={}&length={}", off, kChunk)),
                    nullptr, &r)) {
      return 1;
    }
    size = r.value("size", uint64_t{0});
    uint64_t zero = r.value("zero", uint64_t{0});
    if (r.contains("data")) {
      auto bytes = api::Base64Decode(r["data"].get<std::string>());
      if (!bytes.ok()) return Fail(bytes.status().message());
      if (::pwrite(fd.get(), bytes->data(), bytes->size(), static_cast<off_t>(off)) !=
          static_cast<ssize_t>(bytes->size())) {
        return Fail(fmt::format("write '{}': {}", file, std::strerror(errno)));
      }
      off += bytes->size();
    } else if (zero > 0) {
      off += zero;  // left as a hole; ftruncate below sets the size
    } else {
      break;
    }
  }
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
    return Fail(fmt::format("resize '{}': {}", file, std::strerror(errno)));
  }
  return 0;
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
                        {{"vol", "file", "pool"}, 2, {"sparse"}, {}},
                        [](const Args& a, api::Client& c) {
    std::string pool, vol;
    if (!Locate(c, a, &pool, &vol)) return 1;
    return Upload(c, pool, vol, a.get("file"));
  }));
  out.push_back(DaemonVerb("vol-download", "download volume contents to a file",
                        {{"vol", "file", "pool"}, 2, {"sparse"}, {}},
                        [](const Args& a, api::Client& c) {
    std::string pool, vol;
    if (!Locate(c, a, &pool, &vol)) return 1;
    return Download(c, pool, vol, a.get("file"));
  }));
}

}  // namespace skiff::app
