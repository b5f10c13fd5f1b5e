// Per-domain cgroups against fake v1 and v2 trees, and vCPU pinning of this
// test's own threads.
#include "qemu/cgroup.h"

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "qemu/vcpu_pin.h"
#include "skiff/base/fs.h"
#include "testutil/temp_dir.h"

namespace skiff::qemu {
namespace {

namespace fs = std::filesystem;

std::string Read(const fs::path& p) {
  auto s = ReadFile(p);
  return s.ok() ? *s : "<missing>";
}

void Touch(const fs::path& p, const std::string& text = "") {
  ASSERT_TRUE(MakeDirs(p.parent_path()).ok());
  ASSERT_TRUE(WriteFileAtomic(p, text).ok());
}

// A hybrid host like the CI machines: v1 cpu and memory, the daemon in
// memory:/process_api/x and cpu:/.
struct FakeV1 {
  testing::TempDir tmp;
  fs::path root = tmp / "cgroup";
  fs::path proc = tmp / "proc";
  FakeV1() {
    Touch(root / "cpu/cgroup.procs");
    Touch(root / "memory/cgroup.procs");
    Touch(root / "memory/process_api/x/cgroup.procs");
    Touch(root / "unified/cgroup.procs");
    Touch(proc / "self/cgroup", "4:memory:/process_api/x\n1:cpu,cpuacct:/\n0::/\n");
  }
};

TEST(Cgroup, DetectsNoneV1AndV2) {
  testing::TempDir tmp;
  CgroupManager none(tmp / "nothing", tmp / "proc");
  EXPECT_EQ(none.mode(), CgroupMode::kNone);
  EXPECT_NE(none.unavailable_reason().find("no cgroup v2 or v1"), std::string::npos);
  auto r = none.Create("vm");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);

  FakeV1 v1;
  EXPECT_EQ(CgroupManager(v1.root, v1.proc).mode(), CgroupMode::kV1);

  Touch(tmp / "v2/cgroup.controllers", "cpu memory\n");
  EXPECT_EQ(CgroupManager(tmp / "v2", tmp / "proc").mode(), CgroupMode::kV2);
}

TEST(Cgroup, V1PlacesDomainUnderDaemonsCgroupPerController) {
  FakeV1 f;
  CgroupManager m(f.root, f.proc);
  m.PopulateNewDirsForTest(
      {"cgroup.procs", "cpu.shares", "memory.limit_in_bytes", "memory.soft_limit_in_bytes"});
  auto cg = m.Create("web");
  ASSERT_TRUE(cg.ok()) << cg.status().ToString();
  ASSERT_EQ(cg->dirs().size(), 2u);
  EXPECT_EQ(cg->dirs()[0], f.root / "cpu/skiff/web");
  EXPECT_EQ(cg->dirs()[1], f.root / "memory/process_api/x/skiff/web");

  CgroupLimits l;
  l.cpu_shares = 512;
  l.memory_hard_limit_kib = 262144;
  ASSERT_TRUE(cg->Apply(l).ok());
  EXPECT_EQ(Read(f.root / "cpu/skiff/web/cpu.shares"), "512");
  EXPECT_EQ(Read(f.root / "memory/process_api/x/skiff/web/memory.limit_in_bytes"), "268435456");
  // Not asked: left alone.
  EXPECT_EQ(Read(f.root / "memory/process_api/x/skiff/web/memory.soft_limit_in_bytes"), "");
  EXPECT_EQ(*cg->CpuShares(), 512u);

  ASSERT_TRUE(cg->AddProcess(4242).ok());
  EXPECT_EQ(Read(f.root / "cpu/skiff/web/cgroup.procs"), "4242");
  EXPECT_EQ(*cg->Pids(), std::vector<pid_t>{4242});

  ASSERT_TRUE(cg->Remove().ok());
  EXPECT_FALSE(fs::exists(f.root / "cpu/skiff/web"));
  EXPECT_FALSE(fs::exists(f.root / "memory/process_api/x/skiff/web"));
  EXPECT_TRUE(fs::exists(f.root / "cpu/skiff"));  // shared by the other domains
  EXPECT_TRUE(cg->Remove().ok());                 // idempotent
}

TEST(Cgroup, V2PlacesDomainBesideTheDaemonWithControllersEnabled) {
  testing::TempDir tmp;
  fs::path root = tmp / "cg";
  Touch(root / "cgroup.controllers", "cpu memory\n");
  Touch(root / "system.slice/cgroup.subtree_control");
  Touch(root / "system.slice/skiffd.service/cgroup.procs");
  Touch(tmp / "proc/self/cgroup", "0::/system.slice/skiffd.service\n");
  CgroupManager m(root, tmp / "proc");
  m.PopulateNewDirsForTest(
      {"cgroup.procs", "cpu.weight", "memory.max", "memory.high", "memory.swap.max"});
  auto cg = m.Create("db");
  ASSERT_TRUE(cg.ok()) << cg.status().ToString();
  ASSERT_EQ(cg->dirs(), std::vector<fs::path>{root / "system.slice/skiff/db"});
  EXPECT_EQ(Read(root / "system.slice/cgroup.subtree_control"), "+cpu +memory");

  CgroupLimits l;
  l.cpu_shares = 2048;
  l.memory_hard_limit_kib = 1024;
  l.memory_soft_limit_kib = 512;
  l.swap_hard_limit_kib = 3072;  // memory + swap; v2 limits the swap alone
  ASSERT_TRUE(cg->Apply(l).ok());
  EXPECT_EQ(Read(root / "system.slice/skiff/db/memory.swap.max"), "2097152");
  EXPECT_EQ(Read(root / "system.slice/skiff/db/cpu.weight"), "79");
  EXPECT_EQ(Read(root / "system.slice/skiff/db/memory.max"), "1048576");
  EXPECT_EQ(Read(root / "system.slice/skiff/db/memory.high"), "524288");
  EXPECT_EQ(*cg->CpuShares(), 2046u);  // back from the weight: the scale is coarser
}

TEST(Cgroup, SharesWeightScale) {
  EXPECT_EQ(SharesToWeight(2), 1u);
  EXPECT_EQ(SharesToWeight(1024), 39u);
  EXPECT_EQ(SharesToWeight(262144), 10000u);
  EXPECT_EQ(SharesToWeight(0), 1u);
  EXPECT_EQ(WeightToShares(10000), 262144u);
  EXPECT_EQ(WeightToShares(1), 2u);
}

TEST(Cgroup, LimitWithoutControllerFileFailsNamingTheFile) {
  FakeV1 f;
  CgroupManager m(f.root, f.proc);
  m.PopulateNewDirsForTest({"cgroup.procs"});
  auto cg = m.Create("web");
  ASSERT_TRUE(cg.ok());
  CgroupLimits l;
  l.memory_hard_limit_kib = 1024;
  Status st = cg->Apply(l);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("memory.limit_in_bytes"), std::string::npos) << st.message();
  EXPECT_TRUE(cg->Apply(CgroupLimits{}).ok());
}

TEST(Cgroup, FindsTheCgroupOfARunningQemuAfterRestart) {
  FakeV1 f;
  CgroupManager m(f.root, f.proc);
  ASSERT_TRUE(m.Create("web").ok());
  Touch(f.proc / "777/cgroup",
        "4:memory:/process_api/x/skiff/web\n1:cpu,cpuacct:/skiff/web\n0::/\n");
  auto cg = m.FindForProcess("web", 777);
  ASSERT_TRUE(cg.ok()) << cg.status().ToString();
  EXPECT_EQ(cg->dirs()[0], f.root / "cpu/skiff/web");
  EXPECT_EQ(cg->dirs()[1], f.root / "memory/process_api/x/skiff/web");
  // Another domain's name, or a QEMU outside skiff's cgroups: not found.
  EXPECT_EQ(m.FindForProcess("db", 777).status().code(), Code::kNotFound);
  Touch(f.proc / "778/cgroup", "4:memory:/process_api/x\n1:cpu,cpuacct:/\n");
  EXPECT_EQ(m.FindForProcess("web", 778).status().code(), Code::kNotFound);
}

TEST(Cgroup, RejectsNamesThatEscapeTheTree) {
  FakeV1 f;
  CgroupManager m(f.root, f.proc);
  EXPECT_EQ(m.Create("..").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(m.Create("a/b").status().code(), Code::kInvalidArgument);
}

TEST(Cgroup, LimitsFromDefinition) {
  conf::DomainDef def;
  EXPECT_FALSE(LimitsFromDef(def).any());
  def.cputune = conf::CpuTune{};
  def.cputune->shares = 100;
  CgroupLimits l = LimitsFromDef(def);
  EXPECT_EQ(l.cpu_shares, 100u);
  EXPECT_FALSE(l.memory_soft_limit_kib);
}

TEST(VcpuPin, PinsVcpuAndEmulatorThreads) {
  auto before = ThreadAffinity(0);
  ASSERT_TRUE(before.ok());
  unsigned cpu = *before->begin();
  unsigned last = *before->rbegin();
  std::atomic<pid_t> tid{0};
  std::atomic<bool> stop{false};
  std::thread vcpu([&] {
    tid = static_cast<pid_t>(::syscall(SYS_gettid));
    while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  });
  while (tid == 0) std::this_thread::yield();

  // Pinning this process's threads: restore them afterwards.
  conf::DomainDef def;
  def.vcpus = 1;
  def.cputune = conf::CpuTune{};
  def.cputune->vcpupins.push_back({0, std::to_string(cpu)});
  def.cputune->emulatorpin = std::to_string(last);
  Status st = ApplyPinning(::getpid(), def, {{0, tid.load()}});
  auto vcpu_aff = ThreadAffinity(tid);
  auto main_aff = ThreadAffinity(0);
  cpu_set_t all;
  CPU_ZERO(&all);
  for (unsigned c : *before) CPU_SET(c, &all);
  for (const auto& e : fs::directory_iterator("/proc/self/task")) {
    ::sched_setaffinity(std::atoi(e.path().filename().c_str()), sizeof all, &all);
  }
  stop = true;
  vcpu.join();
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(*vcpu_aff, std::set<unsigned>{cpu});
  EXPECT_EQ(*main_aff, std::set<unsigned>{last});

  def.cputune->emulatorpin = "4000";
  st = ApplyPinning(::getpid(), def, {});
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("emulatorpin"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace skiff::qemu
