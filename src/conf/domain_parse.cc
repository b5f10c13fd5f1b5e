// <domain> XML -> DomainDef. Reads only what Skiff supports; anything left
// unread is refused by XmlDoc::CheckAllUnderstood, so nothing is silently dropped.
#include <algorithm>

#include <pugixml.hpp>

#include "conf/enum_names.h"
#include "conf/xml_reader.h"
#include "skiff/base/size.h"
#include "skiff/conf/domain.h"
#include "skiff/conf/mac.h"

namespace skiff::conf {

namespace {

// Reads an enum attribute. Absent: `def` (or an error when def is nullopt).
// Unknown values are kUnsupported and list the supported ones.
template <typename E, size_t N>
Result<E> ReadEnum(const Elem& e, std::string_view attr,
                   const std::array<std::string_view, N>& names, std::optional<E> def,
                   std::string_view what) {
  auto v = e.Attr(attr);
  if (!v) {
    if (def) return *def;
    return e.Error("missing attribute '{}'", attr);
  }
  auto r = EnumFromName<E>(names, *v);
  if (!r) return e.Unsupported("unsupported {} '{}' (supported: {})", what, *v, EnumList(names));
  return *r;
}

Result<std::optional<unsigned>> ReadUnsigned(const Elem& e, std::string_view attr,
                                             uint64_t max = 0xffffffffu) {
  SKIFF_ASSIGN_OR_RETURN(auto v, e.UintAttr(attr));
  if (!v) return std::optional<unsigned>();
  if (*v > max) return e.Error("{} {} is out of range (maximum {})", attr, *v, max);
  return std::optional<unsigned>(static_cast<unsigned>(*v));
}

Result<unsigned> TextUnsigned(const Elem& e, std::string_view what) {
  std::string t = e.Text();
  auto v = ParseUint(t);
  if (!v.ok() || *v > 0xffffffffu) return e.Error("invalid {} '{}'", what, t);
  return static_cast<unsigned>(*v);
}

Result<DeviceAddress> ReadAddress(const Elem& parent) {
  DeviceAddress out;
  Elem a = parent.Child("address");
  if (!a) return out;
  a.MarkSubtree();
  for (pugi::xml_attribute at = a.node().first_attribute(); at; at = at.next_attribute()) {
    // An empty attribute says nothing, and the writer leaves it out: keeping it
    // would make the stored definition differ from what it reads back as
    // (found by domain_xml_fuzz).
    if (*at.value() == '\0') continue;
    out.emplace_back(at.name(), at.value());
  }
  if (out.empty() || out[0].first != "type") {
    return a.Error("address needs a type attribute first");
  }
  if (a.node().first_child()) return a.Unsupported("address with child elements is not supported");
  return out;
}

Result<std::optional<unsigned>> ReadBootOrder(const Elem& parent) {
  Elem b = parent.Child("boot");
  if (!b) return std::optional<unsigned>();
  SKIFF_ASSIGN_OR_RETURN(auto order, ReadUnsigned(b, "order", 65535));
  if (!order || *order == 0) return b.Error("boot order must be a positive integer");
  return order;
}

// ---- cpu ----

Result<CpuDef> ParseCpu(const Elem& e) {
  CpuDef cpu;
  SKIFF_ASSIGN_OR_RETURN(cpu.mode,
                         ReadEnum<CpuMode>(e, "mode", kCpuModeNames, CpuMode::kCustom, "cpu mode"));
  SKIFF_ASSIGN_OR_RETURN(cpu.match, e.EnumAttr("match", {"minimum", "exact", "strict"}));
  SKIFF_ASSIGN_OR_RETURN(cpu.check, e.EnumAttr("check", {"none", "partial", "full"}));
  SKIFF_ASSIGN_OR_RETURN(cpu.migratable, e.EnumAttr("migratable", {"on", "off"}));
  if (Elem m = e.Child("model")) {
    cpu.model = m.Text();
    SKIFF_ASSIGN_OR_RETURN(cpu.model_fallback, m.EnumAttr("fallback", {"allow", "forbid"}));
    if (cpu.model.empty() && cpu.mode == CpuMode::kCustom) return m.Error("empty cpu model");
  }
  if (auto v = e.ChildText("vendor")) cpu.vendor = *v;
  for (const Elem& f : e.Children("feature")) {
    CpuFeature feat;
    auto name = f.Attr("name");
    if (!name || name->empty()) return f.Error("cpu feature without a name");
    feat.name = *name;
    SKIFF_ASSIGN_OR_RETURN(std::string pol, f.EnumAttr("policy", {"force", "require", "optional",
                                                                  "disable", "forbid"}));
    if (!pol.empty()) feat.policy = pol;
    cpu.features.push_back(std::move(feat));
  }
  if (Elem t = e.Child("topology")) {
    CpuTopology topo;
    SKIFF_ASSIGN_OR_RETURN(auto s, ReadUnsigned(t, "sockets", 4096));
    SKIFF_ASSIGN_OR_RETURN(auto d, ReadUnsigned(t, "dies", 4096));
    SKIFF_ASSIGN_OR_RETURN(auto c, ReadUnsigned(t, "cores", 4096));
    SKIFF_ASSIGN_OR_RETURN(auto th, ReadUnsigned(t, "threads", 4096));
    if (!s || !c || !th) return t.Error("topology needs sockets, cores and threads");
    topo.sockets = *s;
    topo.dies = d.value_or(1);
    topo.cores = *c;
    topo.threads = *th;
    if (!topo.sockets || !topo.dies || !topo.cores || !topo.threads) {
      return t.Error("topology values must be positive");
    }
    cpu.topology = topo;
  }
  if (Elem c = e.Child("cache")) {
    SKIFF_ASSIGN_OR_RETURN(cpu.cache_mode,
                           c.EnumAttr("mode", {"emulate", "passthrough", "disable"}));
    if (cpu.cache_mode.empty()) return c.Error("cache needs a mode");
    SKIFF_ASSIGN_OR_RETURN(auto level, ReadUnsigned(c, "level", 3));
    // QEMU can only emulate an L3 cache; passthrough and disable concern all levels.
    if (cpu.cache_mode == "emulate" && level != 3u) {
      return c.Unsupported("cache mode 'emulate' needs level='3'");
    }
    if (cpu.cache_mode != "emulate" && level) {
      return c.Unsupported("cache mode '{}' with a level is not supported", cpu.cache_mode);
    }
  }
  if (Elem n = e.Child("numa")) {
    for (const Elem& c : n.Children("cell")) {
      NumaCell cell;
      SKIFF_ASSIGN_OR_RETURN(auto id, ReadUnsigned(c, "id", 255));
      cell.id = id.value_or(static_cast<unsigned>(cpu.numa.size()));
      cell.cpus = c.Attr("cpus").value_or("");
      auto mem = c.Attr("memory");
      if (!mem) return c.Error("numa cell without memory");
      auto memv = ParseUint(*mem);
      if (!memv.ok()) return c.Error("invalid memory '{}'", *mem);
      auto scaled = ScaleLibvirtUnit(*memv, c.Attr("unit").value_or(""), "KiB");
      if (!scaled.ok()) return c.Error("invalid memory '{}': {}", *mem, scaled.status().message());
      cell.memory_kib = *scaled / 1024 + (*scaled % 1024 ? 1 : 0);
      SKIFF_ASSIGN_OR_RETURN(cell.mem_access, c.EnumAttr("memAccess", {"shared", "private"}));
      cpu.numa.push_back(std::move(cell));
    }
    if (cpu.numa.empty()) return n.Error("numa without cells");
  }
  return cpu;
}

Result<CpuTune> ParseCpuTune(const Elem& e) {
  CpuTune t;
  auto num = [&](std::string_view name, std::optional<uint64_t>& out) -> Status {
    if (Elem c = e.Child(name)) {
      auto v = ParseUint(c.Text());
      if (!v.ok()) return c.Error("invalid {} '{}'", name, c.Text());
      out = *v;
    }
    return Status::Ok();
  };
  SKIFF_TRY(num("shares", t.shares));
  SKIFF_TRY(num("period", t.period));
  if (Elem q = e.Child("quota")) {
    // quota may be -1 (unlimited): keep it out of the unsigned model.
    std::string text = q.Text();
    if (text == "-1") {
      q.MarkSubtree();
    } else {
      auto v = ParseUint(text);
      if (!v.ok()) return q.Error("invalid quota '{}'", text);
      t.quota = *v;
    }
  }
  for (const Elem& p : e.Children("vcpupin")) {
    VcpuPin pin;
    SKIFF_ASSIGN_OR_RETURN(auto v, ReadUnsigned(p, "vcpu"));
    auto cs = p.Attr("cpuset");
    if (!v || !cs) return p.Error("vcpupin needs vcpu and cpuset");
    pin.vcpu = *v;
    pin.cpuset = *cs;
    t.vcpupins.push_back(std::move(pin));
  }
  if (Elem ep = e.Child("emulatorpin")) {
    auto cs = ep.Attr("cpuset");
    if (!cs) return ep.Error("emulatorpin needs cpuset");
    t.emulatorpin = *cs;
  }
  return t;
}

Result<NumaTune> ParseNumaTune(const Elem& e) {
  NumaTune n;
  if (Elem m = e.Child("memory")) {
    SKIFF_ASSIGN_OR_RETURN(
        n.mode, m.EnumAttr("mode", {"strict", "preferred", "interleave", "restrictive"}));
    SKIFF_ASSIGN_OR_RETURN(n.placement, m.EnumAttr("placement", {"static", "auto"}));
    n.nodeset = m.Attr("nodeset").value_or("");
    if (n.placement == "auto" && !n.nodeset.empty()) {
      return m.Error("nodeset '{}' cannot be used with placement 'auto'", n.nodeset);
    }
  }
  for (const Elem& mn : e.Children("memnode")) {
    NumaMemNode node;
    SKIFF_ASSIGN_OR_RETURN(auto id, ReadUnsigned(mn, "cellid", 255));
    if (!id) return mn.Error("memnode without cellid");
    node.cellid = *id;
    SKIFF_ASSIGN_OR_RETURN(
        node.mode, mn.EnumAttr("mode", {"strict", "preferred", "interleave", "restrictive"}));
    auto ns = mn.Attr("nodeset");
    if (!ns) return mn.Error("memnode without nodeset");
    node.nodeset = *ns;
    n.memnodes.push_back(std::move(node));
  }
  return n;
}

// ---- os, features, clock ----

Result<OsDef> ParseOs(const Elem& e) {
  OsDef os;
  SKIFF_ASSIGN_OR_RETURN(os.firmware, e.EnumAttr("firmware", {"efi", "bios"}));
  Elem t = e.Child("type");
  if (!t) return e.Error("missing <type>");
  os.type = t.Text();
  if (os.type != "hvm") return t.Unsupported("unsupported os type '{}' (supported: hvm)", os.type);
  os.arch = t.Attr("arch").value_or("");
  os.machine = t.Attr("machine").value_or("");
  if (Elem l = e.Child("loader")) {
    LoaderDef ld;
    ld.path = l.Text();
    SKIFF_ASSIGN_OR_RETURN(ld.type, l.EnumAttr("type", {"rom", "pflash"}));
    SKIFF_ASSIGN_OR_RETURN(ld.readonly, l.EnumAttr("readonly", {"yes", "no"}));
    SKIFF_ASSIGN_OR_RETURN(ld.secure, l.EnumAttr("secure", {"yes", "no"}));
    if (ld.path.empty()) return l.Error("loader without a path");
    os.loader = std::move(ld);
  }
  if (auto v = e.ChildText("nvram")) os.nvram = *v;
  if (auto v = e.ChildText("kernel")) os.kernel = *v;
  if (auto v = e.ChildText("initrd")) os.initrd = *v;
  if (auto v = e.ChildText("cmdline")) os.cmdline = *v;
  for (const Elem& b : e.Children("boot")) {
    SKIFF_ASSIGN_OR_RETURN(BootDevice d, ReadEnum<BootDevice>(b, "dev", kBootDeviceNames,
                                                              std::nullopt, "boot device"));
    os.boot.push_back(d);
  }
  if (Elem m = e.Child("bootmenu")) {
    SKIFF_ASSIGN_OR_RETURN(os.bootmenu, m.YesNoAttr("enable"));
    if (!os.bootmenu) return m.Error("bootmenu needs enable='yes|no'");
    SKIFF_ASSIGN_OR_RETURN(os.bootmenu_timeout_ms, ReadUnsigned(m, "timeout", 65535));
  }
  if (Elem sm = e.Child("smbios")) {
    SKIFF_ASSIGN_OR_RETURN(os.smbios_mode, sm.EnumAttr("mode", {"emulate", "host", "sysinfo"}));
    if (os.smbios_mode.empty()) return sm.Error("smbios needs mode='emulate|host|sysinfo'");
  }
  if (Elem b = e.Child("bios")) {
    if (auto rt = b.Attr("rebootTimeout")) {
      int v = 0;
      if (*rt == "-1") {
        v = -1;
      } else {
        auto u = ParseUint(*rt);
        if (!u.ok() || *u > 65535) return b.Error("invalid rebootTimeout '{}'", *rt);
        v = static_cast<int>(*u);
      }
      os.reboot_timeout_ms = v;
    }
  }
  return os;
}

// The enlightenments QEMU 7.2 has a property for (hv-NAME), as libvirt names them.
constexpr std::array<std::string_view, 15> kHypervFlags = {
    "relaxed",         "vapic",    "spinlocks", "vpindex",   "runtime",
    "synic",           "stimer",   "reset",     "vendor_id", "frequencies",
    "reenlightenment", "tlbflush", "ipi",       "evmcs",     "avic"};

Result<HypervFeatures> ParseHyperv(const Elem& e) {
  HypervFeatures h;
  SKIFF_ASSIGN_OR_RETURN(h.mode, e.EnumAttr("mode", {"custom", "passthrough"}));
  for (pugi::xml_node n = e.node().first_child(); n; n = n.next_sibling()) {
    if (n.type() != pugi::node_element) continue;
    std::string_view name = n.name();
    Elem x = e.Child(name);  // the first of its name; a repeated one is refused below
    if (std::find(kHypervFlags.begin(), kHypervFlags.end(), name) == kHypervFlags.end()) {
      return x.Unsupported("unsupported hyperv feature <{}> (supported: {})", name,
                           EnumList(kHypervFlags));
    }
    if (std::any_of(h.flags.begin(), h.flags.end(),
                    [&](const HypervFlag& f) { return f.name == name; })) {
      return x.Error("hyperv feature <{}> given twice", name);
    }
    HypervFlag f;
    f.name = std::string(name);
    SKIFF_ASSIGN_OR_RETURN(auto state, x.OnOffAttr("state"));
    if (!state) return x.Error("hyperv feature <{}> needs state='on|off'", name);
    f.on = *state;
    if (name == "spinlocks") {
      SKIFF_ASSIGN_OR_RETURN(f.retries, ReadUnsigned(x, "retries"));
      if (f.on && (!f.retries || *f.retries < 4095)) {
        return x.Error("hyperv spinlocks need retries='N' of at least 4095");
      }
    } else if (name == "vendor_id") {
      f.value = x.Attr("value").value_or("");
      if (f.on && (f.value.empty() || f.value.size() > 12)) {
        return x.Error("hyperv vendor_id needs a value of 1 to 12 characters");
      }
    } else if (name == "stimer") {
      if (Elem d = x.Child("direct")) {
        return d.Unsupported("hyperv stimer <direct> is not supported");
      }
    }
    h.flags.push_back(std::move(f));
  }
  return h;
}

Result<Features> ParseFeatures(const Elem& e) {
  Features f;
  f.acpi = static_cast<bool>(e.Child("acpi"));
  if (Elem a = e.Child("apic")) {
    f.apic = true;
    SKIFF_ASSIGN_OR_RETURN(f.apic_eoi, a.OnOffAttr("eoi"));
  }
  f.pae = static_cast<bool>(e.Child("pae"));
  if (Elem v = e.Child("vmport")) {
    SKIFF_ASSIGN_OR_RETURN(f.vmport, v.OnOffAttr("state"));
    if (!f.vmport) return v.Error("vmport needs state='on|off'");
  }
  if (Elem p = e.Child("pmu")) {
    SKIFF_ASSIGN_OR_RETURN(f.pmu, p.OnOffAttr("state"));
    if (!f.pmu) return p.Error("pmu needs state='on|off'");
  }
  if (Elem h = e.Child("hyperv")) {
    SKIFF_ASSIGN_OR_RETURN(f.hyperv, ParseHyperv(h));
  }
  return f;
}

Result<ClockDef> ParseClock(const Elem& e) {
  ClockDef c;
  SKIFF_ASSIGN_OR_RETURN(std::string off,
                         e.EnumAttr("offset", {"utc", "localtime", "variable", "timezone"}));
  if (!off.empty()) c.offset = off;
  SKIFF_ASSIGN_OR_RETURN(c.basis, e.EnumAttr("basis", {"utc", "localtime"}));
  if (auto adj = e.Attr("adjustment")) {
    std::string_view s = *adj;
    bool neg = !s.empty() && s[0] == '-';
    if (neg || (!s.empty() && s[0] == '+')) s.remove_prefix(1);
    auto v = ParseUint(s);
    if (!v.ok() || *v > (1ull << 62)) return e.Error("invalid adjustment '{}'", *adj);
    c.adjustment = neg ? -static_cast<int64_t>(*v) : static_cast<int64_t>(*v);
  }
  c.timezone = e.Attr("timezone").value_or("");
  if (c.offset == "timezone") {
    return e.Unsupported(
        "clock offset 'timezone' is not supported (use utc, localtime or variable)");
  }
  for (const Elem& t : e.Children("timer")) {
    ClockTimer timer;
    SKIFF_ASSIGN_OR_RETURN(
        timer.name, t.EnumAttr("name", {"rtc", "pit", "hpet", "kvmclock", "tsc", "hypervclock"}));
    if (timer.name.empty()) return t.Error("timer without a name");
    SKIFF_ASSIGN_OR_RETURN(timer.tickpolicy,
                           t.EnumAttr("tickpolicy", {"delay", "catchup", "merge", "discard"}));
    SKIFF_ASSIGN_OR_RETURN(timer.present, t.YesNoAttr("present"));
    c.timers.push_back(std::move(timer));
  }
  return c;
}

// ---- devices ----

DiskBus DefaultBusFor(std::string_view dev) {
  if (dev.rfind("hd", 0) == 0) return DiskBus::kIde;
  if (dev.rfind("sd", 0) == 0) return DiskBus::kScsi;
  return DiskBus::kVirtio;
}

Result<std::vector<BackingStore>> ParseBackingChain(const Elem& disk) {
  std::vector<BackingStore> chain;
  Elem cur = disk.Child("backingStore");
  while (cur) {
    cur.Attr("index");  // run-time numbering, regenerated by the formatter
    if (!cur.node().first_child() && !cur.node().first_attribute()) break;  // explicit end
    BackingStore b;
    SKIFF_ASSIGN_OR_RETURN(b.type, ReadEnum<DiskType>(cur, "type", kDiskTypeNames, DiskType::kFile,
                                                      "backing store type"));
    if (b.type == DiskType::kVolume) return cur.Unsupported("backing store of type 'volume'");
    if (Elem f = cur.Child("format")) b.format = f.Attr("type").value_or("");
    Elem src = cur.Child("source");
    if (!src) return cur.Error("backing store without <source>");
    b.path = src.Attr(b.type == DiskType::kBlock ? "dev" : "file").value_or("");
    if (b.path.empty()) return src.Error("backing store without a path");
    chain.push_back(std::move(b));
    cur = cur.Child("backingStore");
  }
  return chain;
}

Result<DiskDef> ParseDisk(const Elem& e) {
  DiskDef d;
  SKIFF_ASSIGN_OR_RETURN(
      d.type, ReadEnum<DiskType>(e, "type", kDiskTypeNames, DiskType::kFile, "disk type"));
  SKIFF_ASSIGN_OR_RETURN(d.device, ReadEnum<DiskDevice>(e, "device", kDiskDeviceNames,
                                                        DiskDevice::kDisk, "disk device"));
  if (Elem drv = e.Child("driver")) {
    SKIFF_ASSIGN_OR_RETURN(d.driver.name, drv.EnumAttr("name", {"qemu"}));
    SKIFF_ASSIGN_OR_RETURN(d.driver.type, drv.EnumAttr("type", {"raw", "qcow2"}));
    SKIFF_ASSIGN_OR_RETURN(d.driver.cache,
                           drv.EnumAttr("cache", {"default", "none", "writethrough", "writeback",
                                                  "directsync", "unsafe"}));
    SKIFF_ASSIGN_OR_RETURN(d.driver.io, drv.EnumAttr("io", {"threads", "native", "io_uring"}));
    SKIFF_ASSIGN_OR_RETURN(d.driver.discard, drv.EnumAttr("discard", {"ignore", "unmap"}));
  }
  if (Elem src = e.Child("source")) {
    switch (d.type) {
      case DiskType::kFile:
        d.source_path = src.Attr("file").value_or("");
        break;
      case DiskType::kBlock:
        d.source_path = src.Attr("dev").value_or("");
        break;
      case DiskType::kVolume:
        d.source_pool = src.Attr("pool").value_or("");
        d.source_volume = src.Attr("volume").value_or("");
        if (d.source_pool.empty() || d.source_volume.empty()) {
          return src.Error("a volume disk needs pool and volume");
        }
        break;
    }
    src.Attr("index");  // run-time numbering
  }
  SKIFF_ASSIGN_OR_RETURN(d.backing_chain, ParseBackingChain(e));
  Elem tgt = e.Child("target");
  if (!tgt) return e.Error("disk without <target>");
  d.target_dev = tgt.Attr("dev").value_or("");
  if (d.target_dev.empty()) return tgt.Error("disk target without dev");
  SKIFF_ASSIGN_OR_RETURN(
      d.bus, ReadEnum<DiskBus>(tgt, "bus", kDiskBusNames, DefaultBusFor(d.target_dev), "disk bus"));
  SKIFF_ASSIGN_OR_RETURN(d.tray, tgt.EnumAttr("tray", {"open", "closed"}));
  d.readonly = static_cast<bool>(e.Child("readonly"));
  d.shareable = static_cast<bool>(e.Child("shareable"));
  if (auto s = e.ChildText("serial")) d.serial = *s;
  SKIFF_ASSIGN_OR_RETURN(d.boot_order, ReadBootOrder(e));
  SKIFF_ASSIGN_OR_RETURN(d.address, ReadAddress(e));
  if (Elem a = e.Child("alias")) a.MarkSubtree();  // run-time name
  return d;
}

// A controller without index= until AssignControllerIndexes gives it one.
constexpr unsigned kUnassignedIndex = ~0u;

// libvirt's virDomainAssignControllerIndexes: a controller without index= takes
// the lowest index its type does not use, in document order; a USB2 companion
// (ich9-uhciN after an ich9-ehci1) joins the index of the USB2 controller just
// before it unless that index already has one of its model.
void AssignControllerIndexes(std::vector<ControllerDef>& ctrls) {
  for (size_t i = 0; i < ctrls.size(); ++i) {
    ControllerDef& c = ctrls[i];
    if (c.index != kUnassignedIndex) continue;
    if (c.IsIch9Usb2()) {
      const ControllerDef* prev = nullptr;
      for (size_t j = i; j-- > 0;) {
        if (ctrls[j].type == "usb") {
          prev = &ctrls[j];
          break;
        }
      }
      if (prev && prev->IsIch9Usb2()) {
        const bool taken = std::any_of(ctrls.begin(), ctrls.end(), [&](const ControllerDef& o) {
          return o.type == "usb" && o.index == prev->index && o.model == c.model;
        });
        if (!taken) {
          c.index = prev->index;
          continue;
        }
      }
    }
    unsigned next = 0;
    while (std::any_of(ctrls.begin(), ctrls.end(), [&](const ControllerDef& o) {
      return o.type == c.type && o.index == next;
    })) {
      ++next;
    }
    c.index = next;
  }
}

Result<ControllerDef> ParseController(const Elem& e) {
  ControllerDef c;
  SKIFF_ASSIGN_OR_RETURN(
      c.type, e.EnumAttr("type", {"pci", "usb", "ide", "sata", "scsi", "virtio-serial"}));
  if (c.type.empty()) return e.Error("controller without a type");
  SKIFF_ASSIGN_OR_RETURN(auto idx, ReadUnsigned(e, "index", 255));
  c.index = idx.value_or(kUnassignedIndex);
  std::vector<std::string_view> models;
  if (c.type == "pci") {
    models = {"pci-root",       "pcie-root",         "pci-bridge",
              "pcie-root-port", "dmi-to-pci-bridge", "pcie-to-pci-bridge"};
  } else if (c.type == "usb") {
    models = {"piix3-uhci", "piix4-uhci", "ehci",      "ich9-ehci1", "ich9-uhci1",
              "ich9-uhci2", "ich9-uhci3", "qemu-xhci", "nec-xhci",   "none"};
  } else if (c.type == "scsi") {
    models = {"virtio-scsi"};
  } else if (c.type == "ide") {
    models = {"piix3", "piix4", "ich6"};
  }
  if (e.Attr("model")) {
    if (models.empty()) return e.Unsupported("controller '{}' takes no model", c.type);
    SKIFF_ASSIGN_OR_RETURN(c.model, e.EnumAttr("model", models));
  } else if (c.type == "pci" && c.index == 0) {
    return e.Error("pci controller 0 needs a model (pci-root or pcie-root)");
  } else if (c.type == "pci" && !idx) {
    return e.Error("pci controller needs a model");
  } else if (c.type == "pci") {
    return e.Error("pci controller {} needs a model", c.index);
  }
  // The root bus is index 0 whether or not the document says so (libvirt).
  if (!idx && (c.model == "pci-root" || c.model == "pcie-root")) c.index = 0;
  SKIFF_ASSIGN_OR_RETURN(c.ports, ReadUnsigned(e, "ports", 255));
  if (Elem m = e.Child("model")) c.model_name = m.Attr("name").value_or("");
  if (Elem m = e.Child("master")) {
    if (!c.IsIch9Usb2() || c.model == "ich9-ehci1") {
      return m.Error("<master> is only for ich9-uhci companion controllers");
    }
    SKIFF_ASSIGN_OR_RETURN(c.master_startport, ReadUnsigned(m, "startport", 14));
    if (!c.master_startport) return m.Error("master needs startport");
  }
  if (Elem t = e.Child("target")) {
    SKIFF_ASSIGN_OR_RETURN(c.chassis, ReadUnsigned(t, "chassis", 255));
    SKIFF_ASSIGN_OR_RETURN(c.port, ReadUnsigned(t, "port", 255));
  }
  SKIFF_ASSIGN_OR_RETURN(c.address, ReadAddress(e));
  if (Elem a = e.Child("alias")) a.MarkSubtree();
  return c;
}

Result<InterfaceDef> ParseInterface(const Elem& e) {
  InterfaceDef n;
  SKIFF_ASSIGN_OR_RETURN(n.type, ReadEnum<InterfaceType>(e, "type", kInterfaceTypeNames,
                                                         std::nullopt, "interface type"));
  if (Elem src = e.Child("source")) {
    if (n.type == InterfaceType::kNetwork) n.source = src.Attr("network").value_or("");
    if (n.type == InterfaceType::kBridge) n.source = src.Attr("bridge").value_or("");
  }
  if (n.type != InterfaceType::kUser && n.source.empty()) {
    return e.Error("interface of type '{}' needs <source {}=.../>", ToString(n.type),
                   n.type == InterfaceType::kNetwork ? "network" : "bridge");
  }
  if (Elem m = e.Child("mac")) {
    auto addr = m.Attr("address");
    if (!addr) return m.Error("mac without address");
    auto mac = ParseMac(*addr);
    if (!mac.ok()) return m.Error(mac.status().message());
    n.mac = *mac;
  } else {
    n.mac = GenerateMac();
  }
  if (Elem m = e.Child("model")) {
    SKIFF_ASSIGN_OR_RETURN(
        n.model, ReadEnum<NicModel>(m, "type", kNicModelNames, std::nullopt, "interface model"));
  }
  if (Elem t = e.Child("target")) {
    n.target_dev = t.Attr("dev").value_or("");
    if (n.target_dev.size() > 15) return t.Error("interface name '{}' is too long", n.target_dev);
  }
  SKIFF_ASSIGN_OR_RETURN(n.boot_order, ReadBootOrder(e));
  SKIFF_ASSIGN_OR_RETURN(n.address, ReadAddress(e));
  if (Elem a = e.Child("alias")) a.MarkSubtree();
  return n;
}

enum class CharKind { kSerial, kConsole, kChannel };

Result<CharDevDef> ParseCharDev(const Elem& e, CharKind kind) {
  CharDevDef c;
  SKIFF_ASSIGN_OR_RETURN(c.type,
                         ReadEnum<CharSourceType>(e, "type", kCharSourceNames, CharSourceType::kPty,
                                                  "character device type"));
  e.Attr("tty");  // run-time pty name
  if (Elem src = e.Child("source")) {
    c.path = src.Attr("path").value_or("");
    if (c.type == CharSourceType::kUnix) {
      SKIFF_ASSIGN_OR_RETURN(c.mode, src.EnumAttr("mode", {"bind", "connect"}));
    }
    if (c.type == CharSourceType::kFile) {
      SKIFF_ASSIGN_OR_RETURN(c.append, src.EnumAttr("append", {"on", "off"}));
    }
  }
  bool auto_path =
      kind == CharKind::kChannel && c.type == CharSourceType::kUnix && c.mode != "connect";
  if ((c.type == CharSourceType::kUnix || c.type == CharSourceType::kFile) && c.path.empty() &&
      !auto_path) {
    return e.Error("{} character device needs <source path=.../>", ToString(c.type));
  }
  if (Elem t = e.Child("target")) {
    switch (kind) {
      case CharKind::kSerial: {
        SKIFF_ASSIGN_OR_RETURN(c.target_type, t.EnumAttr("type", {"isa-serial", "pci-serial"}));
        if (Elem m = t.Child("model")) {
          SKIFF_ASSIGN_OR_RETURN(c.target_model, m.EnumAttr("name", {"isa-serial", "pci-serial"}));
        }
        break;
      }
      case CharKind::kConsole: {
        SKIFF_ASSIGN_OR_RETURN(c.target_type, t.EnumAttr("type", {"serial", "virtio"}));
        break;
      }
      case CharKind::kChannel: {
        SKIFF_ASSIGN_OR_RETURN(c.target_type, t.EnumAttr("type", {"virtio"}));
        if (c.target_type.empty()) return t.Error("channel target needs type='virtio'");
        c.target_name = t.Attr("name").value_or("");
        // libvirt's name for the SPICE agent's port.
        if (c.type == CharSourceType::kSpicevmc && c.target_name.empty()) {
          c.target_name = "com.redhat.spice.0";
        }
        t.Attr("state");  // run-time agent state
        break;
      }
    }
    SKIFF_ASSIGN_OR_RETURN(c.target_port, ReadUnsigned(t, "port", 255));
  } else if (kind == CharKind::kChannel) {
    return e.Error("channel without <target>");
  }
  if (c.type == CharSourceType::kSpicevmc && kind != CharKind::kChannel) {
    return e.Unsupported("a spicevmc character device is only supported as a <channel>");
  }
  if (Elem a = e.Child("alias")) a.MarkSubtree();
  SKIFF_ASSIGN_OR_RETURN(c.address, ReadAddress(e));
  return c;
}

Result<GraphicsDef> ParseGraphics(const Elem& e) {
  GraphicsDef g;
  SKIFF_ASSIGN_OR_RETURN(
      g.type, ReadEnum<GraphicsType>(e, "type", kGraphicsTypeNames, std::nullopt, "graphics type"));
  auto port_attr = [&](std::string_view name, int& out) -> Status {
    if (auto p = e.Attr(name)) {
      if (*p == "-1") {
        out = -1;
        return Status::Ok();
      }
      auto v = ParseUint(*p);
      if (!v.ok() || *v > 65535) return e.Error("invalid {} '{}'", name, *p);
      out = static_cast<int>(*v);
    }
    return Status::Ok();
  };
  SKIFF_TRY(port_attr("port", g.port));
  SKIFF_ASSIGN_OR_RETURN(auto autoport, e.YesNoAttr("autoport"));
  g.autoport = autoport.value_or(g.port == -1);
  if (g.autoport) g.port = -1;
  if (g.type == GraphicsType::kSpice) SKIFF_TRY(port_attr("tlsPort", g.tls_port));
  g.listen = e.Attr("listen").value_or("");
  for (const Elem& l : e.Children("listen")) {
    SKIFF_ASSIGN_OR_RETURN(std::string lt, l.EnumAttr("type", {"address"}));
    if (lt.empty()) return l.Error("listen needs type='address'");
    std::string addr = l.Attr("address").value_or("");
    if (!g.listen.empty() && !addr.empty() && addr != g.listen) {
      return l.Error("listen address '{}' differs from listen attribute '{}'", addr, g.listen);
    }
    if (!addr.empty()) g.listen = addr;
  }
  g.passwd = e.Attr("passwd").value_or("");
  g.keymap = e.Attr("keymap").value_or("");
  if (Elem im = e.Child("image")) {
    if (g.type != GraphicsType::kSpice) return im.Unsupported("<image> is only for spice graphics");
    SKIFF_ASSIGN_OR_RETURN(
        g.image_compression,
        im.EnumAttr("compression", {"auto_glz", "auto_lz", "quic", "glz", "lz", "off"}));
  }
  return g;
}

Result<VideoDef> ParseVideo(const Elem& e) {
  VideoDef v;
  Elem m = e.Child("model");
  if (!m) return e.Error("video without <model>");
  SKIFF_ASSIGN_OR_RETURN(
      v.model, ReadEnum<VideoModel>(m, "type", kVideoModelNames, std::nullopt, "video model"));
  SKIFF_ASSIGN_OR_RETURN(v.vram_kib, m.UintAttr("vram"));
  SKIFF_ASSIGN_OR_RETURN(v.ram_kib, m.UintAttr("ram"));
  SKIFF_ASSIGN_OR_RETURN(v.vgamem_kib, m.UintAttr("vgamem"));
  SKIFF_ASSIGN_OR_RETURN(v.heads, ReadUnsigned(m, "heads", 16));
  SKIFF_ASSIGN_OR_RETURN(auto primary, m.YesNoAttr("primary"));
  v.primary = primary.value_or(false);
  SKIFF_ASSIGN_OR_RETURN(v.address, ReadAddress(e));
  if (Elem a = e.Child("alias")) a.MarkSubtree();
  return v;
}

Result<InputDef> ParseInput(const Elem& e) {
  InputDef in;
  SKIFF_ASSIGN_OR_RETURN(
      in.type, ReadEnum<InputType>(e, "type", kInputTypeNames, std::nullopt, "input type"));
  InputBus def = in.type == InputType::kTablet ? InputBus::kUsb : InputBus::kPs2;
  SKIFF_ASSIGN_OR_RETURN(in.bus, ReadEnum<InputBus>(e, "bus", kInputBusNames, def, "input bus"));
  SKIFF_ASSIGN_OR_RETURN(in.address, ReadAddress(e));
  if (Elem a = e.Child("alias")) a.MarkSubtree();
  return in;
}

Result<RngDef> ParseRng(const Elem& e) {
  RngDef r;
  SKIFF_ASSIGN_OR_RETURN(std::string model, e.EnumAttr("model", {"virtio"}));
  if (model.empty()) return e.Error("rng needs model='virtio'");
  if (Elem rate = e.Child("rate")) {
    SKIFF_ASSIGN_OR_RETURN(r.rate_bytes, rate.UintAttr("bytes"));
    SKIFF_ASSIGN_OR_RETURN(r.rate_period_ms, rate.UintAttr("period"));
    if (!r.rate_bytes) return rate.Error("rate needs bytes");
  }
  Elem b = e.Child("backend");
  if (!b) return e.Error("rng without <backend>");
  SKIFF_ASSIGN_OR_RETURN(r.backend, b.EnumAttr("model", {"random", "builtin"}));
  if (r.backend.empty()) return b.Error("rng backend needs a model");
  r.source = r.backend == "random" ? b.Text() : "";
  if (r.backend == "random" && r.source.empty()) r.source = "/dev/urandom";
  SKIFF_ASSIGN_OR_RETURN(r.address, ReadAddress(e));
  if (Elem a = e.Child("alias")) a.MarkSubtree();
  return r;
}

Result<MemballoonDef> ParseMemballoon(const Elem& e) {
  MemballoonDef m;
  SKIFF_ASSIGN_OR_RETURN(m.model, e.EnumAttr("model", {"virtio", "none"}));
  if (m.model.empty()) return e.Error("memballoon needs a model");
  SKIFF_ASSIGN_OR_RETURN(m.autodeflate, e.OnOffAttr("autodeflate"));
  if (Elem s = e.Child("stats")) {
    SKIFF_ASSIGN_OR_RETURN(m.stats_period_s, ReadUnsigned(s, "period"));
  }
  SKIFF_ASSIGN_OR_RETURN(m.address, ReadAddress(e));
  if (Elem a = e.Child("alias")) a.MarkSubtree();
  return m;
}

Result<WatchdogDef> ParseWatchdog(const Elem& e) {
  WatchdogDef w;
  SKIFF_ASSIGN_OR_RETURN(w.model, ReadEnum<WatchdogModel>(e, "model", kWatchdogModelNames,
                                                          std::nullopt, "watchdog model"));
  SKIFF_ASSIGN_OR_RETURN(std::string action,
                         e.EnumAttr("action", {"reset", "shutdown", "poweroff", "pause", "none",
                                               "dump", "inject-nmi"}));
  if (!action.empty()) w.action = action;
  SKIFF_ASSIGN_OR_RETURN(w.address, ReadAddress(e));
  if (Elem a = e.Child("alias")) a.MarkSubtree();
  return w;
}

Result<PanicDef> ParsePanic(const Elem& e) {
  PanicDef p;
  // Every model libvirt knows parses; ValidateDomain refuses those QEMU cannot do here.
  SKIFF_ASSIGN_OR_RETURN(std::string model,
                         e.EnumAttr("model", {"isa", "pvpanic", "hyperv", "pseries", "s390"}));
  if (!model.empty()) p.model = model;  // x86 default, as libvirt's
  SKIFF_ASSIGN_OR_RETURN(p.address, ReadAddress(e));
  if (Elem a = e.Child("alias")) a.MarkSubtree();
  return p;
}

Result<FilesystemDef> ParseFilesystem(const Elem& e) {
  FilesystemDef f;
  SKIFF_ASSIGN_OR_RETURN(std::string type, e.EnumAttr("type", {"mount"}));
  SKIFF_ASSIGN_OR_RETURN(f.accessmode,
                         e.EnumAttr("accessmode", {"passthrough", "mapped", "squash"}));
  if (Elem dr = e.Child("driver")) {
    SKIFF_ASSIGN_OR_RETURN(f.driver, dr.EnumAttr("type", {"path", "virtiofs"}));
    dr.Attr("queue");  // virtiofs queue size: QEMU's default is kept
  }
  if (f.driver == "virtiofs" && !f.accessmode.empty() && f.accessmode != "passthrough") {
    return e.Error("virtiofs supports only accessmode='passthrough'");
  }
  Elem src = e.Child("source");
  if (!src) return e.Error("filesystem without <source dir=.../>");
  f.source_dir = src.Attr("dir").value_or("");
  if (f.source_dir.empty() || f.source_dir[0] != '/') {
    return src.Error("filesystem source dir '{}' must be an absolute path", f.source_dir);
  }
  Elem tgt = e.Child("target");
  if (!tgt) return e.Error("filesystem without <target dir=.../>");
  f.target_dir = tgt.Attr("dir").value_or("");
  if (f.target_dir.empty() || f.target_dir.size() > 36 ||
      f.target_dir.find_first_of(",=\n") != std::string::npos) {
    return tgt.Error("filesystem target dir '{}' must be a mount tag of 1 to 36 characters",
                     f.target_dir);
  }
  f.readonly = static_cast<bool>(e.Child("readonly"));
  if (f.readonly && f.driver == "virtiofs") {
    return e.Unsupported("a read-only virtiofs filesystem is not supported");
  }
  SKIFF_ASSIGN_OR_RETURN(f.address, ReadAddress(e));
  if (Elem a = e.Child("alias")) a.MarkSubtree();
  return f;
}

Result<TpmDef> ParseTpm(const Elem& e) {
  TpmDef t;
  SKIFF_ASSIGN_OR_RETURN(std::string model, e.EnumAttr("model", {"tpm-tis", "tpm-crb"}));
  if (!model.empty()) t.model = model;
  Elem b = e.Child("backend");
  if (!b) return e.Error("tpm without <backend>");
  SKIFF_ASSIGN_OR_RETURN(t.backend, b.EnumAttr("type", {"emulator", "passthrough"}));
  if (t.backend.empty()) return b.Error("tpm backend needs type='emulator|passthrough'");
  if (t.backend == "emulator") {
    SKIFF_ASSIGN_OR_RETURN(t.version, b.EnumAttr("version", {"1.2", "2.0"}));
    if (t.version == "1.2" && t.model == "tpm-crb") {
      return b.Error("a tpm-crb TPM needs version 2.0");
    }
  } else {
    Elem dev = b.Child("device");
    t.device_path = dev ? dev.Attr("path").value_or("") : "";
    if (t.device_path.empty()) return b.Error("tpm passthrough needs <device path=.../>");
  }
  SKIFF_ASSIGN_OR_RETURN(t.address, ReadAddress(e));
  if (Elem a = e.Child("alias")) a.MarkSubtree();
  return t;
}

Result<SysinfoDef> ParseSysinfo(const Elem& e) {
  SKIFF_ASSIGN_OR_RETURN(std::string type, e.EnumAttr("type", {"smbios"}));
  if (type.empty()) return e.Error("sysinfo needs type='smbios'");
  SysinfoDef s;
  struct Block {
    const char* elem;
    std::vector<std::string_view> names;
    SysinfoDef::Entries* out;
  };
  const Block blocks[] = {
      {"bios", {"vendor", "version", "date", "release"}, &s.bios},
      {"system",
       {"manufacturer", "product", "version", "serial", "uuid", "sku", "family"},
       &s.system},
      {"baseBoard",
       {"manufacturer", "product", "version", "serial", "asset", "location"},
       &s.base_board},
      {"chassis", {"manufacturer", "version", "serial", "asset", "sku"}, &s.chassis},
  };
  for (const Block& b : blocks) {
    Elem x = e.Child(b.elem);
    if (!x) continue;
    for (const Elem& en : x.Children("entry")) {
      SKIFF_ASSIGN_OR_RETURN(std::string name, en.EnumAttr("name", b.names));
      if (name.empty()) return en.Error("sysinfo entry needs a name");
      std::string value = en.Text();
      b.out->emplace_back(std::move(name), std::move(value));
    }
  }
  if (Elem o = e.Child("oemStrings")) {
    for (const Elem& en : o.Children("entry")) s.oem_strings.push_back(en.Text());
  }
  return s;
}

Status ParseDevices(const Elem& e, DevicesDef& d) {
  if (auto em = e.ChildText("emulator")) d.emulator = *em;
  for (const Elem& x : e.Children("disk")) {
    SKIFF_ASSIGN_OR_RETURN(auto v, ParseDisk(x));
    d.disks.push_back(std::move(v));
  }
  for (const Elem& x : e.Children("controller")) {
    SKIFF_ASSIGN_OR_RETURN(auto v, ParseController(x));
    d.controllers.push_back(std::move(v));
  }
  AssignControllerIndexes(d.controllers);
  for (const Elem& x : e.Children("interface")) {
    SKIFF_ASSIGN_OR_RETURN(auto v, ParseInterface(x));
    d.interfaces.push_back(std::move(v));
  }
  for (const Elem& x : e.Children("serial")) {
    SKIFF_ASSIGN_OR_RETURN(auto v, ParseCharDev(x, CharKind::kSerial));
    d.serials.push_back(std::move(v));
  }
  for (const Elem& x : e.Children("console")) {
    SKIFF_ASSIGN_OR_RETURN(auto v, ParseCharDev(x, CharKind::kConsole));
    d.consoles.push_back(std::move(v));
  }
  for (const Elem& x : e.Children("channel")) {
    SKIFF_ASSIGN_OR_RETURN(auto v, ParseCharDev(x, CharKind::kChannel));
    d.channels.push_back(std::move(v));
  }
  for (const Elem& x : e.Children("graphics")) {
    SKIFF_ASSIGN_OR_RETURN(auto v, ParseGraphics(x));
    d.graphics.push_back(std::move(v));
  }
  for (const Elem& x : e.Children("video")) {
    SKIFF_ASSIGN_OR_RETURN(auto v, ParseVideo(x));
    d.videos.push_back(std::move(v));
  }
  for (const Elem& x : e.Children("input")) {
    SKIFF_ASSIGN_OR_RETURN(auto v, ParseInput(x));
    d.inputs.push_back(std::move(v));
  }
  for (const Elem& x : e.Children("rng")) {
    SKIFF_ASSIGN_OR_RETURN(auto v, ParseRng(x));
    d.rngs.push_back(std::move(v));
  }
  if (Elem x = e.Child("memballoon")) {
    SKIFF_ASSIGN_OR_RETURN(auto v, ParseMemballoon(x));
    d.memballoon = std::move(v);
  }
  for (const Elem& x : e.Children("audio")) {
    AudioDef a;
    SKIFF_ASSIGN_OR_RETURN(auto id, ReadUnsigned(x, "id", 255));
    if (!id || *id == 0) return x.Error("audio needs a positive id");
    a.id = *id;
    SKIFF_ASSIGN_OR_RETURN(a.type, x.EnumAttr("type", {"none", "spice"}));
    if (a.type.empty()) return x.Error("audio needs a type");
    d.audios.push_back(a);
  }
  for (const Elem& x : e.Children("watchdog")) {
    SKIFF_ASSIGN_OR_RETURN(auto v, ParseWatchdog(x));
    d.watchdogs.push_back(std::move(v));
  }
  for (const Elem& x : e.Children("panic")) {
    SKIFF_ASSIGN_OR_RETURN(auto v, ParsePanic(x));
    d.panics.push_back(std::move(v));
  }
  for (const Elem& x : e.Children("sound")) {
    SoundDef v;
    SKIFF_ASSIGN_OR_RETURN(v.model, x.EnumAttr("model", {"ich6", "ich9", "ac97", "es1370", "usb"}));
    if (v.model.empty()) return x.Error("sound needs a model");
    if (Elem a = x.Child("audio")) {
      SKIFF_ASSIGN_OR_RETURN(v.audio_id, ReadUnsigned(a, "id", 255));
      if (!v.audio_id) return a.Error("sound <audio> needs an id");
    }
    if (Elem c = x.Child("codec")) {
      return c.Unsupported("sound <codec> is not supported (the card's default duplex codec is)");
    }
    SKIFF_ASSIGN_OR_RETURN(v.address, ReadAddress(x));
    if (Elem a = x.Child("alias")) a.MarkSubtree();
    d.sounds.push_back(std::move(v));
  }
  for (const Elem& x : e.Children("redirdev")) {
    SKIFF_ASSIGN_OR_RETURN(std::string bus, x.EnumAttr("bus", {"usb"}));
    SKIFF_ASSIGN_OR_RETURN(std::string type, x.EnumAttr("type", {"spicevmc"}));
    if (type.empty()) return x.Error("redirdev needs type='spicevmc'");
    RedirdevDef v;
    SKIFF_ASSIGN_OR_RETURN(v.address, ReadAddress(x));
    if (Elem a = x.Child("alias")) a.MarkSubtree();
    d.redirdevs.push_back(std::move(v));
  }
  for (const Elem& x : e.Children("filesystem")) {
    SKIFF_ASSIGN_OR_RETURN(auto v, ParseFilesystem(x));
    d.filesystems.push_back(std::move(v));
  }
  for (const Elem& x : e.Children("tpm")) {
    SKIFF_ASSIGN_OR_RETURN(auto v, ParseTpm(x));
    d.tpms.push_back(std::move(v));
  }
  return Status::Ok();
}

Result<LifecycleAction> ParseLifecycle(const Elem& root, std::string_view name,
                                       LifecycleAction def) {
  Elem e = root.Child(name);
  if (!e) return def;
  std::string text = e.Text();
  auto v = EnumFromName<LifecycleAction>(kLifecycleNames, text);
  if (!v) return e.Error("invalid action '{}' (supported: {})", text, EnumList(kLifecycleNames));
  if (name != "on_crash" &&
      (*v == LifecycleAction::kCoredumpDestroy || *v == LifecycleAction::kCoredumpRestart)) {
    return e.Error("action '{}' is only valid for on_crash", text);
  }
  return *v;
}

std::string InnerXml(pugi::xml_node node) {
  struct Writer : pugi::xml_writer {
    std::string out;
    void write(const void* data, size_t size) override {
      out.append(static_cast<const char*>(data), size);
    }
  } w;
  for (pugi::xml_node c = node.first_child(); c; c = c.next_sibling()) {
    // Raw (unindented) printing keeps text content byte-exact, so that the
    // stored metadata is stable across parse/format cycles.
    if (c.type() == pugi::node_element) c.print(w, "", pugi::format_raw);
  }
  return w.out;
}

Result<DomainDef> ParseDomainElem(Elem root) {
  DomainDef def;
  SKIFF_ASSIGN_OR_RETURN(
      def.type, ReadEnum<DomainType>(root, "type", kDomainTypeNames, std::nullopt, "domain type"));
  root.Attr("id");  // run-time id of a live domain
  SKIFF_ASSIGN_OR_RETURN(def.name, ReadObjectName(root));
  SKIFF_ASSIGN_OR_RETURN(def.uuid, ReadObjectUuid(root));
  if (auto t = root.ChildText("title")) def.title = *t;
  if (Elem d = root.Child("description")) def.description = d.node().child_value();
  if (Elem m = root.Child("metadata")) {
    m.MarkSubtree();
    def.metadata = InnerXml(m.node());
  }
  Elem mem = root.Child("memory");
  if (!mem) return root.Error("missing <memory>");
  SKIFF_ASSIGN_OR_RETURN(def.memory_kib, mem.SizeKiB());
  SKIFF_ASSIGN_OR_RETURN(def.dump_core, mem.OnOffAttr("dumpCore"));
  if (Elem cm = root.Child("currentMemory")) {
    SKIFF_ASSIGN_OR_RETURN(def.current_memory_kib, cm.SizeKiB());
  } else {
    def.current_memory_kib = def.memory_kib;
  }
  if (Elem mm = root.Child("maxMemory")) {
    SKIFF_ASSIGN_OR_RETURN(uint64_t v, mm.SizeKiB());
    def.max_memory_kib = v;
    SKIFF_ASSIGN_OR_RETURN(auto slots, ReadUnsigned(mm, "slots", 255));
    def.max_memory_slots = slots.value_or(0);
  }
  if (Elem mt = root.Child("memtune")) {
    MemTune t;
    for (auto [tag, out] :
         {std::pair{"hard_limit", &t.hard_limit_kib}, std::pair{"soft_limit", &t.soft_limit_kib},
          std::pair{"swap_hard_limit", &t.swap_hard_limit_kib}}) {
      if (Elem c = mt.Child(tag)) {
        SKIFF_ASSIGN_OR_RETURN(uint64_t v, c.SizeKiB());
        *out = v;
      }
    }
    def.memtune = t;
  }
  if (Elem mb = root.Child("memoryBacking")) {
    MemoryBackingDef b;
    if (Elem src = mb.Child("source")) {
      SKIFF_ASSIGN_OR_RETURN(b.source_type, src.EnumAttr("type", {"anonymous", "memfd", "file"}));
    }
    if (Elem acc = mb.Child("access")) {
      SKIFF_ASSIGN_OR_RETURN(b.access_mode, acc.EnumAttr("mode", {"shared", "private"}));
    }
    def.memory_backing = b;
  }
  if (Elem si = root.Child("sysinfo")) {
    SKIFF_ASSIGN_OR_RETURN(def.sysinfo, ParseSysinfo(si));
  }
  if (Elem v = root.Child("vcpu")) {
    SKIFF_ASSIGN_OR_RETURN(def.vcpus, TextUnsigned(v, "vcpu count"));
    SKIFF_ASSIGN_OR_RETURN(def.vcpu_placement, v.EnumAttr("placement", {"static", "auto"}));
    def.vcpu_cpuset = v.Attr("cpuset").value_or("");
    SKIFF_ASSIGN_OR_RETURN(def.current_vcpus, ReadUnsigned(v, "current"));
  }
  if (Elem c = root.Child("cpu")) {
    SKIFF_ASSIGN_OR_RETURN(auto cpu, ParseCpu(c));
    def.cpu = std::move(cpu);
  }
  if (Elem c = root.Child("cputune")) {
    SKIFF_ASSIGN_OR_RETURN(auto t, ParseCpuTune(c));
    def.cputune = std::move(t);
  }
  if (Elem n = root.Child("numatune")) {
    SKIFF_ASSIGN_OR_RETURN(auto t, ParseNumaTune(n));
    def.numatune = std::move(t);
  }
  Elem os = root.Child("os");
  if (!os) return root.Error("missing <os>");
  SKIFF_ASSIGN_OR_RETURN(def.os, ParseOs(os));
  if (Elem f = root.Child("features")) {
    SKIFF_ASSIGN_OR_RETURN(def.features, ParseFeatures(f));
  }
  if (Elem c = root.Child("clock")) {
    SKIFF_ASSIGN_OR_RETURN(def.clock, ParseClock(c));
  }
  if (Elem pm = root.Child("pm")) {
    if (Elem m = pm.Child("suspend-to-mem")) {
      SKIFF_ASSIGN_OR_RETURN(def.pm_suspend_to_mem, m.YesNoAttr("enabled"));
    }
    if (Elem d = pm.Child("suspend-to-disk")) {
      SKIFF_ASSIGN_OR_RETURN(def.pm_suspend_to_disk, d.YesNoAttr("enabled"));
    }
  }
  SKIFF_ASSIGN_OR_RETURN(def.on_poweroff,
                         ParseLifecycle(root, "on_poweroff", LifecycleAction::kDestroy));
  SKIFF_ASSIGN_OR_RETURN(def.on_reboot,
                         ParseLifecycle(root, "on_reboot", LifecycleAction::kRestart));
  SKIFF_ASSIGN_OR_RETURN(def.on_crash, ParseLifecycle(root, "on_crash", LifecycleAction::kDestroy));
  if (Elem d = root.Child("devices")) SKIFF_TRY(ParseDevices(d, def.devices));
  // As libvirt for x86 qemu/kvm guests: a balloon unless the definition says
  // <memballoon model='none'/>, so that setmem --live works.
  if (!def.devices.memballoon) def.devices.memballoon = MemballoonDef{};
  return def;
}

}  // namespace

Result<DeviceDef> ParseDeviceXml(std::string_view xml, std::string_view source_name) {
  SKIFF_ASSIGN_OR_RETURN(auto doc, XmlDoc::Parse(xml, source_name));
  DeviceDef out;
  if (auto disk = doc->Root("disk"); disk.ok()) {
    SKIFF_ASSIGN_OR_RETURN(out.disk, ParseDisk(*disk));
  } else if (auto nic = doc->Root("interface"); nic.ok()) {
    SKIFF_ASSIGN_OR_RETURN(out.interface, ParseInterface(*nic));
    out.mac_given = static_cast<bool>(nic->Child("mac"));
  } else {
    return UnsupportedError("{}: only <disk> and <interface> devices can be attached or detached",
                            source_name);
  }
  SKIFF_TRY(doc->CheckAllUnderstood());
  return out;
}

Result<DomainDef> ParseDomainXml(std::string_view xml, std::string_view source_name) {
  SKIFF_ASSIGN_OR_RETURN(auto doc, XmlDoc::Parse(xml, source_name));
  SKIFF_ASSIGN_OR_RETURN(Elem root, doc->Root("domain"));
  SKIFF_ASSIGN_OR_RETURN(DomainDef def, ParseDomainElem(root));
  SKIFF_TRY(doc->CheckAllUnderstood());
  Status st = ValidateDomain(def);
  if (!st.ok()) return Status(st.code(), fmt::format("{}: {}", source_name, st.message()));
  return def;
}

}  // namespace skiff::conf
