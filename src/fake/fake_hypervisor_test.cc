// The fake driver keeps the promises of the Hypervisor interface that the
// daemon relies on: reports come in order, on a thread of its own.
#include "skiff/fake/fake_hypervisor.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "skiff/base/fs.h"
#include "testutil/temp_dir.h"

namespace skiff::fake {
namespace {

using hypervisor::ExitReason;
using hypervisor::GuestEvent;
using Kind = GuestEvent::Kind;

conf::DomainDef Def(const std::string& name) {
  conf::DomainDef d;
  d.name = name;
  d.memory_kib = 262144;
  d.vcpus = 1;
  return d;
}

// Collects reports and the threads they came on.
struct Reports {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> seen;
  std::vector<std::thread::id> threads;

  void Add(std::string what) {
    std::lock_guard l(mu);
    seen.push_back(std::move(what));
    threads.push_back(std::this_thread::get_id());
    cv.notify_all();
  }
  bool WaitFor(size_t n) {
    std::unique_lock l(mu);
    return cv.wait_for(l, std::chrono::seconds(5), [&] { return seen.size() >= n; });
  }
};

class FakeHypervisorTest : public ::testing::Test {
 protected:
  FakeHypervisorTest() {
    hv_.SetExitCallback([this](const std::string& name, ExitReason r) {
      reports_.Add(name + " exit " + std::to_string(static_cast<int>(r)));
    });
    hv_.SetGuestEventCallback([this](const std::string& name, const GuestEvent& ev) {
      reports_.Add(name + " event " + std::to_string(static_cast<int>(ev.kind)) + " " + ev.detail);
    });
  }
  FakeHypervisor hv_;
  Reports reports_;
};

TEST_F(FakeHypervisorTest, GuestEventsAndExitsArriveInOrderOnAnotherThread) {
  ASSERT_TRUE(hv_.Start(Def("a"), {}).ok());
  hv_.GuestEventForTest("a", {Kind::kPaused, "ioerror"});
  hv_.GuestEventForTest("a", {Kind::kResumed, "unpaused"});
  hv_.GuestEventForTest("a", {Kind::kReset, "guest"});
  hv_.CrashForTest("a");
  ASSERT_TRUE(reports_.WaitFor(4));
  EXPECT_EQ(reports_.seen, (std::vector<std::string>{"a event 0 ioerror", "a event 1 unpaused",
                                                     "a event 2 guest", "a exit 2"}));
  for (auto id : reports_.threads) EXPECT_NE(id, std::this_thread::get_id());
}

TEST_F(FakeHypervisorTest, APanickedGuestIsStoppedAndKept) {
  ASSERT_TRUE(hv_.Start(Def("a"), {}).ok());
  hv_.GuestEventForTest("a", {Kind::kPanicked, "panicked"});
  ASSERT_TRUE(reports_.WaitFor(1));
  EXPECT_EQ(reports_.seen[0], "a event 3 panicked");
  EXPECT_EQ(hv_.RunningCountForTest(), 1u);
  // After a daemon restart, Recheck reports it again.
  ASSERT_TRUE(hv_.Attach(Def("a")).ok());
  hv_.Recheck("a");
  ASSERT_TRUE(reports_.WaitFor(2));
  EXPECT_EQ(reports_.seen[1], "a event 3 panicked");
}

TEST_F(FakeHypervisorTest, RecheckReportsTheStateAsItIs) {
  ASSERT_TRUE(hv_.Start(Def("a"), {}).ok());
  ASSERT_TRUE(hv_.Suspend("a").ok());
  hv_.Recheck("a");
  ASSERT_TRUE(hv_.Resume("a").ok());
  hv_.Recheck("a");
  hv_.Recheck("nope");  // not running: nothing to report
  ASSERT_TRUE(reports_.WaitFor(2));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(reports_.seen, (std::vector<std::string>{"a event 0 user", "a event 1 unpaused"}));
}

TEST_F(FakeHypervisorTest, DumpMemoryWritesANewFileOnly) {
  testing::TempDir dir;
  ASSERT_TRUE(hv_.Start(Def("a"), {}).ok());
  auto path = (dir / "a.core").string();
  ASSERT_TRUE(hv_.DumpMemory("a", path).ok());
  EXPECT_EQ(ReadFile(path).value_or(""), "SKIFF-FAKE-CORE\na\n");
  EXPECT_FALSE(hv_.DumpMemory("a", path).ok());                       // exists: never overwritten
  EXPECT_FALSE(hv_.DumpMemory("b", (dir / "b.core").string()).ok());  // not running
}

}  // namespace
}  // namespace skiff::fake
