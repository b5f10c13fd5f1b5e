// Where skiffd keeps its state under its root (DESIGN.md "Processes and state").
#pragma once

#include <filesystem>
#include <string>

#include "skiff/base/status.h"

namespace skiff::daemon {

struct Paths {
  explicit Paths(const std::filesystem::path& root = "/");
  std::filesystem::path root;
  std::filesystem::path domains_dir;    // ROOT/etc/skiff/domains
  std::filesystem::path autostart_dir;  // ROOT/etc/skiff/domains/autostart
  std::filesystem::path networks_dir;   // ROOT/etc/skiff/networks
  std::filesystem::path pools_dir;      // ROOT/etc/skiff/pools
  std::filesystem::path run_dir;        // ROOT/run/skiff
  std::filesystem::path run_domains;    // ROOT/run/skiff/domains: live status
  std::filesystem::path lib_dir;        // ROOT/var/lib/skiff
  std::filesystem::path save_dir;       // ROOT/var/lib/skiff/save: managed save
  std::filesystem::path dump_dir;       // ROOT/var/lib/skiff/dump: <on_crash>coredump-*
  std::filesystem::path snapshot_dir;   // ROOT/var/lib/skiff/snapshots/DOMAIN/NAME.xml
  std::filesystem::path log_dir;        // ROOT/var/log/skiff
  std::filesystem::path socket;         // ROOT/run/skiff/skiffd.sock
  Status Create() const;                // mkdir -p all of the above
  // A domain's managed save image: save_dir/NAME.save.
  std::filesystem::path managed_save(const std::string& domain) const {
    return save_dir / (domain + ".save");
  }
  // A domain's snapshot metadata: snapshot_dir/DOMAIN.
  std::filesystem::path snapshots(const std::string& domain) const { return snapshot_dir / domain; }
};

}  // namespace skiff::daemon
