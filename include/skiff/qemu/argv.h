// DomainDef -> QEMU command line. The daemon calls BuildQemuArgv to start a domain;
// `skiff domxml-to-native` prints it; the golden suite pins it.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "skiff/base/status.h"
#include "skiff/conf/domain.h"

namespace skiff::qemu {

struct ArgvContext {
  // The QEMU that will run (from FindQemu()); selects version-dependent syntax.
  int qemu_major = 7, qemu_minor = 2;
  std::string emulator;  // used when the domain has no <emulator>; default qemu-system-x86_64 path
  bool kvm_usable = false;  // from ProbeKvm()
  std::string kvm_reason;   // ProbeKvm().reason, quoted in the error for type='kvm'
  std::string qmp_socket;   // unix socket path QEMU listens on for QMP; empty: no QMP
  // serial0 as a unix socket server (the console); with log_file, every byte also
  // reaches the log (chardev logfile=, logappend=on). Empty: serials as defined.
  std::string console_socket;
  std::string log_file;
  std::map<size_t /*interface index*/, int /*fd number in child*/> tap_fds;
  std::map<std::string /*disk target*/, std::string /*resolved path*/> volume_paths;
  bool start_paused = false;  // -S: CPUs stay stopped until QMP 'cont'
  // Ports the daemon chose for graphics with autoport='yes' (index into
  // devices.graphics). VNC without an entry lets QEMU pick (display :0 to :99);
  // SPICE cannot pick, so an autoport SPICE display needs an entry.
  std::map<size_t, int> graphics_ports;
  // Directory with the SPICE TLS certificates (ca-cert.pem, server-cert.pem,
  // server-key.pem); a SPICE display with tlsPort fails without it.
  std::string spice_x509_dir;
  std::string incoming;  // -incoming value for restore (e.g. "defer"); empty: none
  std::string pidfile;   // -pidfile; empty: none
  // PCI slots by device id ("virtio-disk1" -> "0x4", "net1" -> "0x5.0x1", or with the
  // bridge they sit behind, "pci.2:0x0" -> bus=pci.2,addr=0x0), appended
  // as addr= to those -device options: a restore must put every device where the
  // saved QEMU had it, hot-plugged ones included.
  std::map<std::string, std::string> pci_addrs;
  bool daemonize = false;  // -daemonize
  // QEMU's seccomp filter, as libvirt sets it (seccomp_sandbox = 1): -sandbox
  // on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny. QEMU
  // may then not fork or exec, gain privileges or change scheduling; Skiff hands it
  // every fd it needs and pins its threads from outside. Off only for a QEMU built
  // without seccomp (QemuHasSandbox).
  bool sandbox = false;
  // <os firmware='efi'> without a <loader>: the firmware the driver chose from
  // QEMU's firmware descriptors (/usr/share/qemu/firmware) and the domain's own
  // NVRAM file (copied from the descriptor's template). Empty: none found.
  struct Efi {
    std::string code, nvram;
    bool secure = false;  // secure boot: needs SMM and a secure flash
  } efi;
  // <smbios mode='host'>: the host's BIOS and system blocks (no UUID), from
  // /sys/class/dmi/id (ReadHostSysinfo).
  conf::SysinfoDef host_sysinfo;
  // Sockets of the helpers the driver started: swtpm's for a <tpm> emulator, and
  // virtiofsd's per <filesystem> index with driver virtiofs.
  std::string tpm_socket;
  std::map<size_t, std::string> virtiofs_sockets;
  // What skiffd opened for QEMU (HandOffFiles, qemu_files.h); empty: QEMU opens
  // every path itself, as in libvirt's expected command lines. By the path the
  // definition or this context names: what QEMU is given instead
  // ("/dev/fdset/3", "/proc/self/fd/204"), the -add-fd values that fill those
  // sets (given before anything uses them), and sockets passed by number
  // (-chardev socket,fd=N): QMP's, the console's, and by path unix chardevs,
  // swtpm's and virtiofsd's.
  std::map<std::string, std::string> file_aliases;
  std::vector<std::string> add_fds;
  int qmp_fd = -1;
  int console_fd = -1;
  std::map<std::string, int> socket_fds;
};

// The socket of an agent <channel type='unix'> without a path (libvirt makes one
// up): beside the QMP socket, DIR/DOMAIN.TARGET_NAME.
std::string AutoChannelPath(const conf::DomainDef& def, const ArgvContext& ctx, size_t channel);

// What the driver settles at start, settled as it would be on this host for a
// daemon with state root `root`, but without starting or writing anything (for
// domxml-to-native): the UEFI firmware and the NVRAM path, the host's SMBIOS
// values, the sockets swtpm and virtiofsd would listen on, and port 5900 up for
// autoport SPICE displays.
void PreviewStartContext(const conf::DomainDef& def, const std::filesystem::path& root,
                         ArgvContext& ctx);

// Builds the argv; argv[0] is the emulator (<emulator>, else ctx.emulator, else
// /usr/bin/qemu-system-x86_64). Errors:
//  - kFailedPrecondition: type='kvm' while !ctx.kvm_usable (message quotes ctx.kvm_reason);
//  - kInvalidArgument: a network/bridge interface without a tap fd in ctx.tap_fds,
//    a volume disk without a path in ctx.volume_paths.
// Always: -no-user-config -nodefaults, -accel kvm|tcg, -machine, -cpu, -m, -smp,
// -display none unless graphics, -blockdev/-device per disk, -netdev tap,fd=N.
Result<std::vector<std::string>> BuildQemuArgv(const conf::DomainDef& def, const ArgvContext& ctx);

// What QMP needs to hot-plug one disk into a running QEMU. The node names and the
// device id are the ones BuildQemuArgv gives the disk at boot (file-vdb, fmt-vdb,
// virtio-disk1), so a disk is found the same way however it was attached.
struct DiskHotplug {
  nlohmann::json blockdev;  // blockdev-add: the format node with its file node nested
  nlohmann::json device;    // device_add
  std::string device_id;
  std::string node_name;  // the top (format) node
};
// `path` is the disk's resolved source (file, block device or volume). Buses: virtio
// (virtio-blk-pci, placed on `pci_bus` when not empty: a pcie-root-port on q35)
// scsi (scsi-hd or scsi-cd on scsi0.0, which the caller makes sure exists) and usb
// (usb-storage on usb.0, the first USB controller).
// kUnsupported for sata and ide (see CheckDiskHotplug); kInvalidArgument for a
// target that is not a disk name (vdb) or a disk without a source.
// The disk's backing chain is nested under the top node (fmt-vdb-1, ...), each
// layer read-only. `aliases` maps a host path to the name QEMU opens it by
// (/dev/fdset/S from AddFdSetOverQmp); a path not there is given as is.
Result<DiskHotplug> BuildDiskHotplug(const conf::DiskDef& disk, const std::string& path,
                                     const std::string& pci_bus = "",
                                     const std::map<std::string, std::string>& aliases = {});
// kUnsupported "disk bus 'sata' cannot be hotplugged" (hotunplugged when `unplug`)
// for the buses QEMU cannot change while the guest runs (sata, ide).
Status CheckDiskHotplug(const conf::DiskDef& disk, bool unplug);
// The QEMU device id of a disk: virtio-disk1, sata0-0-1, scsi0-0-0-1, ide0-0-1, usb-disk1.
std::string DiskDeviceId(const conf::DiskDef& disk);
// The node names BuildQemuArgv and BuildDiskHotplug create for a disk, top first
// (fmt-vdb, file-vdb, then its backing chain's nodes).
std::vector<std::string> DiskNodeNames(const conf::DiskDef& disk);

// Default QEMU binary path when neither <emulator> nor ctx.emulator is set.
inline constexpr const char* kDefaultEmulator = "/usr/bin/qemu-system-x86_64";

}  // namespace skiff::qemu
