// DomainDef -> qemu-system-x86_64 command line (QEMU 7.2 syntax: -blockdev, -accel,
// keyval -object). PCI addresses are left to QEMU; aliases follow libvirt's names.
#include "skiff/qemu/argv.h"

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <set>

#include <fmt/format.h>

namespace skiff::qemu {

namespace {

using conf::DiskBus;
using conf::DiskDef;
using conf::DiskDevice;
using conf::DiskType;
using conf::DomainDef;

// QEMU's keyval syntax doubles commas inside values.
std::string Esc(std::string_view v) {
  std::string out;
  for (char c : v) {
    out += c;
    if (c == ',') out += ',';
  }
  return out;
}

// Index of the unit named by a target dev's letters: vda -> 0, sdb -> 1, vdaa -> 26.
unsigned DiskUnit(std::string_view dev) {
  unsigned idx = 0;
  for (char c : dev.substr(2)) idx = idx * 26 + static_cast<unsigned>(c - 'a' + 1);
  return idx - 1;
}

uint64_t AlignMiB(uint64_t kib) { return (kib + 1023) / 1024 * 1024; }

class Builder {
 public:
  Builder(const DomainDef& def, const ArgvContext& ctx) : def_(def), ctx_(ctx) {}

  Result<std::vector<std::string>> Build() {
    // Definitions built in code (not parsed) get the same checks as parsed ones.
    SKIFF_TRY(conf::ValidateDomain(def_));
    if (def_.type == conf::DomainType::kKvm && !ctx_.kvm_usable) {
      return FailedPreconditionError(
          "domain '{}' has type 'kvm' but kvm is not usable on this host: {}", def_.name,
          ctx_.kvm_reason.empty() ? "unknown reason" : ctx_.kvm_reason);
    }
    std::string emulator = def_.devices.emulator;
    if (emulator.empty()) emulator = ctx_.emulator.empty() ? kDefaultEmulator : ctx_.emulator;
    Add(emulator);
    Add("-name", "guest=" + Esc(def_.name) + ",debug-threads=on");
    if (ctx_.start_paused) Add("-S");
    Add("-no-user-config");
    Add("-nodefaults");
    for (const auto& a : ctx_.add_fds) Add("-add-fd", a);
    if (ctx_.qmp_fd >= 0) {
      Add("-chardev", fmt::format("socket,id=charmonitor,fd={},server=on,wait=off", ctx_.qmp_fd));
      Add("-mon", "chardev=charmonitor,id=monitor,mode=control");
    } else if (!ctx_.qmp_socket.empty()) {
      Add("-chardev", "socket,id=charmonitor,path=" + Esc(ctx_.qmp_socket) + ",server=on,wait=off");
      Add("-mon", "chardev=charmonitor,id=monitor,mode=control");
    }
    SKIFF_TRY(Machine());
    SKIFF_TRY(Cpu());
    SKIFF_TRY(Memory());
    Add("-uuid", def_.uuid.ToString());
    SKIFF_TRY(Firmware());
    Smbios();
    SKIFF_TRY(Clock());
    Lifecycle();
    SKIFF_TRY(Controllers());
    SKIFF_TRY(Disks());
    SKIFF_TRY(Interfaces());
    SKIFF_TRY(Serials());
    SKIFF_TRY(Channels());
    SKIFF_TRY(Inputs());
    SKIFF_TRY(Graphics());
    SKIFF_TRY(Videos());
    Audio();
    SKIFF_TRY(Sounds());
    Redirdevs();
    SKIFF_TRY(Filesystems());
    SKIFF_TRY(Tpms());
    Watchdog();
    Balloon();
    Rngs();
    SKIFF_TRY(Panics());
    if (!ctx_.incoming.empty()) Add("-incoming", ctx_.incoming);
    if (!ctx_.pidfile.empty()) Add("-pidfile", ctx_.pidfile);
    if (ctx_.daemonize) Add("-daemonize");
    if (ctx_.sandbox) {
      Add("-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
    }
    Add("-msg", "timestamp=on");
    return std::move(argv_);
  }

 private:
  void Add(std::string a) { argv_.push_back(std::move(a)); }
  // A host file as QEMU is to open it: by the fd skiffd handed over, or by name.
  const std::string& File(const std::string& path) const {
    auto it = ctx_.file_aliases.find(path);
    return it == ctx_.file_aliases.end() ? path : it->second;
  }
  // A unix socket chardev: by the fd skiffd handed over, or by path.
  std::string Socket(const std::string& path) const {
    auto it = ctx_.socket_fds.find(path);
    return it == ctx_.socket_fds.end() ? "path=" + Esc(path) : fmt::format("fd={}", it->second);
  }
  void Add(std::string a, std::string b) {
    if (a == "-device" && !ctx_.pci_addrs.empty()) b += PinnedAddr(b);
    argv_.push_back(std::move(a));
    argv_.push_back(std::move(b));
  }
  // ",addr=SLOT" for a device whose PCI slot the context pins (a restore), else "".
  std::string PinnedAddr(const std::string& dev) const {
    size_t p = dev.find(",id=");
    if (p == std::string::npos || dev.find(",addr=") != std::string::npos) return "";
    p += 4;
    std::string id = dev.substr(p, dev.find(',', p) - p);
    auto it = ctx_.pci_addrs.find(id);
    if (it == ctx_.pci_addrs.end()) return "";
    // "pci.1:0x0": behind a bridge (a root port a hot-plugged device took on q35).
    size_t colon = it->second.find(':');
    if (colon != std::string::npos) {
      return ",bus=" + it->second.substr(0, colon) + ",addr=" + it->second.substr(colon + 1);
    }
    return ",addr=" + it->second;
  }
  bool Kvm() const { return def_.type == conf::DomainType::kKvm; }
  bool Q35() const { return def_.IsQ35(); }
  std::string RootBus() const { return Q35() ? "pcie.0" : "pci.0"; }

  Status Machine() {
    std::string m = def_.os.machine.empty() ? "pc" : def_.os.machine;
    std::string opts = Esc(m) + ",usb=off";
    opts += def_.dump_core.value_or(false) ? ",dump-guest-core=on" : ",dump-guest-core=off";
    opts += def_.features.acpi ? ",acpi=on" : ",acpi=off";
    if (def_.features.vmport) opts += *def_.features.vmport ? ",vmport=on" : ",vmport=off";
    for (const auto& t : def_.clock.timers) {
      if (t.name == "hpet" && t.present) opts += *t.present ? ",hpet=on" : ",hpet=off";
    }
    if (SecureBoot()) opts += ",smm=on";
    if (RamBackend()) opts += ",memory-backend=pc.ram";
    Add("-machine", opts);
    if (SecureBoot()) Add("-global", "driver=cfi.pflash01,property=secure,value=on");
    Add("-accel", Kvm() ? "kvm" : "tcg");
    return Status::Ok();
  }

  bool SecureBoot() const {
    if (def_.os.loader) return def_.os.loader->secure == "yes";
    return def_.os.firmware == "efi" && ctx_.efi.secure;
  }
  // Guest RAM from a memory backend of its own (<memoryBacking> without NUMA cells,
  // whose backends are per cell): -machine memory-backend=pc.ram.
  bool RamBackend() const {
    const auto& mb = def_.memory_backing;
    if (!mb || (mb->source_type.empty() && mb->access_mode.empty())) return false;
    return !def_.cpu || def_.cpu->numa.empty();
  }

  Status Cpu() {
    std::string model;
    bool i686 = def_.os.arch == "i686";
    std::string extra;
    if (!def_.cpu) {
      model = i686 ? "qemu32" : "qemu64";
    } else {
      const conf::CpuDef& c = *def_.cpu;
      switch (c.mode) {
        case conf::CpuMode::kHostPassthrough:
          if (!Kvm()) {
            return FailedPreconditionError(
                "domain '{}': cpu mode 'host-passthrough' needs kvm, but the domain type is "
                "'qemu' (use mode 'maximum' under tcg)",
                def_.name);
          }
          model = "host";
          if (c.migratable == "off") extra += ",migratable=off";
          break;
        case conf::CpuMode::kHostModel:
          model = Kvm() ? "host" : "max";
          break;
        case conf::CpuMode::kMaximum:
          model = "max";
          if (c.migratable == "off") extra += ",migratable=off";
          break;
        case conf::CpuMode::kCustom:
          model = c.model.empty() ? (i686 ? "qemu32" : "qemu64") : c.model;
          break;
      }
      if (c.cache_mode == "passthrough") extra += ",host-cache-info=on,l3-cache=off";
      if (c.cache_mode == "emulate") extra += ",l3-cache=on";
      if (c.cache_mode == "disable") extra += ",l3-cache=off";
      for (const auto& f : c.features) {
        bool on = f.policy != "disable" && f.policy != "forbid";
        extra += "," + Esc(f.name) + (on ? "=on" : "=off");
      }
    }
    if (def_.features.pmu) extra += *def_.features.pmu ? ",pmu=on" : ",pmu=off";
    if (def_.features.apic_eoi)
      extra += *def_.features.apic_eoi ? ",kvm-pv-eoi=on" : ",kvm-pv-eoi=off";
    for (const auto& t : def_.clock.timers) {
      if (t.name == "kvmclock" && t.present) extra += *t.present ? ",kvmclock=on" : ",kvmclock=off";
      if (t.name == "hypervclock" && t.present)
        extra += *t.present ? ",hv-time=on" : ",hv-time=off";
    }
    if (const auto& hv = def_.features.hyperv) {
      if (hv->mode == "passthrough") extra += ",hv-passthrough=on";
      for (const auto& f : hv->flags) {
        std::string name = f.name == "vendor_id" ? "vendor-id" : f.name;
        if (!f.on) {
          if (f.name != "spinlocks" && f.name != "vendor_id") extra += ",hv-" + name + "=off";
        } else if (f.name == "spinlocks") {
          extra += fmt::format(",hv-spinlocks={:#x}", f.retries.value_or(0x1fff));
        } else if (f.name == "vendor_id") {
          extra += ",hv-vendor-id=" + Esc(f.value);
        } else {
          extra += ",hv-" + name + "=on";
        }
      }
    }
    Add("-cpu", Esc(model) + extra);
    return Status::Ok();
  }

  Status Memory() {
    const std::vector<conf::NumaCell>* cells = def_.cpu ? &def_.cpu->numa : nullptr;
    uint64_t total = 0;
    if (cells && !cells->empty()) {
      for (const auto& c : *cells) total += AlignMiB(c.memory_kib);
    } else {
      total = AlignMiB(def_.memory_kib);
    }
    std::string m = fmt::format("size={}k", total);
    if (def_.max_memory_kib) {
      m += fmt::format(",slots={},maxmem={}k", def_.max_memory_slots,
                       AlignMiB(*def_.max_memory_kib));
    }
    Add("-m", m);
    if (RamBackend()) {
      const auto& mb = *def_.memory_backing;
      bool memfd = mb.source_type == "memfd" || mb.access_mode == "shared";
      std::string obj =
          fmt::format("{},id=pc.ram,size={}", memfd ? "memory-backend-memfd" : "memory-backend-ram",
                      total * 1024);
      if (mb.access_mode == "shared") obj += ",share=on";
      Add("-object", obj);
    }
    // SMP
    unsigned n = def_.vcpus;
    std::string smp = def_.current_vcpus ? fmt::format("{},maxcpus={}", *def_.current_vcpus, n)
                                         : std::to_string(n);
    if (def_.cpu && def_.cpu->topology) {
      const auto& t = *def_.cpu->topology;
      smp += fmt::format(",sockets={}", t.sockets);
      if (t.dies > 1) smp += fmt::format(",dies={}", t.dies);
      smp += fmt::format(",cores={},threads={}", t.cores, t.threads);
    } else {
      smp += fmt::format(",sockets={},cores=1,threads=1", n);
    }
    Add("-smp", smp);
    if (cells && !cells->empty()) {
      for (size_t i = 0; i < cells->size(); ++i) {
        const auto& c = (*cells)[i];
        // A cell without memAccess takes <memoryBacking><access mode=...>.
        const auto& mb = def_.memory_backing;
        const bool shared =
            c.mem_access == "shared" || (c.mem_access.empty() && mb && mb->access_mode == "shared");
        const bool memfd = shared || (mb && mb->source_type == "memfd");
        std::string backend = memfd ? "memory-backend-memfd" : "memory-backend-ram";
        std::string obj =
            fmt::format("{},id=ram-node{},size={}", backend, c.id, AlignMiB(c.memory_kib) * 1024);
        if (shared) obj += ",share=on";
        if (def_.numatune) {
          for (const auto& mn : def_.numatune->memnodes) {
            if (mn.cellid != c.id) continue;
            std::string policy = mn.mode == "preferred"    ? "preferred"
                                 : mn.mode == "interleave" ? "interleave"
                                                           : "bind";
            obj += ",host-nodes=" + Esc(mn.nodeset) + ",policy=" + policy;
            if (mn.nodeset.find(',') != std::string::npos) {
              return UnsupportedError(
                  "domain '{}': numatune memnode nodeset '{}' with several ranges is not supported",
                  def_.name, mn.nodeset);
            }
          }
        }
        Add("-object", obj);
        std::string node = fmt::format("node,nodeid={}", c.id);
        if (!c.cpus.empty()) {
          size_t pos = 0;
          while (pos <= c.cpus.size()) {
            size_t comma = c.cpus.find(',', pos);
            std::string part = c.cpus.substr(pos, comma == std::string::npos ? comma : comma - pos);
            if (part.find('^') != std::string::npos) {
              return UnsupportedError("domain '{}': numa cell cpus '{}' with exclusions", def_.name,
                                      c.cpus);
            }
            node += ",cpus=" + part;
            if (comma == std::string::npos) break;
            pos = comma + 1;
          }
        }
        node += fmt::format(",memdev=ram-node{}", c.id);
        Add("-numa", node);
      }
    }
    return Status::Ok();
  }

  // Flash firmware: the code (unit 0) and, when there is one, the variable store.
  void Pflash(const std::string& code, bool readonly, const std::string& nvram) {
    Add("-drive", "if=pflash,format=raw,unit=0,file=" + Esc(File(code)) +
                      (readonly ? ",readonly=on" : ",readonly=off"));
    if (!nvram.empty()) Add("-drive", "if=pflash,format=raw,unit=1,file=" + Esc(File(nvram)));
  }

  Status Firmware() {
    const conf::OsDef& os = def_.os;
    if (os.firmware == "efi" && !os.loader) {
      if (ctx_.efi.code.empty()) {
        return FailedPreconditionError(
            "domain '{}': <os firmware='efi'> needs UEFI firmware for QEMU, and no firmware "
            "descriptor under /usr/share/qemu/firmware offers one for machine '{}' (install "
            "the ovmf package)",
            def_.name, def_.os.machine.empty() ? "pc" : def_.os.machine);
      }
      Pflash(ctx_.efi.code, true, ctx_.efi.nvram);
    }
    if (os.loader) {
      if (os.loader->type == "pflash") {
        Pflash(os.loader->path, os.loader->readonly != "no", os.nvram);
      } else {
        Add("-bios", File(os.loader->path));
      }
    }
    if (!os.kernel.empty()) Add("-kernel", File(os.kernel));
    if (!os.initrd.empty()) Add("-initrd", File(os.initrd));
    if (!os.cmdline.empty()) Add("-append", os.cmdline);
    std::string boot;
    if (os.bootmenu) {
      boot = *os.bootmenu ? "menu=on" : "menu=off";
      if (os.bootmenu_timeout_ms) boot += fmt::format(",splash-time={}", *os.bootmenu_timeout_ms);
    }
    if (os.reboot_timeout_ms) {
      if (!boot.empty()) boot += ",";
      boot += fmt::format("reboot-timeout={}", *os.reboot_timeout_ms);
    }
    if (!boot.empty()) Add("-boot", boot);
    return Status::Ok();
  }

  // -smbios from <sysinfo> (mode sysinfo) or the host's tables (mode host).
  void Smbios() {
    const conf::SysinfoDef* si = nullptr;
    if (def_.os.smbios_mode == "sysinfo" && def_.sysinfo) si = &*def_.sysinfo;
    if (def_.os.smbios_mode == "host") si = &ctx_.host_sysinfo;
    if (!si) return;
    const std::pair<int, const conf::SysinfoDef::Entries*> blocks[] = {
        {0, &si->bios}, {1, &si->system}, {2, &si->base_board}, {3, &si->chassis}};
    for (const auto& [type, entries] : blocks) {
      std::string v = fmt::format("type={}", type);
      // QEMU's -smbios keys are libvirt's entry names.
      for (const auto& [name, value] : *entries) v += "," + name + "=" + Esc(value);
      if (!entries->empty()) Add("-smbios", v);
    }
    for (const auto& oem : si->oem_strings) Add("-smbios", "type=11,value=" + Esc(oem));
  }

  Status Clock() {
    const conf::ClockDef& c = def_.clock;
    std::string rtc;
    if (c.offset == "utc") {
      rtc = "base=utc";
    } else if (c.offset == "localtime") {
      rtc = "base=localtime";
    } else if (c.offset == "variable") {
      // The guest clock starts at now + adjustment (in the basis' time zone).
      time_t now = time(nullptr) + static_cast<time_t>(c.adjustment.value_or(0));
      struct tm tm_buf;
      if (c.basis == "localtime") {
        localtime_r(&now, &tm_buf);
      } else {
        gmtime_r(&now, &tm_buf);
      }
      char buf[32];
      strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm_buf);
      rtc = std::string("base=") + buf;
    } else {
      return UnsupportedError("domain '{}': clock offset '{}' is not supported", def_.name,
                              c.offset);
    }
    for (const auto& t : c.timers) {
      if (t.name == "rtc" && t.tickpolicy == "catchup") rtc += ",driftfix=slew";
      if (t.name == "pit" && !t.tickpolicy.empty() && Kvm()) {
        std::string p = t.tickpolicy == "catchup" ? "slew" : t.tickpolicy;
        if (p == "merge") {
          return UnsupportedError("domain '{}': pit tickpolicy 'merge' is not supported",
                                  def_.name);
        }
        Add("-global", "kvm-pit.lost_tick_policy=" + p);
      }
    }
    Add("-rtc", rtc);
    return Status::Ok();
  }

  void Lifecycle() {
    if (def_.on_reboot == conf::LifecycleAction::kDestroy) Add("-no-reboot");
    if (def_.on_poweroff == conf::LifecycleAction::kPreserve) Add("-no-shutdown");
    std::string lpc = Q35() ? "ICH9-LPC" : "PIIX4_PM";
    if (def_.pm_suspend_to_mem)
      Add("-global", fmt::format("{}.disable_s3={}", lpc, *def_.pm_suspend_to_mem ? 0 : 1));
    if (def_.pm_suspend_to_disk)
      Add("-global", fmt::format("{}.disable_s4={}", lpc, *def_.pm_suspend_to_disk ? 0 : 1));
  }

  const conf::ControllerDef* FindController(std::string_view type, unsigned index) const {
    for (const auto& c : def_.devices.controllers) {
      if (c.type == type && c.index == index) return &c;
    }
    return nullptr;
  }

  Status Controllers() {
    const auto& dv = def_.devices;
    // PCI controllers first: other devices may sit behind them.
    for (const auto& c : dv.controllers) {
      if (c.type != "pci" || c.index == 0) continue;
      std::string parent = RootBus();
      for (const auto& [k, v] : c.address) {
        if (k == "bus") {
          char* end = nullptr;
          unsigned long bus = std::strtoul(v.c_str(), &end, 0);
          if (end == v.c_str() || *end != '\0' || bus > 255) {
            return InvalidArgumentError("pci controller {}: invalid address bus '{}'", c.index, v);
          }
          if (bus != 0) parent = fmt::format("pci.{}", bus);
        }
      }
      if (c.model == "pcie-root-port") {
        unsigned port = c.port.value_or(0x10 + c.index - 1);
        unsigned chassis = c.chassis.value_or(c.index);
        Add("-device", fmt::format("pcie-root-port,port={},chassis={},id=pci.{},bus={}", port,
                                   chassis, c.index, parent));
      } else if (c.model == "pci-bridge") {
        Add("-device", fmt::format("pci-bridge,chassis_nr={},id=pci.{},bus={}",
                                   c.chassis.value_or(c.index), c.index, parent));
      } else if (c.model == "dmi-to-pci-bridge") {
        Add("-device", fmt::format("i82801b11-bridge,id=pci.{},bus={}", c.index, parent));
      } else if (c.model == "pcie-to-pci-bridge") {
        Add("-device", fmt::format("pcie-pci-bridge,id=pci.{},bus={}", c.index, parent));
      } else {
        return UnsupportedError("domain '{}': pci controller model '{}' is not supported",
                                def_.name, c.model);
      }
    }
    // USB: libvirt's default controller unless model='none'.
    bool usb_seen = false;
    for (const auto& c : dv.controllers) {
      if (c.type != "usb") continue;
      usb_seen = true;
      if (c.model == "none") continue;
      SKIFF_TRY(UsbController(c));
    }
    if (!usb_seen) {
      conf::ControllerDef c;
      c.type = "usb";
      SKIFF_TRY(UsbController(c));
    }
    has_usb_ = UsbPresent();
    for (const auto& c : dv.controllers) {
      if (c.type == "sata" && !(Q35() && c.index == 0)) {
        Add("-device", fmt::format("ich9-ahci,id=sata{}", c.index));
      } else if (c.type == "scsi") {
        Add("-device", fmt::format("virtio-scsi-pci,id=scsi{}", c.index));
      } else if (c.type == "virtio-serial") {
        std::string d = fmt::format("virtio-serial-pci,id=virtio-serial{}", c.index);
        if (c.ports) d += fmt::format(",max_ports={}", *c.ports);
        Add("-device", d);
      }
    }
    // Implicit controllers for devices that need them.
    bool need_scsi = false, need_sata = false;
    for (const auto& d : dv.disks) {
      need_scsi |= d.bus == DiskBus::kScsi;
      need_sata |= d.bus == DiskBus::kSata;
    }
    if (need_scsi && !FindController("scsi", 0)) Add("-device", "virtio-scsi-pci,id=scsi0");
    if (need_sata && !Q35() && !FindController("sata", 0)) Add("-device", "ich9-ahci,id=sata0");
    bool need_vserial = !dv.channels.empty();
    for (const auto& c : dv.consoles) need_vserial |= c.target_type == "virtio";
    if (need_vserial && !FindController("virtio-serial", 0)) {
      Add("-device", "virtio-serial-pci,id=virtio-serial0");
    }
    return Status::Ok();
  }

  bool UsbPresent() const {
    for (const auto& c : def_.devices.controllers) {
      if (c.type == "usb" && c.index == 0) return c.model != "none";
    }
    return true;
  }

  Status UsbController(const conf::ControllerDef& c) {
    std::string model = c.model;
    if (model.empty()) model = Q35() ? "qemu-xhci" : "piix3-uhci";
    std::string dev;
    if (model == "piix3-uhci")
      dev = "piix3-usb-uhci";
    else if (model == "piix4-uhci")
      dev = "piix4-usb-uhci";
    else if (model == "ehci")
      dev = "usb-ehci";
    else if (model == "ich9-ehci1")
      dev = "ich9-usb-ehci1";
    else if (c.IsIch9Usb2() && model != "ich9-ehci1") {
      // A companion of the ICH9 EHCI of its index: UHCI N serves ports 2(N-1) and up.
      const int n = model.back() - '0';
      std::string master = c.index == 0 ? "usb" : fmt::format("usb{}", c.index);
      // An id of its own (libvirt gives none) lets a restore pin its PCI slot.
      Add("-device", fmt::format("ich9-usb-uhci{},masterbus={}.0,firstport={},id={}-uhci{}", n,
                                 master, c.master_startport.value_or(2 * (n - 1)), master, n));
      return Status::Ok();
    } else if (model == "qemu-xhci")
      dev = "qemu-xhci";
    else if (model == "nec-xhci")
      dev = "nec-usb-xhci";
    else
      return UnsupportedError("domain '{}': usb controller model '{}'", def_.name, model);
    std::string id = c.index == 0 ? "usb" : fmt::format("usb{}", c.index);
    dev += ",id=" + id;
    if (c.ports) {
      if (model != "qemu-xhci" && model != "nec-xhci") {
        return InvalidArgumentError("domain '{}': usb controller model '{}' has no ports setting",
                                    def_.name, model);
      }
      dev += fmt::format(",p2={},p3={}", *c.ports, *c.ports);
    }
    Add("-device", dev);
    return Status::Ok();
  }

  // Boot indexes from <os><boot dev=.../> (first disk/cdrom/nic of each kind in order) or
  // from per-device <boot order=.../>.
  void ComputeBootOrder() {
    const auto& dv = def_.devices;
    disk_boot_.assign(dv.disks.size(), std::nullopt);
    nic_boot_.assign(dv.interfaces.size(), std::nullopt);
    for (size_t i = 0; i < dv.disks.size(); ++i) disk_boot_[i] = dv.disks[i].boot_order;
    for (size_t i = 0; i < dv.interfaces.size(); ++i) nic_boot_[i] = dv.interfaces[i].boot_order;
    unsigned next = 1;
    for (conf::BootDevice b : def_.os.boot) {
      if (b == conf::BootDevice::kNetwork) {
        if (!dv.interfaces.empty() && !nic_boot_[0]) nic_boot_[0] = next++;
        continue;
      }
      DiskDevice want = b == conf::BootDevice::kCdrom ? DiskDevice::kCdrom : DiskDevice::kDisk;
      if (b == conf::BootDevice::kFd) continue;  // no floppies
      for (size_t i = 0; i < dv.disks.size(); ++i) {
        if (dv.disks[i].device == want && !disk_boot_[i]) {
          disk_boot_[i] = next++;
          break;
        }
      }
    }
  }

  std::string CacheOpts(const DiskDef& d) const {
    const std::string& c = d.driver.cache;
    if (c.empty() || c == "default") return "";
    bool direct = c == "none" || c == "directsync";
    bool noflush = c == "unsafe";
    return fmt::format(",cache.direct={},cache.no-flush={}", direct ? "on" : "off",
                       noflush ? "on" : "off");
  }

  Status Disks() {
    ComputeBootOrder();
    const auto& disks = def_.devices.disks;
    for (size_t i = 0; i < disks.size(); ++i) {
      const DiskDef& d = disks[i];
      std::string path = d.source_path;
      if (d.type == DiskType::kVolume) {
        auto it = ctx_.volume_paths.find(d.target_dev);
        if (it == ctx_.volume_paths.end() || it->second.empty()) {
          return InvalidArgumentError(
              "disk '{}': volume '{}' of pool '{}' was not resolved to a path", d.target_dev,
              d.source_volume, d.source_pool);
        }
        path = it->second;
      }
      std::string fmt_node;
      if (!path.empty()) {
        fmt_node = "fmt-" + d.target_dev;
        std::string cache = CacheOpts(d);
        std::string discard = d.driver.discard == "unmap" ? ",discard=unmap" : "";
        // Backing chain from the bottom up, so that each layer can name the one below.
        std::string below;
        for (size_t b = d.backing_chain.size(); b-- > 0;) {
          const conf::BackingStore& bs = d.backing_chain[b];
          std::string file = fmt::format("file-{}-{}", d.target_dev, b + 1);
          std::string fmtn = fmt::format("fmt-{}-{}", d.target_dev, b + 1);
          Add("-blockdev", fmt::format("driver={},filename={},node-name={},read-only=on{}",
                                       bs.type == DiskType::kBlock ? "host_device" : "file",
                                       Esc(File(bs.path)), file, cache));
          std::string f = fmt::format("driver={},file={},node-name={},read-only=on{}",
                                      bs.format.empty() ? "raw" : bs.format, file, fmtn, cache);
          if (!below.empty()) f += ",backing=" + below;
          Add("-blockdev", f);
          below = fmtn;
        }
        std::string proto = "file";
        if (d.type == DiskType::kBlock)
          proto = d.device == DiskDevice::kCdrom ? "host_cdrom" : "host_device";
        std::string aio;
        if (d.driver.io == "native") {
          if (d.driver.cache != "none" && d.driver.cache != "directsync") {
            return InvalidArgumentError("disk '{}': io 'native' needs cache 'none' or 'directsync'",
                                        d.target_dev);
          }
          aio = ",aio=native";
        } else if (d.driver.io == "io_uring") {
          aio = ",aio=io_uring";
        } else if (d.driver.io == "threads") {
          aio = ",aio=threads";
        }
        std::string ro = d.readonly || d.device == DiskDevice::kCdrom ? "on" : "off";
        Add("-blockdev",
            fmt::format("driver={},filename={},node-name=file-{},auto-read-only=on{}{}{}", proto,
                        Esc(File(path)), d.target_dev, discard, cache, aio));
        std::string f = fmt::format("driver={},file=file-{},node-name={},read-only={}{}{}",
                                    d.format(), d.target_dev, fmt_node, ro, discard, cache);
        if (!below.empty()) f += ",backing=" + below;
        Add("-blockdev", f);
      }
      SKIFF_ASSIGN_OR_RETURN(std::string dev, DiskFrontend(d, fmt_node, disk_boot_[i]));
      Add("-device", dev);
    }
    return Status::Ok();
  }

  Result<std::string> DiskFrontend(const DiskDef& d, const std::string& node,
                                   std::optional<unsigned> boot) {
    unsigned unit = DiskUnit(d.target_dev);
    bool cd = d.device == DiskDevice::kCdrom;
    std::string dev;
    switch (d.bus) {
      case DiskBus::kVirtio:
        dev = fmt::format("virtio-blk-pci,id=virtio-disk{}", unit);
        break;
      case DiskBus::kIde:
        if (d.readonly && !cd) {
          return InvalidArgumentError("disk '{}': readonly ide disks are not supported by qemu",
                                      d.target_dev);
        }
        dev = fmt::format("{},bus=ide.{},unit={},id=ide0-{}-{}", cd ? "ide-cd" : "ide-hd", unit / 2,
                          unit % 2, unit / 2, unit % 2);
        break;
      case DiskBus::kSata:
        if (d.readonly && !cd) {
          return InvalidArgumentError("disk '{}': readonly sata disks are not supported by qemu",
                                      d.target_dev);
        }
        dev = fmt::format("{},bus={}.{},id=sata0-0-{}", cd ? "ide-cd" : "ide-hd",
                          Q35() ? "ide" : "sata0", unit, unit);
        break;
      case DiskBus::kScsi:
        dev = fmt::format("{},bus=scsi0.0,channel=0,scsi-id=0,lun={},id=scsi0-0-0-{}",
                          cd ? "scsi-cd" : "scsi-hd", unit, unit);
        break;
      case DiskBus::kUsb:
        if (!has_usb_) {
          return InvalidArgumentError("disk '{}': usb disks need a usb controller", d.target_dev);
        }
        dev = fmt::format("usb-storage,bus=usb.0,id=usb-disk{}", unit);
        break;
    }
    if (!node.empty()) dev += ",drive=" + node;
    if (!d.serial.empty()) dev += ",serial=" + Esc(d.serial);
    if (d.shareable) dev += ",share-rw=on";
    const std::string& c = d.driver.cache;
    if (!c.empty() && c != "default" && !cd) {
      bool wc = c == "none" || c == "writeback" || c == "unsafe";
      dev += wc ? ",write-cache=on" : ",write-cache=off";
    }
    if (boot) dev += fmt::format(",bootindex={}", *boot);
    return dev;
  }

  Status Interfaces() {
    const auto& nics = def_.devices.interfaces;
    for (size_t i = 0; i < nics.size(); ++i) {
      const conf::InterfaceDef& n = nics[i];
      if (n.type == conf::InterfaceType::kUser) {
        Add("-netdev", fmt::format("user,id=hostnet{}", i));
      } else {
        auto it = ctx_.tap_fds.find(i);
        if (it == ctx_.tap_fds.end()) {
          return InvalidArgumentError("interface {} ({}): no tap file descriptor was provided", i,
                                      n.mac);
        }
        Add("-netdev", fmt::format("tap,fd={},id=hostnet{}", it->second, i));
      }
      std::string model;
      switch (n.model) {
        case conf::NicModel::kVirtio:
          model = "virtio-net-pci";
          break;
        case conf::NicModel::kE1000:
          model = "e1000";
          break;
        case conf::NicModel::kE1000e:
          model = "e1000e";
          break;
        case conf::NicModel::kRtl8139:
          model = "rtl8139";
          break;
      }
      std::string dev = fmt::format("{},netdev=hostnet{},id=net{},mac={}", model, i, i, n.mac);
      if (nic_boot_[i]) dev += fmt::format(",bootindex={}", *nic_boot_[i]);
      Add("-device", dev);
    }
    return Status::Ok();
  }

  std::string CharBackend(const conf::CharDevDef& c, const std::string& id) {
    switch (c.type) {
      case conf::CharSourceType::kPty:
        return "pty,id=" + id;
      case conf::CharSourceType::kNull:
        return "null,id=" + id;
      case conf::CharSourceType::kFile: {
        std::string s = "file,id=" + id + ",path=" + Esc(File(c.path));
        if (c.append == "on") s += ",append=on";
        return s;
      }
      case conf::CharSourceType::kUnix:
        return "socket,id=" + id + "," + Socket(c.path) +
               (c.mode == "connect" ? ",server=off" : ",server=on,wait=off");
      case conf::CharSourceType::kSpicevmc:
        return "spicevmc,id=" + id + ",name=vdagent";
    }
    return "null,id=" + id;
  }

  Status Serials() {
    const auto& dv = def_.devices;
    std::vector<conf::CharDevDef> serials = dv.serials;
    // A <console> of target type serial without any <serial> stands for serial0.
    if (serials.empty()) {
      for (const auto& c : dv.consoles) {
        if (c.target_type.empty() || c.target_type == "serial") {
          conf::CharDevDef s = c;
          s.target_type.clear();
          serials.push_back(s);
          break;
        }
      }
    }
    if (serials.empty() && !ctx_.console_socket.empty()) serials.emplace_back();
    for (size_t i = 0; i < serials.size(); ++i) {
      const auto& s = serials[i];
      unsigned port = s.target_port.value_or(static_cast<unsigned>(i));
      std::string id = fmt::format("charserial{}", i);
      std::string backend;
      if (i == 0 && !ctx_.console_socket.empty()) {
        backend = "socket,id=" + id + "," +
                  (ctx_.console_fd >= 0 ? fmt::format("fd={}", ctx_.console_fd)
                                        : "path=" + Esc(ctx_.console_socket)) +
                  ",server=on,wait=off";
        if (!ctx_.log_file.empty()) {
          backend += ",logfile=" + Esc(File(ctx_.log_file)) + ",logappend=on";
        }
      } else {
        backend = CharBackend(s, id);
      }
      Add("-chardev", backend);
      if (s.target_type == "pci-serial") {
        Add("-device", fmt::format("pci-serial,chardev={},id=serial{}", id, i));
      } else {
        Add("-device", fmt::format("isa-serial,chardev={},id=serial{},index={}", id, i, port));
      }
    }
    // Virtio consoles.
    unsigned nr = 0;
    for (size_t i = 0; i < dv.consoles.size(); ++i) {
      const auto& c = dv.consoles[i];
      if (c.target_type != "virtio") continue;
      std::string id = fmt::format("charconsole{}", i);
      Add("-chardev", CharBackend(c, id));
      Add("-device", fmt::format("virtconsole,bus=virtio-serial0.0,nr={},chardev={},id=console{}",
                                 nr++, id, i));
    }
    vserial_next_ = nr == 0 ? 1 : nr;
    return Status::Ok();
  }

  Status Channels() {
    const auto& dv = def_.devices;
    unsigned nr = vserial_next_;
    for (size_t i = 0; i < dv.channels.size(); ++i) {
      const auto& c = dv.channels[i];
      std::string id = fmt::format("charchannel{}", i);
      if (c.type == conf::CharSourceType::kUnix && c.path.empty()) {
        // libvirt generates the path of an unnamed agent socket; ours sits beside QMP.
        conf::CharDevDef named = c;
        named.path = AutoChannelPath(def_, ctx_, i);
        Add("-chardev", CharBackend(named, id));
      } else {
        Add("-chardev", CharBackend(c, id));
      }
      std::string dev = fmt::format(
          "virtserialport,bus=virtio-serial0.0,nr={},chardev={},id=channel{}", nr++, id, i);
      if (!c.target_name.empty()) dev += ",name=" + Esc(c.target_name);
      Add("-device", dev);
    }
    return Status::Ok();
  }

  Status Inputs() {
    const auto& ins = def_.devices.inputs;
    for (size_t i = 0; i < ins.size(); ++i) {
      const auto& in = ins[i];
      std::string kind = in.type == conf::InputType::kMouse      ? "mouse"
                         : in.type == conf::InputType::kKeyboard ? "kbd"
                                                                 : "tablet";
      switch (in.bus) {
        case conf::InputBus::kPs2:
          if (in.type == conf::InputType::kTablet) {
            return InvalidArgumentError("input {}: a tablet cannot use bus 'ps2'", i);
          }
          break;  // built into the i8042 controller
        case conf::InputBus::kUsb:
          if (!has_usb_) {
            return InvalidArgumentError("input {}: usb {} needs a usb controller", i, kind);
          }
          Add("-device", fmt::format("usb-{},id=input{},bus=usb.0", kind, i));
          break;
        case conf::InputBus::kVirtio:
          Add("-device",
              fmt::format("virtio-{}-pci,id=input{}", kind == "kbd" ? "keyboard" : kind, i));
          break;
      }
    }
    return Status::Ok();
  }

  Status Graphics() {
    const auto& gs = def_.devices.graphics;
    if (gs.empty()) {
      Add("-display", "none");
      return Status::Ok();
    }
    for (size_t i = 0; i < gs.size(); ++i) {
      const auto& g = gs[i];
      std::string listen = g.listen.empty() ? "127.0.0.1" : g.listen;
      bool v6 = listen.find(':') != std::string::npos;
      // A password never reaches the command line (any local user can read
      // /proc/PID/cmdline): QEMU starts asking for one, and the driver sets it
      // over QMP before the guest first runs (SetGraphicsPasswords), as libvirt does.
      const bool has_passwd = !g.passwd.empty();
      if (g.type == conf::GraphicsType::kVnc) {
        std::string host = v6 ? "[" + listen + "]" : listen;
        auto chosen = ctx_.graphics_ports.find(i);
        std::string v = !g.autoport ? fmt::format("{}:{}", host, g.port - 5900)
                        : chosen != ctx_.graphics_ports.end()
                            ? fmt::format("{}:{}", host, chosen->second - 5900)
                            : host + ":0,to=99";
        if (has_passwd) v += ",password=on";
        Add("-vnc", v);
      } else {
        int port = g.port;
        if (g.autoport) {
          auto chosen = ctx_.graphics_ports.find(i);
          if (chosen == ctx_.graphics_ports.end()) {
            return InvalidArgumentError(
                "graphics {}: spice with autoport needs a port chosen by the daemon", i);
          }
          port = chosen->second;
        }
        std::string s = fmt::format("port={},addr={}", port, Esc(listen));
        if (g.tls_port >= 0) {
          if (ctx_.spice_x509_dir.empty()) {
            return FailedPreconditionError(
                "graphics {}: spice tlsPort {} needs TLS certificates, and no spice certificate "
                "directory is configured",
                i, g.tls_port);
          }
          s += fmt::format(",tls-port={},x509-dir={}", g.tls_port, Esc(ctx_.spice_x509_dir));
        }
        // With a password, SPICE keeps ticketing on and refuses every client
        // until set_password gives it one.
        if (!has_passwd) s += ",disable-ticketing=on";
        if (!g.image_compression.empty()) s += ",image-compression=" + g.image_compression;
        Add("-spice", s);
      }
      if (!g.keymap.empty()) Add("-k", g.keymap);
    }
    return Status::Ok();
  }

  Status Videos() {
    const auto& vs = def_.devices.videos;
    if (vs.empty()) {
      // libvirt gives a graphical domain a VGA adapter when none is defined.
      if (!def_.devices.graphics.empty()) Add("-device", "VGA,id=video0");
      return Status::Ok();
    }
    for (size_t i = 0; i < vs.size(); ++i) {
      const auto& v = vs[i];
      bool primary = i == 0;
      std::string dev;
      switch (v.model) {
        case conf::VideoModel::kNone:
          continue;
        case conf::VideoModel::kVga:
          dev = "VGA";
          break;
        case conf::VideoModel::kCirrus:
          dev = "cirrus-vga";
          break;
        case conf::VideoModel::kBochs:
          dev = "bochs-display";
          break;
        case conf::VideoModel::kQxl:
          dev = primary ? "qxl-vga" : "qxl";
          break;
        case conf::VideoModel::kVirtio:
          dev = primary ? "virtio-vga" : "virtio-gpu-pci";
          break;
      }
      dev += fmt::format(",id=video{}", i);
      if (v.model == conf::VideoModel::kQxl) {
        if (v.ram_kib) dev += fmt::format(",ram_size={}", *v.ram_kib * 1024);
        if (v.vram_kib) dev += fmt::format(",vram_size={}", *v.vram_kib * 1024);
        if (v.vgamem_kib && primary) dev += fmt::format(",vgamem_mb={}", *v.vgamem_kib / 1024);
        if (v.heads) dev += fmt::format(",max_outputs={}", *v.heads);
      } else if (v.model == conf::VideoModel::kVga) {
        uint64_t kib = v.vgamem_kib ? *v.vgamem_kib : v.vram_kib.value_or(0);
        if (kib) dev += fmt::format(",vgamem_mb={}", kib / 1024);
      } else if (v.model == conf::VideoModel::kBochs) {
        uint64_t kib = v.vgamem_kib ? *v.vgamem_kib : v.vram_kib.value_or(0);
        if (kib) dev += fmt::format(",vgamem={}", kib * 1024);
      } else if (v.model == conf::VideoModel::kVirtio && v.heads) {
        dev += fmt::format(",max_outputs={}", *v.heads);
      }
      Add("-device", dev);
    }
    return Status::Ok();
  }

  // <audio> backends; sound cards without any get libvirt's default, spice with a
  // SPICE display, else none.
  void Audio() {
    const auto& dv = def_.devices;
    for (const auto& a : dv.audios) Add("-audiodev", fmt::format("{},id=audio{}", a.type, a.id));
    if (dv.audios.empty() && !dv.sounds.empty()) {
      bool spice = std::any_of(dv.graphics.begin(), dv.graphics.end(),
                               [](const auto& g) { return g.type == conf::GraphicsType::kSpice; });
      Add("-audiodev", spice ? "spice,id=audio1" : "none,id=audio1");
    }
  }

  Status Sounds() {
    const auto& dv = def_.devices;
    for (size_t i = 0; i < dv.sounds.size(); ++i) {
      const auto& snd = dv.sounds[i];
      unsigned audio = snd.audio_id.value_or(dv.audios.empty() ? 1 : dv.audios.front().id);
      std::string id = fmt::format("sound{}", i);
      if (snd.model == "ich6" || snd.model == "ich9") {
        Add("-device",
            fmt::format("{},id={}", snd.model == "ich9" ? "ich9-intel-hda" : "intel-hda", id));
        Add("-device",
            fmt::format("hda-duplex,id={}-codec0,bus={}.0,cad=0,audiodev=audio{}", id, id, audio));
      } else if (snd.model == "ac97" || snd.model == "es1370") {
        Add("-device", fmt::format("{},id={},audiodev=audio{}",
                                   snd.model == "ac97" ? "AC97" : "ES1370", id, audio));
      } else if (snd.model == "usb") {
        if (!has_usb_) return InvalidArgumentError("sound {}: usb audio needs a usb controller", i);
        Add("-device", fmt::format("usb-audio,id={},audiodev=audio{},bus=usb.0", id, audio));
      } else {
        return UnsupportedError("domain '{}': sound model '{}'", def_.name, snd.model);
      }
    }
    return Status::Ok();
  }

  void Redirdevs() {
    for (size_t i = 0; i < def_.devices.redirdevs.size(); ++i) {
      Add("-chardev", fmt::format("spicevmc,id=charredir{},name=usbredir", i));
      Add("-device", fmt::format("usb-redir,chardev=charredir{},id=redir{},bus=usb.0", i, i));
    }
  }

  Status Filesystems() {
    const auto& fss = def_.devices.filesystems;
    for (size_t i = 0; i < fss.size(); ++i) {
      const auto& f = fss[i];
      if (f.driver == "virtiofs") {
        auto sock = ctx_.virtiofs_sockets.find(i);
        if (sock == ctx_.virtiofs_sockets.end()) {
          return FailedPreconditionError(
              "filesystem '{}': virtiofs needs a virtiofsd, which the daemon starts with the "
              "domain",
              f.target_dir);
        }
        Add("-chardev", fmt::format("socket,id=chr-vu-fs{},{}", i, Socket(sock->second)));
        Add("-device", fmt::format("vhost-user-fs-pci,id=fs{},chardev=chr-vu-fs{},tag={}", i, i,
                                   Esc(f.target_dir)));
        continue;
      }
      std::string model = f.accessmode == "mapped"   ? "mapped"
                          : f.accessmode == "squash" ? "none"
                                                     : "passthrough";
      std::string fsdev =
          fmt::format("local,security_model={},id=fsdev-fs{},path={}", model, i, Esc(f.source_dir));
      if (f.readonly) fsdev += ",readonly=on";
      Add("-fsdev", fsdev);
      Add("-device", fmt::format("virtio-9p-pci,id=fs{},fsdev=fsdev-fs{},mount_tag={}", i, i,
                                 Esc(f.target_dir)));
    }
    return Status::Ok();
  }

  Status Tpms() {
    for (const auto& t : def_.devices.tpms) {
      if (t.backend == "passthrough") {
        Add("-tpmdev", "passthrough,id=tpm-tpm0,path=" + Esc(t.device_path));
      } else {
        if (ctx_.tpm_socket.empty()) {
          return FailedPreconditionError(
              "tpm: an emulated TPM needs swtpm, which the daemon starts with the domain");
        }
        Add("-chardev", "socket,id=chrtpm," + Socket(ctx_.tpm_socket));
        Add("-tpmdev", "emulator,id=tpm-tpm0,chardev=chrtpm");
      }
      Add("-device", fmt::format("{},tpmdev=tpm-tpm0,id=tpm0", t.model));
    }
    return Status::Ok();
  }

  void Watchdog() {
    for (size_t i = 0; i < def_.devices.watchdogs.size(); ++i) {
      const auto& w = def_.devices.watchdogs[i];
      switch (w.model) {
        case conf::WatchdogModel::kI6300esb:
          Add("-device", fmt::format("i6300esb,id=watchdog{}", i));
          break;
        case conf::WatchdogModel::kIb700:
          Add("-device", fmt::format("ib700,id=watchdog{}", i));
          break;
        case conf::WatchdogModel::kItco:
          Add("-global", "ICH9-LPC.noreboot=off");
          break;
      }
      // QEMU cannot dump by itself: pause, so that the daemon can take the dump.
      std::string action = w.action == "dump" ? "pause" : w.action;
      Add("-action", "watchdog=" + action);
    }
  }

  void Balloon() {
    const auto& m = def_.devices.memballoon;
    if (!m || m->model != "virtio") return;
    std::string dev = "virtio-balloon-pci,id=balloon0";
    if (m->autodeflate) dev += *m->autodeflate ? ",deflate-on-oom=on" : ",deflate-on-oom=off";
    Add("-device", dev);
  }

  void Rngs() {
    const auto& rs = def_.devices.rngs;
    for (size_t i = 0; i < rs.size(); ++i) {
      const auto& r = rs[i];
      if (r.backend == "builtin") {
        Add("-object", fmt::format("rng-builtin,id=objrng{}", i));
      } else {
        Add("-object", fmt::format("rng-random,id=objrng{},filename={}", i, Esc(r.source)));
      }
      std::string dev = fmt::format("virtio-rng-pci,rng=objrng{},id=rng{}", i, i);
      if (r.rate_bytes) {
        dev +=
            fmt::format(",max-bytes={},period={}", *r.rate_bytes, r.rate_period_ms.value_or(1000));
      }
      Add("-device", dev);
    }
  }

  Status Panics() {
    const auto& ps = def_.devices.panics;
    for (size_t i = 0; i < ps.size(); ++i) {
      const auto& p = ps[i];
      if (p.model == "pvpanic") {
        Add("-device", fmt::format("pvpanic-pci,id=panic{}", i));
        continue;
      }
      std::string dev = fmt::format("pvpanic,id=panic{}", i);
      for (const auto& [k, v] : p.address) {
        if (k != "iobase") continue;
        char* end = nullptr;
        unsigned long port = std::strtoul(v.c_str(), &end, 0);
        if (v.empty() || *end != '\0' || port > 0xffff) {
          return InvalidArgumentError("panic device {}: invalid iobase '{}'", i, v);
        }
        dev += fmt::format(",ioport={}", port);
      }
      Add("-device", dev);
    }
    // The guest stops where it panicked (QEMU's GUEST_PANICKED, state guest-panicked)
    // and the daemon carries out <on_crash>: dump, destroy, restart or keep it.
    if (!ps.empty()) Add("-action", "panic=pause");
    return Status::Ok();
  }

  const DomainDef& def_;
  const ArgvContext& ctx_;
  std::vector<std::string> argv_;
  std::vector<std::optional<unsigned>> disk_boot_, nic_boot_;
  bool has_usb_ = true;
  unsigned vserial_next_ = 1;
};

}  // namespace

Result<std::vector<std::string>> BuildQemuArgv(const conf::DomainDef& def, const ArgvContext& ctx) {
  Builder b(def, ctx);
  return b.Build();
}

std::string DiskDeviceId(const conf::DiskDef& d) {
  unsigned unit = d.target_dev.size() > 2 ? DiskUnit(d.target_dev) : 0;
  switch (d.bus) {
    case DiskBus::kVirtio:
      return fmt::format("virtio-disk{}", unit);
    case DiskBus::kIde:
      return fmt::format("ide0-{}-{}", unit / 2, unit % 2);
    case DiskBus::kSata:
      return fmt::format("sata0-0-{}", unit);
    case DiskBus::kScsi:
      return fmt::format("scsi0-0-0-{}", unit);
    case DiskBus::kUsb:
      return fmt::format("usb-disk{}", unit);
  }
  return fmt::format("virtio-disk{}", unit);
}

std::string AutoChannelPath(const conf::DomainDef& def, const ArgvContext& ctx, size_t channel) {
  std::string dir = ctx.qmp_socket.empty() ? std::string("/run/skiff")
                                           : ctx.qmp_socket.substr(0, ctx.qmp_socket.rfind('/'));
  if (dir.empty()) dir = "/";
  const auto& c = def.devices.channels.at(channel);
  return fmt::format("{}/{}.{}", dir, def.name,
                     c.target_name.empty() ? fmt::format("charchannel{}", channel) : c.target_name);
}

std::vector<std::string> DiskNodeNames(const conf::DiskDef& d) {
  std::vector<std::string> out = {"fmt-" + d.target_dev, "file-" + d.target_dev};
  for (size_t b = 1; b <= d.backing_chain.size(); ++b) {
    out.push_back(fmt::format("fmt-{}-{}", d.target_dev, b));
    out.push_back(fmt::format("file-{}-{}", d.target_dev, b));
  }
  return out;
}

Status CheckDiskHotplug(const conf::DiskDef& d, bool unplug) {
  if (d.bus == DiskBus::kSata || d.bus == DiskBus::kIde) {
    // Neither QEMU's AHCI nor its IDE buses take devices while the guest runs.
    return UnsupportedError("disk bus '{}' cannot be hot{}plugged", conf::ToString(d.bus),
                            unplug ? "un" : "");
  }
  return Status::Ok();
}

Result<DiskHotplug> BuildDiskHotplug(const conf::DiskDef& d, const std::string& path,
                                     const std::string& pci_bus,
                                     const std::map<std::string, std::string>& aliases) {
  auto name_of = [&](const std::string& p) {
    auto it = aliases.find(p);
    return it == aliases.end() ? p : it->second;
  };
  if (d.target_dev.size() < 3 || !std::all_of(d.target_dev.begin() + 2, d.target_dev.end(),
                                              [](char c) { return c >= 'a' && c <= 'z'; })) {
    return InvalidArgumentError("disk target '{}' is not a disk name like vdb", d.target_dev);
  }
  SKIFF_TRY(CheckDiskHotplug(d, false));
  const bool cd = d.device == DiskDevice::kCdrom;
  if (cd && (d.bus == DiskBus::kVirtio || d.bus == DiskBus::kUsb)) {
    return UnsupportedError("disk '{}': a cdrom cannot use bus '{}'", d.target_dev,
                            conf::ToString(d.bus));
  }
  if (path.empty()) return InvalidArgumentError("disk '{}' has no source", d.target_dev);
  bool ro = d.readonly || cd;
  std::string proto = "file";
  if (d.type == DiskType::kBlock) proto = cd ? "host_cdrom" : "host_device";
  nlohmann::json file = {{"driver", proto},
                         {"filename", name_of(path)},
                         {"node-name", "file-" + d.target_dev},
                         {"auto-read-only", true}};
  nlohmann::json fmtnode = {{"driver", d.format()},
                            {"node-name", "fmt-" + d.target_dev},
                            {"read-only", ro},
                            {"file", file}};
  const std::string& c = d.driver.cache;
  std::optional<nlohmann::json> cache;
  if (!c.empty() && c != "default") {
    cache = {{"direct", c == "none" || c == "directsync"}, {"no-flush", c == "unsafe"}};
    fmtnode["cache"] = *cache;
    fmtnode["file"]["cache"] = *cache;
  }
  if (d.driver.discard == "unmap") {
    fmtnode["discard"] = "unmap";
    fmtnode["file"]["discard"] = "unmap";
  }
  // The backing chain, nested top down: each layer is the `backing` of the one above.
  nlohmann::json* above = &fmtnode;
  for (size_t b = 0; b < d.backing_chain.size(); ++b) {
    const conf::BackingStore& bs = d.backing_chain[b];
    nlohmann::json layer = {{"driver", bs.format.empty() ? "raw" : bs.format},
                            {"node-name", fmt::format("fmt-{}-{}", d.target_dev, b + 1)},
                            {"read-only", true},
                            {"file",
                             {{"driver", bs.type == DiskType::kBlock ? "host_device" : "file"},
                              {"filename", name_of(bs.path)},
                              {"node-name", fmt::format("file-{}-{}", d.target_dev, b + 1)},
                              {"read-only", true}}}};
    if (cache) {
      layer["cache"] = *cache;
      layer["file"]["cache"] = *cache;
    }
    (*above)["backing"] = std::move(layer);
    above = &(*above)["backing"];
  }
  DiskHotplug h;
  h.device_id = DiskDeviceId(d);
  h.node_name = "fmt-" + d.target_dev;
  if (d.bus == DiskBus::kScsi) {
    // As at boot (DiskFrontend): LUN = unit on target 0 of the first controller.
    h.device = {{"driver", cd ? "scsi-cd" : "scsi-hd"},
                {"bus", "scsi0.0"},
                {"channel", 0},
                {"scsi-id", 0},
                {"lun", DiskUnit(d.target_dev)},
                {"id", h.device_id},
                {"drive", h.node_name}};
  } else if (d.bus == DiskBus::kUsb) {
    h.device = {
        {"driver", "usb-storage"}, {"bus", "usb.0"}, {"id", h.device_id}, {"drive", h.node_name}};
  } else {
    h.device = {{"driver", "virtio-blk-pci"}, {"id", h.device_id}, {"drive", h.node_name}};
    if (!pci_bus.empty()) h.device["bus"] = pci_bus;
  }
  if (!d.serial.empty()) h.device["serial"] = d.serial;
  if (d.shareable) h.device["share-rw"] = true;
  if (!c.empty() && c != "default" && !cd) {
    h.device["write-cache"] = c == "none" || c == "writeback" || c == "unsafe" ? "on" : "off";
  }
  h.blockdev = std::move(fmtnode);
  return h;
}

}  // namespace skiff::qemu
