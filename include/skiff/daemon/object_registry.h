// ObjectRegistry<T>: the one registry idiom for domains, networks and storage pools
// (libvirt keeps one for each in virdomainobjlist.c, virnetworkobj.c and
// virstorageobj.c, all alike). It finds objects by name, UUID or (objects with an
// id, i.e. domains) a positive numeric id; adds them under libvirt's name/UUID
// rules; removes them; and lists them.
//
// T has `std::mutex mu`, `bool removed` and a `def` with `name` and `uuid`; a
// domain-like T also has `std::atomic<int> id`. The registry keeps each object's
// name and UUID as its own keys, so it never reads `def` without the object's lock
// except in Add (before the object is shared).
//
// Locks: the registry's lock is a leaf. It is held only inside these methods and
// no shared object's lock is taken under it, so callers may call Remove (and
// everything else) while holding an object's lock. Acquire takes the object's lock after
// dropping the registry's and re-checks `removed`, so a lookup that races with a
// removal fails cleanly (kNotFound).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "skiff/base/status.h"
#include "skiff/base/uuid.h"

namespace skiff::daemon {

template <typename T>
class ObjectRegistry {
 public:
  using Ptr = std::shared_ptr<T>;
  using Lock = std::unique_lock<std::mutex>;
  using Held = std::pair<Ptr, Lock>;

  // `kind` names the objects in errors: "domain", "network", "storage pool".
  explicit ObjectRegistry(std::string kind) : kind_(std::move(kind)) {}

  // By name, then UUID, then (T with an id) numeric id; null when absent.
  Ptr Find(const std::string& ref) const {
    std::lock_guard l(mu_);
    return FindLocked(ref).first;
  }

  // Finds `ref` and takes its lock; kNotFound "KIND 'REF' not found" when absent or
  // removed meanwhile.
  Result<Held> Acquire(const std::string& ref) const {
    auto [obj, by_id] = [&] {
      std::lock_guard l(mu_);
      return FindLocked(ref);
    }();
    if (!obj) return NotFoundError("{} '{}' not found", kind_, ref);
    Lock lock(obj->mu);
    if (obj->removed) return NotFoundError("{} '{}' not found", kind_, ref);
    if constexpr (requires(T t) { t.id.load(); }) {
      // The id matched before the object's lock was held; the domain may have
      // stopped (or restarted under another id) since.
      if (by_id && std::to_string(obj->id.load()) != ref) {
        return NotFoundError("{} '{}' not found", kind_, ref);
      }
    }
    return std::make_pair(std::move(obj), std::move(lock));
  }

  // What Define, Create and Restore share (libvirt's virDomainObjListAddLocked):
  // the object named `def.name`, or a new one from `make()` with `def` copied in,
  // added; either way returned locked. A name held by an object with another UUID
  // is refused, unless `input_has_uuid` is false: then `def.uuid` becomes the
  // existing one, as a redefinition without <uuid> keeps it. A UUID held under
  // another name is refused. An existing object removed before its lock was taken
  // is kUnavailable ("retry").
  struct Slot {
    Ptr obj;
    bool fresh = false;  // made and added by this call
    Lock lock;           // obj->mu
  };
  template <typename Def, typename Make>
  Result<Slot> FindOrAdd(Def& def, bool input_has_uuid, Make make) {
    Slot slot;
    {
      std::lock_guard l(mu_);
      auto byname = by_name_.find(def.name);
      if (byname != by_name_.end()) {
        if (byname->second.uuid != def.uuid) {
          if (input_has_uuid) {
            return AlreadyExistsError("{} '{}' already exists with uuid {}", kind_, def.name,
                                      byname->second.uuid.ToString());
          }
          def.uuid = byname->second.uuid;
        }
        slot.obj = byname->second.obj;
      } else if (auto byuuid = by_uuid_.find(def.uuid); byuuid != by_uuid_.end()) {
        return AlreadyExistsError("{} '{}' is already defined with uuid {}", kind_, byuuid->second,
                                  def.uuid.ToString());
      } else {
        slot.obj = make();
        slot.obj->def = def;
        slot.fresh = true;
        // Nobody else can hold the new object's lock yet: taking it here is safe,
        // and no one sees the object before its maker has set it up.
        slot.lock = Lock(slot.obj->mu);
        Insert(slot.obj);
        return slot;
      }
    }
    slot.lock = Lock(slot.obj->mu);
    if (slot.obj->removed) {
      return UnavailableError("{} '{}' was undefined meanwhile; retry", kind_, def.name);
    }
    return slot;
  }

  // Adds an object that is not shared yet (loading); kAlreadyExists when its name
  // or UUID is taken.
  Status Add(const Ptr& obj) {
    std::lock_guard l(mu_);
    if (by_name_.count(obj->def.name) || by_uuid_.count(obj->def.uuid)) {
      return AlreadyExistsError("{} '{}' or its uuid {} is already defined", kind_, obj->def.name,
                                obj->def.uuid.ToString());
    }
    Insert(obj);
    return Status::Ok();
  }

  // Drops `obj` (marked removed) if it is still registered. Call it with the
  // object's lock held, so that its users see `removed` under that lock.
  void Remove(const Ptr& obj) {
    std::lock_guard l(mu_);
    obj->removed = true;
    for (auto it = by_name_.begin(); it != by_name_.end(); ++it) {
      if (it->second.obj != obj) continue;
      by_uuid_.erase(it->second.uuid);
      by_name_.erase(it);
      return;
    }
  }

  bool Contains(const std::string& name) const {
    std::lock_guard l(mu_);
    return by_name_.count(name) > 0;
  }

  // The objects, by name, unlocked (take each one's lock and skip removed ones).
  std::vector<Ptr> List() const {
    std::lock_guard l(mu_);
    std::vector<Ptr> out;
    out.reserve(by_name_.size());
    for (const auto& [name, e] : by_name_) out.push_back(e.obj);
    return out;
  }

  size_t size() const {
    std::lock_guard l(mu_);
    return by_name_.size();
  }

 private:
  struct Entry {
    Uuid uuid;
    Ptr obj;
  };

  void Insert(const Ptr& obj) {
    by_name_[obj->def.name] = Entry{obj->def.uuid, obj};
    by_uuid_[obj->def.uuid] = obj->def.name;
  }

  // The object and whether it matched by id.
  std::pair<Ptr, bool> FindLocked(const std::string& ref) const {
    if (auto it = by_name_.find(ref); it != by_name_.end()) return {it->second.obj, false};
    if (auto u = Uuid::Parse(ref); u.ok()) {
      if (auto it = by_uuid_.find(*u); it != by_uuid_.end()) {
        return {by_name_.at(it->second).obj, false};
      }
    }
    if constexpr (requires(T t) { t.id.load(); }) {
      if (!ref.empty() && ref.size() < 10 &&
          ref.find_first_not_of("0123456789") == std::string::npos) {
        int id = std::stoi(ref);
        for (const auto& [name, e] : by_name_) {
          if (id > 0 && e.obj->id.load() == id) return {e.obj, true};
        }
      }
    }
    return {nullptr, false};
  }

  std::string kind_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> by_name_;
  std::map<Uuid, std::string> by_uuid_;
};

}  // namespace skiff::daemon
