// DiskUsage: which running domain holds which image file, and whether it writes it.
// The Service records a domain's disks when it starts and drops them when it
// stops; the Service (starting a second domain) and the StorageDriver (deleting,
// wiping, resizing, uploading to or cloning a volume) ask it before they touch a
// file. Thread-safe; its lock is a leaf.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace skiff::daemon {

class DiskUsage {
 public:
  // The files `domain` now holds, as {path, writes}; empty when it stopped.
  void Set(const std::string& domain, const std::vector<std::pair<std::string, bool>>& files) {
    std::lock_guard l(mu_);
    for (auto it = files_.begin(); it != files_.end();) {
      it = it->second.domain == domain ? files_.erase(it) : std::next(it);
    }
    for (const auto& [path, writes] : files) files_.insert({path, {domain, writes}});
  }

  // A running domain with `path` open (any mode), or "".
  std::string User(const std::string& path) const {
    std::lock_guard l(mu_);
    auto it = files_.find(path);
    return it == files_.end() ? "" : it->second.domain;
  }

  // A running domain writing `path` (not readonly, not shareable), or "".
  std::string Writer(const std::string& path) const {
    std::lock_guard l(mu_);
    auto [b, e] = files_.equal_range(path);
    for (auto it = b; it != e; ++it) {
      if (it->second.writes) return it->second.domain;
    }
    return "";
  }

  // A running domain with a file under `dir` (ending in '/'), or "".
  std::string UserUnder(const std::string& dir) const {
    std::lock_guard l(mu_);
    for (const auto& [path, use] : files_) {
      if (path.rfind(dir, 0) == 0) return use.domain;
    }
    return "";
  }

 private:
  struct Use {
    std::string domain;
    bool writes = false;
  };
  mutable std::mutex mu_;
  std::multimap<std::string, Use> files_;  // path -> holder
};

}  // namespace skiff::daemon
