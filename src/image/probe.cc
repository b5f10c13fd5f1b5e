// Format probing by magic (issue 23 item 14): a foreign image opened without an
// explicit format is refused by name, never handed to the guest as raw bytes.
#include "image/probe.h"

#include <cstring>

#include "image/endian.h"
#include "image/qcow2_header.h"

namespace skiff::image {
namespace {

bool StartsWith(std::span<const uint8_t> b, std::string_view magic, size_t at = 0) {
  return b.size() >= at + magic.size() &&
         std::memcmp(b.data() + at, magic.data(), magic.size()) == 0;
}

uint32_t LoadLe32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

}  // namespace

std::string_view FormatFromMagic(std::span<const uint8_t> head, std::span<const uint8_t> tail) {
  if (head.size() >= 8 && LoadBe32(head.data()) == kQcow2Magic) {
    return LoadBe32(head.data() + 4) == 1 ? "qcow" : "qcow2";
  }
  if (StartsWith(head, "KDMV") || StartsWith(head, "COWD") ||
      StartsWith(head, "# Disk DescriptorFile")) {
    return "vmdk";
  }
  if (head.size() >= 0x44 && LoadLe32(head.data() + 0x40) == 0xbeda107f) return "vdi";
  if (StartsWith(head, "vhdxfile")) return "vhdx";
  if (StartsWith(head, "conectix")) return "vpc";
  if (StartsWith(head, std::string_view("QED\0", 4))) return "qed";
  if (StartsWith(head, "#!/bin/sh\n#V2.0 Format\n")) return "cloop";
  if (StartsWith(head, "WithoutFreeSpace") || StartsWith(head, "WithouFreSpacExt")) {
    return "parallels";
  }
  if (StartsWith(head, std::string_view("LUKS\xba\xbe", 6))) return "luks";
  if (StartsWith(head, "Bochs Virtual HD Image")) return "bochs";
  // A UDIF (.dmg) trailer: "koly" at the start of the last 512 bytes.
  if (tail.size() == 512 && StartsWith(tail, "koly")) return "dmg";
  return "raw";
}

std::string_view ForeignFormatTitle(std::string_view format) {
  if (format == "vmdk") return "VMware VMDK";
  if (format == "vdi") return "VirtualBox VDI";
  if (format == "vhdx") return "Hyper-V VHDX";
  if (format == "vpc") return "Virtual PC VHD";
  if (format == "qed") return "QEMU QED";
  if (format == "qcow") return "QEMU qcow (version 1)";
  if (format == "cloop") return "compressed loop (cloop)";
  if (format == "dmg") return "Apple disk image (dmg)";
  if (format == "parallels") return "Parallels";
  if (format == "luks") return "LUKS encrypted";
  if (format == "bochs") return "Bochs";
  return {};
}

}  // namespace skiff::image
