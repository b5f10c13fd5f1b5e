// Domain definitions in libvirt's XML dialect: the model, parse, validate, format.
// Start here for anything that reads or writes a guest's configuration.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "skiff/base/status.h"
#include "skiff/base/uuid.h"

namespace skiff::conf {

enum class DomainType { kKvm, kQemu };
enum class LifecycleAction {
  kDestroy,
  kRestart,
  kPreserve,
  kRenameRestart,
  kCoredumpDestroy,  // on_crash only
  kCoredumpRestart,  // on_crash only
};
enum class CpuMode { kCustom, kHostPassthrough, kHostModel, kMaximum };
enum class BootDevice { kHd, kCdrom, kNetwork, kFd };
enum class DiskType { kFile, kBlock, kVolume };
enum class DiskDevice { kDisk, kCdrom };
enum class DiskBus { kVirtio, kSata, kScsi, kIde, kUsb };
enum class InterfaceType { kNetwork, kBridge, kUser };
enum class NicModel { kVirtio, kE1000, kE1000e, kRtl8139 };
enum class CharSourceType { kPty, kUnix, kFile, kNull, kSpicevmc };
enum class GraphicsType { kVnc, kSpice };
enum class VideoModel { kNone, kVga, kCirrus, kQxl, kVirtio, kBochs };
enum class InputType { kMouse, kKeyboard, kTablet };
enum class InputBus { kPs2, kUsb, kVirtio };
enum class WatchdogModel { kI6300esb, kIb700, kItco };

// libvirt spellings: "kvm", "destroy", "host-passthrough", "virtio", ...
std::string_view ToString(DomainType v);
std::string_view ToString(LifecycleAction v);
std::string_view ToString(CpuMode v);
std::string_view ToString(BootDevice v);
std::string_view ToString(DiskType v);
std::string_view ToString(DiskDevice v);
std::string_view ToString(DiskBus v);
std::string_view ToString(InterfaceType v);
std::string_view ToString(NicModel v);
std::string_view ToString(CharSourceType v);
std::string_view ToString(GraphicsType v);
std::string_view ToString(VideoModel v);
std::string_view ToString(InputType v);
std::string_view ToString(InputBus v);
std::string_view ToString(WatchdogModel v);

// <address .../> of a device: kept verbatim (attribute -> value, in document
// order) so that a persistent definition never loses it.
using DeviceAddress = std::vector<std::pair<std::string, std::string>>;

struct CpuFeature {
  std::string name;
  std::string policy = "require";  // force|require|optional|disable|forbid
  bool operator==(const CpuFeature&) const = default;
};

struct CpuTopology {
  unsigned sockets = 1, dies = 1, cores = 1, threads = 1;
  bool operator==(const CpuTopology&) const = default;
};

struct NumaCell {
  unsigned id = 0;
  std::string cpus;  // "0-1,4"
  uint64_t memory_kib = 0;
  std::string mem_access;  // "", "shared", "private"
  bool operator==(const NumaCell&) const = default;
};

struct CpuDef {
  CpuMode mode = CpuMode::kCustom;
  std::string match;           // custom: "", minimum, exact, strict
  std::string check;           // "", none, partial, full
  std::string migratable;      // host-passthrough/maximum: "", on, off
  std::string model;           // custom: e.g. "Haswell"; host-model: optional
  std::string model_fallback;  // "", allow, forbid
  std::string vendor;
  std::vector<CpuFeature> features;
  std::optional<CpuTopology> topology;
  std::string cache_mode;  // <cache mode=...>: "", emulate (level 3 only), passthrough, disable
  std::vector<NumaCell> numa;
  bool operator==(const CpuDef&) const = default;
};

struct VcpuPin {
  unsigned vcpu = 0;
  std::string cpuset;
  bool operator==(const VcpuPin&) const = default;
};

struct CpuTune {
  std::optional<uint64_t> shares, period, quota;
  std::vector<VcpuPin> vcpupins;
  std::string emulatorpin;  // cpuset, empty when absent
  bool operator==(const CpuTune&) const = default;
};

// <memtune>: limits enforced through the domain's cgroup.
struct MemTune {
  std::optional<uint64_t> hard_limit_kib, soft_limit_kib, swap_hard_limit_kib;
  bool operator==(const MemTune&) const = default;
};

struct NumaMemNode {
  unsigned cellid = 0;
  std::string mode;  // strict|preferred|interleave|restrictive
  std::string nodeset;
  bool operator==(const NumaMemNode&) const = default;
};

struct NumaTune {
  std::string mode;       // "", strict|preferred|interleave|restrictive
  std::string placement;  // "", static|auto
  std::string nodeset;
  std::vector<NumaMemNode> memnodes;
  bool operator==(const NumaTune&) const = default;
};

struct LoaderDef {
  std::string path;
  std::string type;      // "", rom, pflash
  std::string readonly;  // "", yes, no
  std::string secure;    // "", yes, no
  bool operator==(const LoaderDef&) const = default;
};

struct OsDef {
  std::string firmware;  // <os firmware=...>: "", efi, bios (efi: chosen at start, as libvirt)
  std::string type = "hvm";
  std::string arch;     // x86_64 or i686; empty means the host's (x86_64)
  std::string machine;  // pc, q35, pc-i440fx-7.2, pc-q35-7.2, ...; empty means pc
  std::optional<LoaderDef> loader;
  std::string nvram;
  std::string kernel, initrd, cmdline;
  std::vector<BootDevice> boot;  // <boot dev=.../> in order
  std::optional<bool> bootmenu;
  std::optional<unsigned> bootmenu_timeout_ms;
  std::optional<int> reboot_timeout_ms;
  std::string smbios_mode;  // <smbios mode=...>: "", emulate, host, sysinfo
  bool operator==(const OsDef&) const = default;
};

// One enlightenment of <features><hyperv>: <NAME state='on|off'/> (spinlocks
// with retries=, vendor_id with value=), in document order.
struct HypervFlag {
  std::string name;  // relaxed, vapic, spinlocks, vpindex, runtime, synic, stimer, ...
  bool on = true;
  std::optional<unsigned> retries;  // spinlocks
  std::string value;                // vendor_id
  bool operator==(const HypervFlag&) const = default;
};

struct HypervFeatures {
  std::string mode;  // "", custom, passthrough
  std::vector<HypervFlag> flags;
  bool operator==(const HypervFeatures&) const = default;
};

struct Features {
  bool acpi = false, apic = false, pae = false;
  std::optional<bool> apic_eoi;  // <apic eoi='on|off'/>: KVM paravirtual end-of-interrupt
  std::optional<bool> vmport, pmu;
  std::optional<HypervFeatures> hyperv;  // Windows guests' enlightenments
  bool operator==(const Features&) const = default;
};

// <sysinfo type='smbios'>: what the guest's SMBIOS tables say (with <os><smbios
// mode='sysinfo'/>). Entries in document order, as <entry name=...>value</entry>.
struct SysinfoDef {
  using Entries = std::vector<std::pair<std::string, std::string>>;
  Entries bios, system, base_board, chassis;
  std::vector<std::string> oem_strings;
  bool operator==(const SysinfoDef&) const = default;
};

// <memoryBacking>: where guest RAM comes from.
struct MemoryBackingDef {
  std::string source_type;  // "", anonymous, memfd, file
  std::string access_mode;  // "", shared, private
  bool operator==(const MemoryBackingDef&) const = default;
};

struct ClockTimer {
  std::string name;        // rtc, pit, hpet, kvmclock, tsc, hypervclock
  std::string tickpolicy;  // "", delay, catchup, merge, discard
  std::optional<bool> present;
  bool operator==(const ClockTimer&) const = default;
};

struct ClockDef {
  std::string offset = "utc";  // utc|localtime|variable|timezone
  std::string basis;           // variable: utc|localtime
  std::optional<int64_t> adjustment;
  std::string timezone;
  std::vector<ClockTimer> timers;
  bool operator==(const ClockDef&) const = default;
};

struct DiskDriver {
  std::string name;     // "" or "qemu"
  std::string type;     // image format: raw, qcow2; empty means raw
  std::string cache;    // "", default, none, writethrough, writeback, directsync, unsafe
  std::string io;       // "", threads, native, io_uring
  std::string discard;  // "", ignore, unmap
  bool operator==(const DiskDriver&) const = default;
};

struct BackingStore {
  DiskType type = DiskType::kFile;
  std::string format;
  std::string path;
  bool operator==(const BackingStore&) const = default;
};

struct DiskDef {
  DiskType type = DiskType::kFile;
  DiskDevice device = DiskDevice::kDisk;
  DiskDriver driver;
  std::string source_path;                  // file= or dev=; empty for an empty cdrom or a volume
  std::string source_pool;                  // type='volume'
  std::string source_volume;                // type='volume'
  std::vector<BackingStore> backing_chain;  // nearest first
  std::string target_dev;                   // vda, sda, hdc, ...
  DiskBus bus = DiskBus::kVirtio;
  std::string tray;  // cdrom: "", open, closed
  bool readonly = false;
  bool shareable = false;
  std::string serial;
  std::optional<unsigned> boot_order;
  DeviceAddress address;
  // The format QEMU should open: driver.type, or "raw" when absent.
  std::string format() const { return driver.type.empty() ? "raw" : driver.type; }
  bool operator==(const DiskDef&) const = default;
};

struct ControllerDef {
  std::string type;  // pci, usb, ide, sata, scsi, virtio-serial
  unsigned index = 0;
  std::string model;  // pci-root, pcie-root, pcie-root-port, qemu-xhci, virtio-scsi, ...
  std::optional<unsigned> ports;             // usb (xhci) and virtio-serial
  std::string model_name;                    // <model name=.../> (pci controllers)
  std::optional<unsigned> chassis, port;     // <target chassis= port=/> (pci controllers)
  std::optional<unsigned> master_startport;  // <master startport=/>: a USB2 companion's first port
  DeviceAddress address;
  // An ICH9 EHCI (ich9-ehci1) or one of its UHCI companions (ich9-uhci1..3): the
  // members of one USB2 controller, which share an index.
  bool IsIch9Usb2() const {
    return type == "usb" && (model == "ich9-ehci1" || model == "ich9-uhci1" ||
                             model == "ich9-uhci2" || model == "ich9-uhci3");
  }
  bool operator==(const ControllerDef&) const = default;
};

struct InterfaceDef {
  InterfaceType type = InterfaceType::kNetwork;
  std::string source;  // network name (network) or bridge name (bridge); empty for user
  std::string mac;     // canonical lower-case; generated by the parser when absent
  NicModel model = NicModel::kVirtio;
  std::string target_dev;  // tap name, empty: chosen at start
  std::optional<unsigned> boot_order;
  DeviceAddress address;
  bool operator==(const InterfaceDef&) const = default;
};

struct CharDevDef {
  CharSourceType type = CharSourceType::kPty;
  std::string path;    // unix socket or file (a unix channel may leave it empty:
                       // QEMU then listens next to the QMP socket)
  std::string mode;    // unix: bind|connect
  std::string append;  // file: "", on, off
  std::string
      target_type;  // serial: isa-serial|pci-serial; console: serial|virtio; channel: virtio
  std::string target_model;  // serial: <model name=.../> inside <target>
  std::optional<unsigned> target_port;
  std::string target_name;  // channel: e.g. org.qemu.guest_agent.0
  DeviceAddress address;    // e.g. virtio-serial port address (kept)
  bool operator==(const CharDevDef&) const = default;
};

struct GraphicsDef {
  GraphicsType type = GraphicsType::kVnc;
  int port = -1;  // -1 with autoport
  bool autoport = true;
  int tls_port = -1;   // spice
  std::string listen;  // address, default 127.0.0.1
  std::string passwd;
  std::string keymap;
  std::string image_compression;  // spice <image compression=...>: "", auto_glz, ..., off
  bool operator==(const GraphicsDef&) const = default;
};

struct VideoDef {
  VideoModel model = VideoModel::kVga;
  std::optional<uint64_t> vram_kib, ram_kib, vgamem_kib;
  std::optional<unsigned> heads;
  bool primary = false;
  DeviceAddress address;
  bool operator==(const VideoDef&) const = default;
};

struct InputDef {
  InputType type = InputType::kTablet;
  InputBus bus = InputBus::kUsb;
  DeviceAddress address;
  bool operator==(const InputDef&) const = default;
};

struct RngDef {
  std::string backend = "random";       // random|builtin
  std::string source = "/dev/urandom";  // random: the host file
  std::optional<uint64_t> rate_bytes, rate_period_ms;
  DeviceAddress address;
  bool operator==(const RngDef&) const = default;
};

struct MemballoonDef {
  std::string model = "virtio";  // virtio|none
  std::optional<bool> autodeflate;
  std::optional<unsigned> stats_period_s;
  DeviceAddress address;
  bool operator==(const MemballoonDef&) const = default;
};

struct WatchdogDef {
  WatchdogModel model = WatchdogModel::kI6300esb;
  std::string action = "reset";  // reset|shutdown|poweroff|pause|none|dump|inject-nmi
  DeviceAddress address;
  bool operator==(const WatchdogDef&) const = default;
};

// <panic model='isa|pvpanic'>: a device through which the guest reports a kernel
// panic (QEMU's GUEST_PANICKED), acted on per <on_crash>.
struct PanicDef {
  std::string model = "isa";  // isa (-device pvpanic) | pvpanic (-device pvpanic-pci)
  DeviceAddress address;      // isa: <address type='isa' iobase='0x505'/>
  bool operator==(const PanicDef&) const = default;
};

struct AudioDef {
  unsigned id = 1;
  std::string type = "none";  // none | spice
  bool operator==(const AudioDef&) const = default;
};

// <sound model=...>: a sound card, played through an <audio> backend (the first
// one, or, with none defined, spice when there is a SPICE display, else none).
struct SoundDef {
  std::string model;                 // ich6, ich9, ac97, es1370, usb
  std::optional<unsigned> audio_id;  // <audio id=...> inside <sound>
  DeviceAddress address;
  bool operator==(const SoundDef&) const = default;
};

// <redirdev bus='usb' type='spicevmc'/>: a USB device of the SPICE client's host.
struct RedirdevDef {
  DeviceAddress address;
  bool operator==(const RedirdevDef&) const = default;
};

// <filesystem type='mount'>: a host directory shared with the guest, over 9p
// (driver path, the default) or virtiofs (a virtiofsd beside QEMU).
struct FilesystemDef {
  std::string driver;      // "", path, virtiofs
  std::string accessmode;  // "", passthrough, mapped, squash
  std::string source_dir;
  std::string target_dir;  // the mount tag
  bool readonly = false;
  DeviceAddress address;
  bool operator==(const FilesystemDef&) const = default;
};

// <tpm>: a TPM, emulated by swtpm (backend emulator) or the host's (passthrough).
struct TpmDef {
  std::string model = "tpm-tis";     // tpm-tis, tpm-crb
  std::string backend = "emulator";  // emulator, passthrough
  std::string version;               // emulator: "", 1.2, 2.0 ("" is 2.0 for tpm-crb)
  std::string device_path;           // passthrough: /dev/tpm0
  DeviceAddress address;
  bool operator==(const TpmDef&) const = default;
};

struct DevicesDef {
  std::string emulator;  // empty: the host's qemu-system-x86_64
  std::vector<DiskDef> disks;
  std::vector<ControllerDef> controllers;
  std::vector<InterfaceDef> interfaces;
  std::vector<CharDevDef> serials;
  std::vector<CharDevDef> consoles;
  std::vector<CharDevDef> channels;
  std::vector<GraphicsDef> graphics;
  std::vector<VideoDef> videos;
  std::vector<InputDef> inputs;
  std::vector<RngDef> rngs;
  std::optional<MemballoonDef> memballoon;
  std::vector<WatchdogDef> watchdogs;
  std::vector<AudioDef> audios;
  std::vector<PanicDef> panics;
  std::vector<SoundDef> sounds;
  std::vector<RedirdevDef> redirdevs;
  std::vector<FilesystemDef> filesystems;
  std::vector<TpmDef> tpms;
  bool operator==(const DevicesDef&) const = default;
};

struct DomainDef {
  DomainType type = DomainType::kKvm;
  std::string name;
  Uuid uuid;  // generated by the parser when absent
  std::string title, description;
  std::string metadata;           // children of <metadata>, verbatim XML (kept, never interpreted)
  uint64_t memory_kib = 0;        // <memory>
  std::optional<bool> dump_core;  // <memory dumpCore='on|off'>
  uint64_t current_memory_kib = 0;         // <currentMemory>; equals memory_kib when absent
  std::optional<uint64_t> max_memory_kib;  // <maxMemory>
  unsigned max_memory_slots = 0;
  std::optional<MemTune> memtune;  // <memtune>
  std::optional<MemoryBackingDef> memory_backing;
  std::optional<SysinfoDef> sysinfo;
  unsigned vcpus = 1;                     // <vcpu>
  std::optional<unsigned> current_vcpus;  // <vcpu current=...>
  std::string vcpu_placement;             // "", static, auto
  std::string vcpu_cpuset;                // "1-4,^3"
  std::optional<CpuDef> cpu;
  std::optional<CpuTune> cputune;
  std::optional<NumaTune> numatune;
  OsDef os;
  Features features;
  ClockDef clock;
  std::optional<bool> pm_suspend_to_mem, pm_suspend_to_disk;
  LifecycleAction on_poweroff = LifecycleAction::kDestroy;
  LifecycleAction on_reboot = LifecycleAction::kRestart;
  LifecycleAction on_crash = LifecycleAction::kDestroy;
  DevicesDef devices;
  bool operator==(const DomainDef&) const = default;

  // Machine type to run: os.machine, else "pc". True when it names a q35 machine.
  bool IsQ35() const;
};

// Parses a <domain> definition. Syntax errors read
// "domain.xml:12:5: xml syntax error: ..." (source_name:line:column); an element
// or attribute Skiff does not support is refused by name and position
// ("domain.xml:30:5: unsupported element <hostdev> in <devices>"); a bad value
// names the element path and the value ("domain.xml:14:7: /domain/devices/interface[1]/mac:
// invalid mac address '52:54:zz:00:00:01'"). Generates a uuid and missing MAC
// addresses. Runs ValidateDomain. All errors are kInvalidArgument, except an
// unsupported feature which is kUnsupported.
Result<DomainDef> ParseDomainXml(std::string_view xml, std::string_view source_name);

// One device, as virsh attach-device / detach-device take it: a <disk> or an
// <interface> element (parsed as inside <devices>; a missing MAC is generated).
// Other elements are kUnsupported; errors otherwise as ParseDomainXml's.
struct DeviceDef {
  std::optional<DiskDef> disk;
  std::optional<InterfaceDef> interface;
  bool mac_given = false;  // the <interface> named its <mac> (detach matches by it)
};
Result<DeviceDef> ParseDeviceXml(std::string_view xml, std::string_view source_name);

// Cross-element checks on a model (also run by ParseDomainXml): name, memory and
// vcpu ranges, duplicate disk targets, MAC syntax and duplicates, boot order
// uniqueness, arch and machine support. Errors name the element path and value.
Status ValidateDomain(const DomainDef& def);

// Canonical libvirt-style XML (2-space indent, trailing newline). Stable: the
// same model always gives the same bytes, and ParseDomainXml(FormatDomainXml(d)) == d.
std::string FormatDomainXml(const DomainDef& def);

}  // namespace skiff::conf
