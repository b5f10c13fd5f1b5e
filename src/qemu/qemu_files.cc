// QemuFiles: opening what QEMU uses and handing it over as fds (qemu_files.h).
#include "qemu/qemu_files.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include <fmt/format.h>

#include "skiff/base/fs.h"
#include "skiff/qemu/qmp_client.h"

namespace skiff::qemu {
namespace {

// QEMU's option syntax: a comma inside a value is doubled.
std::string EscOpt(const std::string& v) {
  std::string out;
  for (char c : v) {
    out += c;
    if (c == ',') out += ',';
  }
  return out;
}

Result<UniqueFd> OpenFor(const std::string& path, int flags, const std::string& what) {
  UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC | O_NOCTTY, 0640));
  if (!fd) return ErrnoError(errno, fmt::format("{}: open '{}'", what, path));
  return fd;
}

Result<UniqueFd> UnixSocket(const std::string& path, sockaddr_un* addr) {
  if (path.size() >= sizeof(addr->sun_path)) {
    return InvalidArgumentError("socket path '{}' is longer than {} bytes", path,
                                sizeof(addr->sun_path) - 1);
  }
  *addr = {};
  addr->sun_family = AF_UNIX;
  std::memcpy(addr->sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoError(errno, "socket");
  return fd;
}

// Whether `user` may read a file of this mode and owner without any capability.
bool ReadableBy(const struct stat& st, const SpawnOptions::User& user) {
  if (user.uid == 0) return true;
  if (st.st_uid == user.uid) return (st.st_mode & S_IRUSR) != 0;
  bool in_group = st.st_gid == user.gid ||
                  std::find(user.groups.begin(), user.groups.end(), st.st_gid) != user.groups.end();
  if (in_group) return (st.st_mode & S_IRGRP) != 0;
  return (st.st_mode & S_IROTH) != 0;
}

// The fds of one fd set for `flags`: that one, and a read-only one beside a
// read-write one, as QEMU's block layer reopens images either way.
std::vector<int> FdSetModes(int flags) {
  std::vector<int> modes = {flags};
  if ((flags & O_ACCMODE) == O_RDWR) modes.push_back((flags & ~O_ACCMODE & ~O_CREAT) | O_RDONLY);
  return modes;
}

// What query-fdsets shows of one fd: its owner, its mode and the host path.
std::string FdOpaque(const std::string& owner, int mode, const std::string& path) {
  return fmt::format("{} {} {}", owner, (mode & O_ACCMODE) == O_RDONLY ? "ro" : "rw", path);
}

}  // namespace

std::string DiskFdSetOwner(const conf::DiskDef& disk) {
  return fmt::format("disk '{}'", disk.target_dev);
}

int QemuFiles::Pass(UniqueFd fd) {
  int child = next_fd_++;
  pass_fds_.emplace_back(fd.get(), child);
  held_.push_back(std::move(fd));
  return child;
}

Result<std::string> QemuFiles::AddFdSet(const std::string& path, int flags,
                                        const std::string& opaque) {
  if (auto it = aliases_.find(path); it != aliases_.end()) return it->second;
  const int set = next_set_++;
  for (int m : FdSetModes(flags)) {
    SKIFF_ASSIGN_OR_RETURN(UniqueFd fd, OpenFor(path, m, opaque));
    int n = Pass(std::move(fd));
    add_fd_args_.push_back(
        fmt::format("fd={},set={},opaque={}", n, set, EscOpt(FdOpaque(opaque, m, path))));
  }
  std::string alias = fmt::format("/dev/fdset/{}", set);
  aliases_[path] = alias;
  return alias;
}

Result<std::string> QemuFiles::AddLoaderFile(const std::string& path) {
  if (auto it = aliases_.find(path); it != aliases_.end()) return it->second;
  SKIFF_ASSIGN_OR_RETURN(UniqueFd fd, OpenFor(path, O_RDONLY, "load"));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoError(errno, fmt::format("stat '{}'", path));
  if (reader_ && S_ISREG(st.st_mode) && !ReadableBy(st, *reader_)) {
    // QEMU reopens /proc/self/fd/N, which checks the file's mode: a private copy.
    UniqueFd copy(::memfd_create("skiff-qemu-load", MFD_CLOEXEC));
    if (!copy) return ErrnoError(errno, "memfd_create");
    off_t off = 0;
    while (off < st.st_size) {
      ssize_t n = ::sendfile(copy.get(), fd.get(), &off, static_cast<size_t>(st.st_size - off));
      if (n <= 0) return ErrnoError(n < 0 ? errno : EIO, fmt::format("copy '{}'", path));
    }
    fd = std::move(copy);
  }
  std::string alias = fmt::format("/proc/self/fd/{}", Pass(std::move(fd)));
  aliases_[path] = alias;
  return alias;
}

QemuFiles::~QemuFiles() {
  for (const auto& path : bound_) (void)::unlink(path.c_str());
}

Result<int> QemuFiles::AddListeningSocket(const std::string& path) {
  sockaddr_un addr;
  SKIFF_ASSIGN_OR_RETURN(UniqueFd fd, UnixSocket(path, &addr));
  (void)::unlink(path.c_str());  // a stale socket of a QEMU gone
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return ErrnoError(errno, fmt::format("bind '{}'", path));
  }
  bound_.push_back(path);
  if (::listen(fd.get(), 16) != 0) return ErrnoError(errno, fmt::format("listen '{}'", path));
  return Pass(std::move(fd));
}

Result<int> QemuFiles::AddConnectedSocket(const std::string& path) {
  sockaddr_un addr;
  SKIFF_ASSIGN_OR_RETURN(UniqueFd fd, UnixSocket(path, &addr));
  int r;
  do {
    r = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  } while (r != 0 && errno == EINTR);
  if (r != 0) return ErrnoError(errno, fmt::format("connect '{}'", path));
  return Pass(std::move(fd));
}

Status HandOffFiles(const conf::DomainDef& def, ArgvContext& ctx, QemuFiles& files) {
  if (!ctx.qmp_socket.empty()) {
    SKIFF_ASSIGN_OR_RETURN(ctx.qmp_fd, files.AddListeningSocket(ctx.qmp_socket));
  }
  if (!ctx.console_socket.empty()) {
    SKIFF_ASSIGN_OR_RETURN(ctx.console_fd, files.AddListeningSocket(ctx.console_socket));
  }
  if (!ctx.log_file.empty()) {
    SKIFF_TRY(files.AddFdSet(ctx.log_file, O_WRONLY | O_APPEND | O_CREAT, "log").status());
  }
  for (const auto& d : def.devices.disks) {
    std::string path = d.source_path;
    if (d.type == conf::DiskType::kVolume) {
      auto it = ctx.volume_paths.find(d.target_dev);
      path = it == ctx.volume_paths.end() ? "" : it->second;
    }
    if (path.empty()) continue;
    const std::string what = DiskFdSetOwner(d);
    for (const auto& b : d.backing_chain) {
      SKIFF_TRY(files.AddFdSet(b.path, O_RDONLY, what).status());
    }
    const bool ro = d.readonly || d.device == conf::DiskDevice::kCdrom;
    SKIFF_TRY(files.AddFdSet(path, ro ? O_RDONLY : O_RDWR, what).status());
  }
  const conf::OsDef& os = def.os;
  if (!ctx.efi.code.empty()) SKIFF_TRY(files.AddFdSet(ctx.efi.code, O_RDONLY, "pflash0").status());
  if (!ctx.efi.nvram.empty()) SKIFF_TRY(files.AddFdSet(ctx.efi.nvram, O_RDWR, "pflash1").status());
  if (os.loader && os.loader->type == "pflash") {
    int mode = os.loader->readonly != "no" ? O_RDONLY : O_RDWR;
    SKIFF_TRY(files.AddFdSet(os.loader->path, mode, "pflash0").status());
    if (!os.nvram.empty()) SKIFF_TRY(files.AddFdSet(os.nvram, O_RDWR, "pflash1").status());
  } else if (os.loader && !os.loader->path.empty()) {
    SKIFF_TRY(files.AddLoaderFile(os.loader->path).status());
  }
  for (const std::string* f : {&os.kernel, &os.initrd}) {
    if (!f->empty()) SKIFF_TRY(files.AddLoaderFile(*f).status());
  }
  // Character devices the definition names.
  const auto& dv = def.devices;
  auto chardevs = {&dv.serials, &dv.consoles, &dv.channels};
  for (const auto* list : chardevs) {
    for (const auto& c : *list) {
      if (c.path.empty()) continue;
      if (c.type == conf::CharSourceType::kFile) {
        int flags = O_WRONLY | O_CREAT | (c.append == "on" ? O_APPEND : O_TRUNC);
        SKIFF_TRY(files.AddFdSet(c.path, flags, "chardev").status());
      } else if (c.type == conf::CharSourceType::kUnix && !ctx.socket_fds.count(c.path)) {
        auto fd = c.mode == "connect" ? files.AddConnectedSocket(c.path)
                                      : files.AddListeningSocket(c.path);
        if (!fd.ok()) return fd.status().WithContext("chardev");
        ctx.socket_fds[c.path] = *fd;
      }
    }
  }
  for (size_t i = 0; i < dv.channels.size(); ++i) {
    const auto& c = dv.channels[i];
    if (c.type != conf::CharSourceType::kUnix || !c.path.empty()) continue;
    std::string path = AutoChannelPath(def, ctx, i);
    SKIFF_ASSIGN_OR_RETURN(ctx.socket_fds[path], files.AddListeningSocket(path));
  }
  if (!ctx.tpm_socket.empty()) {
    auto fd = files.AddConnectedSocket(ctx.tpm_socket);
    if (!fd.ok()) return fd.status().WithContext("tpm");
    ctx.socket_fds[ctx.tpm_socket] = *fd;
  }
  for (const auto& [index, sock] : ctx.virtiofs_sockets) {
    auto fd = files.AddConnectedSocket(sock);
    if (!fd.ok()) return fd.status().WithContext(fmt::format("filesystem {}", index));
    ctx.socket_fds[sock] = *fd;
  }
  ctx.file_aliases = files.aliases();
  ctx.add_fds = files.add_fd_args();
  return Status::Ok();
}

std::vector<std::string> QemuDevNodes(const conf::DomainDef& def) {
  std::vector<std::string> out = {"/dev/null",      "/dev/zero",        "/dev/full", "/dev/random",
                                  "/dev/urandom",   "/dev/ptmx",        "/dev/kvm",  "/dev/net/tun",
                                  "/dev/vhost-net", "/dev/vhost-vsock", "/dev/sev"};
  auto add = [&](const std::string& p) {
    if (p.rfind("/dev/", 0) == 0 && p.find("/..") == std::string::npos &&
        std::find(out.begin(), out.end(), p) == out.end()) {
      out.push_back(p);
    }
  };
  for (const auto& r : def.devices.rngs) {
    if (r.backend == "random") add(r.source);
  }
  for (const auto& t : def.devices.tpms) {
    if (t.backend == "passthrough") add(t.device_path);
  }
  return out;
}

Result<std::string> AddFdSetOverQmp(QmpClient& qmp, const std::string& path, bool writable,
                                    const std::string& opaque) {
  std::optional<int64_t> set;
  for (int m : FdSetModes(writable ? O_RDWR : O_RDONLY)) {
    SKIFF_ASSIGN_OR_RETURN(UniqueFd fd, OpenFor(path, m, opaque));
    nlohmann::json args = {{"opaque", FdOpaque(opaque, m, path)}};
    if (set) args["fdset-id"] = *set;
    SKIFF_ASSIGN_OR_RETURN(nlohmann::json r, qmp.ExecuteWithFd("add-fd", args, fd.get()));
    if (!r.is_object() || !r.contains("fdset-id") || !r["fdset-id"].is_number_integer()) {
      return InternalError("add-fd: unexpected answer {}", r.dump());
    }
    set = r["fdset-id"].get<int64_t>();
  }
  return fmt::format("/dev/fdset/{}", *set);
}

void RemoveFdSetsOverQmp(QmpClient& qmp, const std::string& prefix) {
  auto sets = qmp.Execute("query-fdsets");
  if (!sets.ok() || !sets->is_array()) return;
  for (const auto& s : *sets) {
    if (!s.contains("fdset-id") || !s.contains("fds") || !s["fds"].is_array()) continue;
    bool ours = std::any_of(s["fds"].begin(), s["fds"].end(), [&](const nlohmann::json& f) {
      return f.contains("opaque") && f["opaque"].is_string() &&
             f["opaque"].get<std::string>().rfind(prefix, 0) == 0;
    });
    if (ours) (void)qmp.Execute("remove-fd", {{"fdset-id", s["fdset-id"]}});
  }
}

void DropReadOnlyFdsOverQmp(QmpClient& qmp, const std::string& owner) {
  auto sets = qmp.Execute("query-fdsets");
  if (!sets.ok() || !sets->is_array()) return;
  auto mode_of = [&](const nlohmann::json& f) -> std::string {
    if (!f.contains("opaque") || !f["opaque"].is_string()) return "";
    const std::string o = f["opaque"].get<std::string>();
    if (o.rfind(owner + " ", 0) != 0) return "";
    return o.substr(owner.size() + 1, 2);
  };
  for (const auto& s : *sets) {
    if (!s.contains("fdset-id") || !s.contains("fds") || !s["fds"].is_array()) continue;
    bool rw = std::any_of(s["fds"].begin(), s["fds"].end(),
                          [&](const nlohmann::json& f) { return mode_of(f) == "rw"; });
    if (!rw) continue;
    for (const auto& f : s["fds"]) {
      if (mode_of(f) == "ro" && f.contains("fd")) {
        (void)qmp.Execute("remove-fd", {{"fdset-id", s["fdset-id"]}, {"fd", f["fd"]}});
      }
    }
  }
}

}  // namespace skiff::qemu
