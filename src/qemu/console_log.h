// The console log of a domain (LOG_DIR/domains/NAME.log, written by QEMU's chardev
// logfile with logappend=on) is capped and rotated, as libvirt's virtlogd does:
// a guest printing without end must not fill the host's disk.
#pragma once

#include <cstdint>
#include <filesystem>

#include "skiff/base/status.h"

namespace skiff::qemu {

struct LogLimits {
  // The live log may grow to this size (plus what the guest prints before the next
  // check: at most kCheckEvery bytes of the console) before it is rotated.
  uint64_t max_bytes = 2 << 20;
  // Files kept in all: NAME.log, NAME.log.1 ... NAME.log.(max_files-1), newest first.
  // 1 keeps no old lines at all (the live log is emptied).
  unsigned max_files = 3;
  // The console relay checks the log's size after this many bytes of guest output.
  static constexpr uint64_t kCheckEvery = 16 << 10;
};

// When `log` is larger than limits.max_bytes: NAME.log.K becomes NAME.log.K+1 (the
// oldest dropped), a copy of NAME.log becomes NAME.log.1, and NAME.log is emptied in
// place. QEMU keeps writing to its open descriptor (O_APPEND: its next line goes
// to the start of the emptied file), so nothing is reopened; what it writes between
// the copy and the truncation (microseconds) is lost, as with logrotate's
// copytruncate. A missing log, or one within the limit, is left alone. Returns
// whether it rotated; kIo naming the file on failure (the live log is then kept).
Result<bool> RotateLogIfLarge(const std::filesystem::path& log, const LogLimits& limits);

}  // namespace skiff::qemu
