// QemuFiles: everything a domain's QEMU uses on the host, opened by skiffd and
// handed over as file descriptors, so that QEMU needs no right to any path: it
// runs as an unprivileged user (skiff-qemu) in a mount namespace of its own.
// Nothing on the host changes owner or mode for it, so nothing is left to put
// back after a crash (libvirt's DAC driver chowns the files and restores them).
//
//  - disks, their backing chains, pflash code and NVRAM, the console log and
//    file chardevs go through QEMU fd sets: -add-fd fd=N,set=S,opaque=... and
//    the path given as /dev/fdset/S; a writable file's set holds a read-write
//    and a read-only fd, as QEMU's block layer reopens images either way;
//  - kernel, initrd, dtb and -bios, which QEMU's loaders open by name, are
//    given as /proc/self/fd/N (a private copy in a memfd when the file's mode
//    would not let the QEMU user read it);
//  - sockets (QMP, the console, unix chardevs, swtpm's and virtiofsd's) are
//    listening or connected sockets passed by number: -chardev socket,fd=N.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "skiff/base/fd.h"
#include "skiff/base/process.h"
#include "skiff/base/status.h"
#include "skiff/conf/domain.h"
#include "skiff/qemu/argv.h"

namespace skiff::qemu {

class QemuFiles {
 public:
  // fds are numbered in QEMU from `first_fd` up (clear of the taps' 100 up).
  explicit QemuFiles(int first_fd = 200) : next_fd_(first_fd) {}
  // Removes the sockets it bound unless KeepSockets() was called: a start that
  // fails leaves none behind.
  ~QemuFiles();
  QemuFiles(const QemuFiles&) = delete;
  QemuFiles& operator=(const QemuFiles&) = delete;
  // QEMU now listens on them; they go with its run files.
  void KeepSockets() { bound_.clear(); }

  // The fd number QEMU will see for `fd`; it stays open here until this object goes.
  int Pass(UniqueFd fd);
  // An fd set for `path` opened with `flags` (O_RDONLY, or O_RDWR which adds a
  // read-only fd too; O_WRONLY for logs), named in QEMU by `opaque`. Returns
  // "/dev/fdset/S" and records it in aliases() and add_fd_args().
  Result<std::string> AddFdSet(const std::string& path, int flags, const std::string& opaque);
  // A file QEMU's loaders open by name: "/proc/self/fd/N".
  Result<std::string> AddLoaderFile(const std::string& path);
  // A unix socket skiffd listens on for QEMU (a stale one is replaced), or one
  // it connects to; returns the fd number in QEMU.
  Result<int> AddListeningSocket(const std::string& path);
  Result<int> AddConnectedSocket(const std::string& path);

  // Our copies of the fds, for the caller to close once QEMU has them.
  std::vector<UniqueFd> TakeFds() { return std::move(held_); }

  const std::map<std::string, std::string>& aliases() const { return aliases_; }
  const std::vector<std::string>& add_fd_args() const { return add_fd_args_; }
  const std::vector<std::pair<int, int>>& pass_fds() const { return pass_fds_; }

  // The QEMU user, for deciding whether a loader file is readable by it.
  void set_reader(std::optional<SpawnOptions::User> user) { reader_ = std::move(user); }

 private:
  std::vector<UniqueFd> held_;
  std::vector<std::string> bound_;
  std::vector<std::pair<int, int>> pass_fds_;
  std::map<std::string, std::string> aliases_;
  std::vector<std::string> add_fd_args_;
  std::optional<SpawnOptions::User> reader_;
  int next_fd_;
  int next_set_ = 1;
};

// Opens what `def` needs (disks with the chains in their definitions, firmware,
// kernel, logs, chardevs, the QMP and console sockets, swtpm's and virtiofsd's
// sockets as ctx names them) into `files` and points `ctx` at the fds. Errors
// name the device and the path ("disk 'vda': open '/x.qcow2': No such file or
// directory").
Status HandOffFiles(const conf::DomainDef& def, ArgvContext& ctx, QemuFiles& files);

// Host device nodes QEMU's /dev holds for `def`: the usual ones (null, zero,
// full, random, urandom, ptmx, kvm, net/tun, vhost-net, vhost-vsock, sev) and
// those the definition names (rng sources, a passthrough TPM, char devices).
std::vector<std::string> QemuDevNodes(const conf::DomainDef& def);

// The owner named in the opaque of a disk's fd sets ("disk 'vdb'"), at start
// and at hot-plug: RemoveFdSetsOverQmp(qmp, DiskFdSetOwner(d)) drops them all.
std::string DiskFdSetOwner(const conf::DiskDef& disk);

// Hot-plug: passes the fds of one disk layer to a running QEMU over QMP (add-fd)
// and returns the fd set's path; `writable` as for AddFdSet.
class QmpClient;
Result<std::string> AddFdSetOverQmp(QmpClient& qmp, const std::string& path, bool writable,
                                    const std::string& opaque);
// Removes the fd sets whose opaque starts with `prefix` (a detached disk's).
void RemoveFdSetsOverQmp(QmpClient& qmp, const std::string& prefix);
// Closes the read-only fd of each fd set of `owner` that also holds a read-write
// one. QEMU opened the image through it first; the locks it took stay on that
// open file as long as the fd set holds it, and keep QEMU from taking new
// permissions (block_resize: 'Failed to get "write" lock'). QEMU closes it at
// once only while the guest runs.
void DropReadOnlyFdsOverQmp(QmpClient& qmp, const std::string& owner);

}  // namespace skiff::qemu
