// The registry's domain object, and the small rules every domain action shares.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "skiff/base/status.h"
#include "skiff/conf/domain.h"
#include "skiff/daemon/domain_state.h"
#include "skiff/daemon/service_types.h"

namespace skiff::daemon {

struct DomainObj {
  std::mutex mu;
  bool removed = false;  // dropped from the registry; lookups that race with it fail
  conf::DomainDef def;   // the persistent definition (or, transient, the started one)
  std::optional<conf::DomainDef> live;  // while running
  bool persistent = true;
  bool autostart = false;
  DomainStatus status;      // set by DomainCore::SetStatus only
  std::atomic<int> id{-1};  // also read by id lookups without the object's lock
  int pid = 0;
};

// A new registry object for `define` (persistent) or `create`/`restore` (transient).
inline std::shared_ptr<DomainObj> NewDomainObj(bool persistent) {
  auto obj = std::make_shared<DomainObj>();
  obj->persistent = persistent;
  return obj;
}

// A definition as dumpxml shows it: graphics passwords only for `secure` callers.
inline std::string ShownXml(const conf::DomainDef& def, bool secure) {
  if (secure) return conf::FormatDomainXml(def);
  conf::DomainDef shown = def;
  for (auto& g : shown.devices.graphics) g.passwd.clear();
  return conf::FormatDomainXml(shown);
}

inline Status NotRunning(const std::string& name) {
  return FailedPreconditionError("domain '{}' is not running", name);
}

// Resolves --live/--config/--current against the domain's state: {live, config}.
inline Result<std::pair<bool, bool>> ResolveScope(const Scope& s, bool active, bool persistent,
                                                  const std::string& name) {
  bool live = s.live, config = s.config;
  if (!live && !config) {
    live = active;
    config = !active;
  }
  if (live && !active) return NotRunning(name);
  if (config && !persistent) {
    return FailedPreconditionError("cannot change the definition of transient domain '{}'", name);
  }
  return std::make_pair(live, config);
}

}  // namespace skiff::daemon
