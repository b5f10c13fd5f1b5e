// Cross-element checks on a DomainDef: ranges, duplicates, and what Skiff can run.
#include <algorithm>
#include <set>

#include "skiff/conf/cpuset.h"
#include "skiff/conf/domain.h"
#include "skiff/conf/mac.h"

namespace skiff::conf {

bool DomainDef::IsQ35() const { return os.machine == "q35" || os.machine.rfind("pc-q35-", 0) == 0; }

namespace {

std::string DevPath(std::string_view kind, size_t i, std::string_view sub = {}) {
  std::string p = fmt::format("/domain/devices/{}[{}]", kind, i + 1);
  if (!sub.empty()) p += "/" + std::string(sub);
  return p;
}

bool ValidTargetDev(std::string_view dev) {
  for (std::string_view prefix : {"vd", "sd", "hd"}) {
    if (dev.rfind(prefix, 0) == 0 && dev.size() > 2) {
      for (char c : dev.substr(2)) {
        if (c < 'a' || c > 'z') return false;
      }
      return true;
    }
  }
  return false;
}

Status CheckMachine(const DomainDef& def) {
  const std::string& arch = def.os.arch;
  if (!arch.empty() && arch != "x86_64" && arch != "i686") {
    return UnsupportedError("/domain/os/type: unsupported arch '{}' (supported: x86_64, i686)",
                            arch);
  }
  const std::string& m = def.os.machine;
  if (!m.empty() && m != "pc" && m != "q35" && m.rfind("pc-i440fx-", 0) != 0 &&
      m.rfind("pc-q35-", 0) != 0) {
    return UnsupportedError(
        "/domain/os/type: unsupported machine '{}' (supported: pc, q35, pc-i440fx-*, pc-q35-*)", m);
  }
  return Status::Ok();
}

Status CheckCpu(const DomainDef& def) {
  if (def.vcpus == 0) return InvalidArgumentError("/domain/vcpu: vcpu count must be at least 1");
  if (def.vcpus > 4096)
    return InvalidArgumentError("/domain/vcpu: vcpu count {} is too large", def.vcpus);
  if (def.current_vcpus && (*def.current_vcpus == 0 || *def.current_vcpus > def.vcpus)) {
    return InvalidArgumentError("/domain/vcpu: current {} must be between 1 and {}",
                                *def.current_vcpus, def.vcpus);
  }
  if (!def.vcpu_cpuset.empty()) {
    auto r = ParseCpuset(def.vcpu_cpuset);
    if (!r.ok()) return InvalidArgumentError("/domain/vcpu: {}", r.status().message());
  }
  if (def.cpu) {
    const CpuDef& c = *def.cpu;
    if (c.mode == CpuMode::kCustom && c.model.empty() && !c.topology && c.numa.empty() &&
        c.features.empty()) {
      // <cpu/> with nothing in it: harmless.
    }
    if (c.mode == CpuMode::kHostPassthrough && def.type != DomainType::kKvm) {
      return UnsupportedError(
          "/domain/cpu: cpu mode 'host-passthrough' needs <domain type='kvm'> (use 'maximum' under "
          "type 'qemu')");
    }
    if (c.cache_mode == "passthrough" && c.mode != CpuMode::kHostPassthrough &&
        c.mode != CpuMode::kMaximum) {
      return InvalidArgumentError(
          "/domain/cpu/cache: mode 'passthrough' needs cpu mode 'host-passthrough' or 'maximum'");
    }
    if (c.mode == CpuMode::kCustom && c.model.empty() && !c.features.empty()) {
      return InvalidArgumentError("/domain/cpu: features need a cpu model in custom mode");
    }
    if (c.topology) {
      const CpuTopology& t = *c.topology;
      uint64_t n = uint64_t{t.sockets} * t.dies * t.cores * t.threads;
      if (n != def.vcpus) {
        return InvalidArgumentError(
            "/domain/cpu/topology: sockets*dies*cores*threads = {} does not match vcpu count {}", n,
            def.vcpus);
      }
    }
    std::set<std::string> names;
    for (size_t i = 0; i < c.features.size(); ++i) {
      if (!names.insert(c.features[i].name).second) {
        return InvalidArgumentError("/domain/cpu/feature[{}]: duplicate feature '{}'", i + 1,
                                    c.features[i].name);
      }
    }
    if (!c.numa.empty()) {
      std::set<unsigned> ids;
      std::set<unsigned> cpus;
      uint64_t total = 0;
      for (size_t i = 0; i < c.numa.size(); ++i) {
        const NumaCell& cell = c.numa[i];
        std::string path = fmt::format("/domain/cpu/numa/cell[{}]", i + 1);
        if (cell.id != i) {
          return InvalidArgumentError("{}: cell id {} is out of order (expected {})", path, cell.id,
                                      i);
        }
        if (cell.memory_kib == 0) return InvalidArgumentError("{}: memory must be positive", path);
        total += cell.memory_kib;
        if (cell.cpus.empty()) continue;
        auto set = ParseCpuset(cell.cpus);
        if (!set.ok()) return InvalidArgumentError("{}: {}", path, set.status().message());
        for (unsigned cpu : *set) {
          if (cpu >= def.vcpus) {
            return InvalidArgumentError("{}: cpu {} is beyond vcpu count {}", path, cpu, def.vcpus);
          }
          if (!cpus.insert(cpu).second) {
            return InvalidArgumentError("{}: cpu {} is in more than one cell", path, cpu);
          }
        }
        ids.insert(cell.id);
      }
      if (total != def.memory_kib) {
        return InvalidArgumentError(
            "/domain/memory: {} KiB does not match the numa cells' total {} KiB", def.memory_kib,
            total);
      }
    }
  }
  if (def.memtune && def.memtune->hard_limit_kib && def.memtune->swap_hard_limit_kib &&
      *def.memtune->swap_hard_limit_kib < *def.memtune->hard_limit_kib) {
    return InvalidArgumentError(
        "/domain/memtune: swap_hard_limit {} KiB is below hard_limit {} KiB",
        *def.memtune->swap_hard_limit_kib, *def.memtune->hard_limit_kib);
  }
  if (def.cputune) {
    std::set<unsigned> seen;
    for (size_t i = 0; i < def.cputune->vcpupins.size(); ++i) {
      const VcpuPin& p = def.cputune->vcpupins[i];
      std::string path = fmt::format("/domain/cputune/vcpupin[{}]", i + 1);
      if (p.vcpu >= def.vcpus) {
        return InvalidArgumentError("{}: vcpu {} is beyond vcpu count {}", path, p.vcpu, def.vcpus);
      }
      if (!seen.insert(p.vcpu).second) {
        return InvalidArgumentError("{}: vcpu {} is pinned twice", path, p.vcpu);
      }
      auto r = ParseCpuset(p.cpuset);
      if (!r.ok()) return InvalidArgumentError("{}: {}", path, r.status().message());
    }
    if (!def.cputune->emulatorpin.empty()) {
      auto r = ParseCpuset(def.cputune->emulatorpin);
      if (!r.ok())
        return InvalidArgumentError("/domain/cputune/emulatorpin: {}", r.status().message());
    }
  }
  if (def.numatune) {
    if (!def.numatune->nodeset.empty()) {
      auto r = ParseCpuset(def.numatune->nodeset);
      if (!r.ok()) return InvalidArgumentError("/domain/numatune/memory: {}", r.status().message());
    }
    size_t cells = def.cpu ? def.cpu->numa.size() : 0;
    for (size_t i = 0; i < def.numatune->memnodes.size(); ++i) {
      const NumaMemNode& n = def.numatune->memnodes[i];
      std::string path = fmt::format("/domain/numatune/memnode[{}]", i + 1);
      if (n.cellid >= cells) {
        return InvalidArgumentError("{}: cellid {} names no numa cell", path, n.cellid);
      }
      auto r = ParseCpuset(n.nodeset);
      if (!r.ok()) return InvalidArgumentError("{}: {}", path, r.status().message());
    }
  }
  return Status::Ok();
}

Status CheckDisks(const DomainDef& def, std::set<unsigned>& boot_orders) {
  std::set<std::string> targets;
  for (size_t i = 0; i < def.devices.disks.size(); ++i) {
    const DiskDef& d = def.devices.disks[i];
    if (!ValidTargetDev(d.target_dev)) {
      return InvalidArgumentError("{}: invalid disk target '{}' (expected vdX, sdX or hdX)",
                                  DevPath("disk", i, "target"), d.target_dev);
    }
    if (!targets.insert(d.target_dev).second) {
      return InvalidArgumentError("{}: duplicate disk target '{}'", DevPath("disk", i, "target"),
                                  d.target_dev);
    }
    if (d.type != DiskType::kVolume) {
      if (d.source_path.empty() && d.device == DiskDevice::kDisk) {
        return InvalidArgumentError("{}: disk '{}' has no source", DevPath("disk", i),
                                    d.target_dev);
      }
      if (!d.source_path.empty() && d.source_path[0] != '/') {
        return InvalidArgumentError("{}: source path '{}' is not absolute",
                                    DevPath("disk", i, "source"), d.source_path);
      }
    }
    if (d.device == DiskDevice::kCdrom && d.bus == DiskBus::kVirtio) {
      return UnsupportedError("{}: cdrom '{}' cannot use bus 'virtio' (use sata, scsi or ide)",
                              DevPath("disk", i, "target"), d.target_dev);
    }
    if (d.bus == DiskBus::kUsb) {
      if (d.device == DiskDevice::kCdrom) {
        return UnsupportedError("{}: cdrom '{}' cannot use bus 'usb' (use sata, scsi or ide)",
                                DevPath("disk", i, "target"), d.target_dev);
      }
      for (const auto& c : def.devices.controllers) {
        if (c.type == "usb" && c.index == 0 && c.model == "none") {
          return InvalidArgumentError(
              "{}: usb disk '{}' needs a usb controller (usb model is "
              "'none')",
              DevPath("disk", i, "target"), d.target_dev);
        }
      }
    }
    if (d.bus == DiskBus::kIde) {
      if (def.IsQ35()) {
        return UnsupportedError("{}: bus 'ide' of disk '{}' is not available on q35 machines",
                                DevPath("disk", i, "target"), d.target_dev);
      }
      if (d.target_dev.size() != 3 || d.target_dev[2] > 'd') {
        return InvalidArgumentError("{}: ide disk '{}' is beyond the 4 ide units (hda-hdd)",
                                    DevPath("disk", i, "target"), d.target_dev);
      }
    }
    if (d.bus == DiskBus::kSata && (d.target_dev.size() != 3 || d.target_dev[2] > 'f')) {
      return InvalidArgumentError("{}: sata disk '{}' is beyond the 6 sata ports (sda-sdf)",
                                  DevPath("disk", i, "target"), d.target_dev);
    }
    if (d.readonly && d.device == DiskDevice::kDisk &&
        (d.bus == DiskBus::kIde || d.bus == DiskBus::kSata)) {
      return UnsupportedError(
          "{}: readonly disk '{}' on bus '{}' is not supported by qemu (use virtio or scsi)",
          DevPath("disk", i), d.target_dev, ToString(d.bus));
    }
    if (d.driver.io == "native" && d.driver.cache != "none" && d.driver.cache != "directsync") {
      return InvalidArgumentError("{}: io 'native' of disk '{}' needs cache 'none' or 'directsync'",
                                  DevPath("disk", i, "driver"), d.target_dev);
    }
    if (d.tray.size() && d.device != DiskDevice::kCdrom) {
      return InvalidArgumentError("{}: tray is only valid for cdroms",
                                  DevPath("disk", i, "target"));
    }
    for (size_t b = 0; b < d.backing_chain.size(); ++b) {
      if (d.backing_chain[b].path.empty() || d.backing_chain[b].path[0] != '/') {
        return InvalidArgumentError("{}: backing store path '{}' is not absolute",
                                    DevPath("disk", i, "backingStore"), d.backing_chain[b].path);
      }
    }
    if (d.boot_order && !boot_orders.insert(*d.boot_order).second) {
      return InvalidArgumentError("{}: boot order {} is used twice", DevPath("disk", i, "boot"),
                                  *d.boot_order);
    }
  }
  return Status::Ok();
}

Status CheckInterfaces(const DomainDef& def, std::set<unsigned>& boot_orders) {
  const DevicesDef& dv = def.devices;
  std::set<std::string> macs;
  std::set<std::string> tap_names;
  for (size_t i = 0; i < dv.interfaces.size(); ++i) {
    const InterfaceDef& n = dv.interfaces[i];
    auto mac = ParseMac(n.mac);
    if (!mac.ok()) {
      return InvalidArgumentError("{}: {}", DevPath("interface", i, "mac"), mac.status().message());
    }
    if (!macs.insert(*mac).second) {
      return InvalidArgumentError("{}: duplicate mac address '{}'", DevPath("interface", i, "mac"),
                                  n.mac);
    }
    if (n.type == InterfaceType::kBridge && n.source.size() > 15) {
      return InvalidArgumentError("{}: bridge name '{}' is too long",
                                  DevPath("interface", i, "source"), n.source);
    }
    if (!n.target_dev.empty() && !tap_names.insert(n.target_dev).second) {
      return InvalidArgumentError("{}: duplicate target dev '{}'",
                                  DevPath("interface", i, "target"), n.target_dev);
    }
    if (n.boot_order && !boot_orders.insert(*n.boot_order).second) {
      return InvalidArgumentError("{}: boot order {} is used twice",
                                  DevPath("interface", i, "boot"), *n.boot_order);
    }
  }
  return Status::Ok();
}

Status CheckControllers(const DomainDef& def) {
  const DevicesDef& dv = def.devices;
  for (size_t i = 0; i < dv.controllers.size(); ++i) {
    const ControllerDef& c = dv.controllers[i];
    // One controller per type and index, except that an ICH9 EHCI and its UHCI
    // companions (one of each model) share theirs.
    const bool taken = std::any_of(
        dv.controllers.begin(), dv.controllers.begin() + i, [&](const ControllerDef& o) {
          return o.type == c.type && o.index == c.index &&
                 !(o.IsIch9Usb2() && c.IsIch9Usb2() && o.model != c.model);
        });
    if (taken) {
      return InvalidArgumentError("{}: duplicate controller type '{}' index {}",
                                  DevPath("controller", i), c.type, c.index);
    }
    if (c.type == "pci" && c.index == 0) {
      std::string want = def.IsQ35() ? "pcie-root" : "pci-root";
      if (c.model != want) {
        return InvalidArgumentError("{}: pci controller 0 must be '{}' on machine '{}'",
                                    DevPath("controller", i), want,
                                    def.os.machine.empty() ? "pc" : def.os.machine);
      }
    }
    if (c.type == "ide" && def.IsQ35()) {
      return UnsupportedError("{}: ide controllers are not available on q35 machines",
                              DevPath("controller", i));
    }
  }
  return Status::Ok();
}

// Whether the domain has USB bus 0 (a usb controller 0 of model 'none' says it has none).
bool UsbPresent(const DevicesDef& dv) {
  for (const auto& c : dv.controllers) {
    if (c.type == "usb" && c.index == 0) return c.model != "none";
  }
  return true;
}

Status CheckInputs(const DevicesDef& dv) {
  const bool usb = UsbPresent(dv);
  for (size_t i = 0; i < dv.inputs.size(); ++i) {
    const InputDef& in = dv.inputs[i];
    if (in.type == InputType::kTablet && in.bus == InputBus::kPs2) {
      return InvalidArgumentError("{}: a tablet cannot use bus 'ps2'", DevPath("input", i));
    }
    if (in.bus == InputBus::kUsb && !usb) {
      return InvalidArgumentError("{}: usb {} needs a usb controller (usb model is 'none')",
                                  DevPath("input", i), ToString(in.type));
    }
  }
  return Status::Ok();
}

Status CheckSerialsAndChannels(const DevicesDef& dv) {
  std::set<unsigned> serial_ports;
  for (size_t i = 0; i < dv.serials.size(); ++i) {
    unsigned port = dv.serials[i].target_port.value_or(static_cast<unsigned>(i));
    if (port > 3 && dv.serials[i].target_type != "pci-serial") {
      return InvalidArgumentError("{}: serial port {} is beyond the 4 isa serial ports",
                                  DevPath("serial", i, "target"), port);
    }
    if (!serial_ports.insert(port).second) {
      return InvalidArgumentError("{}: duplicate serial port {}", DevPath("serial", i, "target"),
                                  port);
    }
    if (!dv.serials[i].target_model.empty() && !dv.serials[i].target_type.empty() &&
        dv.serials[i].target_model != dv.serials[i].target_type) {
      return InvalidArgumentError("{}: target model '{}' does not match type '{}'",
                                  DevPath("serial", i, "target"), dv.serials[i].target_model,
                                  dv.serials[i].target_type);
    }
  }
  std::set<std::string> channel_names;
  for (size_t i = 0; i < dv.channels.size(); ++i) {
    const std::string& n = dv.channels[i].target_name;
    if (!n.empty() && !channel_names.insert(n).second) {
      return InvalidArgumentError("{}: duplicate channel name '{}'",
                                  DevPath("channel", i, "target"), n);
    }
  }
  return Status::Ok();
}

// Graphics, video and audio (spice audio needs spice graphics).
Status CheckDisplays(const DevicesDef& dv) {
  std::set<GraphicsType> gtypes;
  for (size_t i = 0; i < dv.graphics.size(); ++i) {
    const GraphicsDef& g = dv.graphics[i];
    if (!gtypes.insert(g.type).second) {
      return InvalidArgumentError("{}: only one {} display is supported", DevPath("graphics", i),
                                  ToString(g.type));
    }
    if (!g.autoport && g.port < 0) {
      return InvalidArgumentError("{}: autoport='no' needs a port", DevPath("graphics", i));
    }
    if (g.type == GraphicsType::kVnc && !g.autoport && g.port < 5900) {
      return InvalidArgumentError("{}: vnc port {} is below 5900", DevPath("graphics", i), g.port);
    }
  }
  size_t primaries = 0;
  for (size_t i = 0; i < dv.videos.size(); ++i) {
    if (dv.videos[i].primary) ++primaries;
    if (dv.videos[i].model == VideoModel::kNone && dv.videos.size() > 1) {
      return InvalidArgumentError("{}: video model 'none' cannot be combined with other videos",
                                  DevPath("video", i));
    }
    if (i > 0 && dv.videos[i].model != VideoModel::kQxl &&
        dv.videos[i].model != VideoModel::kVirtio) {
      return UnsupportedError("{}: secondary video model '{}' (only qxl and virtio)",
                              DevPath("video", i), ToString(dv.videos[i].model));
    }
  }
  if (primaries > 1)
    return InvalidArgumentError("/domain/devices/video: more than one primary video");
  std::set<unsigned> audio_ids;
  for (size_t i = 0; i < dv.audios.size(); ++i) {
    if (!audio_ids.insert(dv.audios[i].id).second) {
      return InvalidArgumentError("{}: duplicate audio id {}", DevPath("audio", i),
                                  dv.audios[i].id);
    }
    if (dv.audios[i].type == "spice" && !gtypes.count(GraphicsType::kSpice)) {
      return InvalidArgumentError("{}: audio type 'spice' needs spice graphics",
                                  DevPath("audio", i));
    }
  }
  return Status::Ok();
}

Status CheckWatchdogsAndPanics(const DomainDef& def) {
  const DevicesDef& dv = def.devices;
  if (dv.watchdogs.size() > 1) {
    return UnsupportedError("{}: only one watchdog is supported", DevPath("watchdog", 1));
  }
  for (size_t i = 0; i < dv.watchdogs.size(); ++i) {
    if (dv.watchdogs[i].model == WatchdogModel::kItco && !def.IsQ35()) {
      return UnsupportedError("{}: watchdog model 'itco' needs a q35 machine",
                              DevPath("watchdog", i));
    }
  }
  std::set<std::string> panic_models;
  for (size_t i = 0; i < dv.panics.size(); ++i) {
    const PanicDef& p = dv.panics[i];
    if (p.model != "isa" && p.model != "pvpanic") {
      return UnsupportedError(
          "{}: panic model '{}' is not supported for x86 qemu guests "
          "(supported: isa, pvpanic)",
          DevPath("panic", i), p.model);
    }
    if (!panic_models.insert(p.model).second) {
      return InvalidArgumentError("{}: more than one panic device of model '{}'",
                                  DevPath("panic", i), p.model);
    }
    std::string type;
    for (const auto& [k, v] : p.address) {
      if (k == "type") type = v;
    }
    if (p.model == "isa" && !type.empty() && type != "isa") {
      return InvalidArgumentError("{}: panic model 'isa' needs an address of type 'isa', not '{}'",
                                  DevPath("panic", i), type);
    }
    if (p.model == "pvpanic" && !type.empty() && type != "pci") {
      return InvalidArgumentError(
          "{}: panic model 'pvpanic' needs an address of type 'pci', not '{}'", DevPath("panic", i),
          type);
    }
  }
  return Status::Ok();
}

// What a SPICE client, sound, shared folders and a TPM need of the rest.
Status CheckGuestServices(const DomainDef& def) {
  const DevicesDef& dv = def.devices;
  const bool spice = std::any_of(dv.graphics.begin(), dv.graphics.end(), [](const GraphicsDef& g) {
    return g.type == GraphicsType::kSpice;
  });
  for (size_t i = 0; i < dv.channels.size(); ++i) {
    if (dv.channels[i].type == CharSourceType::kSpicevmc && !spice) {
      return InvalidArgumentError("{}: a spicevmc channel needs spice graphics",
                                  DevPath("channel", i));
    }
  }
  for (size_t i = 0; i < dv.redirdevs.size(); ++i) {
    if (!spice) {
      return InvalidArgumentError("{}: a spicevmc redirdev needs spice graphics",
                                  DevPath("redirdev", i));
    }
    if (!UsbPresent(dv)) {
      return InvalidArgumentError("{}: usb redirection needs a usb controller",
                                  DevPath("redirdev", i));
    }
  }
  for (size_t i = 0; i < dv.sounds.size(); ++i) {
    const SoundDef& snd = dv.sounds[i];
    if (snd.model == "usb" && !UsbPresent(dv)) {
      return InvalidArgumentError("{}: sound model 'usb' needs a usb controller",
                                  DevPath("sound", i));
    }
    if (snd.audio_id && std::none_of(dv.audios.begin(), dv.audios.end(),
                                     [&](const AudioDef& a) { return a.id == *snd.audio_id; })) {
      return InvalidArgumentError("{}: no <audio id='{}'> for this sound card",
                                  DevPath("sound", i, "audio"), *snd.audio_id);
    }
  }
  bool shared_memory = def.memory_backing && def.memory_backing->access_mode == "shared";
  if (def.cpu && !def.cpu->numa.empty()) {
    shared_memory = std::all_of(def.cpu->numa.begin(), def.cpu->numa.end(),
                                [](const NumaCell& c) { return c.mem_access == "shared"; }) ||
                    (shared_memory &&
                     std::none_of(def.cpu->numa.begin(), def.cpu->numa.end(),
                                  [](const NumaCell& c) { return c.mem_access == "private"; }));
  }
  std::set<std::string> tags;
  for (size_t i = 0; i < dv.filesystems.size(); ++i) {
    const FilesystemDef& f = dv.filesystems[i];
    if (!tags.insert(f.target_dir).second) {
      return InvalidArgumentError("{}: duplicate filesystem target '{}'",
                                  DevPath("filesystem", i, "target"), f.target_dir);
    }
    if (f.driver == "virtiofs" && !shared_memory) {
      return InvalidArgumentError(
          "{}: virtiofs needs shared guest memory (<memoryBacking><access mode='shared'/>)",
          DevPath("filesystem", i));
    }
  }
  if (def.memory_backing && def.memory_backing->source_type == "file") {
    return UnsupportedError("/domain/memoryBacking/source: type 'file' is not supported");
  }
  if (dv.tpms.size() > 1) {
    return UnsupportedError("{}: only one tpm is supported", DevPath("tpm", 1));
  }
  if (def.os.smbios_mode == "sysinfo" && !def.sysinfo) {
    return InvalidArgumentError("/domain/os/smbios: mode 'sysinfo' needs a <sysinfo> element");
  }
  if (def.features.hyperv && def.features.hyperv->mode == "passthrough" &&
      def.type != DomainType::kKvm) {
    return InvalidArgumentError(
        "/domain/features/hyperv: mode 'passthrough' needs <domain type='kvm'>");
  }
  return Status::Ok();
}

// Each class of device in turn; the first error wins.
Status CheckDevices(const DomainDef& def) {
  std::set<unsigned> boot_orders;
  SKIFF_TRY(CheckDisks(def, boot_orders));
  SKIFF_TRY(CheckInterfaces(def, boot_orders));
  if (!boot_orders.empty() && !def.os.boot.empty()) {
    return InvalidArgumentError(
        "/domain/os/boot: per-device boot order cannot be combined with <os><boot dev=.../>");
  }
  SKIFF_TRY(CheckControllers(def));
  SKIFF_TRY(CheckInputs(def.devices));
  SKIFF_TRY(CheckSerialsAndChannels(def.devices));
  SKIFF_TRY(CheckDisplays(def.devices));
  SKIFF_TRY(CheckWatchdogsAndPanics(def));
  SKIFF_TRY(CheckGuestServices(def));
  return Status::Ok();
}

}  // namespace

Status ValidateDomain(const DomainDef& def) {
  if (def.name.empty()) return InvalidArgumentError("/domain/name: empty name");
  for (char c : def.name) {
    if (c == '/' || static_cast<unsigned char>(c) < 0x20) {
      return InvalidArgumentError("/domain/name: invalid character in name '{}'", def.name);
    }
  }
  // As libvirt's qemu driver: nothing could rename a running guest.
  for (auto [what, action] :
       {std::pair{"on_poweroff", def.on_poweroff}, std::pair{"on_reboot", def.on_reboot},
        std::pair{"on_crash", def.on_crash}}) {
    if (action == LifecycleAction::kRenameRestart) {
      return UnsupportedError("/domain/{}: action 'rename-restart' is not supported by qemu", what);
    }
  }
  if (def.memory_kib == 0) return InvalidArgumentError("/domain/memory: memory must be positive");
  if (def.memory_kib > (uint64_t{1} << 40)) {
    return InvalidArgumentError("/domain/memory: {} KiB is too large", def.memory_kib);
  }
  if (def.current_memory_kib == 0 || def.current_memory_kib > def.memory_kib) {
    return InvalidArgumentError(
        "/domain/currentMemory: {} KiB must be between 1 and memory ({} KiB)",
        def.current_memory_kib, def.memory_kib);
  }
  if (def.max_memory_kib && *def.max_memory_kib < def.memory_kib) {
    return InvalidArgumentError("/domain/maxMemory: {} KiB is below memory ({} KiB)",
                                *def.max_memory_kib, def.memory_kib);
  }
  if (def.max_memory_kib && def.max_memory_slots == 0) {
    return InvalidArgumentError("/domain/maxMemory: slots must be given and positive");
  }
  SKIFF_TRY(CheckMachine(def));
  if (def.os.kernel.empty() && (!def.os.initrd.empty() || !def.os.cmdline.empty())) {
    return InvalidArgumentError("/domain/os: initrd and cmdline need a kernel");
  }
  SKIFF_TRY(CheckCpu(def));
  SKIFF_TRY(CheckDevices(def));
  return Status::Ok();
}

}  // namespace skiff::conf
