// ObjectRegistry<T>: lookups by name, UUID and id; libvirt's name/UUID rules on
// add; removal racing with lookups.
#include "skiff/daemon/object_registry.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace skiff::daemon {
namespace {

struct Def {
  std::string name;
  Uuid uuid;
};

struct Obj {
  std::mutex mu;
  bool removed = false;
  Def def;
};

struct Dom {
  std::mutex mu;
  bool removed = false;
  Def def;
  std::atomic<int> id{-1};
};

Uuid U(int n) { return *Uuid::Parse(fmt::format("00000000-0000-0000-0000-{:012}", n)); }

template <typename T>
std::shared_ptr<T> Added(ObjectRegistry<T>& r, const std::string& name, int uuid) {
  Def d{name, U(uuid)};
  auto slot = r.FindOrAdd(d, true, [] { return std::make_shared<T>(); });
  EXPECT_TRUE(slot.ok()) << slot.status().ToString();
  EXPECT_TRUE(slot->fresh);
  return slot->obj;
}

TEST(ObjectRegistryTest, FindsByNameAndUuid) {
  ObjectRegistry<Obj> r("network");
  auto a = Added(r, "lab", 1);
  EXPECT_EQ(r.Find("lab"), a);
  EXPECT_EQ(r.Find(U(1).ToString()), a);
  EXPECT_EQ(r.Find("1"), nullptr);  // no ids for networks
  EXPECT_EQ(r.Find("other"), nullptr);
  auto held = r.Acquire("other");
  ASSERT_FALSE(held.ok());
  EXPECT_EQ(held.status().code(), Code::kNotFound);
  EXPECT_EQ(held.status().message(), "network 'other' not found");
}

TEST(ObjectRegistryTest, FindsRunningDomainsById) {
  ObjectRegistry<Dom> r("domain");
  auto a = Added(r, "web", 1);
  EXPECT_EQ(r.Find("3"), nullptr);
  a->id = 3;
  EXPECT_EQ(r.Find("3"), a);
  ASSERT_TRUE(r.Acquire("3").ok());
  a->id = -1;  // stopped: its old id no longer finds it
  EXPECT_FALSE(r.Acquire("3").ok());
  EXPECT_FALSE(r.Acquire("-1").ok());
}

TEST(ObjectRegistryTest, RedefinitionFollowsLibvirtsUuidRules) {
  ObjectRegistry<Obj> r("domain");
  auto a = Added(r, "web", 1);
  // Same name, same uuid: the existing object.
  Def same{"web", U(1)};
  auto s = r.FindOrAdd(same, true, [] { return std::make_shared<Obj>(); });
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->obj, a);
  EXPECT_FALSE(s->fresh);
  EXPECT_TRUE(s->lock.owns_lock());  // returned locked
  s->lock.unlock();
  // Same name, another uuid given: refused, naming the existing uuid.
  Def other_uuid{"web", U(2)};
  auto refused = r.FindOrAdd(other_uuid, true, [] { return std::make_shared<Obj>(); });
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kAlreadyExists);
  EXPECT_EQ(refused.status().message(), "domain 'web' already exists with uuid " + U(1).ToString());
  // Same name, no uuid in the input: it takes the existing uuid.
  Def no_uuid{"web", U(2)};
  auto kept = r.FindOrAdd(no_uuid, false, [] { return std::make_shared<Obj>(); });
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(no_uuid.uuid, U(1));
  kept->lock.unlock();
  // Another name, a used uuid: refused, naming its holder.
  Def clash{"db", U(1)};
  auto taken = r.FindOrAdd(clash, false, [] { return std::make_shared<Obj>(); });
  ASSERT_FALSE(taken.ok());
  EXPECT_EQ(taken.status().message(),
            "domain 'web' is already defined with uuid " + U(1).ToString());
  EXPECT_EQ(r.size(), 1u);
}

TEST(ObjectRegistryTest, AddRefusesUsedNamesAndUuids) {
  ObjectRegistry<Obj> r("storage pool");
  Added(r, "default", 1);
  auto same_name = std::make_shared<Obj>();
  same_name->def = {"default", U(2)};
  EXPECT_EQ(r.Add(same_name).code(), Code::kAlreadyExists);
  auto same_uuid = std::make_shared<Obj>();
  same_uuid->def = {"images", U(1)};
  EXPECT_EQ(r.Add(same_uuid).code(), Code::kAlreadyExists);
  auto fine = std::make_shared<Obj>();
  fine->def = {"images", U(3)};
  EXPECT_TRUE(r.Add(fine).ok());
  EXPECT_EQ(r.List().size(), 2u);
  EXPECT_EQ(r.List()[0]->def.name, "default");  // by name
}

TEST(ObjectRegistryTest, RemovedObjectsAreNotFoundAndFreeTheirKeys) {
  ObjectRegistry<Obj> r("network");
  auto a = Added(r, "lab", 1);
  {
    auto held = r.Acquire("lab");
    ASSERT_TRUE(held.ok());
    r.Remove(held->first);  // with the object's lock held: the registry lock is a leaf
  }
  EXPECT_TRUE(a->removed);
  EXPECT_FALSE(r.Contains("lab"));
  EXPECT_EQ(r.Find(U(1).ToString()), nullptr);
  Added(r, "lab2", 1);  // the uuid is free again
  r.Remove(a);          // removing twice is harmless
  EXPECT_EQ(r.size(), 1u);
}

TEST(ObjectRegistryTest, LookupRacingWithRemovalFailsCleanly) {
  ObjectRegistry<Obj> r("network");
  std::atomic<bool> stop{false};
  std::atomic<int> found{0};
  std::thread reader([&] {
    while (!stop) {
      auto held = r.Acquire("lab");
      if (held.ok()) {
        EXPECT_FALSE(held->first->removed);
        ++found;
      }
    }
  });
  for (int i = 0; i < 2000; ++i) {
    auto a = Added(r, "lab", 1);
    std::lock_guard l(a->mu);
    r.Remove(a);
  }
  stop = true;
  reader.join();
  EXPECT_EQ(r.size(), 0u);
}

}  // namespace
}  // namespace skiff::daemon
