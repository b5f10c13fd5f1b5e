// The save file of `save FILE` and of managed save (SAVE_DIR/NAME.save), as libvirt's
// qemu_saveimage.c keeps its own: one JSON header line
//   {"magic":"skiff-save-v1","paused":BOOL,"xml":"<domain>...</domain>"}\n
// followed by the hypervisor's state stream (QEMU's migration stream) in the same file.
// The daemon writes the header; the hypervisor appends the state after it and, on
// restore, reads from `state_offset`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "skiff/base/status.h"
#include "skiff/conf/domain.h"

namespace skiff::daemon {

inline constexpr std::string_view kSaveMagic = "skiff-save-v1";
// The longest header line read; the state after it may be gigabytes.
inline constexpr size_t kMaxSaveHeader = 16u << 20;

struct SaveHeader {
  conf::DomainDef def;        // the domain's live definition when it was saved
  bool paused = false;        // the state the restore brings it back in, by default
  uint64_t state_offset = 0;  // bytes of the header line, newline included
};

// Reads the header line of `file` and parses the definition inside it. Returns the
// open or read error (kNotFound, kIo, ...), kInvalidArgument "'FILE' is not a skiff
// save file" when the first line is not a header (no newline within kMaxSaveHeader
// bytes, not JSON, wrong magic, no xml), or the definition's parse error, which
// names `file` as its source.
Result<SaveHeader> ReadSaveHeader(const std::string& file);

// Writes a file holding only the header line for `def` (atomically, mode 0600);
// the hypervisor appends the state. Errors name `file`.
Status WriteSaveHeader(const std::string& file, const conf::DomainDef& def, bool paused);

// Replaces the header of the save file `file`, its state kept byte for byte: a
// copy with the new header is written beside it (FILE.tmp.PID; copy_file_range,
// so a reflink where the filesystem has them), synced and renamed over it, so
// that a crash leaves the old file or the new one. `old` is the header read
// from `file` (ReadSaveHeader): its state starts at old.state_offset. Errors
// name `file`.
Status RewriteSaveHeader(const std::string& file, const SaveHeader& old, const conf::DomainDef& def,
                         bool paused);

// Whether `next` may replace `saved` as the definition a save image restores
// (virsh save-image-define, managedsave-define): the guest's hardware must stay
// as QEMU saved it. Name and uuid must match; what may differ is what the guest
// cannot see: disk and interface sources, graphics (listen, port, password),
// title, description and metadata. kInvalidArgument naming `file` otherwise.
Status CheckSaveCompatible(const conf::DomainDef& saved, const conf::DomainDef& next,
                           const std::string& file);

}  // namespace skiff::daemon
