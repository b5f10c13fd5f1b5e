// Tests for the QMP operations, each against a scripted FakeQmpServer.
#include "skiff/qemu/qmp_commands.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>

#include <gtest/gtest.h>

#include "testutil/fake_qmp_server.h"
#include "testutil/temp_dir.h"

namespace skiff::qemu {
namespace {

using nlohmann::json;
using skiff::testing::FakeQmpServer;
using Cmd = FakeQmpServer::Command;
using namespace std::chrono_literals;

class QmpCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start().ok()); }
  QmpClient& qmp() {
    if (!client_) {
      auto c = QmpClient::Connect(server_.socket_path());
      EXPECT_TRUE(c.ok()) << c.status().ToString();
      client_ = std::move(c).value();
    }
    return *client_;
  }
  // Commands after negotiation.
  std::vector<std::string> Sent() {
    auto n = server_.command_names();
    n.erase(n.begin());
    return n;
  }

  skiff::testing::TempDir dir_;
  FakeQmpServer server_{dir_ / "qmp.sock"};
  std::unique_ptr<QmpClient> client_;
};

TEST(RunStatusFromQemu, MapsQemuStates) {
  EXPECT_EQ(RunStatusFromQemu("running", true).state, RunState::kRunning);
  auto pre = RunStatusFromQemu("prelaunch", false);
  EXPECT_EQ(pre.state, RunState::kPaused);
  EXPECT_EQ(pre.reason, "starting-up");
  EXPECT_EQ(RunStatusFromQemu("paused", false).reason, "user");
  EXPECT_EQ(RunStatusFromQemu("postmigrate", false).reason, "saved");
  EXPECT_EQ(RunStatusFromQemu("inmigrate", false).reason, "migration");
  EXPECT_EQ(RunStatusFromQemu("io-error", false).state, RunState::kPaused);
  EXPECT_EQ(RunStatusFromQemu("shutdown", false).state, RunState::kShutdown);
  EXPECT_EQ(RunStatusFromQemu("guest-panicked", false).state, RunState::kCrashed);
  EXPECT_EQ(RunStatusFromQemu("internal-error", false).state, RunState::kCrashed);
  EXPECT_EQ(RunStatusFromQemu("suspended", false).state, RunState::kPmSuspended);
  auto odd = RunStatusFromQemu("brand-new-state", false);
  EXPECT_EQ(odd.state, RunState::kUnknown);
  EXPECT_EQ(odd.reason, "brand-new-state");
  EXPECT_EQ(RunStateName(RunState::kPmSuspended), "pmsuspended");
}

TEST_F(QmpCommandsTest, QueryStatus) {
  server_.ReturnFor("query-status",
                    json{{"status", "paused"}, {"running", false}, {"singlestep", false}});
  auto s = QueryStatus(qmp());
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->state, RunState::kPaused);
  EXPECT_EQ(s->reason, "user");
  EXPECT_EQ(s->qemu_status, "paused");
  EXPECT_FALSE(s->running);
}

TEST_F(QmpCommandsTest, QueryStatusWithoutStatusIsCorruption) {
  server_.ReturnFor("query-status", json{{"running", true}});
  EXPECT_EQ(QueryStatus(qmp()).status().code(), Code::kCorruption);
  server_.ReturnFor("query-status", json::array());
  EXPECT_EQ(QueryStatus(qmp()).status().code(), Code::kCorruption);
}

TEST_F(QmpCommandsTest, PowerCommands) {
  for (const char* c : {"system_powerdown", "system_reset", "stop", "cont", "quit"}) {
    server_.ReturnFor(c, json::object());
  }
  EXPECT_TRUE(SystemPowerdown(qmp()).ok());
  EXPECT_TRUE(SystemReset(qmp()).ok());
  EXPECT_TRUE(Pause(qmp()).ok());
  EXPECT_TRUE(Resume(qmp()).ok());
  EXPECT_TRUE(Quit(qmp()).ok());
  EXPECT_EQ(Sent(),
            (std::vector<std::string>{"system_powerdown", "system_reset", "stop", "cont", "quit"}));
}

TEST_F(QmpCommandsTest, Balloon) {
  server_.ReturnFor("balloon", json::object());
  server_.ReturnFor("query-balloon", json{{"actual", 268435456}});
  ASSERT_TRUE(SetBalloon(qmp(), 128 << 20).ok());
  EXPECT_EQ(server_.commands().back().args["value"], 128 << 20);
  auto b = QueryBalloon(qmp());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, 268435456u);
  EXPECT_EQ(SetBalloon(qmp(), 0).code(), Code::kInvalidArgument);
}

TEST_F(QmpCommandsTest, InitialBalloonIsCurrentMemory) {
  server_.ReturnFor("balloon", json::object());
  conf::DomainDef def;
  def.memory_kib = 512 * 1024;
  def.current_memory_kib = 256 * 1024;
  def.devices.memballoon = conf::MemballoonDef{};
  ASSERT_TRUE(SetInitialBalloon(qmp(), def).ok());
  EXPECT_EQ(Sent(), std::vector<std::string>{"balloon"});
  EXPECT_EQ(server_.commands().back().args["value"], int64_t{256} << 20);
  // Nothing to do at the maximum, or without a virtio balloon.
  def.current_memory_kib = def.memory_kib;
  ASSERT_TRUE(SetInitialBalloon(qmp(), def).ok());
  def.current_memory_kib = 128 * 1024;
  def.devices.memballoon->model = "none";
  ASSERT_TRUE(SetInitialBalloon(qmp(), def).ok());
  EXPECT_EQ(Sent().size(), 1u);
}

TEST_F(QmpCommandsTest, GraphicsPasswordsAreSetOverQmp) {
  conf::DomainDef def;
  def.devices.graphics.resize(3);
  def.devices.graphics[0].passwd = "s3cr,et";
  def.devices.graphics[1].type = conf::GraphicsType::kSpice;  // no password: nothing sent
  def.devices.graphics[2].type = conf::GraphicsType::kSpice;
  def.devices.graphics[2].passwd = "sp1ce";
  server_.ReturnFor("set_password", json::object());
  ASSERT_TRUE(SetGraphicsPasswords(qmp(), def).ok());
  ASSERT_EQ(Sent(), (std::vector<std::string>{"set_password", "set_password"}));
  EXPECT_EQ(server_.commands()[1].args, (json{{"protocol", "vnc"}, {"password", "s3cr,et"}}));
  EXPECT_EQ(server_.commands()[2].args, (json{{"protocol", "spice"}, {"password", "sp1ce"}}));
  // A refusal names the display and never the password.
  server_.ErrorFor("set_password", "GenericError", "Could not set password");
  Status s = SetGraphicsPasswords(qmp(), def);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("vnc password of graphics 0"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find("s3cr"), std::string::npos) << s.message();
}

TEST_F(QmpCommandsTest, BalloonWithoutDevice) {
  server_.ErrorFor("balloon", "DeviceNotActive", "No balloon device has been activated");
  Status s = SetBalloon(qmp(), 1 << 20);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("No balloon device"), std::string::npos);
  server_.ReturnFor("query-balloon", json{{"actual", "lots"}});
  EXPECT_EQ(QueryBalloon(qmp()).status().code(), Code::kCorruption);
}

TEST_F(QmpCommandsTest, QueryCpusFast) {
  server_.ReturnFor("query-cpus-fast", json::parse(R"([
    {"cpu-index": 0, "qom-path": "/machine/unattached/device[0]", "thread-id": 4242,
     "props": {"core-id": 0, "thread-id": 0, "socket-id": 0}, "target": "x86_64"},
    {"cpu-index": 1, "qom-path": "/machine/peripheral/vcpu1", "thread-id": 4243,
     "props": {"core-id": 0, "thread-id": 0, "socket-id": 1}, "target": "x86_64"}])"));
  auto v = QueryCpusFast(qmp());
  ASSERT_TRUE(v.ok());
  ASSERT_EQ(v->size(), 2u);
  EXPECT_EQ((*v)[1].cpu_index, 1);
  EXPECT_EQ((*v)[1].thread_id, 4243);
  EXPECT_EQ((*v)[1].props["socket-id"], 1);
  server_.ReturnFor("query-cpus-fast", json{{"not", "a list"}});
  EXPECT_EQ(QueryCpusFast(qmp()).status().code(), Code::kCorruption);
}

json Slots(int plugged, int total) {
  json out = json::array();
  for (int i = total - 1; i >= 0; --i) {  // QEMU lists the highest slot first
    json e = {{"type", "qemu64-x86_64-cpu"},
              {"vcpus-count", 1},
              {"props", {{"socket-id", i}, {"core-id", 0}, {"thread-id", 0}}}};
    if (i < plugged) e["qom-path"] = fmt::format("/machine/unattached/device[{}]", i);
    out.push_back(e);
  }
  return out;
}

TEST_F(QmpCommandsTest, SetVcpuCountPlugsLowestFreeSlots) {
  server_.ReturnFor("query-hotpluggable-cpus", Slots(1, 4));
  server_.ReturnFor("device_add", json::object());
  auto n = SetVcpuCount(qmp(), 3);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 3);
  auto cmds = server_.commands();
  ASSERT_EQ(cmds.size(), 4u);
  EXPECT_EQ(cmds[2].args["driver"], "qemu64-x86_64-cpu");
  EXPECT_EQ(cmds[2].args["socket-id"], 1);
  EXPECT_EQ(cmds[2].args["id"], "vcpu1");
  EXPECT_EQ(cmds[3].args["socket-id"], 2);
  EXPECT_EQ(cmds[3].args["id"], "vcpu2");
}

TEST_F(QmpCommandsTest, SetVcpuCountLimits) {
  server_.ReturnFor("query-hotpluggable-cpus", Slots(2, 4));
  EXPECT_EQ(SetVcpuCount(qmp(), 5).status().code(), Code::kInvalidArgument);
  // Both present vCPUs were there at boot: none can go.
  auto boot = SetVcpuCount(qmp(), 1);
  EXPECT_EQ(boot.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(boot.status().message().find("2 of the 2 present were there at boot"),
            std::string::npos)
      << boot.status().ToString();
  auto same = SetVcpuCount(qmp(), 2);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(*same, 2);
  server_.ErrorFor("device_add", "GenericError", "CPU hotplug failed");
  auto bad = SetVcpuCount(qmp(), 3);
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("vcpu 2"), std::string::npos);
}

// Slots(1, 4) with vcpu1..vcpu<plugged-1> hot-plugged (peripheral devices).
json PluggedSlots(int plugged, int total) {
  json out = Slots(1, total);
  for (auto& e : out) {
    int i = e["props"]["socket-id"];
    if (i >= 1 && i < plugged) e["qom-path"] = fmt::format("/machine/peripheral/vcpu{}", i);
  }
  return out;
}

TEST_F(QmpCommandsTest, SetVcpuCountUnplugsHotpluggedHighestFirst) {
  server_.ReturnFor("query-hotpluggable-cpus", PluggedSlots(4, 4));
  server_.OnCommand("device_del", [](FakeQmpServer& s, const Cmd& c) {
    s.Reply(c, json::object());
    s.SendEvent("DEVICE_DELETED", json{{"device", c.args["id"]}, {"path", "/x"}});
  });
  auto n = SetVcpuCount(qmp(), 2, 2s);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 2);
  std::vector<std::string> deleted;
  for (const auto& c : server_.commands()) {
    if (c.name == "device_del") deleted.push_back(c.args["id"].get<std::string>());
  }
  EXPECT_EQ(deleted, (std::vector<std::string>{"vcpu3", "vcpu2"}));

  // Down to 0 hot-plugged is fine; below the boot vCPU is not (nothing is sent).
  server_.ReturnFor("query-hotpluggable-cpus", PluggedSlots(2, 4));
  auto boot = SetVcpuCount(qmp(), 1, 2s);
  ASSERT_TRUE(boot.ok()) << boot.status().ToString();
  EXPECT_EQ(server_.commands().back().args["id"], "vcpu1");
  server_.ReturnFor("query-hotpluggable-cpus", Slots(1, 4));
  size_t before = server_.commands().size();
  EXPECT_EQ(SetVcpuCount(qmp(), 0, 2s).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(server_.commands().size(), before + 1);  // the query only
}

// QEMU may free the slot before it sends DEVICE_DELETED (or later): a free slot counts.
TEST_F(QmpCommandsTest, SetVcpuCountUnplugSeesTheFreedSlotWithoutTheEvent) {
  auto queries = std::make_shared<std::atomic<int>>(0);
  server_.OnCommand("query-hotpluggable-cpus", [queries](FakeQmpServer& s, const Cmd& c) {
    s.Reply(c, PluggedSlots(++*queries <= 2 ? 3 : 2, 4));
  });
  server_.ReturnFor("device_del", json::object());
  auto n = SetVcpuCount(qmp(), 2, 5s);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 2);
  EXPECT_GE(queries->load(), 3);
}

TEST_F(QmpCommandsTest, SetVcpuCountUnplugTimesOutWhenTheGuestKeepsTheVcpu) {
  server_.ReturnFor("query-hotpluggable-cpus", PluggedSlots(3, 4));
  server_.ReturnFor("device_del", json::object());  // no DEVICE_DELETED follows
  auto n = SetVcpuCount(qmp(), 1, 300ms);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), Code::kUnavailable);
  EXPECT_NE(n.status().message().find("'vcpu2' was not released by the guest"), std::string::npos)
      << n.status().ToString();
}

TEST_F(QmpCommandsTest, AttachDiskAddsNodeThenDevice) {
  server_.ReturnFor("blockdev-add", json::object());
  server_.ReturnFor("device_add", json::object());
  json bd = {{"node-name", "drive-vdb"},
             {"driver", "raw"},
             {"file", {{"driver", "file"}, {"filename", "/x.img"}}}};
  json dev = {{"driver", "virtio-blk-pci"}, {"id", "vdb"}, {"drive", "drive-vdb"}};
  ASSERT_TRUE(AttachDisk(qmp(), bd, dev).ok());
  EXPECT_EQ(Sent(), (std::vector<std::string>{"blockdev-add", "device_add"}));
  auto cmds = server_.commands();
  EXPECT_EQ(cmds[1].args, bd);
  EXPECT_EQ(cmds[2].args, dev);
}

TEST_F(QmpCommandsTest, AttachDiskRollsBackNodeWhenDeviceFails) {
  server_.ReturnFor("blockdev-add", json::object());
  server_.ErrorFor("device_add", "GenericError", "Bus 'rp9' not found");
  server_.ReturnFor("blockdev-del", json::object());
  json bd = {{"node-name", "drive-vdb"}, {"driver", "null-co"}};
  json dev = {{"driver", "virtio-blk-pci"}, {"id", "vdb"}, {"drive", "drive-vdb"}, {"bus", "rp9"}};
  Status s = AttachDisk(qmp(), bd, dev);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("disk 'vdb'"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("Bus 'rp9' not found"), std::string::npos);
  EXPECT_EQ(Sent(), (std::vector<std::string>{"blockdev-add", "device_add", "blockdev-del"}));
  EXPECT_EQ(server_.commands().back().args["node-name"], "drive-vdb");
  EXPECT_EQ(AttachDisk(qmp(), json{{"driver", "raw"}}, dev).code(), Code::kInvalidArgument);
}

TEST_F(QmpCommandsTest, DetachDiskWaitsForDeviceDeleted) {
  server_.OnCommand("device_del", [](FakeQmpServer& s, const Cmd& c) {
    s.Reply(c, json::object());
    s.SendEvent("DEVICE_DELETED", json{{"path", "/machine/peripheral/vdb/virtio-backend"}});
    s.SendEvent("DEVICE_DELETED", json{{"device", "vdb"}, {"path", "/machine/peripheral/vdb"}});
  });
  server_.ReturnFor("blockdev-del", json::object());
  ASSERT_TRUE(DetachDisk(qmp(), "vdb", "drive-vdb", 2s).ok());
  EXPECT_EQ(Sent(), (std::vector<std::string>{"device_del", "blockdev-del"}));
}

TEST_F(QmpCommandsTest, DetachDiskTimesOutWhenGuestKeepsDevice) {
  server_.ReturnFor("device_del", json::object());
  Status s = DetachDisk(qmp(), "vdb", "drive-vdb", 100ms);
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_EQ(s.message(), "device 'vdb' was not released by the guest within 100 ms");
  EXPECT_EQ(Sent(), std::vector<std::string>{"device_del"});  // node kept: still in use
}

TEST_F(QmpCommandsTest, DetachDiskUnknownDevice) {
  server_.ErrorFor("device_del", "DeviceNotFound", "Device 'vdz' not found");
  EXPECT_EQ(DetachDisk(qmp(), "vdz", "drive-vdz", 1s).code(), Code::kNotFound);
}

TEST_F(QmpCommandsTest, AttachNicPassesTapFd) {
  server_.OnCommand("getfd", [](FakeQmpServer& s, const Cmd& c) {
    if (c.fds.size() == 1) {
      s.Reply(c, json::object());
    } else {
      s.ReplyError(c, "GenericError", "No file descriptor supplied via SCM_RIGHTS");
    }
  });
  server_.ReturnFor("netdev_add", json::object());
  server_.ReturnFor("device_add", json::object());
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd r(p[0]), w(p[1]);
  ASSERT_TRUE(AttachNic(qmp(), w.get(), json{{"type", "tap"}, {"id", "net1"}},
                        json{{"driver", "virtio-net-pci"}, {"id", "nic1"}, {"netdev", "net1"}})
                  .ok());
  auto cmds = server_.commands();
  ASSERT_EQ(cmds.size(), 4u);
  EXPECT_EQ(cmds[1].args["fdname"], "fd-net1");
  EXPECT_EQ(cmds[2].args["fd"], "fd-net1");
  EXPECT_EQ(cmds[2].args["type"], "tap");
  // The passed fd is the pipe's write end.
  struct stat a {
  }, b{};
  ASSERT_EQ(::fstat(cmds[1].fds[0]->get(), &a), 0);
  ASSERT_EQ(::fstat(w.get(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
}

TEST_F(QmpCommandsTest, AttachNicUndoesOnFailure) {
  server_.ReturnFor("getfd", json::object());
  server_.ErrorFor("netdev_add", "GenericError", "Duplicate ID 'net1' for netdev");
  server_.ReturnFor("closefd", json::object());
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd r(p[0]), w(p[1]);
  json nd = {{"type", "tap"}, {"id", "net1"}};
  json dev = {{"driver", "virtio-net-pci"}, {"id", "nic1"}, {"netdev", "net1"}};
  EXPECT_FALSE(AttachNic(qmp(), w.get(), nd, dev).ok());
  EXPECT_EQ(Sent(), (std::vector<std::string>{"getfd", "netdev_add", "closefd"}));

  server_.ReturnFor("netdev_add", json::object());
  server_.ErrorFor("device_add", "GenericError", "Bus 'pcie.0' does not support hotplugging");
  server_.ReturnFor("netdev_del", json::object());
  Status s = AttachNic(qmp(), w.get(), nd, dev);
  EXPECT_NE(s.message().find("does not support hotplugging"), std::string::npos);
  auto names = Sent();
  EXPECT_EQ(std::vector<std::string>(names.end() - 4, names.end()),
            (std::vector<std::string>{"getfd", "netdev_add", "device_add", "netdev_del"}));
}

TEST_F(QmpCommandsTest, DetachNic) {
  server_.OnCommand("device_del", [](FakeQmpServer& s, const Cmd& c) {
    s.Reply(c, json::object());
    s.SendEvent("DEVICE_DELETED", json{{"device", c.args["id"]}, {"path", "/x"}});
  });
  server_.ReturnFor("netdev_del", json::object());
  ASSERT_TRUE(DetachNic(qmp(), "nic1", "net1", 2s).ok());
  EXPECT_EQ(server_.commands().back().args["id"], "net1");
}

TEST_F(QmpCommandsTest, QueryBlockStats) {
  server_.ReturnFor("query-blockstats", json::parse(R"([
    {"device": "", "qdev": "/machine/peripheral/vda/virtio-backend", "node-name": "drive-vda",
     "stats": {"rd_bytes": 4096, "wr_bytes": 512, "rd_operations": 2, "wr_operations": 1,
               "flush_operations": 3, "rd_total_time_ns": 100, "wr_total_time_ns": 200}}])"));
  auto v = QueryBlockStats(qmp());
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ASSERT_EQ(v->size(), 1u);
  EXPECT_EQ((*v)[0].node_name, "drive-vda");
  EXPECT_EQ((*v)[0].rd_bytes, 4096u);
  EXPECT_EQ((*v)[0].flush_operations, 3u);
  server_.ReturnFor("query-blockstats", json::parse(R"([{"device": "x"}])"));
  EXPECT_EQ(QueryBlockStats(qmp()).status().code(), Code::kCorruption);
}

TEST_F(QmpCommandsTest, SaveStatePollsUntilCompleted) {
  server_.ReturnFor("query-status", json{{"status", "running"}, {"running", true}});
  server_.ReturnFor("stop", json::object());
  server_.ReturnFor("migrate-set-parameters", json::object());
  server_.OnCommand("getfd", [](FakeQmpServer& s, const Cmd& c) {
    if (c.fds.size() == 1) (void)!::write(c.fds[0]->get(), "QEVM", 4);
    s.Reply(c, json::object());
  });
  server_.ReturnFor("migrate", json::object());
  int polls = 0;
  server_.OnCommand("query-migrate", [&polls](FakeQmpServer& s, const Cmd& c) {
    ++polls;
    if (polls < 3) {
      s.Reply(
          c,
          json{{"status", "active"},
               {"ram",
                {{"transferred", polls * 100}, {"remaining", 300 - polls * 100}, {"total", 300}}}});
    } else {
      s.Reply(c, json{{"status", "completed"}, {"ram", {{"transferred", 300}, {"total", 300}}}});
    }
  });
  skiff::testing::TempDir d;
  UniqueFd f(::open((d / "save").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  ASSERT_TRUE(f);
  std::vector<MigrationProgress> seen;
  SaveOptions o;
  o.poll_interval = 1ms;
  Status s = SaveState(qmp(), f.get(), o, [&](const MigrationProgress& p) { seen.push_back(p); });
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].status, "active");
  EXPECT_EQ(seen[0].transferred, 100u);
  EXPECT_EQ(seen[2].status, "completed");
  auto cmds = server_.commands();
  EXPECT_EQ(cmds[2].name, "stop");
  EXPECT_EQ(cmds[5].name, "migrate");
  EXPECT_EQ(cmds[5].args["uri"], "fd:" + cmds[4].args["fdname"].get<std::string>());
  EXPECT_EQ(std::filesystem::file_size(d / "save"), 4u);
}

TEST_F(QmpCommandsTest, SaveStateFailureCarriesQemuErrorAndResumes) {
  server_.ReturnFor("query-status", json{{"status", "running"}, {"running", true}});
  server_.ReturnFor("stop", json::object());
  server_.ReturnFor("cont", json::object());
  server_.ReturnFor("migrate-set-parameters", json::object());
  server_.ReturnFor("getfd", json::object());
  server_.ReturnFor("migrate", json::object());
  server_.ReturnFor("query-migrate",
                    json{{"status", "failed"}, {"error-desc", "Unable to write to file"}});
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd r(p[0]), w(p[1]);
  Status s = SaveState(qmp(), w.get());
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_EQ(s.message(), "save failed: migration failed: Unable to write to file");
  EXPECT_EQ(server_.command_names().back(), "cont");
}

TEST_F(QmpCommandsTest, SaveStateOfPausedGuestDoesNotResumeIt) {
  server_.ReturnFor("query-status", json{{"status", "paused"}, {"running", false}});
  server_.ErrorFor("migrate-set-parameters", "GenericError", "nope");
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd r(p[0]), w(p[1]);
  Status s = SaveState(qmp(), w.get());
  EXPECT_EQ(s.message(), "save: qmp 'migrate-set-parameters': nope (GenericError)");
  EXPECT_EQ(Sent(), (std::vector<std::string>{"query-status", "migrate-set-parameters"}));
}

TEST_F(QmpCommandsTest, SaveStateTimeoutCancels) {
  server_.ReturnFor("migrate-set-parameters", json::object());
  server_.ReturnFor("getfd", json::object());
  server_.ReturnFor("migrate", json::object());
  server_.ReturnFor("migrate_cancel", json::object());
  server_.ReturnFor("query-migrate", json{{"status", "active"}});
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd r(p[0]), w(p[1]);
  SaveOptions o;
  o.pause_first = false;
  o.timeout = 50ms;
  o.poll_interval = 5ms;
  Status s = SaveState(qmp(), w.get(), o);
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_EQ(server_.command_names().back(), "migrate_cancel");
}

TEST_F(QmpCommandsTest, SaveStateCancelledByFlagCancelsAndResumes) {
  server_.ReturnFor("query-status", json{{"status", "running"}, {"running", true}});
  server_.ReturnFor("stop", json::object());
  server_.ReturnFor("cont", json::object());
  server_.ReturnFor("migrate-set-parameters", json::object());
  server_.ReturnFor("getfd", json::object());
  server_.ReturnFor("migrate", json::object());
  server_.ReturnFor("migrate_cancel", json::object());
  std::atomic<bool> cancel{false};
  server_.OnCommand("query-migrate", [&cancel](FakeQmpServer& s, const Cmd& c) {
    cancel = true;  // the user cancels while the stream is being written
    s.Reply(c, json{{"status", "active"}});
  });
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd r(p[0]), w(p[1]);
  SaveOptions o;
  o.poll_interval = 1ms;
  o.cancelled = &cancel;
  Status s = SaveState(qmp(), w.get(), o);
  EXPECT_EQ(s.code(), Code::kCancelled);
  EXPECT_EQ(s.message(), "save was cancelled");
  auto names = server_.command_names();
  ASSERT_GE(names.size(), 2u);
  EXPECT_EQ(names[names.size() - 2], "migrate_cancel");
  EXPECT_EQ(names.back(), "cont");
}

TEST_F(QmpCommandsTest, AbandonSaveCancelsWaitsAndResumes) {
  // A daemon killed mid-save left the migration running: it is cancelled, and the
  // guest resumed only once the migration has ended.
  server_.ReturnFor("migrate_cancel", json::object());
  server_.ReturnFor("query-status", json{{"status", "paused"}, {"running", false}});
  server_.ReturnFor("cont", json::object());
  int polls = 0;
  server_.OnCommand("query-migrate", [&polls](FakeQmpServer& s, const Cmd& c) {
    const char* states[] = {"active", "cancelling", "cancelled"};
    s.Reply(c, json{{"status", states[std::min(polls++, 2)]}});
  });
  Status s = AbandonSave(qmp(), true, 5s, 1ms);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(Sent(), (std::vector<std::string>{"query-migrate", "migrate_cancel", "query-migrate",
                                              "query-migrate", "query-status", "cont"}));
}

TEST_F(QmpCommandsTest, AbandonSaveAfterCompletionResumesTheGuestItPaused) {
  server_.ReturnFor("query-migrate", json{{"status", "completed"}});
  server_.ReturnFor("query-status", json{{"status", "postmigrate"}, {"running", false}});
  server_.ReturnFor("cont", json::object());
  ASSERT_TRUE(AbandonSave(qmp(), true, 5s, 1ms).ok());
  EXPECT_EQ(Sent(), (std::vector<std::string>{"query-migrate", "query-status", "cont"}));
}

TEST_F(QmpCommandsTest, AbandonSaveOfAPausedGuestLeavesItPaused) {
  server_.ReturnFor("query-migrate", json::object());  // no migration at all
  ASSERT_TRUE(AbandonSave(qmp(), false, 5s, 1ms).ok());
  EXPECT_EQ(Sent(), (std::vector<std::string>{"query-migrate"}));
}

TEST_F(QmpCommandsTest, AbandonSaveGivesUpOnAMigrationThatDoesNotEnd) {
  server_.ReturnFor("migrate_cancel", json::object());
  server_.ReturnFor("query-migrate", json{{"status", "cancelling"}});
  Status s = AbandonSave(qmp(), true, 20ms, 2ms);
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_EQ(s.message().rfind("abandoned save: migration still 'cancelling' after 20 ms", 0), 0u)
      << s.message();
  for (const auto& n : Sent()) EXPECT_NE(n, "cont");
}

TEST_F(QmpCommandsTest, RestoreStateUsesMigrateIncoming) {
  server_.ReturnFor("getfd", json::object());
  server_.ReturnFor("migrate-incoming", json::object());
  server_.ReturnFor("query-migrate", json{{"status", "completed"}});
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd r(p[0]), w(p[1]);
  ASSERT_TRUE(RestoreState(qmp(), r.get(), 2s).ok());
  auto cmds = server_.commands();
  EXPECT_EQ(cmds[2].name, "migrate-incoming");
  EXPECT_EQ(cmds[2].args["uri"], "fd:" + cmds[1].args["fdname"].get<std::string>());
  EXPECT_EQ(cmds[1].fds.size(), 1u);
}

TEST_F(QmpCommandsTest, RestoreStateWhenQemuDies) {
  server_.ReturnFor("getfd", json::object());
  server_.OnCommand("migrate-incoming", [](FakeQmpServer& s, const Cmd&) { s.Disconnect(); });
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd r(p[0]), w(p[1]);
  Status s = RestoreState(qmp(), r.get(), 2s);
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_NE(s.message().find("restore"), std::string::npos);
}

// A q35 machine's reply as QEMU 7.2 gives it (trimmed): the root bus with a
// pcie-root-port that has a NIC behind it and one that is empty.
TEST_F(QmpCommandsTest, QueryPciReadsBridgesAndWhatIsBehindThem) {
  json reply = json::array(
      {{{"bus", 0},
        {"devices",
         json::array(
             {{{"bus", 0},
               {"slot", 0},
               {"function", 0},
               {"class_info", {{"class", 1536}}},
               {"qdev_id", ""}},
              {{"bus", 0},
               {"slot", 1},
               {"function", 0},
               {"qdev_id", "pci.1"},
               {"pci_bridge",
                {{"bus", {{"number", 1}}},
                 {"devices",
                  json::array(
                      {{{"bus", 1}, {"slot", 0}, {"function", 0}, {"qdev_id", "net0"}}})}}}},
              {{"bus", 0},
               {"slot", 1},
               {"function", 1},
               {"qdev_id", "pci.2"},
               {"pci_bridge", {{"bus", {{"number", 2}}}}}}})}}});
  server_.ReturnFor("query-pci", reply);
  auto buses = QueryPci(qmp());
  ASSERT_TRUE(buses.ok()) << buses.status().ToString();
  ASSERT_EQ(buses->size(), 1u);
  const auto& devs = (*buses)[0].devices;
  ASSERT_EQ(devs.size(), 3u);
  EXPECT_EQ(devs[0].qdev_id, "");
  EXPECT_FALSE(devs[0].bridge);
  EXPECT_EQ(devs[1].qdev_id, "pci.1");
  EXPECT_TRUE(devs[1].bridge);
  ASSERT_EQ(devs[1].bridged.size(), 1u);
  EXPECT_EQ(devs[1].bridged[0].qdev_id, "net0");
  EXPECT_EQ(devs[2].function, 1);
  EXPECT_TRUE(devs[2].bridge);
  EXPECT_TRUE(devs[2].bridged.empty());

  server_.ReturnFor("query-pci", json::object());
  EXPECT_EQ(QueryPci(qmp()).status().code(), Code::kCorruption);
}

TEST_F(QmpCommandsTest, PeripheralDevicesAreTheChildrenWithTheirTypes) {
  server_.ReturnFor("qom-list", json::array({{{"name", "type"}, {"type", "string"}},
                                             {{"name", "pci.1"}, {"type", "child<pcie-root-port>"}},
                                             {{"name", "net0"}, {"type", "child<virtio-net-pci>"}},
                                             {{"name", "x"}, {"type", "link<pci-bus>"}}}));
  auto devs = PeripheralDevices(qmp());
  ASSERT_TRUE(devs.ok()) << devs.status().ToString();
  EXPECT_EQ(*devs, (std::map<std::string, std::string>{{"net0", "virtio-net-pci"},
                                                       {"pci.1", "pcie-root-port"}}));
  EXPECT_EQ(server_.commands().back().args, (json{{"path", "/machine/peripheral"}}));
}

TEST_F(QmpCommandsTest, DeviceMacIsLowerCase) {
  server_.ReturnFor("qom-get", json("52:54:00:AB:cd:01"));
  auto mac = DeviceMac(qmp(), "net0");
  ASSERT_TRUE(mac.ok()) << mac.status().ToString();
  EXPECT_EQ(*mac, "52:54:00:ab:cd:01");
  EXPECT_EQ(server_.commands().back().args,
            (json{{"path", "/machine/peripheral/net0"}, {"property", "mac"}}));
  server_.ErrorFor("qom-get", "GenericError", "Property 'virtio-blk-pci.mac' not found");
  EXPECT_FALSE(DeviceMac(qmp(), "vda").ok());
}

TEST_F(QmpCommandsTest, DeviceAndBackendCommandsSendTheirArguments) {
  for (const char* c : {"device_add", "device_del", "blockdev-del", "netdev_add", "netdev_del"}) {
    server_.ReturnFor(c, json::object());
  }
  ASSERT_TRUE(DeviceAdd(qmp(), json{{"driver", "virtio-scsi-pci"}, {"id", "scsi0"}}).ok());
  ASSERT_TRUE(DeviceDel(qmp(), "sdb").ok());
  ASSERT_TRUE(BlockdevDel(qmp(), "drive-vdb-file").ok());
  ASSERT_TRUE(NetdevAdd(qmp(), json{{"type", "user"}, {"id", "hostnet1"}}).ok());
  ASSERT_TRUE(NetdevDel(qmp(), "hostnet1").ok());
  EXPECT_EQ(Sent(), (std::vector<std::string>{"device_add", "device_del", "blockdev-del",
                                              "netdev_add", "netdev_del"}));
  auto cmds = server_.commands();
  EXPECT_EQ(cmds[2].args, (json{{"id", "sdb"}}));
  EXPECT_EQ(cmds[3].args, (json{{"node-name", "drive-vdb-file"}}));
  EXPECT_EQ(cmds[5].args, (json{{"id", "hostnet1"}}));
  server_.ErrorFor("device_del", "DeviceNotFound", "Device 'sdz' not found");
  EXPECT_FALSE(DeviceDel(qmp(), "sdz").ok());
}

TEST_F(QmpCommandsTest, SnapshotJobRunsUntilConcludedAndDismisses) {
  server_.ReturnFor("snapshot-save", json::object());
  auto polls = std::make_shared<int>(0);
  server_.OnCommand("query-jobs", [polls](FakeQmpServer& s, const Cmd& c) {
    std::string status = ++*polls < 3 ? "running" : "concluded";
    s.Reply(c, json::array({json{{"id", "other"}, {"status", "running"}},
                            json{{"id", "skiff-snapshot-save"}, {"status", status}}}));
  });
  server_.ReturnFor("job-dismiss", json::object());
  ASSERT_TRUE(RunSnapshotJob(qmp(), "save", "s1", {"fmt-vda", "fmt-vdb"}).ok());
  auto cmds = server_.commands();
  ASSERT_GE(cmds.size(), 5u);
  EXPECT_EQ(cmds[1].name, "snapshot-save");
  EXPECT_EQ(cmds[1].args["tag"], "s1");
  EXPECT_EQ(cmds[1].args["vmstate"], "fmt-vda");
  EXPECT_EQ(cmds[1].args["devices"], json::array({"fmt-vda", "fmt-vdb"}));
  EXPECT_EQ(cmds.back().name, "job-dismiss");
  EXPECT_EQ(cmds.back().args["id"], "skiff-snapshot-save");
}

TEST_F(QmpCommandsTest, SnapshotJobErrorIsReturnedAndDeleteHasNoVmstate) {
  server_.ReturnFor("snapshot-delete", json::object());
  server_.ReturnFor("query-jobs", json::array({json{{"id", "skiff-snapshot-delete"},
                                                    {"status", "concluded"},
                                                    {"error", "Snapshot 'x' not found"}}}));
  server_.ReturnFor("job-dismiss", json::object());
  Status st = RunSnapshotJob(qmp(), "delete", "x", {"fmt-vda"});
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  EXPECT_NE(st.message().find("snapshot-delete 'x': Snapshot 'x' not found"), std::string::npos)
      << st.message();
  EXPECT_FALSE(server_.commands()[1].args.contains("vmstate"));
  EXPECT_EQ(server_.commands().back().name, "job-dismiss");
  EXPECT_EQ(RunSnapshotJob(qmp(), "load", "x", {}).code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace skiff::qemu

namespace skiff::qemu {
namespace {

TEST_F(QmpCommandsTest, BlockResizeNamesTheFormatNode) {
  server_.ReturnFor("block_resize", json::object());
  ASSERT_TRUE(ResizeBlockNode(qmp(), "fmt-vda", 96ull << 20).ok());
  EXPECT_EQ(server_.commands().back().args["node-name"], "fmt-vda");
  EXPECT_EQ(server_.commands().back().args["size"], 96ull << 20);
  server_.ErrorFor("block_resize", "GenericError", "Failed to get \"write\" lock");
  auto st = ResizeBlockNode(qmp(), "fmt-vda", 1 << 30);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("write\" lock"), std::string::npos) << st.ToString();
}

// QEMU 7.2's query-block with -blockdev: devices report io-status only when
// they stop on errors; "ok" is no error; an empty cdrom has no "inserted".
TEST_F(QmpCommandsTest, BlockIoErrorsFromQueryBlock) {
  server_.ReturnFor(
      "query-block",
      json::array({json{{"device", ""},
                        {"qdev", "virtio-disk0"},
                        {"io-status", "nospace"},
                        {"inserted", {{"node-name", "fmt-vda"}}}},
                   json{{"device", ""},
                        {"qdev", "virtio-disk1"},
                        {"io-status", "ok"},
                        {"inserted", {{"node-name", "fmt-vdb"}}}},
                   json{{"device", ""}, {"qdev", "sata0-0-2"}, {"io-status", "failed"}},
                   json{{"device", ""},
                        {"qdev", "virtio-disk2"},
                        {"inserted", {{"node-name", "fmt-vdc"}}}}}));
  auto errs = QueryBlockIoErrors(qmp());
  ASSERT_TRUE(errs.ok()) << errs.status().ToString();
  EXPECT_EQ(*errs, (std::vector<std::pair<std::string, std::string>>{{"fmt-vda", "nospace"},
                                                                     {"", "failed"}}));
  server_.ReturnFor("query-block", json::object());
  EXPECT_EQ(QueryBlockIoErrors(qmp()).status().code(), Code::kCorruption);
}

}  // namespace
}  // namespace skiff::qemu

namespace skiff::qemu {
namespace {

// A backup: one transaction, the jobs polled to the end (progress over all of
// them), dismissed; a job's error fails it.
TEST_F(QmpCommandsTest, BlockJobsRunAsOneTransaction) {
  server_.ReturnFor("transaction", json::object());
  server_.ReturnFor("query-jobs", json::array({json{{"id", "skiff-backup-vda"},
                                                    {"status", "concluded"},
                                                    {"current-progress", 3},
                                                    {"total-progress", 4}},
                                               json{{"id", "skiff-backup-vdb"},
                                                    {"status", "concluded"},
                                                    {"current-progress", 1},
                                                    {"total-progress", 4}}}));
  server_.ReturnFor("job-dismiss", json::object());
  json actions = json::array({json{{"type", "blockdev-backup"}, {"data", {{"sync", "full"}}}}});
  double seen = -1;
  Status st = RunBlockJobs(
      qmp(), actions, {"skiff-backup-vda", "skiff-backup-vdb"}, [&](double f) { seen = f; },
      [] { return false; });
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_DOUBLE_EQ(seen, 0.5);
  auto cmds = server_.commands();
  EXPECT_EQ(cmds[1].name, "transaction");
  EXPECT_EQ(cmds[1].args["actions"], actions);
  EXPECT_EQ(cmds.back().name, "job-dismiss");
  EXPECT_EQ(cmds.back().args["id"], "skiff-backup-vdb");

  server_.ReturnFor("query-jobs", json::array({json{{"id", "skiff-backup-vda"},
                                                    {"status", "concluded"},
                                                    {"error", "No space left on device"}}}));
  st = RunBlockJobs(qmp(), actions, {"skiff-backup-vda"}, nullptr, nullptr);
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  EXPECT_NE(st.message().find("No space left"), std::string::npos) << st.ToString();
  server_.ErrorFor("transaction", "GenericError", "Bitmap 'b' already exists");
  st = RunBlockJobs(qmp(), actions, {"skiff-backup-vda"}, nullptr, nullptr);
  EXPECT_NE(st.message().find("already exists"), std::string::npos) << st.ToString();
}

// QEMU 7.2's query-block lists a node's bitmaps under "inserted"; only the
// persistent and consistent ones count.
TEST_F(QmpCommandsTest, PersistentBitmapsFromQueryBlock) {
  server_.ReturnFor(
      "query-block",
      json::array(
          {json{
               {"device", ""},
               {"inserted",
                {{"node-name", "fmt-vda"},
                 {"dirty-bitmaps",
                  json::array(
                      {json{{"name", "skiff-backup-1"}, {"persistent", true}},
                       json{{"name", "temp"}, {"persistent", false}},
                       json{{"name", "broken"}, {"persistent", true}, {"inconsistent", true}}})}}}},
           json{{"device", ""}, {"inserted", {{"node-name", "fmt-vdb"}}}}}));
  auto names = QueryPersistentBitmaps(qmp(), "fmt-vda");
  ASSERT_TRUE(names.ok()) << names.status().ToString();
  EXPECT_EQ(*names, std::vector<std::string>{"skiff-backup-1"});
  EXPECT_TRUE(QueryPersistentBitmaps(qmp(), "fmt-vdb")->empty());
}

}  // namespace
}  // namespace skiff::qemu
