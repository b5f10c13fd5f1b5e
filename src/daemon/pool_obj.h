// The registry's pool objects, shared by service_objects.cc (definitions) and
// service_storage.cc (the pool and volume machinery).
#pragma once

#include <mutex>

#include "skiff/conf/pool.h"
#include "skiff/daemon/service.h"

namespace skiff::daemon {

struct Service::PoolObj {
  std::mutex mu;  // serialises machinery on this pool (volume create, delete, ...)
  conf::PoolDef def;
  bool autostart = false;
  bool active = false;  // started; kept across daemon restarts in ROOT/run/skiff/pools
};

}  // namespace skiff::daemon
