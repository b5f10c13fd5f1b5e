// DomainDef -> canonical libvirt-style XML.
#include "conf/xml_reader.h"
#include "skiff/conf/domain.h"

namespace skiff::conf {

namespace {

using Attrs = std::vector<std::pair<std::string, std::string>>;

std::string Num(uint64_t v) { return std::to_string(v); }
template <typename T>
std::string Opt(const std::optional<T>& v) {
  return v ? std::to_string(*v) : std::string();
}
std::string YesNo(const std::optional<bool>& v) { return v ? (*v ? "yes" : "no") : ""; }
std::string OnOff(const std::optional<bool>& v) { return v ? (*v ? "on" : "off") : ""; }

void WriteAddress(XmlWriter& w, const DeviceAddress& a) {
  if (a.empty()) return;
  Attrs attrs(a.begin(), a.end());
  w.Empty("address", attrs);
}

void WriteCpu(XmlWriter& w, const CpuDef& c) {
  std::string mode(ToString(c.mode));
  bool has_children = !c.model.empty() || !c.model_fallback.empty() || !c.vendor.empty() ||
                      !c.features.empty() || c.topology || !c.numa.empty() || !c.cache_mode.empty();
  std::initializer_list<std::pair<std::string_view, std::string>> attrs = {
      {"mode", mode}, {"match", c.match}, {"check", c.check}, {"migratable", c.migratable}};
  if (!has_children) {
    w.Empty("cpu", attrs);
    return;
  }
  w.Open("cpu", attrs);
  if (!c.model.empty()) {
    w.Text("model", c.model, {{"fallback", c.model_fallback}});
  } else if (!c.model_fallback.empty()) {
    w.Empty("model", {{"fallback", c.model_fallback}});
  }
  if (!c.vendor.empty()) w.Text("vendor", c.vendor);
  if (c.topology) {
    const CpuTopology& t = *c.topology;
    w.Empty("topology", {{"sockets", Num(t.sockets)},
                         {"dies", Num(t.dies)},
                         {"cores", Num(t.cores)},
                         {"threads", Num(t.threads)}});
  }
  if (!c.cache_mode.empty()) {
    w.Empty("cache", {{"level", c.cache_mode == "emulate" ? "3" : ""}, {"mode", c.cache_mode}});
  }
  for (const CpuFeature& f : c.features)
    w.Empty("feature", {{"policy", f.policy}, {"name", f.name}});
  if (!c.numa.empty()) {
    w.Open("numa");
    for (const NumaCell& cell : c.numa) {
      w.Empty("cell", {{"id", Num(cell.id)},
                       {"cpus", cell.cpus},
                       {"memory", Num(cell.memory_kib)},
                       {"unit", "KiB"},
                       {"memAccess", cell.mem_access}});
    }
    w.Close("numa");
  }
  w.Close("cpu");
}

void WriteOs(XmlWriter& w, const OsDef& os) {
  w.Open("os", {{"firmware", os.firmware}});
  w.Text("type", os.type, {{"arch", os.arch}, {"machine", os.machine}});
  if (os.loader) {
    w.Text("loader", os.loader->path,
           {{"readonly", os.loader->readonly},
            {"secure", os.loader->secure},
            {"type", os.loader->type}});
  }
  if (!os.nvram.empty()) w.Text("nvram", os.nvram);
  if (!os.kernel.empty()) w.Text("kernel", os.kernel);
  if (!os.initrd.empty()) w.Text("initrd", os.initrd);
  if (!os.cmdline.empty()) w.Text("cmdline", os.cmdline);
  for (BootDevice b : os.boot) w.Empty("boot", {{"dev", std::string(ToString(b))}});
  if (os.bootmenu)
    w.Empty("bootmenu", {{"enable", YesNo(os.bootmenu)}, {"timeout", Opt(os.bootmenu_timeout_ms)}});
  if (!os.smbios_mode.empty()) w.Empty("smbios", {{"mode", os.smbios_mode}});
  if (os.reboot_timeout_ms)
    w.Empty("bios", {{"rebootTimeout", std::to_string(*os.reboot_timeout_ms)}});
  w.Close("os");
}

void WriteFeatures(XmlWriter& w, const Features& f) {
  if (!f.acpi && !f.apic && !f.pae && !f.vmport && !f.pmu && !f.hyperv) return;
  w.Open("features");
  if (f.acpi) w.Empty("acpi");
  if (f.apic) w.Empty("apic", {{"eoi", OnOff(f.apic_eoi)}});
  if (f.pae) w.Empty("pae");
  if (f.hyperv) {
    const HypervFeatures& h = *f.hyperv;
    if (h.flags.empty()) {
      w.Empty("hyperv", {{"mode", h.mode}});
    } else {
      w.Open("hyperv", {{"mode", h.mode}});
      for (const HypervFlag& x : h.flags) {
        w.Empty(x.name,
                {{"state", x.on ? "on" : "off"}, {"retries", Opt(x.retries)}, {"value", x.value}});
      }
      w.Close("hyperv");
    }
  }
  if (f.pmu) w.Empty("pmu", {{"state", OnOff(f.pmu)}});
  if (f.vmport) w.Empty("vmport", {{"state", OnOff(f.vmport)}});
  w.Close("features");
}

void WriteClock(XmlWriter& w, const ClockDef& c) {
  std::string adj = c.adjustment ? std::to_string(*c.adjustment) : "";
  std::initializer_list<std::pair<std::string_view, std::string>> attrs = {
      {"offset", c.offset}, {"timezone", c.timezone}, {"adjustment", adj}, {"basis", c.basis}};
  if (c.timers.empty()) {
    w.Empty("clock", attrs);
    return;
  }
  w.Open("clock", attrs);
  for (const ClockTimer& t : c.timers) {
    w.Empty("timer",
            {{"name", t.name}, {"tickpolicy", t.tickpolicy}, {"present", YesNo(t.present)}});
  }
  w.Close("clock");
}

void WriteBacking(XmlWriter& w, const std::vector<BackingStore>& chain, size_t i) {
  if (i >= chain.size()) return;
  const BackingStore& b = chain[i];
  w.Open("backingStore", {{"type", std::string(ToString(b.type))}, {"index", Num(i + 1)}});
  if (!b.format.empty()) w.Empty("format", {{"type", b.format}});
  w.Empty("source", {{b.type == DiskType::kBlock ? "dev" : "file", b.path}});
  WriteBacking(w, chain, i + 1);
  w.Close("backingStore");
}

void WriteDisk(XmlWriter& w, const DiskDef& d) {
  w.Open("disk",
         {{"type", std::string(ToString(d.type))}, {"device", std::string(ToString(d.device))}});
  const DiskDriver& dr = d.driver;
  if (!dr.name.empty() || !dr.type.empty() || !dr.cache.empty() || !dr.io.empty() ||
      !dr.discard.empty()) {
    w.Empty("driver", {{"name", dr.name},
                       {"type", dr.type},
                       {"cache", dr.cache},
                       {"io", dr.io},
                       {"discard", dr.discard}});
  }
  switch (d.type) {
    case DiskType::kFile:
      if (!d.source_path.empty()) w.Empty("source", {{"file", d.source_path}});
      break;
    case DiskType::kBlock:
      if (!d.source_path.empty()) w.Empty("source", {{"dev", d.source_path}});
      break;
    case DiskType::kVolume:
      w.Empty("source", {{"pool", d.source_pool}, {"volume", d.source_volume}});
      break;
  }
  WriteBacking(w, d.backing_chain, 0);
  w.Empty("target",
          {{"dev", d.target_dev}, {"bus", std::string(ToString(d.bus))}, {"tray", d.tray}});
  if (d.boot_order) w.Empty("boot", {{"order", Num(*d.boot_order)}});
  if (d.readonly) w.Empty("readonly");
  if (d.shareable) w.Empty("shareable");
  if (!d.serial.empty()) w.Text("serial", d.serial);
  WriteAddress(w, d.address);
  w.Close("disk");
}

void WriteController(XmlWriter& w, const ControllerDef& c) {
  std::initializer_list<std::pair<std::string_view, std::string>> attrs = {
      {"type", c.type}, {"index", Num(c.index)}, {"model", c.model}, {"ports", Opt(c.ports)}};
  if (c.model_name.empty() && !c.chassis && !c.port && !c.master_startport && c.address.empty()) {
    w.Empty("controller", attrs);
    return;
  }
  w.Open("controller", attrs);
  if (!c.model_name.empty()) w.Empty("model", {{"name", c.model_name}});
  if (c.master_startport) w.Empty("master", {{"startport", Num(*c.master_startport)}});
  if (c.chassis || c.port) {
    char port[16] = "";
    if (c.port) std::snprintf(port, sizeof(port), "0x%x", *c.port);
    w.Empty("target", {{"chassis", Opt(c.chassis)}, {"port", port}});
  }
  WriteAddress(w, c.address);
  w.Close("controller");
}

void WriteInterface(XmlWriter& w, const InterfaceDef& n) {
  w.Open("interface", {{"type", std::string(ToString(n.type))}});
  w.Empty("mac", {{"address", n.mac}});
  if (n.type == InterfaceType::kNetwork) w.Empty("source", {{"network", n.source}});
  if (n.type == InterfaceType::kBridge) w.Empty("source", {{"bridge", n.source}});
  if (!n.target_dev.empty()) w.Empty("target", {{"dev", n.target_dev}});
  w.Empty("model", {{"type", std::string(ToString(n.model))}});
  if (n.boot_order) w.Empty("boot", {{"order", Num(*n.boot_order)}});
  WriteAddress(w, n.address);
  w.Close("interface");
}

void WriteCharDev(XmlWriter& w, std::string_view elem, const CharDevDef& c) {
  w.Open(elem, {{"type", std::string(ToString(c.type))}});
  if (!c.path.empty() || !c.mode.empty()) {
    w.Empty("source", {{"mode", c.mode}, {"path", c.path}, {"append", c.append}});
  }
  std::initializer_list<std::pair<std::string_view, std::string>> tattrs = {
      {"type", c.target_type}, {"name", c.target_name}, {"port", Opt(c.target_port)}};
  if (!c.target_model.empty()) {
    w.Open("target", tattrs);
    w.Empty("model", {{"name", c.target_model}});
    w.Close("target");
  } else if (!c.target_type.empty() || !c.target_name.empty() || c.target_port) {
    w.Empty("target", tattrs);
  }
  WriteAddress(w, c.address);
  w.Close(elem);
}

void WriteGraphics(XmlWriter& w, const GraphicsDef& g) {
  std::string port = g.autoport ? "-1" : std::to_string(g.port);
  std::string tls = g.tls_port >= 0 ? std::to_string(g.tls_port) : "";
  std::initializer_list<std::pair<std::string_view, std::string>> attrs = {
      {"type", std::string(ToString(g.type))},
      {"port", port},
      {"tlsPort", tls},
      {"autoport", g.autoport ? "yes" : "no"},
      {"listen", g.listen},
      {"keymap", g.keymap},
      {"passwd", g.passwd}};
  if (g.listen.empty() && g.image_compression.empty()) {
    w.Empty("graphics", attrs);
    return;
  }
  w.Open("graphics", attrs);
  if (!g.listen.empty()) w.Empty("listen", {{"type", "address"}, {"address", g.listen}});
  if (!g.image_compression.empty()) w.Empty("image", {{"compression", g.image_compression}});
  w.Close("graphics");
}

void WriteVideo(XmlWriter& w, const VideoDef& v) {
  w.Open("video");
  w.Empty("model", {{"type", std::string(ToString(v.model))},
                    {"ram", Opt(v.ram_kib)},
                    {"vram", Opt(v.vram_kib)},
                    {"vgamem", Opt(v.vgamem_kib)},
                    {"heads", Opt(v.heads)},
                    {"primary", v.primary ? "yes" : ""}});
  WriteAddress(w, v.address);
  w.Close("video");
}

// <NAME attrs...> holding only an <address>, or empty without one.
void WriteWithAddress(XmlWriter& w, std::string_view name,
                      std::initializer_list<std::pair<std::string_view, std::string>> attrs,
                      const DeviceAddress& address) {
  if (address.empty()) {
    w.Empty(name, attrs);
    return;
  }
  w.Open(name, attrs);
  WriteAddress(w, address);
  w.Close(name);
}

void WriteSysinfo(XmlWriter& w, const SysinfoDef& s) {
  w.Open("sysinfo", {{"type", "smbios"}});
  const std::pair<const char*, const SysinfoDef::Entries*> blocks[] = {{"bios", &s.bios},
                                                                       {"system", &s.system},
                                                                       {"baseBoard", &s.base_board},
                                                                       {"chassis", &s.chassis}};
  for (const auto& [elem, entries] : blocks) {
    if (entries->empty()) continue;
    w.Open(elem);
    for (const auto& [name, value] : *entries) w.Text("entry", value, {{"name", name}});
    w.Close(elem);
  }
  if (!s.oem_strings.empty()) {
    w.Open("oemStrings");
    for (const auto& v : s.oem_strings) w.Text("entry", v);
    w.Close("oemStrings");
  }
  w.Close("sysinfo");
}

void WriteFilesystem(XmlWriter& w, const FilesystemDef& f) {
  w.Open("filesystem", {{"type", "mount"}, {"accessmode", f.accessmode}});
  if (!f.driver.empty()) w.Empty("driver", {{"type", f.driver}});
  w.Empty("source", {{"dir", f.source_dir}});
  w.Empty("target", {{"dir", f.target_dir}});
  if (f.readonly) w.Empty("readonly");
  WriteAddress(w, f.address);
  w.Close("filesystem");
}

void WriteTpm(XmlWriter& w, const TpmDef& t) {
  w.Open("tpm", {{"model", t.model}});
  if (t.backend == "passthrough") {
    w.Open("backend", {{"type", t.backend}});
    w.Empty("device", {{"path", t.device_path}});
    w.Close("backend");
  } else {
    w.Empty("backend", {{"type", t.backend}, {"version", t.version}});
  }
  WriteAddress(w, t.address);
  w.Close("tpm");
}

}  // namespace

std::string FormatDomainXml(const DomainDef& def) {
  XmlWriter w;
  w.Open("domain", {{"type", std::string(ToString(def.type))}});
  w.Text("name", def.name);
  w.Text("uuid", def.uuid.ToString());
  if (!def.title.empty()) w.Text("title", def.title);
  if (!def.description.empty()) w.Text("description", def.description);
  if (!def.metadata.empty()) {
    w.Open("metadata");
    w.RawLine(def.metadata);
    w.Close("metadata");
  }
  if (def.max_memory_kib) {
    w.Text("maxMemory", Num(*def.max_memory_kib),
           {{"slots", Num(def.max_memory_slots)}, {"unit", "KiB"}});
  }
  w.Text("memory", Num(def.memory_kib), {{"dumpCore", OnOff(def.dump_core)}, {"unit", "KiB"}});
  w.Text("currentMemory", Num(def.current_memory_kib), {{"unit", "KiB"}});
  if (def.memtune) {
    const MemTune& t = *def.memtune;
    w.Open("memtune");
    if (t.hard_limit_kib) w.Text("hard_limit", Num(*t.hard_limit_kib), {{"unit", "KiB"}});
    if (t.soft_limit_kib) w.Text("soft_limit", Num(*t.soft_limit_kib), {{"unit", "KiB"}});
    if (t.swap_hard_limit_kib) {
      w.Text("swap_hard_limit", Num(*t.swap_hard_limit_kib), {{"unit", "KiB"}});
    }
    w.Close("memtune");
  }
  if (def.memory_backing) {
    const MemoryBackingDef& b = *def.memory_backing;
    if (b.source_type.empty() && b.access_mode.empty()) {
      w.Empty("memoryBacking");
    } else {
      w.Open("memoryBacking");
      if (!b.source_type.empty()) w.Empty("source", {{"type", b.source_type}});
      if (!b.access_mode.empty()) w.Empty("access", {{"mode", b.access_mode}});
      w.Close("memoryBacking");
    }
  }
  w.Text("vcpu", Num(def.vcpus),
         {{"placement", def.vcpu_placement},
          {"cpuset", def.vcpu_cpuset},
          {"current", Opt(def.current_vcpus)}});
  if (def.cputune) {
    const CpuTune& t = *def.cputune;
    w.Open("cputune");
    if (t.shares) w.Text("shares", Num(*t.shares));
    if (t.period) w.Text("period", Num(*t.period));
    if (t.quota) w.Text("quota", Num(*t.quota));
    for (const VcpuPin& p : t.vcpupins)
      w.Empty("vcpupin", {{"vcpu", Num(p.vcpu)}, {"cpuset", p.cpuset}});
    if (!t.emulatorpin.empty()) w.Empty("emulatorpin", {{"cpuset", t.emulatorpin}});
    w.Close("cputune");
  }
  if (def.numatune) {
    const NumaTune& n = *def.numatune;
    w.Open("numatune");
    if (!n.mode.empty() || !n.placement.empty() || !n.nodeset.empty()) {
      w.Empty("memory", {{"mode", n.mode}, {"nodeset", n.nodeset}, {"placement", n.placement}});
    }
    for (const NumaMemNode& m : n.memnodes) {
      w.Empty("memnode", {{"cellid", Num(m.cellid)}, {"mode", m.mode}, {"nodeset", m.nodeset}});
    }
    w.Close("numatune");
  }
  if (def.sysinfo) WriteSysinfo(w, *def.sysinfo);
  WriteOs(w, def.os);
  WriteFeatures(w, def.features);
  if (def.cpu) WriteCpu(w, *def.cpu);
  WriteClock(w, def.clock);
  w.Text("on_poweroff", ToString(def.on_poweroff));
  w.Text("on_reboot", ToString(def.on_reboot));
  w.Text("on_crash", ToString(def.on_crash));
  if (def.pm_suspend_to_mem || def.pm_suspend_to_disk) {
    w.Open("pm");
    if (def.pm_suspend_to_mem)
      w.Empty("suspend-to-mem", {{"enabled", YesNo(def.pm_suspend_to_mem)}});
    if (def.pm_suspend_to_disk)
      w.Empty("suspend-to-disk", {{"enabled", YesNo(def.pm_suspend_to_disk)}});
    w.Close("pm");
  }
  const DevicesDef& d = def.devices;
  w.Open("devices");
  if (!d.emulator.empty()) w.Text("emulator", d.emulator);
  for (const auto& x : d.disks) WriteDisk(w, x);
  for (const auto& x : d.controllers) WriteController(w, x);
  for (const auto& x : d.filesystems) WriteFilesystem(w, x);
  for (const auto& x : d.interfaces) WriteInterface(w, x);
  for (const auto& x : d.serials) WriteCharDev(w, "serial", x);
  for (const auto& x : d.consoles) WriteCharDev(w, "console", x);
  for (const auto& x : d.channels) WriteCharDev(w, "channel", x);
  for (const auto& x : d.inputs) {
    if (x.address.empty()) {
      w.Empty("input",
              {{"type", std::string(ToString(x.type))}, {"bus", std::string(ToString(x.bus))}});
    } else {
      w.Open("input",
             {{"type", std::string(ToString(x.type))}, {"bus", std::string(ToString(x.bus))}});
      WriteAddress(w, x.address);
      w.Close("input");
    }
  }
  for (const auto& x : d.tpms) WriteTpm(w, x);
  for (const auto& x : d.graphics) WriteGraphics(w, x);
  for (const auto& x : d.sounds) {
    if (!x.audio_id && x.address.empty()) {
      w.Empty("sound", {{"model", x.model}});
      continue;
    }
    w.Open("sound", {{"model", x.model}});
    if (x.audio_id) w.Empty("audio", {{"id", Num(*x.audio_id)}});
    WriteAddress(w, x.address);
    w.Close("sound");
  }
  for (const auto& x : d.videos) WriteVideo(w, x);
  for (const auto& x : d.watchdogs) {
    std::initializer_list<std::pair<std::string_view, std::string>> a = {
        {"model", std::string(ToString(x.model))}, {"action", x.action}};
    if (x.address.empty()) {
      w.Empty("watchdog", a);
    } else {
      w.Open("watchdog", a);
      WriteAddress(w, x.address);
      w.Close("watchdog");
    }
  }
  for (const auto& a : d.audios) w.Empty("audio", {{"id", Num(a.id)}, {"type", a.type}});
  for (const auto& x : d.redirdevs) {
    WriteWithAddress(w, "redirdev", {{"bus", "usb"}, {"type", "spicevmc"}}, x.address);
  }
  if (d.memballoon) {
    const MemballoonDef& m = *d.memballoon;
    std::initializer_list<std::pair<std::string_view, std::string>> a = {
        {"model", m.model}, {"autodeflate", OnOff(m.autodeflate)}};
    if (!m.stats_period_s && m.address.empty()) {
      w.Empty("memballoon", a);
    } else {
      w.Open("memballoon", a);
      if (m.stats_period_s) w.Empty("stats", {{"period", Num(*m.stats_period_s)}});
      WriteAddress(w, m.address);
      w.Close("memballoon");
    }
  }
  for (const auto& r : d.rngs) {
    w.Open("rng", {{"model", "virtio"}});
    if (r.rate_bytes)
      w.Empty("rate", {{"bytes", Num(*r.rate_bytes)}, {"period", Opt(r.rate_period_ms)}});
    if (r.backend == "random") {
      w.Text("backend", r.source, {{"model", "random"}});
    } else {
      w.Empty("backend", {{"model", r.backend}});
    }
    WriteAddress(w, r.address);
    w.Close("rng");
  }
  for (const auto& p : d.panics) {
    if (p.address.empty()) {
      w.Empty("panic", {{"model", p.model}});
    } else {
      w.Open("panic", {{"model", p.model}});
      WriteAddress(w, p.address);
      w.Close("panic");
    }
  }
  w.Close("devices");
  w.Close("domain");
  return w.Take();
}

}  // namespace skiff::conf
