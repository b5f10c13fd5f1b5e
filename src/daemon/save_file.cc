// The save file's header line: read and written here, the state after it by the hypervisor.
#include "daemon/save_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "skiff/base/fd.h"
#include "skiff/base/fs.h"

namespace skiff::daemon {

Result<SaveHeader> ReadSaveHeader(const std::string& file) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(errno, fmt::format("open '{}'", file));
  // Only the first line: the state after it may be gigabytes.
  std::string line;
  char buf[4096];
  bool done = false;
  while (!done && line.size() < kMaxSaveHeader) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, fmt::format("read '{}'", file));
    if (n == 0) break;
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[i] == '\n') {
        done = true;
        break;
      }
      line += buf[i];
    }
  }
  auto header = nlohmann::json::parse(line, nullptr, false);
  if (!done || !header.is_object() || header.value("magic", "") != kSaveMagic ||
      !header.contains("xml") || !header["xml"].is_string()) {
    return InvalidArgumentError("'{}' is not a skiff save file", file);
  }
  SaveHeader h;
  SKIFF_ASSIGN_OR_RETURN(h.def, conf::ParseDomainXml(header["xml"].get<std::string>(), file));
  h.paused = header.value("paused", false);
  h.state_offset = line.size() + 1;
  return h;
}

namespace {

std::string HeaderLine(const conf::DomainDef& def, bool paused) {
  nlohmann::json header = {
      {"magic", kSaveMagic}, {"xml", conf::FormatDomainXml(def)}, {"paused", paused}};
  return header.dump() + "\n";
}

// The fields a restore may change: the guest sees none of them.
conf::DomainDef GuestVisible(conf::DomainDef d) {
  d.title.clear();
  d.description.clear();
  d.metadata.clear();
  for (auto& disk : d.devices.disks) {
    disk.type = conf::DiskType::kFile;
    disk.source_path.clear();
    disk.source_pool.clear();
    disk.source_volume.clear();
  }
  for (auto& nic : d.devices.interfaces) {
    nic.source.clear();
    nic.target_dev.clear();
  }
  for (auto& g : d.devices.graphics) {
    g.passwd.clear();
    g.listen.clear();
    g.port = -1;
    g.tls_port = -1;
    g.autoport = true;
  }
  return d;
}

}  // namespace

Status WriteSaveHeader(const std::string& file, const conf::DomainDef& def, bool paused) {
  return WriteFileAtomic(file, HeaderLine(def, paused), 0600);
}

Status RewriteSaveHeader(const std::string& file, const SaveHeader& old, const conf::DomainDef& def,
                         bool paused) {
  UniqueFd in(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in.valid()) return ErrnoError(errno, fmt::format("open '{}'", file));
  struct stat st {};
  if (::fstat(in.get(), &st) != 0) return ErrnoError(errno, fmt::format("stat '{}'", file));
  const std::string tmp = fmt::format("{}.tmp.{}", file, ::getpid());
  UniqueFd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!out.valid()) return ErrnoError(errno, fmt::format("create '{}'", tmp));
  auto fail = [&](int err, const std::string& what) {
    ::unlink(tmp.c_str());
    return ErrnoError(err, what);
  };
  if (Status w = WriteAll(out.get(), HeaderLine(def, paused), tmp); !w.ok()) {
    ::unlink(tmp.c_str());
    return w;
  }
  auto in_off = static_cast<off64_t>(old.state_offset);
  const auto end = static_cast<off64_t>(st.st_size);
  while (in_off < end) {
    ssize_t n = ::copy_file_range(in.get(), &in_off, out.get(), nullptr,
                                  static_cast<size_t>(std::min<off64_t>(end - in_off, 1 << 30)), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(errno, fmt::format("copy the state of '{}'", file));
    if (n == 0) return fail(EIO, fmt::format("'{}' shrank while its header was rewritten", file));
  }
  if (::fsync(out.get()) != 0) return fail(errno, fmt::format("sync '{}'", tmp));
  if (::rename(tmp.c_str(), file.c_str()) != 0) return fail(errno, fmt::format("rename '{}'", tmp));
  // The rename itself made durable.
  std::string dir = std::filesystem::path(file).parent_path().string();
  UniqueFd d(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d.valid() || ::fsync(d.get()) != 0) {
    return ErrnoError(errno, fmt::format("sync the directory of '{}'", file));
  }
  return Status::Ok();
}

Status CheckSaveCompatible(const conf::DomainDef& saved, const conf::DomainDef& next,
                           const std::string& file) {
  if (next.name != saved.name) {
    return InvalidArgumentError("save image '{}' holds domain '{}', not '{}'", file, saved.name,
                                next.name);
  }
  if (next.uuid != saved.uuid) {
    return InvalidArgumentError("save image '{}' holds domain uuid {}, not {}", file,
                                saved.uuid.ToString(), next.uuid.ToString());
  }
  if (!(GuestVisible(saved) == GuestVisible(next))) {
    return InvalidArgumentError(
        "save image '{}': the new definition changes the saved guest's hardware; only disk and "
        "interface sources, graphics, title, description and metadata may change",
        file);
  }
  return Status::Ok();
}

}  // namespace skiff::daemon
