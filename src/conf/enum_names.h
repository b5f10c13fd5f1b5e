// Name tables for the model's enums (libvirt spellings) and lookups over them.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace skiff::conf {

template <typename E, size_t N>
std::optional<E> EnumFromName(const std::array<std::string_view, N>& names, std::string_view s) {
  for (size_t i = 0; i < N; ++i) {
    if (names[i] == s) return static_cast<E>(i);
  }
  return std::nullopt;
}

template <size_t N>
std::string EnumList(const std::array<std::string_view, N>& names) {
  std::string out;
  for (auto n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

inline constexpr std::array<std::string_view, 2> kDomainTypeNames = {"kvm", "qemu"};
inline constexpr std::array<std::string_view, 6> kLifecycleNames = {
    "destroy", "restart", "preserve", "rename-restart", "coredump-destroy", "coredump-restart"};
inline constexpr std::array<std::string_view, 4> kCpuModeNames = {"custom", "host-passthrough",
                                                                  "host-model", "maximum"};
inline constexpr std::array<std::string_view, 4> kBootDeviceNames = {"hd", "cdrom", "network",
                                                                     "fd"};
inline constexpr std::array<std::string_view, 3> kDiskTypeNames = {"file", "block", "volume"};
inline constexpr std::array<std::string_view, 2> kDiskDeviceNames = {"disk", "cdrom"};
inline constexpr std::array<std::string_view, 5> kDiskBusNames = {"virtio", "sata", "scsi", "ide",
                                                                  "usb"};
inline constexpr std::array<std::string_view, 3> kInterfaceTypeNames = {"network", "bridge",
                                                                        "user"};
inline constexpr std::array<std::string_view, 4> kNicModelNames = {"virtio", "e1000", "e1000e",
                                                                   "rtl8139"};
inline constexpr std::array<std::string_view, 5> kCharSourceNames = {"pty", "unix", "file", "null",
                                                                     "spicevmc"};
inline constexpr std::array<std::string_view, 2> kGraphicsTypeNames = {"vnc", "spice"};
inline constexpr std::array<std::string_view, 6> kVideoModelNames = {"none", "vga",    "cirrus",
                                                                     "qxl",  "virtio", "bochs"};
inline constexpr std::array<std::string_view, 3> kInputTypeNames = {"mouse", "keyboard", "tablet"};
inline constexpr std::array<std::string_view, 3> kInputBusNames = {"ps2", "usb", "virtio"};
inline constexpr std::array<std::string_view, 3> kWatchdogModelNames = {"i6300esb", "ib700",
                                                                        "itco"};
inline constexpr std::array<std::string_view, 5> kForwardModeNames = {"none", "nat", "route",
                                                                      "open", "bridge"};

}  // namespace skiff::conf
