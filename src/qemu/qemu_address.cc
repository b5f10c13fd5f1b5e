// PCI addressing of a running guest: the save file's slot layout and the free
// pcie-root-port for a hot-plugged device, from query-pci and the QOM tree.
#include "qemu/qemu_address.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "skiff/base/strings.h"
#include "skiff/qemu/qmp_commands.h"

namespace skiff::qemu {
namespace {

std::string SlotName(const PciDevice& dev) {
  return dev.function ? fmt::format("{:#x}.{:#x}", dev.slot, dev.function)
                      : fmt::format("{:#x}", dev.slot);
}

}  // namespace

nlohmann::json PciLayout(QmpClient& qmp) {
  nlohmann::json out = nlohmann::json::object();
  auto buses = QueryPci(qmp);
  if (!buses.ok()) return out;
  // `prefix` is "" on the root bus, "pci.N:" behind the bridge (root port) pci.N.
  auto add = [&](const std::vector<PciDevice>& devices, const std::string& prefix,
                 auto& self) -> void {
    for (const auto& dev : devices) {
      if (dev.qdev_id.empty() || dev.slot < 0) continue;
      auto mac = DeviceMac(qmp, dev.qdev_id);
      out[mac.ok() ? "mac:" + *mac : dev.qdev_id] = prefix + SlotName(dev);
      if (prefix.empty() && dev.bridge) self(dev.bridged, dev.qdev_id + ":", self);
    }
  };
  for (const auto& bus : *buses) {
    if (bus.bus == 0) add(bus.devices, "", add);
  }
  return out;
}

Result<std::map<std::string, std::string>> ReadPciLayout(int fd, const conf::DomainDef& def,
                                                         const std::string& file) {
  std::string line;
  char c;
  for (;;) {
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, fmt::format("read save file '{}'", file));
    if (n == 0 || line.size() > (1u << 20)) {
      return InvalidArgumentError("save file '{}' holds no qemu state", file);
    }
    if (c == '\n') break;
    line += c;
  }
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (!j.is_object() || !j.contains("pci") || !j["pci"].is_object()) {
    return InvalidArgumentError("save file '{}' holds no qemu state", file);
  }
  std::map<std::string, std::string> out;
  for (const auto& [key, addr] : j["pci"].items()) {
    if (!addr.is_string()) continue;
    if (key.rfind("mac:", 0) == 0) {
      const auto& nics = def.devices.interfaces;
      for (size_t i = 0; i < nics.size(); ++i) {
        if (AsciiLower(nics[i].mac) == key.substr(4)) out[fmt::format("net{}", i)] = addr;
      }
    } else {
      out[key] = addr.get<std::string>();
    }
  }
  return out;
}

Result<std::string> FreeRootPort(QmpClient& qmp, const std::string& domain) {
  SKIFF_ASSIGN_OR_RETURN(auto types, PeripheralDevices(qmp));
  SKIFF_ASSIGN_OR_RETURN(auto buses, QueryPci(qmp));
  std::set<std::string> used;
  for (const auto& bus : buses) {
    for (const auto& dev : bus.devices) {
      if (dev.bridge && !dev.bridged.empty()) used.insert(dev.qdev_id);
    }
  }
  std::optional<std::pair<unsigned long, std::string>> best;
  for (const auto& [id, type] : types) {
    if (type != "pcie-root-port" || used.count(id) || id.rfind("pci.", 0) != 0) continue;
    unsigned long n = std::strtoul(id.c_str() + 4, nullptr, 10);
    if (!best || n < best->first) best = std::pair{n, id};
  }
  if (!best) {
    return FailedPreconditionError(
        "domain '{}' has no free pcie-root-port for a hot-plugged device (on q35 each one needs "
        "its own; define spare <controller type='pci' model='pcie-root-port'/>)",
        domain);
  }
  return best->second;
}

}  // namespace skiff::qemu
