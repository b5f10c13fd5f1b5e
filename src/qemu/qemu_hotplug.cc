// Hot-plug of disks and NICs into a running guest (libvirt: qemu_hotplug.c): the
// QemuDriver methods and the steps they share (a free root port on q35, the
// SCSI controller a SCSI disk needs, the NIC's ids from its MAC).

#include <fmt/format.h>

#include "qemu/qemu_address.h"
#include "qemu/qemu_driver.h"
#include "qemu/qemu_files.h"
#include "skiff/base/strings.h"
#include "skiff/qemu/argv.h"
#include "skiff/qemu/qmp_commands.h"

namespace skiff::qemu {
namespace {

// QEMU's refusal to hot-plug, with what the definition needs for it.
Status HotplugHint(Status st) {
  if (st.ok() || st.message().find("does not support hotplugging") == std::string::npos) {
    return st;
  }
  return Status(st.code(), st.message() +
                               " (hot-plug needs <acpi/> in <features> on machine pc, and a "
                               "free pcie-root-port controller on q35)");
}

// The id of a hot-plugged NIC's device, from its MAC ("net-525400a1b2c3"); its
// netdev is "host" + the device id, as for the boot-time net0/hostnet0.
std::string HotplugNicId(const std::string& mac) {
  std::string id = "net-";
  for (char c : AsciiLower(mac)) {
    if (c != ':') id += c;
  }
  return id;
}

// Finds the device id of the NIC with `mac` among QEMU's user-created devices.
Result<std::string> FindNicDevice(QmpClient& qmp, const std::string& mac) {
  SKIFF_ASSIGN_OR_RETURN(auto devices, PeripheralDevices(qmp));
  for (const auto& [id, type] : devices) {
    auto m = DeviceMac(qmp, id);
    if (m.ok() && *m == AsciiLower(mac)) return id;
  }
  return NotFoundError("no network device with mac {} in qemu", mac);
}

// A SCSI disk needs the controller scsi0; like libvirt, one is hot-plugged when the
// domain has none (virtio-scsi, on a free root port on q35).
Status EnsureScsiController(QmpClient& qmp, bool q35, const std::string& domain) {
  SKIFF_ASSIGN_OR_RETURN(auto devices, PeripheralDevices(qmp));
  if (devices.count("scsi0")) return Status::Ok();
  nlohmann::json dev = {{"driver", "virtio-scsi-pci"}, {"id", "scsi0"}};
  if (q35) {
    SKIFF_ASSIGN_OR_RETURN(dev["bus"], FreeRootPort(qmp, domain));
  }
  return DeviceAdd(qmp, dev).WithContext("scsi controller 'scsi0'");
}

std::string NicDriver(conf::NicModel m) {
  switch (m) {
    case conf::NicModel::kVirtio:
      return "virtio-net-pci";
    case conf::NicModel::kE1000:
      return "e1000";
    case conf::NicModel::kE1000e:
      return "e1000e";
    case conf::NicModel::kRtl8139:
      return "rtl8139";
  }
  return "virtio-net-pci";
}

}  // namespace

Status QemuDriver::AttachDisk(const std::string& name, const conf::DiskDef& disk) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  const std::string what = fmt::format("domain '{}'", name);
  SKIFF_TRY(CheckDiskHotplug(disk, false).WithContext(what));
  if (disk.type == conf::DiskType::kVolume && disk.source_path.empty()) {
    return InvalidArgumentError(
        "{}: disk '{}': volume '{}' of pool '{}' was not resolved to a path", what, disk.target_dev,
        disk.source_volume, disk.source_pool);
  }
  QmpClient& qmp = vm->proc->qmp();
  std::string pci_bus;
  if (disk.bus == conf::DiskBus::kScsi) {
    SKIFF_TRY(HotplugHint(EnsureScsiController(qmp, vm->q35, name)).WithContext(what));
  } else if (disk.bus == conf::DiskBus::kUsb) {
    SKIFF_ASSIGN_OR_RETURN(auto devices, PeripheralDevices(qmp));
    if (!devices.count("usb")) {
      return FailedPreconditionError("{}: usb disk '{}' needs a usb controller", what,
                                     disk.target_dev);
    }
  } else if (vm->q35) {
    SKIFF_ASSIGN_OR_RETURN(pci_bus, FreeRootPort(qmp, name));
  }
  // QEMU opens no path: each layer goes over QMP as an fd set, named by the
  // disk so that a failed attach or the detach removes them.
  const std::string owner = DiskFdSetOwner(disk);
  auto attach = [&]() -> Status {
    std::map<std::string, std::string> aliases;
    if (!disk.source_path.empty()) {
      for (const auto& b : disk.backing_chain) {
        SKIFF_ASSIGN_OR_RETURN(aliases[b.path], AddFdSetOverQmp(qmp, b.path, false, owner));
      }
      const bool ro = disk.readonly || disk.device == conf::DiskDevice::kCdrom;
      SKIFF_ASSIGN_OR_RETURN(aliases[disk.source_path],
                             AddFdSetOverQmp(qmp, disk.source_path, !ro, owner));
    }
    SKIFF_ASSIGN_OR_RETURN(DiskHotplug h,
                           BuildDiskHotplug(disk, disk.source_path, pci_bus, aliases));
    return HotplugHint(qemu::AttachDisk(qmp, h.blockdev, h.device));
  };
  Status st = attach();
  if (!st.ok()) RemoveFdSetsOverQmp(qmp, owner);
  return st.WithContext(what);
}

Status QemuDriver::DetachDisk(const std::string& name, const conf::DiskDef& disk) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  const std::string what = fmt::format("domain '{}': disk '{}'", name, disk.target_dev);
  SKIFF_TRY(CheckDiskHotplug(disk, true).WithContext(fmt::format("domain '{}'", name)));
  std::vector<std::string> nodes = DiskNodeNames(disk);
  QmpClient& qmp = vm->proc->qmp();
  if (disk.source_path.empty() && disk.type != conf::DiskType::kVolume) {
    // An empty drive (cdrom without media) has no nodes to remove.
    return DeviceDel(qmp, DiskDeviceId(disk)).WithContext(what);
  }
  SKIFF_TRY(qemu::DetachDisk(qmp, DiskDeviceId(disk), nodes[0]).WithContext(what));
  // Nodes BuildQemuArgv added on their own (file and backing layers) outlive the top
  // node; a hot-plugged disk's file node went with it, so "not found" is expected.
  for (size_t i = 1; i < nodes.size(); ++i) (void)BlockdevDel(qmp, nodes[i]);
  RemoveFdSetsOverQmp(qmp, DiskFdSetOwner(disk));
  return Status::Ok();
}

Status QemuDriver::AttachInterface(const std::string& name, const conf::InterfaceDef& nic,
                                   const hypervisor::GuestTap& tap) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  QmpClient& qmp = vm->proc->qmp();
  const std::string id = HotplugNicId(nic.mac);
  nlohmann::json device = {
      {"driver", NicDriver(nic.model)}, {"id", id}, {"netdev", "host" + id}, {"mac", nic.mac}};
  const std::string what = fmt::format("domain '{}': interface {}", name, nic.mac);
  if (vm->q35) {
    SKIFF_ASSIGN_OR_RETURN(device["bus"], FreeRootPort(qmp, name));
  }
  if (nic.type == conf::InterfaceType::kUser) {
    SKIFF_TRY(
        NetdevAdd(qmp, nlohmann::json{{"type", "user"}, {"id", "host" + id}}).WithContext(what));
    if (Status dev = DeviceAdd(qmp, device); !dev.ok()) {
      (void)NetdevDel(qmp, "host" + id);
      return HotplugHint(dev).WithContext(what);
    }
    return Status::Ok();
  }
  if (tap.fd < 0) return InvalidArgumentError("{}: no tap was provided", what);
  return HotplugHint(
             AttachNic(qmp, tap.fd, nlohmann::json{{"type", "tap"}, {"id", "host" + id}}, device))
      .WithContext(what);
}

Status QemuDriver::DetachInterface(const std::string& name, const conf::InterfaceDef& nic) {
  SKIFF_ASSIGN_OR_RETURN(auto vm, Find(name));
  QmpClient& qmp = vm->proc->qmp();
  const std::string what = fmt::format("domain '{}': interface {}", name, nic.mac);
  auto id = FindNicDevice(qmp, nic.mac);
  if (!id.ok()) return id.status().WithContext(what);
  return DetachNic(qmp, *id, "host" + *id).WithContext(what);
}

}  // namespace skiff::qemu
