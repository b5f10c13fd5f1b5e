// Fuzzes the backup manifest parser with arbitrary bytes (a backup directory is
// input from anywhere: another host, a damaged disk). What it accepts must write
// back and read again to the same manifest.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "daemon/backup_manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto m = skiff::daemon::ParseManifest(text, "fuzz/manifest.json");
  if (!m.ok()) return 0;
  const std::string again = skiff::daemon::ManifestToJson(*m);
  auto back = skiff::daemon::ParseManifest(again, "round trip");
  if (!back.ok() || skiff::daemon::ManifestToJson(*back) != again) std::abort();
  return 0;
}
