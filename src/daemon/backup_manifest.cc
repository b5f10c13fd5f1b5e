// Backup manifests: JSON in, JSON out, and the checks restore and verify share.
#include "daemon/backup_manifest.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <memory>

#include <nlohmann/json.hpp>

#include "skiff/base/fd.h"
#include "skiff/base/fs.h"

namespace skiff::daemon {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kManifestVersion = 1;

// A file named in a manifest must stay in its backup's directory.
bool PlainName(const std::string& n) {
  return !n.empty() && n != "." && n != ".." && n.find('/') == std::string::npos &&
         n.find('\0') == std::string::npos;
}

// Field readers that name what is wrong.
struct Reader {
  const json& j;
  const std::string& where;
  Status error;

  template <typename T>
  T Get(const json& obj, const char* key, bool required, const std::string& ctx) {
    auto it = obj.find(key);
    if (it == obj.end()) {
      if (required && error.ok()) {
        error = InvalidArgumentError("{}: {}'{}' is missing", where, ctx, key);
      }
      return T{};
    }
    try {
      return it->template get<T>();
    } catch (const json::exception&) {
      if (error.ok())
        error = InvalidArgumentError("{}: {}'{}' has the wrong type", where, ctx, key);
      return T{};
    }
  }
};

}  // namespace

std::string ManifestToJson(const BackupManifest& m) {
  json disks = json::array();
  for (const auto& d : m.disks) {
    disks.push_back({{"target", d.target},
                     {"file", d.file},
                     {"source", d.source},
                     {"format", d.format},
                     {"virtual_size", d.virtual_size},
                     {"copied", d.copied}});
  }
  json files = json::array();
  for (const auto& f : m.files) {
    files.push_back({{"name", f.name}, {"bytes", f.bytes}, {"sha256", f.sha256}});
  }
  json j{{"skiff_backup", kManifestVersion},
         {"id", m.id},
         {"domain", m.domain},
         {"uuid", m.uuid},
         {"kind", m.incremental ? "incremental" : "full"},
         {"created", BackupTimeText(m.created)},
         {"created_unix", m.created},
         {"definition", m.definition},
         {"disks", disks},
         {"files", files}};
  if (m.incremental) j["parent"] = m.parent;
  if (!m.nvram.empty()) j["nvram"] = m.nvram;
  return j.dump(2) + "\n";
}

Result<BackupManifest> ParseManifest(std::string_view text, const std::string& where) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    return InvalidArgumentError("{}: not a manifest: invalid JSON at byte {}", where, e.byte);
  } catch (const json::exception& e) {  // a number out of range, say
    return InvalidArgumentError("{}: not a manifest: {}", where, e.what());
  }
  if (!j.is_object()) return InvalidArgumentError("{}: not a manifest: not a JSON object", where);
  Reader r{j, where, Status::Ok()};
  const int version = r.Get<int>(j, "skiff_backup", true, "");
  SKIFF_TRY(r.error);
  if (version != kManifestVersion) {
    return InvalidArgumentError("{}: manifest version {} is not one this skiff reads ({})", where,
                                version, kManifestVersion);
  }
  BackupManifest m;
  m.id = r.Get<std::string>(j, "id", true, "");
  m.domain = r.Get<std::string>(j, "domain", true, "");
  m.uuid = r.Get<std::string>(j, "uuid", false, "");
  const std::string kind = r.Get<std::string>(j, "kind", true, "");
  m.parent = r.Get<std::string>(j, "parent", false, "");
  m.created = r.Get<int64_t>(j, "created_unix", true, "");
  m.definition = r.Get<std::string>(j, "definition", true, "");
  m.nvram = r.Get<std::string>(j, "nvram", false, "");
  const json disks = r.Get<json>(j, "disks", true, "");
  const json files = r.Get<json>(j, "files", true, "");
  SKIFF_TRY(r.error);
  if (kind != "full" && kind != "incremental") {
    return InvalidArgumentError("{}: 'kind' is '{}', not full or incremental", where, kind);
  }
  m.incremental = kind == "incremental";
  if (m.incremental && m.parent.empty()) {
    return InvalidArgumentError("{}: an incremental backup without a 'parent'", where);
  }
  if (!PlainName(m.id) || m.id[0] == '.') {
    return InvalidArgumentError("{}: 'id' '{}' is not a backup id", where, m.id);
  }
  if (!disks.is_array() || !files.is_array()) {
    return InvalidArgumentError("{}: 'disks' and 'files' must be lists", where);
  }
  for (size_t i = 0; i < disks.size(); ++i) {
    const std::string ctx = fmt::format("disk {}: ", i + 1);
    if (!disks[i].is_object()) return InvalidArgumentError("{}: {}not an object", where, ctx);
    BackupDisk d;
    d.target = r.Get<std::string>(disks[i], "target", true, ctx);
    d.file = r.Get<std::string>(disks[i], "file", true, ctx);
    d.source = r.Get<std::string>(disks[i], "source", false, ctx);
    d.format = r.Get<std::string>(disks[i], "format", true, ctx);
    d.virtual_size = r.Get<uint64_t>(disks[i], "virtual_size", true, ctx);
    d.copied = r.Get<uint64_t>(disks[i], "copied", false, ctx);
    SKIFF_TRY(r.error);
    if (d.format != "raw" && d.format != "qcow2") {
      return InvalidArgumentError("{}: {}format '{}' is not raw or qcow2", where, ctx, d.format);
    }
    m.disks.push_back(std::move(d));
  }
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string ctx = fmt::format("file {}: ", i + 1);
    if (!files[i].is_object()) return InvalidArgumentError("{}: {}not an object", where, ctx);
    BackupFileSum f;
    f.name = r.Get<std::string>(files[i], "name", true, ctx);
    f.bytes = r.Get<uint64_t>(files[i], "bytes", true, ctx);
    f.sha256 = r.Get<std::string>(files[i], "sha256", true, ctx);
    SKIFF_TRY(r.error);
    m.files.push_back(std::move(f));
  }
  // Every name stays inside the backup, and every file the backup uses has a sum.
  std::set<std::string> summed;
  for (const auto& f : m.files) {
    if (!PlainName(f.name)) {
      return InvalidArgumentError("{}: file name '{}' leaves the backup's directory", where,
                                  f.name);
    }
    summed.insert(f.name);
  }
  std::vector<std::string> used = {m.definition};
  if (!m.nvram.empty()) used.push_back(m.nvram);
  for (const auto& d : m.disks) used.push_back(d.file);
  for (const auto& n : used) {
    if (!PlainName(n)) {
      return InvalidArgumentError("{}: file name '{}' leaves the backup's directory", where, n);
    }
    if (!summed.count(n)) return InvalidArgumentError("{}: '{}' has no checksum", where, n);
  }
  return m;
}

Result<std::string> Sha256File(const fs::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoError(errno, fmt::format("open '{}'", path.string()));
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return InternalError("SHA-256 is not available");
  }
  std::vector<unsigned char> buf(1 << 20);
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, fmt::format("read '{}'", path.string()));
    if (n == 0) break;
    EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(n));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  std::string hex;
  for (unsigned i = 0; i < len; ++i) hex += fmt::format("{:02x}", md[i]);
  return hex;
}

Result<BackupFileSum> SumFile(const fs::path& dir, const std::string& name) {
  std::error_code ec;
  const uint64_t bytes = fs::file_size(dir / name, ec);
  if (ec) return ErrnoError(ec.value(), fmt::format("size of '{}'", (dir / name).string()));
  SKIFF_ASSIGN_OR_RETURN(std::string sum, Sha256File(dir / name));
  return BackupFileSum{name, bytes, sum};
}

bool IsBackupDir(const fs::path& path) {
  std::error_code ec;
  return fs::is_regular_file(path / std::string(kManifestName), ec);
}

Result<std::vector<BackupEntry>> ScanBackups(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return NotFoundError("'{}' is no directory", dir.string());
  std::vector<BackupEntry> out;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name[0] == '.' || !e.is_directory(ec) || !IsBackupDir(e.path())) continue;
    BackupEntry b;
    b.dir = e.path();
    const fs::path file = e.path() / std::string(kManifestName);
    auto text = ReadFile(file, 1 << 20);
    auto m =
        text.ok() ? ParseManifest(*text, file.string()) : Result<BackupManifest>(text.status());
    if (m.ok() && m->id != name) {
      m = InvalidArgumentError("{}: 'id' is '{}' but the directory is '{}'", file.string(), m->id,
                               name);
    }
    if (m.ok()) {
      b.manifest = std::move(*m);
    } else {
      b.error = m.status();
      b.manifest.id = name;
    }
    out.push_back(std::move(b));
  }
  if (ec) return ErrnoError(ec.value(), fmt::format("read '{}'", dir.string()));
  // Ids are UTC times: their order is the backups' order.
  std::sort(out.begin(), out.end(), [](const BackupEntry& a, const BackupEntry& b) {
    return a.manifest.id < b.manifest.id;
  });
  return out;
}

std::vector<std::string> VerifyBackupFiles(const BackupEntry& b) {
  if (!b.error.ok()) return {b.error.message()};
  std::vector<std::string> problems;
  for (const auto& f : b.manifest.files) {
    const fs::path p = b.dir / f.name;
    std::error_code ec;
    const uint64_t bytes = fs::file_size(p, ec);
    if (ec) {
      problems.push_back(fmt::format("{}: missing", f.name));
      continue;
    }
    if (bytes != f.bytes) {
      problems.push_back(fmt::format("{}: {} bytes, the manifest says {}{}", f.name, bytes, f.bytes,
                                     bytes < f.bytes ? " (truncated)" : ""));
      continue;
    }
    auto sum = Sha256File(p);
    if (!sum.ok()) {
      problems.push_back(fmt::format("{}: {}", f.name, sum.status().message()));
    } else if (*sum != f.sha256) {
      problems.push_back(
          fmt::format("{}: its SHA-256 is not the manifest's (the file changed)", f.name));
    }
  }
  return problems;
}

Result<std::vector<const BackupEntry*>> BackupChain(const std::vector<BackupEntry>& backups,
                                                    const std::string& id) {
  std::map<std::string, const BackupEntry*> by_id;
  for (const auto& b : backups) by_id[b.manifest.id] = &b;
  std::vector<const BackupEntry*> chain;
  std::string next = id;
  while (true) {
    auto it = by_id.find(next);
    if (it == by_id.end()) {
      if (chain.empty()) return NotFoundError("no backup '{}'", id);
      return NotFoundError("backup '{}' needs '{}', which is not there", chain.back()->manifest.id,
                           next);
    }
    const BackupEntry* b = it->second;
    if (!b->error.ok()) return b->error;
    if (chain.size() > backups.size()) return InvalidArgumentError("backup '{}': a loop", id);
    chain.push_back(b);
    if (!b->manifest.incremental) break;
    next = b->manifest.parent;
  }
  std::reverse(chain.begin(), chain.end());
  return chain;
}

Result<const BackupEntry*> NewestBackup(const std::vector<BackupEntry>& backups,
                                        const std::string& domain, int64_t at) {
  for (auto it = backups.rbegin(); it != backups.rend(); ++it) {
    if (!it->error.ok()) continue;
    if (!domain.empty() && it->manifest.domain != domain) continue;
    if (at != 0 && it->manifest.created > at) continue;
    return &*it;
  }
  if (at != 0)
    return NotFoundError("no backup{} taken by {}", domain.empty() ? "" : " of '" + domain + "'",
                         BackupTimeText(at));
  return NotFoundError("no backup{}", domain.empty() ? "" : " of '" + domain + "'");
}

std::set<std::string> BackupsToKeep(const std::vector<BackupEntry>& backups,
                                    const std::string& domain, unsigned keep_last,
                                    unsigned keep_daily) {
  std::vector<const BackupEntry*> mine;  // newest first
  for (auto it = backups.rbegin(); it != backups.rend(); ++it) {
    if (it->error.ok() && it->manifest.domain == domain) mine.push_back(&*it);
  }
  std::set<std::string> keep;
  for (size_t i = 0; i < mine.size() && i < keep_last; ++i) keep.insert(mine[i]->manifest.id);
  std::set<int64_t> days;
  for (const auto* b : mine) {
    const int64_t day = b->manifest.created / 86400;
    if (days.count(day)) continue;
    if (days.size() >= keep_daily) break;
    days.insert(day);
    keep.insert(b->manifest.id);
  }
  // A kept incremental needs every backup below it.
  std::set<std::string> with_parents;
  for (const auto& id : keep) {
    auto chain = BackupChain(backups, id);
    if (!chain.ok()) {
      with_parents.insert(id);
      continue;
    }
    for (const auto* b : *chain) with_parents.insert(b->manifest.id);
  }
  return with_parents;
}

std::string BackupIdAt(int64_t unix_seconds) {
  time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string BackupTimeText(int64_t unix_seconds) {
  time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

Result<int64_t> ParseBackupTime(std::string_view text) {
  const std::string s(text);
  struct Form {
    const char* fmt;
    int64_t add;  // a date alone means its end
  };
  static const Form kForms[] = {
      {"%Y%m%dT%H%M%SZ", 0},    {"%Y-%m-%dT%H:%M:%SZ", 0}, {"%Y-%m-%dT%H:%M:%S", 0},
      {"%Y-%m-%d %H:%M:%S", 0}, {"%Y-%m-%dT%H:%M", 59},    {"%Y-%m-%d %H:%M", 59},
      {"%Y-%m-%d", 86399},
  };
  for (const auto& f : kForms) {
    struct tm tm {};
    const char* end = strptime(s.c_str(), f.fmt, &tm);
    if (end == nullptr || *end != '\0') continue;
    return static_cast<int64_t>(timegm(&tm)) + f.add;
  }
  return InvalidArgumentError(
      "--at: '{}' is not a time (2026-12-07, 2026-12-07 23:15[:00] or a backup id; UTC)", s);
}

}  // namespace skiff::daemon
