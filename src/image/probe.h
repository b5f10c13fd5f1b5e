// Recognising an image's format by its magic, as QEMU's block drivers probe them:
// Skiff's own formats (qcow2, raw) and the foreign ones it must never take for raw.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace skiff::image {

// The format whose signature `head` (the file's first bytes, zero-filled past its
// end; 512 are enough) or `tail` (its last 512 bytes, empty for a shorter file)
// carries: "qcow2", a foreign format's QEMU name ("vmdk", "vdi", "vhdx", "vpc",
// "qed", "qcow", "cloop", "dmg", "parallels", "luks", "bochs"), or "raw".
std::string_view FormatFromMagic(std::span<const uint8_t> head, std::span<const uint8_t> tail);

// A foreign format's long name for messages ("VMware VMDK"); empty for raw and qcow2.
std::string_view ForeignFormatTitle(std::string_view format);

}  // namespace skiff::image
