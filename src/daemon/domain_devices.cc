// DomainDevices: device changes (attach and detach of disks and interfaces, attach-device and
// detach-device) on the running guest and/or the persistent definition.
#include "skiff/daemon/domain_devices.h"

#include <filesystem>

#include "daemon/disk_format.h"
#include "daemon/domain_core.h"
#include "daemon/network/driver.h"
#include "daemon/storage/driver.h"
#include "skiff/conf/mac.h"
#include "skiff/image/image.h"
#include "skiff/image/ops.h"

namespace skiff::daemon {

namespace {

std::string BusForTarget(const std::string& target) {
  if (target.rfind("vd", 0) == 0) return "virtio";
  if (target.rfind("sd", 0) == 0) return "scsi";
  if (target.rfind("hd", 0) == 0) return "ide";
  return "virtio";
}

}  // namespace

Status DomainDevices::AttachDisk(const std::string& ref, const DiskRequest& req,
                                 const Scope& scope) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_.Acquire(ref));
  DomainObj& o = *held.first;
  if (req.target.empty()) return InvalidArgumentError("disk target is required");
  conf::DiskDef disk;
  disk.source_path = req.source;
  disk.target_dev = req.target;
  std::string bus = req.bus.empty() ? BusForTarget(req.target) : req.bus;
  if (bus == "virtio")
    disk.bus = conf::DiskBus::kVirtio;
  else if (bus == "sata")
    disk.bus = conf::DiskBus::kSata;
  else if (bus == "scsi")
    disk.bus = conf::DiskBus::kScsi;
  else if (bus == "ide")
    disk.bus = conf::DiskBus::kIde;
  else if (bus == "usb")
    disk.bus = conf::DiskBus::kUsb;
  else
    return InvalidArgumentError("unsupported disk bus '{}'", bus);
  if (req.type.empty() || req.type == "disk")
    disk.device = conf::DiskDevice::kDisk;
  else if (req.type == "cdrom")
    disk.device = conf::DiskDevice::kCdrom;
  else
    return InvalidArgumentError("unsupported disk type '{}'", req.type);
  if (!req.driver.empty() && req.driver != "qemu") {
    return InvalidArgumentError("unsupported disk driver '{}'", req.driver);
  }
  disk.driver.name = "qemu";
  disk.driver.type = req.subdriver.empty() ? "raw" : req.subdriver;
  if (req.subdriver.empty()) {
    // raw unless the image says otherwise: then the caller names its format.
    SKIFF_TRY(CheckUnnamedDiskFormat(disk, disk.source_path, /*hotplug=*/true));
  }
  disk.driver.cache = req.cache;
  if (req.mode == "readonly")
    disk.readonly = true;
  else if (req.mode == "shareable")
    disk.shareable = true;
  else if (!req.mode.empty())
    return InvalidArgumentError("unsupported disk mode '{}'", req.mode);
  if (disk.device == conf::DiskDevice::kCdrom) disk.readonly = true;
  if (!disk.source_path.empty() && disk.source_path.find("/dev/") == 0) {
    disk.type = conf::DiskType::kBlock;
  }
  return AttachDiskLocked(o, disk, scope);
}

Status DomainDevices::AttachDiskLocked(DomainObj& o, const conf::DiskDef& disk,
                                       const Scope& scope) {
  SKIFF_ASSIGN_OR_RETURN(auto sc, ResolveScope(scope, o.status.active(), o.persistent, o.def.name));
  auto [live, config] = sc;
  auto add = [&](conf::DomainDef d, bool running) -> Result<conf::DomainDef> {
    for (const auto& x : d.devices.disks) {
      if (x.target_dev == disk.target_dev) {
        return AlreadyExistsError("domain '{}' already has a disk '{}'", d.name, disk.target_dev);
      }
    }
    d.devices.disks.push_back(disk);
    // The controller a running domain got for its first SCSI disk stays there
    // after the disk goes (as in QEMU), so that a restore recreates it.
    bool has_scsi = false;
    for (const auto& c : d.devices.controllers) has_scsi |= c.type == "scsi" && c.index == 0;
    if (running && disk.bus == conf::DiskBus::kScsi && !has_scsi) {
      conf::ControllerDef c;
      c.type = "scsi";
      c.model = "virtio-scsi";
      d.devices.controllers.push_back(c);
    }
    SKIFF_TRY(conf::ValidateDomain(d));
    return d;
  };
  std::optional<conf::DomainDef> new_live, new_config;
  if (live) {
    SKIFF_ASSIGN_OR_RETURN(new_live, add(*o.live, true));
  }
  if (config) {
    SKIFF_ASSIGN_OR_RETURN(new_config, add(o.def, false));
  }
  if (live) {
    conf::DiskDef plugged = disk;
    if (disk.type == conf::DiskType::kVolume) {
      auto path = core_.storage().ResolveVolume(disk.source_pool, disk.source_volume);
      if (!path.ok()) return path.status().WithContext(fmt::format("disk '{}'", disk.target_dev));
      plugged.source_path = *path;  // for QEMU only: the definition keeps pool and volume
    }
    // Each layer goes to QEMU as an fd; the live definition names them, so that
    // a detach removes them all.
    SKIFF_TRY(FillBackingChain(plugged, plugged.source_path));
    new_live->devices.disks.back().backing_chain = plugged.backing_chain;
    SKIFF_TRY(core_.hv().AttachDisk(o.def.name, plugged));
    o.live = std::move(new_live);
    (void)core_.WriteLiveStatus(o);
  }
  if (config) {
    SKIFF_TRY(core_.WriteDefinition(*new_config));
    o.def = std::move(*new_config);
  }
  core_.Emit(o, "device-added", disk.target_dev);
  return Status::Ok();
}

Status DomainDevices::DetachDisk(const std::string& ref, const std::string& target,
                                 const Scope& scope) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_.Acquire(ref));
  DomainObj& o = *held.first;
  SKIFF_ASSIGN_OR_RETURN(auto sc, ResolveScope(scope, o.status.active(), o.persistent, o.def.name));
  auto [live, config] = sc;
  auto find = [&](const conf::DomainDef& d) -> Result<size_t> {
    for (size_t i = 0; i < d.devices.disks.size(); ++i) {
      if (d.devices.disks[i].target_dev == target || d.devices.disks[i].source_path == target) {
        return i;
      }
    }
    return NotFoundError("domain '{}' has no disk '{}'", d.name, target);
  };
  std::optional<size_t> li, ci;
  if (live) {
    SKIFF_ASSIGN_OR_RETURN(li, find(*o.live));
  }
  if (config) {
    SKIFF_ASSIGN_OR_RETURN(ci, find(o.def));
  }
  std::string dev = target;
  if (live) {
    conf::DiskDef disk = o.live->devices.disks[*li];
    dev = disk.target_dev;
    SKIFF_TRY(core_.hv().DetachDisk(o.def.name, disk));
    o.live->devices.disks.erase(o.live->devices.disks.begin() + static_cast<long>(*li));
    (void)core_.WriteLiveStatus(o);
  }
  if (config) {
    conf::DomainDef d = o.def;
    dev = d.devices.disks[*ci].target_dev;
    d.devices.disks.erase(d.devices.disks.begin() + static_cast<long>(*ci));
    SKIFF_TRY(core_.WriteDefinition(d));
    o.def = std::move(d);
  }
  core_.Emit(o, "device-removed", dev);
  return Status::Ok();
}

Status DomainDevices::AttachDevice(const std::string& ref, const std::string& xml,
                                   const std::string& source, const Scope& scope) {
  SKIFF_ASSIGN_OR_RETURN(conf::DeviceDef dev,
                         conf::ParseDeviceXml(xml, source.empty() ? "device.xml" : source));
  if (dev.interface) {
    const conf::InterfaceDef& n = *dev.interface;
    InterfaceRequest req;
    req.type = std::string(conf::ToString(n.type));
    req.source = n.source;
    req.model = std::string(conf::ToString(n.model));
    req.mac = n.mac;
    req.target = n.target_dev;
    return AttachInterface(ref, req, scope);
  }
  SKIFF_ASSIGN_OR_RETURN(auto held, core_.Acquire(ref));
  return AttachDiskLocked(*held.first, *dev.disk, scope);
}

Status DomainDevices::DetachDevice(const std::string& ref, const std::string& xml,
                                   const std::string& source, const Scope& scope) {
  SKIFF_ASSIGN_OR_RETURN(conf::DeviceDef dev,
                         conf::ParseDeviceXml(xml, source.empty() ? "device.xml" : source));
  if (dev.interface) {
    return DetachInterface(ref, std::string(conf::ToString(dev.interface->type)),
                           dev.mac_given ? dev.interface->mac : "", scope);
  }
  return DetachDisk(ref, dev.disk->target_dev, scope);
}

Status DomainDevices::AttachInterface(const std::string& ref, const InterfaceRequest& req,
                                      const Scope& scope) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_.Acquire(ref));
  DomainObj& o = *held.first;
  conf::InterfaceDef nic;
  if (req.type == "network")
    nic.type = conf::InterfaceType::kNetwork;
  else if (req.type == "bridge")
    nic.type = conf::InterfaceType::kBridge;
  else if (req.type == "user")
    nic.type = conf::InterfaceType::kUser;
  else
    return InvalidArgumentError("unsupported interface type '{}'", req.type);
  if (nic.type != conf::InterfaceType::kUser && req.source.empty()) {
    return InvalidArgumentError("interface of type '{}' needs a source", req.type);
  }
  nic.source = req.source;
  std::string model = req.model.empty() ? "virtio" : req.model;
  if (model == "virtio")
    nic.model = conf::NicModel::kVirtio;
  else if (model == "e1000")
    nic.model = conf::NicModel::kE1000;
  else if (model == "e1000e")
    nic.model = conf::NicModel::kE1000e;
  else if (model == "rtl8139")
    nic.model = conf::NicModel::kRtl8139;
  else
    return InvalidArgumentError("unsupported interface model '{}'", model);
  if (req.mac.empty()) {
    nic.mac = conf::GenerateMac();
  } else {
    SKIFF_ASSIGN_OR_RETURN(nic.mac, conf::ParseMac(req.mac));
  }
  nic.target_dev = req.target;
  SKIFF_ASSIGN_OR_RETURN(auto sc, ResolveScope(scope, o.status.active(), o.persistent, o.def.name));
  auto [live, config] = sc;
  auto add = [&](conf::DomainDef d) -> Result<conf::DomainDef> {
    d.devices.interfaces.push_back(nic);
    SKIFF_TRY(conf::ValidateDomain(d));
    return d;
  };
  std::optional<conf::DomainDef> new_live, new_config;
  if (live) {
    SKIFF_ASSIGN_OR_RETURN(new_live, add(*o.live));
  }
  if (config) {
    SKIFF_ASSIGN_OR_RETURN(new_config, add(o.def));
  }
  if (live) {
    // A tap on the network or bridge, as at start; QEMU keeps its own copy of the fd.
    conf::DomainDef one;
    one.name = o.def.name;
    one.devices.interfaces = {nic};
    SKIFF_ASSIGN_OR_RETURN(PreparedTaps taps, core_.net().PrepareInterfaces(one));
    GuestTap tap = taps.taps.empty() ? GuestTap{} : taps.taps[0];
    Status st = core_.hv().AttachInterface(o.def.name, one.devices.interfaces[0], tap);
    if (!st.ok()) {
      core_.net().ReleaseInterfaces(one);
      return st;
    }
    new_live->devices.interfaces.back() = one.devices.interfaces[0];
    o.live = std::move(new_live);
    (void)core_.WriteLiveStatus(o);
  }
  if (config) {
    SKIFF_TRY(core_.WriteDefinition(*new_config));
    o.def = std::move(*new_config);
  }
  core_.Emit(o, "device-added", nic.mac);
  return Status::Ok();
}

Status DomainDevices::DetachInterface(const std::string& ref, const std::string& type,
                                      const std::string& mac, const Scope& scope) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_.Acquire(ref));
  DomainObj& o = *held.first;
  std::string want_mac;
  if (!mac.empty()) {
    SKIFF_ASSIGN_OR_RETURN(want_mac, conf::ParseMac(mac));
  }
  SKIFF_ASSIGN_OR_RETURN(auto sc, ResolveScope(scope, o.status.active(), o.persistent, o.def.name));
  auto [live, config] = sc;
  auto find = [&](const conf::DomainDef& d) -> Result<size_t> {
    std::optional<size_t> found;
    for (size_t i = 0; i < d.devices.interfaces.size(); ++i) {
      const auto& n = d.devices.interfaces[i];
      if (conf::ToString(n.type) != type) continue;
      if (!want_mac.empty() && n.mac != want_mac) continue;
      if (found) {
        return InvalidArgumentError("domain '{}' has several interfaces of type '{}'; give --mac",
                                    d.name, type);
      }
      found = i;
    }
    if (!found) {
      return NotFoundError("domain '{}' has no interface of type '{}'{}", d.name, type,
                           want_mac.empty() ? "" : " with mac " + want_mac);
    }
    return *found;
  };
  std::optional<size_t> li, ci;
  if (live) {
    SKIFF_ASSIGN_OR_RETURN(li, find(*o.live));
  }
  if (config) {
    SKIFF_ASSIGN_OR_RETURN(ci, find(o.def));
  }
  if (live) {
    conf::InterfaceDef nic = o.live->devices.interfaces[*li];
    SKIFF_TRY(core_.hv().DetachInterface(o.def.name, nic));
    conf::DomainDef one;
    one.name = o.def.name;
    one.devices.interfaces = {nic};
    core_.net().ReleaseInterfaces(one);
    o.live->devices.interfaces.erase(o.live->devices.interfaces.begin() + static_cast<long>(*li));
    (void)core_.WriteLiveStatus(o);
  }
  if (config) {
    conf::DomainDef d = o.def;
    d.devices.interfaces.erase(d.devices.interfaces.begin() + static_cast<long>(*ci));
    SKIFF_TRY(core_.WriteDefinition(d));
    o.def = std::move(d);
  }
  core_.Emit(o, "device-removed", want_mac.empty() ? type : want_mac);
  return Status::Ok();
}

// ---------------------------------------------------------------- queries

Result<std::vector<conf::DiskDef>> DomainDevices::Disks(const std::string& ref, bool inactive) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_.Acquire(ref));
  DomainObj& o = *held.first;
  return (o.live && !inactive ? *o.live : o.def).devices.disks;
}

Result<std::vector<std::pair<std::string, conf::InterfaceDef>>> DomainDevices::Interfaces(
    const std::string& ref, bool inactive) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_.Acquire(ref));
  DomainObj& o = *held.first;
  bool live = o.live && !inactive;
  std::vector<std::pair<std::string, conf::InterfaceDef>> out;
  int i = 0;
  for (const auto& nic : (live ? *o.live : o.def).devices.interfaces) {
    std::string dev = "-";
    if (live && nic.type != conf::InterfaceType::kUser) {
      dev = nic.target_dev.empty() ? fmt::format("vnet{}", i) : nic.target_dev;
    }
    out.emplace_back(dev, nic);
    ++i;
  }
  return out;
}

Result<std::vector<InterfaceAddress>> DomainDevices::Addresses(const std::string& ref) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_.Acquire(ref));
  DomainObj& o = *held.first;
  if (!o.status.active()) return NotRunning(o.def.name);
  // From the DHCP leases of the guest's networks, matched by MAC (virsh's --source lease).
  return core_.net().Addresses(o.live ? *o.live : o.def);
}

namespace {

// The disk of `def` named by its target or its file.
Result<const conf::DiskDef*> FindDisk(DomainCore& core, const conf::DomainDef& def,
                                      const std::string& disk) {
  for (const auto& d : def.devices.disks) {
    if (d.target_dev == disk) return &d;
  }
  for (const auto& d : def.devices.disks) {
    auto p = core.DiskPath(d);
    if (p.ok() && !p->empty() && *p == disk) return &d;
  }
  return NotFoundError("domain '{}' has no disk '{}'", def.name, disk);
}

Result<DomainDevices::BlockInfo> InfoOf(DomainCore& core, const conf::DiskDef& d) {
  SKIFF_ASSIGN_OR_RETURN(std::string path, core.DiskPath(d));
  if (path.empty()) {
    return FailedPreconditionError("disk '{}' has no media", d.target_dev);
  }
  image::OpenOptions oo;
  oo.format = d.format();
  oo.open_backing = false;
  SKIFF_ASSIGN_OR_RETURN(auto img, image::OpenImage(path, oo));
  DomainDevices::BlockInfo info;
  info.target = d.target_dev;
  info.capacity = img->size();
  SKIFF_ASSIGN_OR_RETURN(info.allocation, img->AllocatedFileSize());
  std::error_code ec;
  const bool block = std::filesystem::is_block_file(path, ec);
  const uint64_t len = block ? 0 : std::filesystem::file_size(path, ec);
  info.physical = block || ec ? info.capacity : len;
  SKIFF_TRY(img->Close());
  return info;
}

}  // namespace

Result<DomainDevices::BlockInfo> DomainDevices::DiskInfo(const std::string& ref,
                                                         const std::string& disk) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_.Acquire(ref));
  DomainObj& o = *held.first;
  SKIFF_ASSIGN_OR_RETURN(const conf::DiskDef* d, FindDisk(core_, o.live ? *o.live : o.def, disk));
  return InfoOf(core_, *d);
}

Result<std::vector<DomainDevices::BlockInfo>> DomainDevices::DiskInfos(const std::string& ref) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_.Acquire(ref));
  DomainObj& o = *held.first;
  std::vector<BlockInfo> out;
  for (const auto& d : (o.live ? *o.live : o.def).devices.disks) {
    SKIFF_ASSIGN_OR_RETURN(std::string path, core_.DiskPath(d));
    if (path.empty()) continue;
    SKIFF_ASSIGN_OR_RETURN(BlockInfo info, InfoOf(core_, d));
    out.push_back(std::move(info));
  }
  return out;
}

Status DomainDevices::ResizeDisk(const std::string& ref, const std::string& disk, uint64_t bytes) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_.Acquire(ref));
  DomainObj& o = *held.first;
  const conf::DomainDef& def = o.live ? *o.live : o.def;
  SKIFF_ASSIGN_OR_RETURN(const conf::DiskDef* d, FindDisk(core_, def, disk));
  if (d->device != conf::DiskDevice::kDisk || d->readonly) {
    return FailedPreconditionError("domain '{}': disk '{}' is a cdrom, floppy or read-only disk",
                                   def.name, d->target_dev);
  }
  if (bytes == 0 || bytes % 512 != 0) {
    return InvalidArgumentError(
        "domain '{}': disk '{}': new size {} is not a positive multiple "
        "of 512 bytes",
        def.name, d->target_dev, bytes);
  }
  SKIFF_ASSIGN_OR_RETURN(BlockInfo info, InfoOf(core_, *d));
  if (bytes < info.capacity) {
    return FailedPreconditionError(
        "domain '{}': disk '{}' is {} bytes; shrinking it to {} would cut off the guest's data",
        def.name, d->target_dev, info.capacity, bytes);
  }
  if (bytes == info.capacity) return Status::Ok();
  if (o.live) return core_.hv().ResizeDisk(def.name, d->target_dev, bytes);
  SKIFF_ASSIGN_OR_RETURN(std::string path, core_.DiskPath(*d));
  if (std::string user = core_.DiskHolder(path, true); !user.empty()) {
    return FailedPreconditionError("domain '{}': disk '{}' ('{}') is in use by running domain '{}'",
                                   def.name, d->target_dev, path, user);
  }
  return image::ResizeImage(path, d->format(), std::to_string(bytes), false,
                            image::Preallocation::kOff);
}

Result<std::vector<std::pair<std::string, std::string>>> DomainDevices::DiskErrors(
    const std::string& ref) {
  SKIFF_ASSIGN_OR_RETURN(auto held, core_.Acquire(ref));
  DomainObj& o = *held.first;
  if (!o.live) return FailedPreconditionError("domain '{}' is not running", o.def.name);
  return core_.hv().DiskErrors(o.def.name);
}

}  // namespace skiff::daemon
