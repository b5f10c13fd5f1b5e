// StorageDriver on a temporary root: the default pool, pools across a daemon
// restart, libvirt's refusals (one directory per pool, an active pool keeps its
// target) and volumes a running domain holds.
#include "daemon/storage/driver.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>

#include "skiff/base/fs.h"
#include "testutil/temp_dir.h"

namespace skiff::daemon {
namespace {

namespace fs = std::filesystem;

std::string DirPoolXml(const std::string& name, const fs::path& target) {
  return "<pool type='dir'><name>" + name + "</name><target><path>" + target.string() +
         "</path></target></pool>";
}

constexpr const char* kVolume =
    "<volume><name>v.img</name><capacity unit='MiB'>1</capacity>"
    "<target><format type='raw'/></target></volume>";

class StorageDriverTest : public ::testing::Test {
 protected:
  StorageDriverTest() : paths_(dir_.path()) {
    EXPECT_TRUE(paths_.Create().ok());
    Restart();
  }
  // A new driver on the same root, as at a daemon start.
  void Restart() {
    driver_.reset();
    driver_ = std::make_unique<StorageDriver>(paths_, events_, disks_, DefaultEnv());
    driver_->LoadDefinitions();
    driver_->Activate();
  }
  std::optional<PoolSummary> Pool(const std::string& name) {
    auto p = driver_->GetPool(name);
    if (!p.ok()) return std::nullopt;
    return *p;
  }
  // A started dir pool `name` under the temporary root.
  fs::path StartedPool(const std::string& name) {
    fs::path target = dir_.path() / ("pool-" + name);
    EXPECT_TRUE(driver_->DefinePool(DirPoolXml(name, target), name + ".xml").ok());
    EXPECT_TRUE(driver_->BuildPool(name).ok());
    EXPECT_TRUE(driver_->StartPool(name).ok());
    return target;
  }

  testing::TempDir dir_;
  Paths paths_;
  EventBus events_;
  DiskUsage disks_;
  std::unique_ptr<StorageDriver> driver_;
};

TEST_F(StorageDriverTest, DefaultPoolIsMadeOnceAndAnUndefineIsRespected) {
  auto def = Pool("default");
  ASSERT_TRUE(def.has_value());
  EXPECT_TRUE(def->active);
  EXPECT_TRUE(def->autostart);
  EXPECT_EQ(def->target, (paths_.lib_dir / "images").string());
  EXPECT_TRUE(fs::is_directory(paths_.lib_dir / "images"));
  ASSERT_TRUE(driver_->DestroyPool("default").ok());
  ASSERT_TRUE(driver_->UndefinePool("default").ok());
  Restart();
  EXPECT_FALSE(Pool("default").has_value()) << "the default pool came back after an undefine";
}

TEST_F(StorageDriverTest, ActiveAndInactivePoolsSurviveARestart) {
  StartedPool("up");
  ASSERT_TRUE(driver_->DefinePool(DirPoolXml("down", dir_.path() / "pool-down"), "d.xml").ok());
  Restart();
  ASSERT_TRUE(Pool("up").has_value());
  EXPECT_TRUE(Pool("up")->active);
  ASSERT_TRUE(Pool("down").has_value());
  EXPECT_FALSE(Pool("down")->active);
  // Started again by hand, it is still inactive after a restart unless autostart.
  ASSERT_TRUE(driver_->SetPoolAutostart("down", true).ok());
  ASSERT_TRUE(driver_->BuildPool("down").ok());
  Restart();
  EXPECT_TRUE(Pool("down")->active) << "an autostart pool starts with the daemon";
}

TEST_F(StorageDriverTest, TwoPoolsOnOneDirectoryAreRefused) {
  fs::path target = StartedPool("a");
  auto second = driver_->DefinePool(DirPoolXml("b", target.string() + "/"), "b.xml");
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kAlreadyExists);
  EXPECT_NE(second.status().ToString().find("already used by pool 'a'"), std::string::npos)
      << second.status().ToString();
  EXPECT_FALSE(fs::exists(paths_.pools_dir / "b.xml"));
}

TEST_F(StorageDriverTest, AnActivePoolKeepsItsTargetAndItsDefinition) {
  StartedPool("a");
  auto before = ReadFile(paths_.pools_dir / "a.xml");
  ASSERT_TRUE(before.ok());
  auto moved = driver_->DefinePool(DirPoolXml("a", dir_.path() / "elsewhere"), "a2.xml");
  EXPECT_EQ(moved.status().code(), Code::kFailedPrecondition) << moved.status().ToString();
  EXPECT_EQ(ReadFile(paths_.pools_dir / "a.xml").value_or(""), *before);
  EXPECT_EQ(driver_->UndefinePool("a").code(), Code::kFailedPrecondition);
  EXPECT_TRUE(Pool("a").has_value());
}

TEST_F(StorageDriverTest, AVolumeARunningDomainHoldsIsNotDeletedWipedOrResized) {
  fs::path target = StartedPool("a");
  auto vol = driver_->CreateVolume("a", kVolume, false);
  ASSERT_TRUE(vol.ok()) << vol.status().ToString();
  auto path = driver_->ResolveVolume("a", "v.img");
  ASSERT_TRUE(path.ok());
  EXPECT_EQ(*path, (target / "v.img").string());
  disks_.Set("g1", {{*path, true}});
  for (const Status& st : {driver_->DeleteVolume("a", "v.img"), driver_->WipeVolume("a", "v.img"),
                           driver_->ResizeVolume("a", "v.img", 2 << 20, false)}) {
    EXPECT_EQ(st.code(), Code::kFailedPrecondition) << st.ToString();
    EXPECT_NE(st.ToString().find("in use by running domain 'g1'"), std::string::npos)
        << st.ToString();
  }
  EXPECT_TRUE(fs::exists(*path));
  disks_.Set("g1", {});
  ASSERT_TRUE(driver_->DeleteVolume("a", "v.img").ok());
  EXPECT_FALSE(fs::exists(*path));
  // A volume of an inactive pool is not resolved for a domain's disk.
  ASSERT_TRUE(driver_->DestroyPool("a").ok());
  EXPECT_EQ(driver_->ResolveVolume("a", "v.img").status().code(), Code::kFailedPrecondition);
}

}  // namespace
}  // namespace skiff::daemon
