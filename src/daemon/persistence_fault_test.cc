// Definitions survive a failing disk and a power cut whole or not at all: every
// write the daemon makes to store definitions goes through the Env seam, and
// here through a FaultInjectionEnv that fails every write from the Nth on and
// then "crashes" (forgets what was not synced). For every N, a new daemon must
// find each definition either as it was or as the request that succeeded left
// it; never a half-written or lost one.
#include <gtest/gtest.h>

#include <filesystem>

#include "daemon/network/driver.h"
#include "daemon/storage/driver.h"
#include "skiff/base/fs.h"
#include "skiff/daemon/service.h"
#include "skiff/fake/fake_hypervisor.h"
#include "testutil/fault_injection_env.h"
#include "testutil/temp_dir.h"

namespace skiff::daemon {
namespace {

using skiff::testing::FaultInjectionEnv;

std::string DomainXml(const std::string& name, int mib) {
  return "<domain type='qemu'><name>" + name + "</name><memory unit='MiB'>" + std::to_string(mib) +
         "</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os>" + "<devices/></domain>";
}

std::string NetworkXml(const std::string& name) {
  return "<network><name>" + name +
         "</name><bridge name='virbr9'/>"
         "<ip address='10.99.0.1' netmask='255.255.255.0'/></network>";
}

std::string PoolXml(const std::string& name, const std::string& dir) {
  return "<pool type='dir'><name>" + name + "</name><target><path>" + dir +
         "</path></target></pool>";
}

// What one round asked for, and whether each request said it succeeded.
struct Round {
  bool redefine_a = false, define_b = false, undefine_c = false, autostart_a_off = false;
  bool define_net = false, define_pool = false;
};

// Does the round's requests on a daemon whose disk fails from write `n` on.
Round RunRound(const std::filesystem::path& root, FaultInjectionEnv& env, int n) {
  fake::FakeHypervisor hv;
  EventBus events;
  Service s(Paths(root), hv, events, nullptr, {}, env);
  EXPECT_TRUE(s.Load().ok());
  env.FailFromNthWrite(n);
  Round r;
  r.redefine_a = s.DefineDomain(DomainXml("a", 512), "a.xml").ok();
  r.define_b = s.DefineDomain(DomainXml("b", 128), "b.xml").ok();
  r.undefine_c = s.UndefineDomain("c", {}).ok();
  r.autostart_a_off = s.SetAutostart("a", false).ok();
  r.define_net = s.networks().Define(NetworkXml("lab"), "lab.xml").ok();
  r.define_pool =
      s.storage().DefinePool(PoolXml("images", (root / "images").string()), "images.xml").ok();
  return r;
}

TEST(PersistenceFaults, DefinitionsSurviveWholeOrNotAtAll) {
  int rounds = 0;
  for (int n = 1; n < 200; ++n) {
    skiff::testing::TempDir root;
    FaultInjectionEnv env(DefaultEnv());
    {
      // The state before: a (256 MiB, autostart) and c.
      fake::FakeHypervisor hv;
      EventBus events;
      Service s(Paths(root.path()), hv, events, nullptr, {}, env);
      ASSERT_TRUE(s.Load().ok());
      ASSERT_TRUE(s.DefineDomain(DomainXml("a", 256), "a.xml").ok());
      ASSERT_TRUE(s.DefineDomain(DomainXml("c", 64), "c.xml").ok());
      ASSERT_TRUE(s.SetAutostart("a", true).ok());
    }
    Round r = RunRound(root.path(), env, n);
    const bool hit = env.fault_hit();
    ASSERT_TRUE(env.Crash().ok());

    // A new daemon on what the disk kept.
    fake::FakeHypervisor hv;
    EventBus events;
    Service s(Paths(root.path()), hv, events);
    ASSERT_TRUE(s.Load().ok());
    SCOPED_TRACE(::testing::Message() << "fault from write " << n);
    auto a = s.GetDomain("a");
    ASSERT_TRUE(a.ok()) << "domain a was lost: " << a.status().ToString();
    const uint64_t a_kib = a->max_memory_kib;
    if (r.redefine_a) {
      EXPECT_EQ(a_kib, 512u * 1024);
    } else {
      EXPECT_TRUE(a_kib == 256u * 1024 || a_kib == 512u * 1024) << a_kib;
    }
    EXPECT_EQ(s.GetDomain("b").ok(), r.define_b);
    EXPECT_EQ(s.GetDomain("c").ok(), !r.undefine_c);
    EXPECT_EQ(a->summary.autostart, !r.autostart_a_off);
    EXPECT_EQ(s.networks().Get("lab").ok(), r.define_net);
    EXPECT_EQ(s.storage().GetPool("images").ok(), r.define_pool);
    // Every definition file left is whole: it parses (Load skips and logs others);
    // temp files of interrupted writes were cleaned at start.
    for (const std::string dir : {"domains", "networks", "pools"}) {
      for (const auto& e : std::filesystem::directory_iterator(root / "etc/skiff" / dir)) {
        EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
        if (e.path().extension() != ".xml" || !e.is_regular_file()) continue;
        const std::string name = e.path().stem().string();
        EXPECT_TRUE(dir == "domains"    ? s.GetDomain(name).ok()
                    : dir == "networks" ? s.networks().Get(name).ok()
                                        : s.storage().GetPool(name).ok())
            << e.path() << " is not a whole definition";
      }
    }
    ++rounds;
    if (!hit) break;  // every write of the round succeeded: all points were tried
  }
  EXPECT_GT(rounds, 10);  // the round makes many writes; each was a failure point once
}

// A daemon killed in the middle of a write leaves its temp file; the next start
// removes those and keeps the definitions (issue 23 item 3).
TEST(PersistenceFaults, TempFilesOfInterruptedWritesAreRemovedAtStart) {
  skiff::testing::TempDir root;
  {
    fake::FakeHypervisor hv;
    EventBus events;
    Service s(Paths(root.path()), hv, events);
    ASSERT_TRUE(s.Load().ok());
    ASSERT_TRUE(s.DefineDomain(DomainXml("a", 256), "a.xml").ok());
  }
  const auto domains = root / "etc/skiff/domains";
  const auto networks = root / "etc/skiff/networks";
  for (const auto& f :
       {domains / "a.xml.tmp.4242.7", domains / "b.xml.tmp.Xy12Ab", networks / "lab.xml.tmp.1.0"}) {
    ASSERT_TRUE(WriteFileAtomic(f, "<domain><name>half").ok());
  }
  fake::FakeHypervisor hv;
  EventBus events;
  Service s(Paths(root.path()), hv, events);
  ASSERT_TRUE(s.Load().ok());
  EXPECT_TRUE(s.GetDomain("a").ok());
  for (const auto& dir : {domains, networks}) {
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
    }
  }
}

}  // namespace
}  // namespace skiff::daemon
