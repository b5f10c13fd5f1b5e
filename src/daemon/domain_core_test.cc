// DomainCore on its own: a settings change that fails changes nothing (neither the
// guest's live definition nor the file on disk), a stop releases what the domain
// held, and ids only grow.
#include "daemon/domain_core.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>

#include "daemon/disk_usage.h"
#include "daemon/network/driver.h"
#include "daemon/storage/driver.h"
#include "skiff/base/fs.h"
#include "skiff/fake/fake_hypervisor.h"
#include "testutil/temp_dir.h"

namespace skiff::daemon {
namespace {

constexpr Scope kLive{true, false};
constexpr Scope kConfig{false, true};

class DomainCoreTest : public ::testing::Test {
 protected:
  DomainCoreTest()
      : paths_(dir_.path()),
        backend_(MakeFakeNetworkBackend()),
        net_(paths_, *backend_, events_, NetworkOptions{}),
        storage_(paths_, events_, disks_, DefaultEnv()),
        core_(paths_, DefaultEnv(), hv_, events_, net_, storage_, disks_) {
    EXPECT_TRUE(paths_.Create().ok());
    sub_ = events_.Subscribe([this](const nlohmann::json& e) {
      if (e["type"] == "lifecycle")
        seen_.push_back(e["event"].get<std::string>() + "/" + e.value("detail", ""));
    });
  }
  ~DomainCoreTest() override { events_.Unsubscribe(sub_); }

  // A persistent domain `name`, written to disk, running with a live definition.
  std::shared_ptr<DomainObj> Running(const std::string& name) {
    auto obj = std::make_shared<DomainObj>();
    obj->def.name = name;
    obj->def.uuid = Uuid::Generate();
    obj->def.os.type = "hvm";
    obj->def.memory_kib = 1 << 20;
    obj->def.vcpus = 2;
    conf::DiskDef disk;
    disk.type = conf::DiskType::kFile;
    disk.source_path = (dir_.path() / (name + ".img")).string();
    disk.target_dev = "vda";
    obj->def.devices.disks.push_back(disk);
    EXPECT_TRUE(core_.domains().Add(obj).ok());
    EXPECT_TRUE(core_.WriteDefinition(obj->def).ok());
    obj->live = obj->def;
    obj->id = core_.NextId();
    DomainCore::SetStatus(*obj, DomainStatus::Running(RunningReason::kBooted));
    core_.TrackDisks(name, &*obj->live);
    EXPECT_TRUE(core_.WriteLiveStatus(*obj).ok());
    return obj;
  }
  std::string DefinitionFile(const std::string& name) {
    return ReadFile(paths_.domains_dir / (name + ".xml")).value_or("<missing>");
  }

  testing::TempDir dir_;
  Paths paths_;
  EventBus events_;
  fake::FakeHypervisor hv_;
  std::unique_ptr<NetworkBackend> backend_;
  DiskUsage disks_;
  NetworkDriver net_;
  StorageDriver storage_;
  DomainCore core_;
  std::vector<std::string> seen_;
  uint64_t sub_ = 0;
};

TEST_F(DomainCoreTest, ALiveChangeTheGuestRefusesChangesNothing) {
  auto obj = Running("a");
  const std::string before = DefinitionFile("a");
  auto st = core_.ChangeSettings(
      *obj, Scope{true, true},
      [](conf::DomainDef& d, bool) {
        d.vcpus = 1;
        return Status::Ok();
      },
      [] { return InternalError("the guest said no"); });
  EXPECT_EQ(st.code(), Code::kInternal);
  EXPECT_EQ(obj->live->vcpus, 2u);
  EXPECT_EQ(obj->def.vcpus, 2u);
  EXPECT_EQ(DefinitionFile("a"), before);
}

TEST_F(DomainCoreTest, AnInvalidConfigChangeIsNeitherKeptNorWritten) {
  auto obj = Running("a");
  const std::string before = DefinitionFile("a");
  auto st = core_.ChangeSettings(
      *obj, kConfig,
      [](conf::DomainDef& d, bool) {
        d.memory_kib = 0;  // refused by ValidateDomain
        return Status::Ok();
      },
      [] { return Status::Ok(); });
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(obj->def.memory_kib, 1u << 20);
  EXPECT_EQ(DefinitionFile("a"), before);
  // --live on a domain that is not running is refused before anything is edited.
  core_.MarkStopped(*obj, ShutoffReason::kDestroyed);
  bool edited = false;
  st = core_.ChangeSettings(
      *obj, kLive,
      [&](conf::DomainDef&, bool) {
        edited = true;
        return Status::Ok();
      },
      [] { return Status::Ok(); });
  EXPECT_EQ(st.code(), Code::kFailedPrecondition) << st.ToString();
  EXPECT_FALSE(edited);
}

TEST_F(DomainCoreTest, StoppingReleasesTheDomainsDisksAndLiveStatus) {
  auto obj = Running("a");
  const std::string image = obj->def.devices.disks[0].source_path;
  EXPECT_EQ(core_.DiskHolder(image, true), "a");
  EXPECT_TRUE(std::filesystem::exists(paths_.run_domains / "a.status.json"));
  core_.MarkStopped(*obj, ShutoffReason::kCrashed);
  EXPECT_EQ(obj->status.state(), DomainState::kShutoff);
  EXPECT_EQ(obj->status.reason_name(), "crashed");
  EXPECT_EQ(obj->id.load(), -1);
  EXPECT_FALSE(obj->live.has_value());
  EXPECT_EQ(core_.DiskHolder(image, true), "");
  EXPECT_FALSE(std::filesystem::exists(paths_.run_domains / "a.status.json"));
  EXPECT_FALSE(std::filesystem::exists(paths_.run_domains / "a.xml"));
  ASSERT_FALSE(seen_.empty());
  EXPECT_EQ(seen_.back(), "stopped/crashed");
  // The definition stays.
  EXPECT_NE(DefinitionFile("a"), "<missing>");
}

TEST_F(DomainCoreTest, IdsOnlyGrowPastReattachedOnes) {
  int first = core_.NextId();
  core_.SeenId(first + 10);
  EXPECT_EQ(core_.NextId(), first + 11);
  core_.SeenId(3);  // an older id does not lower the next one
  EXPECT_EQ(core_.NextId(), first + 12);
}

}  // namespace
}  // namespace skiff::daemon
