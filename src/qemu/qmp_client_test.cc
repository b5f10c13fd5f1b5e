// Tests for QmpClient and the QMP message parser, against FakeQmpServer.
#include "skiff/qemu/qmp_client.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "testutil/fake_qmp_server.h"
#include "testutil/temp_dir.h"

namespace skiff::qemu {
namespace {

using nlohmann::json;
using skiff::testing::FakeQmpServer;
using namespace std::chrono_literals;

class QmpClientTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start().ok()); }

  std::unique_ptr<QmpClient> Connect(QmpClientOptions o = {}) {
    auto c = QmpClient::Connect(server_.socket_path(), std::move(o));
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }

  skiff::testing::TempDir dir_;
  FakeQmpServer server_{dir_ / "qmp.sock"};
};

TEST(ParseQmpMessage, Kinds) {
  auto g = ParseQmpMessage(R"({"QMP": {"version": {}, "capabilities": []}})");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->kind, QmpMessageKind::kGreeting);

  auto r = ParseQmpMessage("{\"return\": {\"a\": 1}, \"id\": 7}\r\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, QmpMessageKind::kReturn);
  EXPECT_EQ(r->value["a"], 1);
  EXPECT_EQ(r->id, 7);

  auto e = ParseQmpMessage(R"({"error": {"class": "GenericError", "desc": "boom"}})");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->kind, QmpMessageKind::kError);
  EXPECT_EQ(e->error_class, "GenericError");
  EXPECT_EQ(e->error_desc, "boom");
  EXPECT_TRUE(e->id.is_null());

  auto ev =
      ParseQmpMessage(R"({"event": "STOP", "timestamp": {"seconds": 12, "microseconds": 34}})");
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ(ev->kind, QmpMessageKind::kEvent);
  EXPECT_EQ(ev->event, "STOP");
  EXPECT_TRUE(ev->value.is_object());
  EXPECT_EQ(ev->seconds, 12);
  EXPECT_EQ(ev->microseconds, 34);
}

TEST(ParseQmpMessage, RejectsMalformed) {
  for (const char* bad : {"", "{", "[1,2]", "42", "{\"foo\": 1}", "{\"error\": 3}",
                          "{\"error\": {\"class\": 1, \"desc\": \"x\"}}", "{\"event\": 5}",
                          "{\"event\": \"X\", \"data\": [1]}", "{\"QMP\": []}", "\xff\xfe"}) {
    auto m = ParseQmpMessage(bad);
    EXPECT_FALSE(m.ok()) << bad;
    if (!m.ok()) {
      EXPECT_EQ(m.status().code(), Code::kCorruption) << bad;
    }
  }
}

TEST(FormatQmpCommand, ShapesAndErrors) {
  auto a = FormatQmpCommand("stop", json(), json(3));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, "{\"execute\":\"stop\",\"id\":3}\r\n");
  auto b = FormatQmpCommand("balloon", json{{"value", 5}}, json());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, "{\"arguments\":{\"value\":5},\"execute\":\"balloon\"}\r\n");
  EXPECT_EQ(FormatQmpCommand("x", json::array(), json()).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(FormatQmpCommand("x", json{{"s", std::string("\xff")}}, json()).status().code(),
            Code::kInvalidArgument);
  EXPECT_FALSE(FormatQmpCommand("", json(), json()).ok());
}

TEST(QmpErrorToStatus, MapsClasses) {
  Status s = QmpErrorToStatus("device_del", "DeviceNotFound", "Device 'x' not found");
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_EQ(s.message(), "qmp 'device_del': Device 'x' not found (DeviceNotFound)");
  EXPECT_EQ(QmpErrorClass(s), "DeviceNotFound");
  EXPECT_EQ(QmpErrorToStatus("x", "CommandNotFound", "d").code(), Code::kUnsupported);
  EXPECT_EQ(QmpErrorToStatus("x", "GenericError", "d").code(), Code::kFailedPrecondition);
  EXPECT_EQ(QmpErrorClass(UnavailableError("qmp 'x': closed")), "");
}

TEST_F(QmpClientTest, ConnectNegotiatesCapabilities) {
  auto c = Connect();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->greeting()["version"]["qemu"]["major"], 7);
  EXPECT_EQ(server_.command_names(), std::vector<std::string>{"qmp_capabilities"});
  EXPECT_FALSE(c->closed());
}

TEST_F(QmpClientTest, ExecuteReturnsValueAndSendsArguments) {
  server_.OnCommand("echo",
                    [](FakeQmpServer& s, const FakeQmpServer::Command& c) { s.Reply(c, c.args); });
  auto c = Connect();
  ASSERT_TRUE(c);
  auto r = c->Execute("echo", json{{"x", "y"}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)["x"], "y");
  auto cmds = server_.commands();
  ASSERT_EQ(cmds.size(), 2u);
  EXPECT_TRUE(cmds[1].id.is_number_integer());
}

TEST_F(QmpClientTest, ErrorReplyCarriesClassAndDesc) {
  server_.ErrorFor("device_add", "GenericError", "Duplicate device ID 'vdb'");
  auto c = Connect();
  ASSERT_TRUE(c);
  auto r = c->Execute("device_add", json{{"id", "vdb"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(r.status().message(), "qmp 'device_add': Duplicate device ID 'vdb' (GenericError)");
  auto u = c->Execute("no-such-command");
  EXPECT_EQ(u.status().code(), Code::kUnsupported);
}

TEST_F(QmpClientTest, EventsInterleavedWithRepliesAreDelivered) {
  server_.OnCommand("stop", [](FakeQmpServer& s, const FakeQmpServer::Command& c) {
    s.SendEvent("BEFORE", json{{"n", 1}});
    s.Reply(c, json::object());
    s.SendEvent("STOP");
  });
  std::mutex mu;
  std::vector<std::string> names;
  QmpClientOptions o;
  o.on_event = [&](const QmpEvent& e) {
    std::lock_guard lock(mu);
    names.push_back(e.name);
    if (e.name == "BEFORE") {
      EXPECT_EQ(e.data["n"], 1);
      EXPECT_EQ(e.seconds, 1700000000);
    }
  };
  auto c = Connect(std::move(o));
  ASSERT_TRUE(c);
  auto w = c->WatchEvent("STOP");
  ASSERT_TRUE(c->Execute("stop").ok());
  ASSERT_TRUE(w->Wait(2s).ok());
  std::lock_guard lock(mu);
  EXPECT_EQ(names, (std::vector<std::string>{"BEFORE", "STOP"}));
}

TEST_F(QmpClientTest, MalformedReplyFailsThatCommandOnly) {
  int n = 0;
  server_.OnCommand("query-x", [&n](FakeQmpServer& s, const FakeQmpServer::Command& c) {
    if (n++ == 0) {
      s.SendLine("{\"return\": {truncated");
    } else {
      s.Reply(c, json{{"ok", true}});
    }
  });
  auto c = Connect();
  ASSERT_TRUE(c);
  auto bad = c->Execute("query-x");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kCorruption);
  EXPECT_NE(bad.status().message().find("query-x"), std::string::npos);
  auto good = c->Execute("query-x");
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_EQ((*good)["ok"], true);
}

TEST_F(QmpClientTest, GarbageBetweenMessagesIsIgnoredWhenIdle) {
  server_.OnCommand("poke", [](FakeQmpServer& s, const FakeQmpServer::Command& c) {
    s.Reply(c, 1);
    s.SendLine("%%% not json");
    s.SendLine("[1,2,3]");
  });
  server_.ReturnFor("after", 2);
  auto c = Connect();
  ASSERT_TRUE(c);
  EXPECT_EQ(*c->Execute("poke"), 1);
  std::this_thread::sleep_for(50ms);
  auto r = c->Execute("after");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, 2);
}

TEST_F(QmpClientTest, TimeoutThenLateReplyIsNotMistakenForNext) {
  std::vector<FakeQmpServer::Command> held;
  std::mutex mu;
  server_.OnCommand("slow", [&](FakeQmpServer&, const FakeQmpServer::Command& c) {
    std::lock_guard lock(mu);
    held.push_back(c);
  });
  server_.OnCommand("fast", [&](FakeQmpServer& s, const FakeQmpServer::Command& c) {
    std::lock_guard lock(mu);
    for (auto& h : held) s.Reply(h, "slow-reply");  // arrives late, before ours
    held.clear();
    s.Reply(c, "fast-reply");
  });
  auto c = Connect();
  ASSERT_TRUE(c);
  auto s = c->Execute("slow", json(), 100ms);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kUnavailable);
  EXPECT_EQ(s.status().message(), "qmp 'slow': no reply within 100 ms");
  auto f = c->Execute("fast");
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(*f, "fast-reply");
}

TEST_F(QmpClientTest, ServerDeathMidCommandIsReportedOnce) {
  server_.OnCommand("quit-hard",
                    [](FakeQmpServer& s, const FakeQmpServer::Command&) { s.Disconnect(); });
  std::atomic<int> closes{0};
  Status why;
  std::mutex mu;
  QmpClientOptions o;
  o.on_close = [&](const Status& s) {
    std::lock_guard lock(mu);
    why = s;
    ++closes;
  };
  auto c = Connect(std::move(o));
  ASSERT_TRUE(c);
  auto r = c->Execute("quit-hard", json(), 5s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_NE(r.status().message().find("closed"), std::string::npos) << r.status().ToString();
  EXPECT_TRUE(c->closed());
  auto again = c->Execute("anything");
  EXPECT_EQ(again.status().code(), Code::kUnavailable);
  c->Close();
  EXPECT_EQ(closes.load(), 1);
  std::lock_guard lock(mu);
  EXPECT_EQ(why.code(), Code::kUnavailable);
}

TEST_F(QmpClientTest, ReplyThenImmediateCloseStillDeliversReply) {
  server_.OnCommand("quit", [](FakeQmpServer& s, const FakeQmpServer::Command& c) {
    s.Reply(c, json::object());
    s.SendEvent("SHUTDOWN", json{{"guest", false}, {"reason", "host-qmp-quit"}});
    s.Disconnect();
  });
  auto c = Connect();
  ASSERT_TRUE(c);
  auto w = c->WatchEvent("SHUTDOWN");
  EXPECT_TRUE(c->Execute("quit").ok());
  auto ev = w->Wait(2s);
  ASSERT_TRUE(ev.ok()) << ev.status().ToString();
  EXPECT_EQ(ev->data["reason"], "host-qmp-quit");
}

TEST_F(QmpClientTest, CloseByUsIsNotReportedAsDeath) {
  std::atomic<int> closes{0};
  QmpClientOptions o;
  o.on_close = [&](const Status&) { ++closes; };
  auto c = Connect(std::move(o));
  ASSERT_TRUE(c);
  c->Close();
  c->Close();
  EXPECT_TRUE(c->closed());
  EXPECT_EQ(c->Execute("x").status().code(), Code::kUnavailable);
  c.reset();
  EXPECT_EQ(closes.load(), 0);
}

TEST(QmpClientConnect, MissingSocketTimesOut) {
  skiff::testing::TempDir d;
  auto start = std::chrono::steady_clock::now();
  QmpClientOptions o;
  o.connect_timeout = 150ms;
  auto c = QmpClient::Connect(d / "absent.sock", std::move(o));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Code::kUnavailable);
  EXPECT_NE(c.status().message().find("absent.sock"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST(QmpClientConnect, PathTooLong) {
  auto c = QmpClient::Connect("/tmp/" + std::string(200, 'a'));
  EXPECT_EQ(c.status().code(), Code::kInvalidArgument);
}

TEST_F(QmpClientTest, NoGreetingTimesOut) {
  server_.SetGreeting("");
  QmpClientOptions o;
  o.connect_timeout = 150ms;
  auto c = QmpClient::Connect(server_.socket_path(), std::move(o));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Code::kUnavailable);
  EXPECT_NE(c.status().message().find("greeting"), std::string::npos);
}

TEST_F(QmpClientTest, PeerThatIsNotQmpIsRejected) {
  server_.SetGreeting("SSH-2.0-OpenSSH");
  auto c = QmpClient::Connect(server_.socket_path());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Code::kCorruption);
}

TEST_F(QmpClientTest, NegotiationErrorIsReported) {
  server_.ErrorFor("qmp_capabilities", "CommandNotFound",
                   "Capabilities negotiation is already complete");
  auto c = QmpClient::Connect(server_.socket_path());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("negotiation"), std::string::npos);
}

TEST_F(QmpClientTest, EventRightAfterGreetingInSameWrite) {
  server_.SetGreeting(R"({"QMP": {"version": {}, "capabilities": []}})"
                      "\r\n"
                      R"({"event": "EARLY", "data": {}})");
  std::atomic<int> early{0};
  QmpClientOptions o;
  o.on_event = [&](const QmpEvent& e) { early += e.name == "EARLY"; };
  auto c = Connect(std::move(o));
  ASSERT_TRUE(c);
  EXPECT_EQ(early.load(), 1);
}

TEST_F(QmpClientTest, ExecuteWithFdPassesDescriptor) {
  server_.OnCommand("getfd", [](FakeQmpServer& s, const FakeQmpServer::Command& c) {
    if (c.fds.size() != 1) {
      s.ReplyError(c, "GenericError", "No file descriptor supplied via SCM_RIGHTS");
      return;
    }
    (void)!::write(c.fds[0]->get(), "hi", 2);
    s.Reply(c, json::object());
  });
  auto c = Connect();
  ASSERT_TRUE(c);
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd r(p[0]), w(p[1]);
  auto res = c->ExecuteWithFd("getfd", json{{"fdname", "x"}}, w.get());
  ASSERT_TRUE(res.ok()) << res.status().ToString();
  char buf[2];
  ASSERT_EQ(::read(r.get(), buf, 2), 2);
  EXPECT_EQ(std::string(buf, 2), "hi");
  EXPECT_EQ(server_.commands().back().args["fdname"], "x");
  auto none = c->Execute("getfd", json{{"fdname", "y"}});
  EXPECT_FALSE(none.ok());
  EXPECT_EQ(c->ExecuteWithFd("getfd", json(), -1).status().code(), Code::kInvalidArgument);
}

TEST_F(QmpClientTest, ExecuteFromEventCallbackIsRefused) {
  server_.OnCommand("kick", [](FakeQmpServer& s, const FakeQmpServer::Command& c) {
    s.SendEvent("KICKED");
    s.Reply(c, json::object());
  });
  QmpClient* self = nullptr;
  std::promise<Status> got;
  QmpClientOptions o;
  o.on_event = [&](const QmpEvent&) { got.set_value(self->Execute("stop").status()); };
  auto c = Connect(std::move(o));
  ASSERT_TRUE(c);
  self = c.get();
  ASSERT_TRUE(c->Execute("kick").ok());
  auto f = got.get_future();
  ASSERT_EQ(f.wait_for(2s), std::future_status::ready);
  EXPECT_EQ(f.get().code(), Code::kFailedPrecondition);
}

TEST_F(QmpClientTest, WatchEventFiltersAndFailsOnClose) {
  server_.OnCommand("device_del", [](FakeQmpServer& s, const FakeQmpServer::Command& c) {
    s.Reply(c, json::object());
    s.SendEvent("DEVICE_DELETED", json{{"path", "/machine/peripheral/other"}, {"device", "other"}});
    s.SendEvent("DEVICE_DELETED", json{{"path", "/machine/peripheral/vdb"}, {"device", "vdb"}});
  });
  auto c = Connect();
  ASSERT_TRUE(c);
  auto w =
      c->WatchEvent("DEVICE_DELETED", [](const json& d) { return d.value("device", "") == "vdb"; });
  ASSERT_TRUE(c->Execute("device_del", json{{"id", "vdb"}}).ok());
  auto ev = w->Wait(2s);
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ(ev->data["device"], "vdb");

  auto never = c->WatchEvent("NEVER");
  auto t = never->Wait(50ms);
  EXPECT_EQ(t.status().code(), Code::kUnavailable);
  EXPECT_NE(t.status().message().find("NEVER"), std::string::npos);
  server_.Disconnect();
  auto closed = never->Wait(2s);
  EXPECT_EQ(closed.status().code(), Code::kUnavailable);
  EXPECT_NE(closed.status().message().find("closed"), std::string::npos);
  auto after = c->WatchEvent("X")->Wait(10ms);
  EXPECT_NE(after.status().message().find("closed"), std::string::npos);
}

TEST_F(QmpClientTest, ConcurrentExecuteFromManyThreads) {
  server_.OnCommand("echo", [](FakeQmpServer& s, const FakeQmpServer::Command& c) {
    s.SendEvent("NOISE");
    s.Reply(c, c.args["n"]);
  });
  auto c = Connect();
  ASSERT_TRUE(c);
  std::atomic<int> wrong{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        int n = t * 1000 + i;
        auto r = c->Execute("echo", json{{"n", n}});
        if (!r.ok() || *r != n) ++wrong;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST_F(QmpClientTest, OversizedLineEndsConnection) {
  server_.OnCommand("big", [](FakeQmpServer& s, const FakeQmpServer::Command&) {
    s.SendLine("{\"return\": \"" + std::string(4096, 'a'));
  });
  QmpClientOptions o;
  o.max_line_bytes = 1024;
  auto c = Connect(std::move(o));
  ASSERT_TRUE(c);
  auto r = c->Execute("big", json(), 2s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_TRUE(c->closed());
}

}  // namespace
}  // namespace skiff::qemu
