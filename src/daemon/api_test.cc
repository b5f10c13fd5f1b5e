// API tests against FakeHypervisor: every route, its errors, roles, persistence and reload.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "skiff/api/routes.h"
#include "skiff/base/fs.h"
#include "skiff/daemon/rest.h"
#include "skiff/fake/fake_hypervisor.h"
#include "testutil/temp_dir.h"

namespace skiff::daemon {
namespace {

using json = nlohmann::json;

constexpr const char* kUuid = "4dea22b3-1d52-d8f3-2516-782e98ab3fa0";

std::string DomainXml(const std::string& name, const std::string& uuid = "") {
  std::string u = uuid.empty() ? "" : "<uuid>" + uuid + "</uuid>";
  return "<domain type='qemu'><name>" + name + "</name>" + u +
         "<memory unit='MiB'>256</memory><vcpu>2</vcpu>"
         "<os><type arch='x86_64' machine='q35'>hvm</type></os>"
         "<devices><disk type='file' device='disk'><source file='/var/lib/x/" +
         name +
         ".img'/><target dev='vda' bus='virtio'/></disk>"
         "<interface type='network'><source network='default'/>"
         "<mac address='52:54:00:00:00:01'/></interface></devices></domain>";
}

class ApiTest : public ::testing::Test {
 protected:
  ApiTest() { Restart(); }

  void Restart() {
    api_.reset();
    service_.reset();
    service_ = std::make_unique<Service>(Paths(dir_.path()), hv_, events_);
    ASSERT_TRUE(service_->Load().ok());
    api_ = std::make_unique<Api>(*service_);
  }

  Response Call(const std::string& method, const std::string& target, const json& body = nullptr,
                Role role = Role::kAdmin) {
    Request r;
    r.method = method;
    EXPECT_TRUE(ParseTarget(target, &r.path, &r.query).ok()) << target;
    if (!body.is_null()) r.body = body.dump();
    r.role = role;
    r.peer = "uid 1000";
    return api_->Handle(r);
  }
  json Body(const Response& r) { return json::parse(r.body); }
  std::string Code(const Response& r) { return Body(r)["error"]["code"]; }

  void Define(const std::string& name, const std::string& uuid = "") {
    auto r = Call("POST", "/v1/domains", {{"xml", DomainXml(name, uuid)}});
    ASSERT_EQ(r.status, 201) << r.body;
  }

  testing::TempDir dir_;
  fake::FakeHypervisor hv_;
  EventBus events_;
  std::unique_ptr<Service> service_;
  std::unique_ptr<Api> api_;
};

TEST_F(ApiTest, DefineListGetUndefine) {
  Define("web1", kUuid);
  auto l = Body(Call("GET", "/v1/domains"));
  ASSERT_EQ(l["domains"].size(), 1u);
  EXPECT_EQ(l["domains"][0]["name"], "web1");
  EXPECT_EQ(l["domains"][0]["state"], "shut off");
  EXPECT_EQ(l["domains"][0]["id"], -1);
  EXPECT_TRUE(std::filesystem::exists(dir_.path() / "etc/skiff/domains/web1.xml"));
  for (const std::string& ref : {std::string("web1"), std::string(kUuid)}) {
    auto g = Call("GET", "/v1/domains/" + ref);
    ASSERT_EQ(g.status, 200) << g.body;
    EXPECT_EQ(Body(g)["max_memory_kib"], 262144);
    EXPECT_EQ(Body(g)["vcpus"], 2);
  }
  auto x = Body(Call("GET", "/v1/domains/web1/xml"));
  EXPECT_NE(x["xml"].get<std::string>().find("<name>web1</name>"), std::string::npos);
  EXPECT_EQ(Call("DELETE", "/v1/domains/web1").status, 200);
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "etc/skiff/domains/web1.xml"));
  EXPECT_EQ(Call("GET", "/v1/domains/web1").status, 404);
  EXPECT_EQ(Code(Call("DELETE", "/v1/domains/web1")), "not_found");
}

TEST_F(ApiTest, NameAndUuidAreUnique) {
  Define("a", kUuid);
  auto r = Call("POST", "/v1/domains", {{"xml", DomainXml("b", kUuid)}});
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(Code(r), "already_exists");
  r = Call("POST", "/v1/domains",
           {{"xml", DomainXml("a", "11111111-2222-3333-4444-555555555555")}});
  EXPECT_EQ(r.status, 409);
  EXPECT_NE(Body(r)["error"]["message"].get<std::string>().find("already exists"),
            std::string::npos);
  // Redefining with the same name and uuid updates.
  EXPECT_EQ(Call("POST", "/v1/domains", {{"xml", DomainXml("a", kUuid)}}).status, 201);
}

TEST_F(ApiTest, BadRequestsAreRefused) {
  Request r;
  r.method = "POST";
  r.path = "/v1/domains";
  r.role = Role::kAdmin;
  r.body = "{not json";
  auto resp = api_->Handle(r);
  EXPECT_EQ(resp.status, 400);
  EXPECT_EQ(Code(resp), "invalid_argument");
  r.body = R"({"xml":"<domain/>","bogus":1})";
  resp = api_->Handle(r);
  EXPECT_EQ(resp.status, 400);
  EXPECT_NE(resp.body.find("unknown field 'bogus'"), std::string::npos);
  r.body = R"([1,2])";
  EXPECT_EQ(api_->Handle(r).status, 400);
  r.body = R"({"xml": 5})";
  EXPECT_EQ(api_->Handle(r).status, 400);
  r.body = R"({"xml": "<domain"})";
  EXPECT_EQ(api_->Handle(r).status, 400);
  EXPECT_EQ(Call("GET", "/v1/domains?bogus=1").status, 400);
  EXPECT_EQ(Call("GET", "/v1/nothing").status, 404);
  EXPECT_EQ(Call("PUT", "/v1/domains").status, 400);
  std::string p;
  std::map<std::string, std::string> q;
  EXPECT_FALSE(ParseTarget("/v1/domains/%zz", &p, &q).ok());
  EXPECT_FALSE(ParseTarget("/v1/domains/%2", &p, &q).ok());
  EXPECT_FALSE(ParseTarget("v1", &p, &q).ok());
}

TEST_F(ApiTest, RolesAreChecked) {
  Define("a");
  auto r = Call("GET", "/v1/domains", nullptr, Role::kReadOnly);
  EXPECT_EQ(r.status, 200);
  r = Call("POST", "/v1/domains/a/start", json::object(), Role::kReadOnly);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(Code(r), "permission_denied");
  EXPECT_NE(Body(r)["error"]["message"].get<std::string>().find("read-only"), std::string::npos);
  r = Call("GET", "/v1/domains", nullptr, Role::kNone);
  EXPECT_EQ(r.status, 403);
}

// Graphics passwords are secrets: only dumpxml --security-info shows them, and only
// to an admin (issue 23 item 6, as libvirt's VIR_DOMAIN_XML_SECURE).
TEST_F(ApiTest, GraphicsPasswordsNeedSecurityInfoAndAnAdmin) {
  std::string xml = DomainXml("g");
  xml.replace(xml.find("</devices>"), 0, "<graphics type='vnc' passwd='s3cret'/>");
  ASSERT_EQ(Call("POST", "/v1/domains", {{"xml", xml}}).status, 201);
  for (Role role : {Role::kReadOnly, Role::kAdmin}) {
    auto plain = Call("GET", "/v1/domains/g/xml", nullptr, role);
    ASSERT_EQ(plain.status, 200) << plain.body;
    EXPECT_EQ(plain.body.find("s3cret"), std::string::npos) << plain.body;
    EXPECT_NE(plain.body.find("<graphics type='vnc'"), std::string::npos) << plain.body;
  }
  auto refused = Call("GET", "/v1/domains/g/xml?security_info=true", nullptr, Role::kReadOnly);
  EXPECT_EQ(refused.status, 403);
  EXPECT_NE(refused.body.find("--security-info needs root"), std::string::npos) << refused.body;
  auto secure = Call("GET", "/v1/domains/g/xml?security_info=true&inactive=true");
  ASSERT_EQ(secure.status, 200);
  EXPECT_NE(secure.body.find("passwd='s3cret'"), std::string::npos) << secure.body;
  // The stored definition keeps it: a restart still has it.
  Restart();
  EXPECT_NE(Call("GET", "/v1/domains/g/xml?security_info=true").body.find("s3cret"),
            std::string::npos);
}

TEST_F(ApiTest, LifeCycle) {
  Define("a");
  auto r = Call("POST", "/v1/domains/a/start", json::object());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r)["state"], "running");
  EXPECT_EQ(Body(r)["reason"], "booted");
  EXPECT_EQ(Body(r)["id"], 1);
  EXPECT_EQ(Call("GET", "/v1/domains/1").status, 200);  // by id
  EXPECT_EQ(Code(Call("POST", "/v1/domains/a/start", json::object())), "failed_precondition");
  EXPECT_TRUE(std::filesystem::exists(dir_.path() / "run/skiff/domains/a.xml"));
  EXPECT_EQ(Body(Call("POST", "/v1/domains/a/suspend"))["state"], "paused");
  EXPECT_EQ(Body(Call("POST", "/v1/domains/a/resume"))["state"], "running");
  EXPECT_EQ(Code(Call("POST", "/v1/domains/a/resume")), "failed_precondition");
  EXPECT_EQ(Call("POST", "/v1/domains/a/reboot").status, 200);
  EXPECT_EQ(Call("POST", "/v1/domains/a/reset").status, 200);
  auto st = Body(Call("GET", "/v1/domains/a/stats"));
  EXPECT_EQ(st["stats"]["cpu.time"], 1500000000);
  EXPECT_EQ(st["stats"]["state.state"], 1);
  EXPECT_EQ(Body(Call("GET", "/v1/domains/a/addresses"))["addresses"][0]["address"],
            "192.168.122.10/24");
  EXPECT_EQ(Body(Call("GET", "/v1/domains/a/interfaces"))["interfaces"][0]["interface"], "vnet0");
  r = Call("POST", "/v1/domains/a/destroy");
  EXPECT_EQ(Body(r)["state"], "shut off");
  EXPECT_EQ(Body(r)["reason"], "destroyed");
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "run/skiff/domains/a.xml"));
  for (auto v : {"shutdown", "destroy", "reboot", "reset", "suspend", "resume"}) {
    EXPECT_EQ(Code(Call("POST", std::string("/v1/domains/a/") + v)), "failed_precondition") << v;
  }
  EXPECT_EQ(Code(Call("GET", "/v1/domains/a/addresses")), "failed_precondition");
  EXPECT_EQ(Code(Call("POST", "/v1/domains/nope/start")), "not_found");
}

TEST_F(ApiTest, ShutdownAndCrashNoticesArrive) {
  Define("a");
  ASSERT_EQ(Call("POST", "/v1/domains/a/start").status, 200);
  ASSERT_EQ(Call("POST", "/v1/domains/a/shutdown").status, 200);
  for (int i = 0; i < 200 && Body(Call("GET", "/v1/domains/a"))["state"] != "shut off"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(Body(Call("GET", "/v1/domains/a"))["reason"], "shutdown");
  ASSERT_EQ(Call("POST", "/v1/domains/a/start").status, 200);
  hv_.CrashForTest("a");
  for (int i = 0; i < 200 && Body(Call("GET", "/v1/domains/a"))["state"] != "shut off"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(Body(Call("GET", "/v1/domains/a"))["reason"], "crashed");
}

// What a guest does by itself reaches the domain's state through the driver's
// guest events, as QEMU's STOP/RESUME/RESET/GUEST_PANICKED do.
TEST_F(ApiTest, GuestEventsChangeTheDomainsState) {
  using Kind = hypervisor::GuestEvent::Kind;
  std::vector<std::string> seen;
  std::mutex mu;
  // Unsubscribed before `seen` and `mu` go: the crash job publishes after the state changed.
  uint64_t sub = events_.Subscribe([&](const json& e) {
    std::lock_guard l(mu);
    if (e["type"] == "lifecycle")
      seen.push_back(e["event"].get<std::string>() + "/" + e.value("detail", ""));
  });
  auto wait_state = [&](const std::string& state) {
    for (int i = 0; i < 400 && Body(Call("GET", "/v1/domains/a"))["state"] != state; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return Body(Call("GET", "/v1/domains/a"));
  };
  Define("a");
  ASSERT_EQ(Call("POST", "/v1/domains/a/start").status, 200);
  hv_.GuestEventForTest("a", {Kind::kPaused, "ioerror"});
  auto d = wait_state("paused");
  EXPECT_EQ(d["state"], "paused");
  EXPECT_EQ(d["reason"], "ioerror");
  hv_.GuestEventForTest("a", {Kind::kResumed, "unpaused"});
  d = wait_state("running");
  EXPECT_EQ(d["state"], "running");
  EXPECT_EQ(d["reason"], "unpaused");
  hv_.GuestEventForTest("a", {Kind::kReset, "guest"});
  // <on_crash> is destroy by default: the panicked guest ends up shut off.
  hv_.GuestEventForTest("a", {Kind::kPanicked, "panicked"});
  d = wait_state("shut off");
  EXPECT_EQ(d["state"], "shut off");
  EXPECT_EQ(d["reason"], "crashed");
  EXPECT_EQ(hv_.RunningCountForTest(), 0u);
  events_.Unsubscribe(sub);
  std::lock_guard l(mu);
  EXPECT_NE(std::find(seen.begin(), seen.end(), "rebooted/guest"), seen.end())
      << ::testing::PrintToString(seen);
}

TEST_F(ApiTest, TransientDomainsVanishWhenStopped) {
  auto r = Call("POST", "/v1/domains", {{"xml", DomainXml("t")}, {"persistent", false}});
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Body(r)["persistent"], false);
  EXPECT_EQ(Body(r)["state"], "running");
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "etc/skiff/domains/t.xml"));
  EXPECT_EQ(Code(Call("DELETE", "/v1/domains/t")), "failed_precondition");
  EXPECT_EQ(Call("POST", "/v1/domains/t/destroy").status, 200);
  EXPECT_EQ(Call("GET", "/v1/domains/t").status, 404);
}

TEST_F(ApiTest, StartFailureIsReported) {
  Define("a");
  hv_.FailStartForTest(UnavailableError("qemu exploded"));
  auto r = Call("POST", "/v1/domains/a/start");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("qemu exploded"), std::string::npos);
  hv_.FailStartForTest(Status::Ok());
  EXPECT_EQ(Body(Call("GET", "/v1/domains/a"))["state"], "shut off");
}

TEST_F(ApiTest, AutostartAndReload) {
  Define("a", kUuid);
  Define("b");
  ASSERT_EQ(Call("POST", "/v1/domains/a/autostart", {{"enabled", true}}).status, 200);
  EXPECT_EQ(Body(Call("GET", "/v1/domains/a"))["autostart"], true);
  // A broken file is logged and kept, not deleted.
  ASSERT_TRUE(WriteFileAtomic(dir_.path() / "etc/skiff/domains/broken.xml", "<domain").ok());
  Restart();
  auto l = Body(Call("GET", "/v1/domains"));
  EXPECT_EQ(l["domains"].size(), 2u);
  EXPECT_TRUE(std::filesystem::exists(dir_.path() / "etc/skiff/domains/broken.xml"));
  auto a = Body(Call("GET", "/v1/domains/a"));
  EXPECT_EQ(a["uuid"], kUuid);
  EXPECT_EQ(a["state"], "running");  // autostarted
  ASSERT_EQ(Call("POST", "/v1/domains/a/autostart", {{"enabled", false}}).status, 200);
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "etc/skiff/domains/autostart/a.xml"));
}

TEST_F(ApiTest, RunningDomainsAreReattachedAfterRestart) {
  Define("a");
  ASSERT_EQ(Call("POST", "/v1/domains/a/start").status, 200);
  Restart();  // the fake keeps "a" running, like a QEMU that outlives skiffd
  auto a = Body(Call("GET", "/v1/domains/a"));
  EXPECT_EQ(a["state"], "running");
  EXPECT_EQ(a["id"], 1);
  EXPECT_EQ(Body(Call("POST", "/v1/domains/a/destroy"))["state"], "shut off");
}

TEST_F(ApiTest, UndefineRunningKeepsItTransientAndRemovesStorage) {
  Define("a");
  auto img = dir_.path() / "a.img";
  ASSERT_TRUE(WriteFileAtomic(img, "x").ok());
  std::string xml = DomainXml("a");
  auto pos = xml.find("/var/lib/x/a.img");
  xml.replace(pos, 16, img.string());
  ASSERT_EQ(Call("POST", "/v1/domains", {{"xml", xml}}).status, 201);
  ASSERT_EQ(Call("POST", "/v1/domains/a/start").status, 200);
  ASSERT_EQ(Call("DELETE", "/v1/domains/a?remove_all_storage=true").status, 200);
  EXPECT_FALSE(std::filesystem::exists(img));
  EXPECT_EQ(Body(Call("GET", "/v1/domains/a"))["persistent"], false);
  EXPECT_EQ(Call("POST", "/v1/domains/a/destroy").status, 200);
  EXPECT_EQ(Call("GET", "/v1/domains/a").status, 404);
  EXPECT_EQ(Call("DELETE", "/v1/domains/x?bogus=1").status, 400);
}

TEST_F(ApiTest, MemoryAndVcpus) {
  Define("a");
  EXPECT_EQ(Call("POST", "/v1/domains/a/memory", {{"kib", 131072}}).status, 200);
  EXPECT_EQ(Body(Call("GET", "/v1/domains/a"))["used_memory_kib"], 131072);
  EXPECT_EQ(Code(Call("POST", "/v1/domains/a/memory", {{"kib", 999999999}})), "invalid_argument");
  EXPECT_EQ(Code(Call("POST", "/v1/domains/a/memory", {{"kib", -1}})), "invalid_argument");
  EXPECT_EQ(Code(Call("POST", "/v1/domains/a/memory", json::object())), "invalid_argument");
  EXPECT_EQ(Call("POST", "/v1/domains/a/memory", {{"kib", 524288}, {"maximum", true}}).status, 200);
  EXPECT_EQ(Body(Call("GET", "/v1/domains/a"))["max_memory_kib"], 524288);
  EXPECT_EQ(Call("POST", "/v1/domains/a/vcpus", {{"count", 1}}).status, 200);
  EXPECT_EQ(Body(Call("GET", "/v1/domains/a"))["vcpus"], 1);
  EXPECT_EQ(Code(Call("POST", "/v1/domains/a/vcpus", {{"count", 9}})), "invalid_argument");
  ASSERT_EQ(Call("POST", "/v1/domains/a/start").status, 200);
  EXPECT_EQ(Call("POST", "/v1/domains/a/memory", {{"kib", 262144}, {"live", true}}).status, 200);
  EXPECT_EQ(Body(Call("GET", "/v1/domains/a"))["used_memory_kib"], 262144);
  EXPECT_EQ(Code(Call("POST", "/v1/domains/a/memory", {{"kib", 1024}, {"maximum", true}})),
            "failed_precondition");
  EXPECT_EQ(Call("POST", "/v1/domains/a/vcpus", {{"count", 2}, {"live", true}}).status, 200);
}

TEST_F(ApiTest, DiskAndInterfaceHotplug) {
  Define("a");
  auto r = Call("POST", "/v1/domains/a/disks",
                {{"source", "/tmp/b.qcow2"}, {"target", "vdb"}, {"subdriver", "qcow2"}});
  ASSERT_EQ(r.status, 201) << r.body;
  auto d = Body(Call("GET", "/v1/domains/a/disks"))["disks"];
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[1]["target"], "vdb");
  EXPECT_EQ(d[1]["format"], "qcow2");
  EXPECT_EQ(Code(Call("POST", "/v1/domains/a/disks", {{"source", "/x"}, {"target", "vdb"}})),
            "already_exists");
  EXPECT_EQ(Code(Call("POST", "/v1/domains/a/disks",
                      {{"source", "/x"}, {"target", "vdc"}, {"bus", "floppy"}})),
            "invalid_argument");
  EXPECT_EQ(Code(Call("POST", "/v1/domains/a/disks",
                      {{"source", "/x"}, {"target", "vdc"}, {"live", true}})),
            "failed_precondition");
  EXPECT_EQ(Call("DELETE", "/v1/domains/a/disks/vdb").status, 200);
  EXPECT_EQ(Code(Call("DELETE", "/v1/domains/a/disks/vdb")), "not_found");
  ASSERT_EQ(Call("POST", "/v1/domains/a/start").status, 200);
  r = Call("POST", "/v1/domains/a/interfaces",
           {{"type", "bridge"},
            {"source", "br0"},
            {"mac", "52:54:00:aa:bb:cc"},
            {"live", true},
            {"config", true}});
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Body(Call("GET", "/v1/domains/a/interfaces"))["interfaces"].size(), 2u);
  EXPECT_EQ(Body(Call("GET", "/v1/domains/a/interfaces?inactive=true"))["interfaces"].size(), 2u);
  EXPECT_EQ(Code(Call("POST", "/v1/domains/a/interfaces", {{"type", "direct"}, {"source", "x"}})),
            "invalid_argument");
  EXPECT_EQ(Call("DELETE",
                 "/v1/domains/a/interfaces?type=bridge&mac=52:54:00:aa:bb:cc&live=true&config=true")
                .status,
            200);
  EXPECT_EQ(Code(Call("DELETE", "/v1/domains/a/interfaces")), "invalid_argument");
  EXPECT_EQ(Code(Call("DELETE", "/v1/domains/a/interfaces?type=bridge")), "not_found");
}

TEST_F(ApiTest, SaveRestoreManagedSaveJobs) {
  Define("a");
  ASSERT_EQ(Call("POST", "/v1/domains/a/start").status, 200);
  std::string file = (dir_.path() / "a.save").string();
  auto r = Call("POST", "/v1/domains/a/save", {{"file", file}});
  ASSERT_EQ(r.status, 202) << r.body;
  auto id = Body(r)["job"]["id"].get<uint64_t>();
  auto j = Body(Call("GET", "/v1/jobs/" + std::to_string(id) + "?wait=true"));
  EXPECT_EQ(j["state"], "completed");
  EXPECT_EQ(j["progress"], 100);
  EXPECT_EQ(Body(Call("GET", "/v1/domains/a"))["reason"], "saved");
  // One file: the header line, then the hypervisor's state.
  {
    auto text = ReadFile(file);
    ASSERT_TRUE(text.ok());
    size_t nl = text->find('\n');
    ASSERT_NE(nl, std::string::npos);
    auto header = json::parse(text->substr(0, nl));
    EXPECT_EQ(header["magic"], "skiff-save-v1");
    EXPECT_NE(header["xml"].get<std::string>().find("<name>a</name>"), std::string::npos);
    EXPECT_EQ(text->substr(nl + 1, 16), "SKIFF-FAKE-SAVE\n");
    EXPECT_FALSE(std::filesystem::exists(file + ".state"));
  }
  EXPECT_EQ(Code(Call("POST", "/v1/domains/a/save", {{"file", "relative"}})), "invalid_argument");
  {
    // Not a save file: refused before any job starts.
    std::string bogus = (dir_.path() / "bogus.save").string();
    ASSERT_TRUE(WriteFileAtomic(bogus, "{\"magic\":\"nope\"}\nxxxx", 0600).ok());
    auto b = Call("POST", "/v1/domains/restore", {{"file", bogus}});
    EXPECT_EQ(Code(b), "invalid_argument");
    EXPECT_NE(b.body.find("is not a skiff save file"), std::string::npos) << b.body;
  }
  r = Call("POST", "/v1/domains/restore", {{"file", file}});
  ASSERT_EQ(r.status, 202) << r.body;
  id = Body(r)["job"]["id"].get<uint64_t>();
  EXPECT_EQ(Body(Call("GET", "/v1/jobs/" + std::to_string(id) + "?wait=1"))["state"], "completed");
  EXPECT_EQ(Body(Call("GET", "/v1/domains/a"))["reason"], "restored");
  EXPECT_EQ(Code(Call("POST", "/v1/domains/restore", {{"file", "/nonexistent"}})), "not_found");
  // managed save, then start restores from it
  r = Call("POST", "/v1/domains/a/managedsave");
  ASSERT_EQ(r.status, 202);
  id = Body(r)["job"]["id"].get<uint64_t>();
  Call("GET", "/v1/jobs/" + std::to_string(id) + "?wait=true");
  EXPECT_EQ(Body(Call("GET", "/v1/domains/a"))["managed_save"], true);
  EXPECT_EQ(Code(Call("DELETE", "/v1/domains/a")), "failed_precondition");
  EXPECT_EQ(Body(Call("POST", "/v1/domains/a/start"))["reason"], "restored");
  EXPECT_EQ(Body(Call("GET", "/v1/domains/a"))["managed_save"], false);
  EXPECT_GE(Body(Call("GET", "/v1/jobs"))["jobs"].size(), 3u);
  EXPECT_EQ(Call("GET", "/v1/jobs/999").status, 404);
  EXPECT_EQ(Call("GET", "/v1/jobs/abc").status, 404);
}

TEST_F(ApiTest, ManagedSaveDumpxmlAndDefine) {
  std::string def = DomainXml("a");
  def.insert(def.find("</devices>"), "<graphics type='vnc' autoport='yes' passwd='s3cret'/>");
  ASSERT_EQ(Call("POST", "/v1/domains", {{"xml", def}}).status, 201);
  EXPECT_EQ(Code(Call("GET", "/v1/domains/a/managedsave")), "not_found");
  ASSERT_EQ(Call("POST", "/v1/domains/a/start").status, 200);
  auto r = Call("POST", "/v1/domains/a/managedsave");
  ASSERT_EQ(r.status, 202) << r.body;
  Call("GET", "/v1/jobs/" + std::to_string(Body(r)["job"]["id"].get<uint64_t>()) + "?wait=true");
  // What it restores; the password only for --security-info.
  std::string xml = Body(Call("GET", "/v1/domains/a/managedsave"))["xml"];
  EXPECT_NE(xml.find("<name>a</name>"), std::string::npos) << xml;
  EXPECT_EQ(xml.find("s3cret"), std::string::npos) << xml;
  EXPECT_NE(Body(Call("GET", "/v1/domains/a/managedsave?security_info=true"))["xml"]
                .get<std::string>()
                .find("s3cret"),
            std::string::npos);
  // A new title and paused: kept, and the password the XML left out stays.
  std::string titled = xml;
  titled.insert(titled.find("</name>") + 7, "<title>moved</title>");
  r = Call("PUT", "/v1/domains/a/managedsave", {{"xml", titled}, {"paused", true}});
  ASSERT_EQ(r.status, 200) << r.body;
  std::string now = Body(Call("GET", "/v1/domains/a/managedsave?security_info=true"))["xml"];
  EXPECT_NE(now.find("<title>moved</title>"), std::string::npos) << now;
  EXPECT_NE(now.find("s3cret"), std::string::npos) << now;
  // More memory is hardware the saved guest does not have: refused, nothing changed.
  std::string bigger = xml;
  size_t m = bigger.find("<memory unit='KiB'>") + 19;
  bigger.replace(m, bigger.find('<', m) - m, "4194304");
  r = Call("PUT", "/v1/domains/a/managedsave", {{"xml", bigger}, {"source", "big.xml"}});
  EXPECT_EQ(Code(r), "invalid_argument");
  EXPECT_NE(r.body.find("changes the saved guest's hardware"), std::string::npos) << r.body;
  EXPECT_EQ(Body(Call("GET", "/v1/domains/a/managedsave?security_info=true"))["xml"], now);
  // Bad XML names its source.
  r = Call("PUT", "/v1/domains/a/managedsave", {{"xml", "<domain>"}, {"source", "bad.xml"}});
  EXPECT_EQ(Code(r), "invalid_argument");
  EXPECT_NE(r.body.find("bad.xml"), std::string::npos) << r.body;
  // The start restores it, paused as redefined.
  ASSERT_EQ(Call("POST", "/v1/domains/a/start").status, 200);
  EXPECT_EQ(Body(Call("GET", "/v1/domains/a"))["state"], "paused");
  EXPECT_EQ(Body(Call("GET", "/v1/domains/a"))["managed_save"], false);
  EXPECT_EQ(Code(Call("GET", "/v1/domains/a/managedsave")), "not_found");
}

TEST_F(ApiTest, RestoreComesBackInTheSavedStateUnlessTold) {
  Define("a");
  ASSERT_EQ(Call("POST", "/v1/domains/a/start").status, 200);
  ASSERT_EQ(Call("POST", "/v1/domains/a/suspend").status, 200);
  std::string file = (dir_.path() / "a.save").string();
  auto wait = [&](const Response& r) {
    EXPECT_EQ(r.status, 202) << r.body;
    auto id = Body(r)["job"]["id"].get<uint64_t>();
    return Body(Call("GET", "/v1/jobs/" + std::to_string(id) + "?wait=true"))["state"];
  };
  ASSERT_EQ(wait(Call("POST", "/v1/domains/a/save", {{"file", file}})), "completed");
  // Saved paused: restored paused.
  ASSERT_EQ(wait(Call("POST", "/v1/domains/restore", {{"file", file}})), "completed");
  EXPECT_EQ(Body(Call("GET", "/v1/domains/a"))["state"], "paused");
  ASSERT_EQ(Call("POST", "/v1/domains/a/destroy").status, 200);
  // --running overrides it.
  ASSERT_EQ(wait(Call("POST", "/v1/domains/restore", {{"file", file}, {"running", true}})),
            "completed");
  EXPECT_EQ(Body(Call("GET", "/v1/domains/a"))["reason"], "restored");
  // Saved running, --paused: paused.
  ASSERT_EQ(wait(Call("POST", "/v1/domains/a/save", {{"file", file}})), "completed");
  ASSERT_EQ(wait(Call("POST", "/v1/domains/restore", {{"file", file}, {"paused", true}})),
            "completed");
  EXPECT_EQ(Body(Call("GET", "/v1/domains/a"))["state"], "paused");
  EXPECT_EQ(Code(Call("POST", "/v1/domains/restore",
                      {{"file", file}, {"paused", true}, {"running", true}})),
            "invalid_argument");
  // A managed save of a paused guest starts paused.
  ASSERT_EQ(wait(Call("POST", "/v1/domains/a/managedsave")), "completed");
  EXPECT_EQ(Body(Call("POST", "/v1/domains/a/start"))["state"], "paused");
  // save --running of a paused guest: the file says running.
  ASSERT_EQ(wait(Call("POST", "/v1/domains/a/save", {{"file", file}, {"running", true}})),
            "completed");
  ASSERT_EQ(wait(Call("POST", "/v1/domains/restore", {{"file", file}})), "completed");
  EXPECT_EQ(Body(Call("GET", "/v1/domains/a"))["state"], "running");
  // managedsave --paused of a running guest: start brings it back paused.
  ASSERT_EQ(wait(Call("POST", "/v1/domains/a/managedsave", {{"paused", true}})), "completed");
  EXPECT_EQ(Body(Call("POST", "/v1/domains/a/start"))["state"], "paused");
  // The image is written under a temp name and renamed when whole: none is left.
  ASSERT_EQ(wait(Call("POST", "/v1/domains/a/managedsave")), "completed");
  const auto save_dir = dir_.path() / "var/lib/skiff/save";
  for (const auto& e : std::filesystem::directory_iterator(save_dir)) {
    EXPECT_EQ(e.path().filename(), "a.save");
  }
  // managedsave-remove: the image goes, and the next start boots afresh.
  auto removed = Call("DELETE", "/v1/domains/a/managedsave");
  ASSERT_EQ(removed.status, 200) << removed.body;
  EXPECT_EQ(Body(removed)["removed"], true);
  EXPECT_EQ(Body(Call("DELETE", "/v1/domains/a/managedsave"))["removed"], false);
  EXPECT_FALSE(std::filesystem::exists(save_dir / "a.save"));
  auto started = Body(Call("POST", "/v1/domains/a/start"));
  EXPECT_EQ(started["state"], "running");
  EXPECT_EQ(started["reason"], "booted");
  EXPECT_EQ(Call("DELETE", "/v1/domains/zz/managedsave").status, 404);
}

TEST_F(ApiTest, JobsCanBeCancelled) {
  Define("a");
  ASSERT_EQ(Call("POST", "/v1/domains/a/start").status, 200);
  hv_.SetSaveStepMsForTest(100);
  std::vector<json> seen;
  std::mutex mu;
  uint64_t sub = events_.Subscribe([&](const json& e) {
    std::lock_guard l(mu);
    seen.push_back(e);
  });
  auto r = Call("POST", "/v1/domains/a/save", {{"file", (dir_.path() / "x.save").string()}});
  auto id = std::to_string(Body(r)["job"]["id"].get<uint64_t>());
  EXPECT_EQ(Call("POST", "/v1/jobs/" + id + "/cancel").status, 200);
  auto j = Body(Call("GET", "/v1/jobs/" + id + "?wait=true"));
  EXPECT_EQ(j["state"], "cancelled");
  EXPECT_EQ(Body(Call("GET", "/v1/domains/a"))["state"], "running");
  EXPECT_EQ(Code(Call("POST", "/v1/jobs/" + id + "/cancel")), "failed_precondition");
  events_.Unsubscribe(sub);
  std::lock_guard l(mu);
  bool saw_job = false;
  for (const auto& e : seen) saw_job |= e["type"] == "job";
  EXPECT_TRUE(saw_job);
}

TEST_F(ApiTest, LifecycleEventsArePublished) {
  std::vector<std::string> names;
  std::mutex mu;
  uint64_t sub = events_.Subscribe([&](const json& e) {
    std::lock_guard l(mu);
    if (e["type"] == "lifecycle") names.push_back(e["event"]);
  });
  Define("a");
  Call("POST", "/v1/domains/a/start");
  Call("POST", "/v1/domains/a/destroy");
  events_.Unsubscribe(sub);
  std::lock_guard l(mu);
  EXPECT_EQ(names, (std::vector<std::string>{"defined", "started", "stopped"}));
  EXPECT_TRUE(Call("GET", "/v1/events").event_stream);
}

TEST_F(ApiTest, HostRoutes) {
  auto v = Body(Call("GET", "/v1/version"));
  EXPECT_EQ(v["hypervisor"], "fake");
  EXPECT_EQ(v["api"], 1);
  auto c = Body(Call("GET", "/v1/host/capabilities"));
  EXPECT_TRUE(c["host"]["cpus"].get<int>() > 0);
  auto h = Body(Call("GET", "/v1/host/validate"));
  EXPECT_GE(h["checks"].size(), 4u);
}

TEST_F(ApiTest, NetworksAndPoolsAreStored) {
  std::string net =
      "<network><name>n1</name><bridge name='virbr9'/>"
      "<ip address='192.168.150.1' netmask='255.255.255.0'/></network>";
  auto r = Call("POST", "/v1/networks", {{"xml", net}});
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Body(Call("GET", "/v1/networks"))["networks"].size(), 2u);  // and `default`
  EXPECT_EQ(Call("GET", "/v1/networks/n1/xml").status, 200);
  EXPECT_EQ(Call("POST", "/v1/networks/n1/autostart", {{"enabled", true}}).status, 200);
  // Service's own backend is the in-memory fake: starting touches nothing on the host.
  auto st = Call("POST", "/v1/networks/n1/start");
  EXPECT_EQ(st.status, 200) << st.body;
  EXPECT_EQ(Body(Call("GET", "/v1/networks/n1"))["active"], true);
  EXPECT_EQ(Code(Call("POST", "/v1/networks/n1/start")), "failed_precondition");
  EXPECT_EQ(Body(Call("GET", "/v1/networks/n1/leases"))["leases"].size(), 0u);
  Restart();
  EXPECT_EQ(Body(Call("GET", "/v1/networks/n1"))["autostart"], true);
  EXPECT_EQ(Call("POST", "/v1/networks/n1/destroy").status, 200);
  EXPECT_EQ(Code(Call("GET", "/v1/networks/n1/leases")), "failed_precondition");
  EXPECT_EQ(Call("DELETE", "/v1/networks/n1").status, 200);
  EXPECT_EQ(Call("GET", "/v1/networks/n1").status, 404);
  std::string pool =
      "<pool type='dir'><name>p1</name><target><path>/var/lib/p1</path></target></pool>";
  r = Call("POST", "/v1/pools", {{"xml", pool}});
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Body(Call("GET", "/v1/pools/p1"))["target"], "/var/lib/p1");
  EXPECT_EQ(Code(Call("GET", "/v1/pools/p1/volumes")), "failed_precondition");
  EXPECT_EQ(Code(Call("GET", "/v1/pools/zz/volumes")), "not_found");
  EXPECT_EQ(Call("DELETE", "/v1/pools/p1").status, 200);
  // Defined and started in one request (pool-create-as); a transient pool is refused
  // and nothing is defined.
  std::string p2 = "<pool type='dir'><name>p2</name><target><path>" +
                   (dir_.path() / "p2").string() + "</path></target></pool>";
  std::filesystem::create_directories(dir_.path() / "p2");
  r = Call("POST", "/v1/pools", {{"xml", p2}, {"start", true}});
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Body(r)["active"], true);
  EXPECT_EQ(Body(Call("GET", "/v1/pools/p2"))["active"], true);
  std::string p3 =
      "<pool type='dir'><name>p3</name><target><path>/var/lib/p3</path></target></pool>";
  EXPECT_EQ(Code(Call("POST", "/v1/pools", {{"xml", p3}, {"persistent", false}})), "unsupported");
  EXPECT_EQ(Call("GET", "/v1/pools/p3").status, 404);
  // A second pool on p2's directory (here spelt with a trailing slash) is refused.
  std::string p4 = "<pool type='dir'><name>p4</name><target><path>" +
                   (dir_.path() / "p2").string() + "/</path></target></pool>";
  auto clash = Call("POST", "/v1/pools", {{"xml", p4}});
  EXPECT_EQ(clash.status, 409) << clash.body;
  EXPECT_EQ(Body(clash)["error"]["message"], "storage pool 'p4': target '" +
                                                 (dir_.path() / "p2").string() +
                                                 "' is already used by pool 'p2'");
  EXPECT_EQ(Call("GET", "/v1/pools/p4").status, 404);
  // Names that cannot name a file are a 400 naming the element.
  auto bad = Call("POST", "/v1/pools",
                  {{"xml",
                    "<pool type='dir'><name>..</name><target><path>/x</path></target>"
                    "</pool>"}});
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_NE(bad.body.find("<name> must not be '..'"), std::string::npos) << bad.body;
}

// Found by rest_body_fuzz: an error naming a path with invalid UTF-8 threw from json::dump.
TEST_F(ApiTest, InvalidUtf8InPathGetsJsonError) {
  Request r;
  r.method = "POST";
  r.path =
      "/\xad"
      "1/domains/f/memory";
  r.body = R"({"kib":1024,"live":true})";
  r.role = Role::kAdmin;
  Response resp = api_->Handle(r);
  EXPECT_EQ(resp.status, 404);
  EXPECT_NE(Body(resp)["error"]["message"].get<std::string>().find("domains/f/memory"),
            std::string::npos);
}

TEST_F(ApiTest, DefaultPoolIsMadeOnceAndVolumesWork) {
  // The first start defined, built and started `default` under the root.
  auto d = Body(Call("GET", "/v1/pools/default/info"));
  EXPECT_EQ(d["active"], true);
  EXPECT_EQ(d["target"], (dir_.path() / "var/lib/skiff/images").string());
  EXPECT_GT(d["capacity"].get<uint64_t>(), 0u);
  std::string vol =
      "<volume><name>v1.qcow2</name><capacity unit='M'>16</capacity>"
      "<target><format type='qcow2'/></target></volume>";
  auto r = Call("POST", "/v1/pools/default/volumes", {{"xml", vol}});
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Body(r)["format"], "qcow2");
  EXPECT_EQ(Body(r)["capacity"], 16u << 20);
  EXPECT_EQ(Call("POST", "/v1/pools/default/volumes", {{"xml", vol}}).status, 409);
  // A raw volume round-trips raw bytes through PUT and GET .../data; the extents
  // show data and holes.
  std::string raw = "<volume><name>r.img</name><capacity>1</capacity></volume>";
  ASSERT_EQ(Call("POST", "/v1/pools/default/volumes", {{"xml", raw}}).status, 201);
  auto put = [&](const std::string& query, const std::string& bytes) {
    Request rq;
    rq.method = "PUT";
    EXPECT_TRUE(
        ParseTarget("/v1/pools/default/volumes/r.img/data" + query, &rq.path, &rq.query).ok());
    rq.body = bytes;
    rq.role = Role::kAdmin;
    return api_->Handle(rq);
  };
  ASSERT_EQ(put("?offset=0&truncate=true", std::string("he\0lo", 5)).status, 200);
  ASSERT_EQ(put("?offset=2097152", "tail").status, 200);
  ASSERT_EQ(put("?offset=2097156&final_size=2097156", "").status, 200);
  EXPECT_EQ(put("?offset=0&truncate=maybe", "").status, 400);
  auto dl = Call("GET", "/v1/pools/default/volumes/r.img/data?offset=0&length=5");
  EXPECT_EQ(dl.content_type, "application/octet-stream");
  EXPECT_EQ(dl.body, std::string("he\0lo", 5));
  dl = Call("GET", "/v1/pools/default/volumes/r.img/data?offset=2097154&length=100");
  EXPECT_EQ(dl.body, "il");  // short at the end of the file
  EXPECT_EQ(Call("GET", "/v1/pools/default/volumes/r.img/data?length=999999999").status, 400);
  // Offsets and sizes no file can have are input errors, not the daemon's (issue 23 item 12).
  for (const char* bad :
       {"GET /data?offset=4611686018427387905", "GET /extents?offset=9223372036854775808",
        "PUT /data?offset=4611686018427387905",
        "PUT /data?offset=0&final_size=9223372036854775807"}) {
    std::string what(bad);
    const std::string method = what.substr(0, what.find(' '));
    auto resp = Call(method, "/v1/pools/default/volumes/r.img" + what.substr(what.find(' ') + 1));
    EXPECT_EQ(resp.status, 400) << bad << ": " << resp.body;
    EXPECT_NE(resp.body.find("past the largest file offset"), std::string::npos) << resp.body;
  }
  auto ext = Body(Call("GET", "/v1/pools/default/volumes/r.img/extents"));
  EXPECT_EQ(ext["size"], 2097156u);
  ASSERT_EQ(ext["extents"].size(), 2u) << ext.dump();
  EXPECT_EQ(ext["extents"][0][0], 0u);
  EXPECT_LT(ext["extents"][0][1].get<uint64_t>(), 2097152u);  // the middle is a hole
  EXPECT_LE(ext["extents"][1][0].get<uint64_t>(), 2097152u);
  EXPECT_EQ(ext["extents"][1][0].get<uint64_t>() + ext["extents"][1][1].get<uint64_t>(), 2097156u);
  EXPECT_EQ(Code(Call("GET", "/v1/pools/default/volumes/r.img/data", nullptr, Role::kReadOnly)),
            "permission_denied");
  EXPECT_EQ(Code(Call("GET", "/v1/pools/default/volumes/r.img/extents", nullptr, Role::kReadOnly)),
            "permission_denied");
  // Clone, resize guard, wipe, lookups by path, delete.
  r = Call("POST", "/v1/pools/default/volumes",
           {{"xml", "<volume><name>c.img</name><capacity>1</capacity></volume>"},
            {"clone_of", {{"pool", "default"}, {"volume", "r.img"}}}});
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Body(r)["capacity"], 2097156u);
  EXPECT_EQ(Code(Call("POST", "/v1/pools/default/volumes/v1.qcow2/resize", {{"capacity", 1024}})),
            "invalid_argument");
  EXPECT_EQ(
      Call("POST", "/v1/pools/default/volumes/v1.qcow2/resize", {{"capacity", 32u << 20}}).status,
      200);
  EXPECT_EQ(Body(Call("GET", "/v1/pools/default/volumes/v1.qcow2"))["capacity"], 32u << 20);
  EXPECT_EQ(Call("POST", "/v1/pools/default/volumes/c.img/wipe").status, 200);
  auto path = Body(Call("GET", "/v1/pools/default/volumes/c.img"))["path"].get<std::string>();
  EXPECT_EQ(Body(Call("GET", "/v1/volumes?path=" + path))["name"], "c.img");
  EXPECT_EQ(Call("DELETE", "/v1/pools/default/volumes/c.img").status, 200);
  EXPECT_EQ(Code(Call("GET", "/v1/pools/default/volumes/c.img")), "not_found");
  EXPECT_EQ(Code(Call("POST", "/v1/pools/default/volumes",
                      {{"xml", "<volume><name>a/b</name><capacity>1</capacity></volume>"}})),
            "invalid_argument");
  // An active pool keeps where it lives: a redefinition that moves it is refused.
  EXPECT_EQ(Code(Call("POST", "/v1/pools",
                      {{"xml",
                        "<pool type='dir'><name>default</name><target><path>/elsewhere"
                        "</path></target></pool>"}})),
            "failed_precondition");
  EXPECT_EQ(Body(Call("GET", "/v1/pools/default/info"))["target"],
            (dir_.path() / "var/lib/skiff/images").string());
  // An active pool can be neither undefined nor deleted; undefined, it is not recreated.
  EXPECT_EQ(Code(Call("DELETE", "/v1/pools/default")), "failed_precondition");
  EXPECT_EQ(Call("POST", "/v1/pools/default/destroy").status, 200);
  EXPECT_EQ(Code(Call("POST", "/v1/pools/default/delete")), "failed_precondition");  // not empty
  EXPECT_EQ(Call("DELETE", "/v1/pools/default").status, 200);
  Restart();
  EXPECT_EQ(Call("GET", "/v1/pools/default").status, 404);
}

TEST_F(ApiTest, ParallelRequestsOnManyDomains) {
  for (int i = 0; i < 8; ++i) Define("d" + std::to_string(i));
  std::vector<std::thread> ts;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    ts.emplace_back([&, t] {
      std::string n = "/v1/domains/d" + std::to_string(t);
      for (int k = 0; k < 20; ++k) {
        if (Call("POST", n + "/start").status != 200) ++failures;
        if (Call("GET", "/v1/domains").status != 200) ++failures;
        if (Call("POST", n + "/destroy").status != 200) ++failures;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(hv_.RunningCountForTest(), 0u);
}

}  // namespace
}  // namespace skiff::daemon

namespace skiff::daemon {
namespace {

// Every input error is the caller's: a 4xx whose message names what was wrong,
// never a 500 (issue 23 item 12). Each row: method, target, body, a word the
// message must hold.
TEST_F(ApiTest, InputErrorsAre4xxNamingTheField) {
  Define("web1");
  const std::string long_name(300, 'n');
  auto domain = [](const std::string& inner) {
    return "<domain type='qemu'>" + inner +
           "<os><type arch='x86_64' machine='q35'>hvm</type></os></domain>";
  };
  struct Case {
    std::string method, target;
    json body;
    std::string names;
  };
  const std::vector<Case> cases = {
      {"POST",
       "/v1/domains",
       {{"xml", domain("<name>" + long_name + "</name><memory>1</memory>")}},
       "name"},
      {"POST",
       "/v1/domains",
       {{"xml", domain("<name>m</name><memory unit='EiB'>99999</memory>")}},
       "memory"},
      {"POST",
       "/v1/domains",
       {{"xml", domain("<name>v</name><memory>1024</memory><vcpu>99999999999</vcpu>")}},
       "vcpu"},
      {"POST", "/v1/domains/web1/memory", {{"kib", -1}}, "kib"},
      {"POST",
       "/v1/domains/web1/memory",
       {{"kib", 18446744073709551615ull}, {"config", true}},
       "memory"},
      {"POST", "/v1/domains/web1/vcpus", {{"count", 1u << 30}}, "vcpu"},
      {"POST", "/v1/domains/web1/schedinfo", {{"cpu_shares", "many"}}, "cpu_shares"},
      {"POST", "/v1/domains/web1/vcpupin", {{"vcpu", 99999}, {"cpuset", "0"}}, "vcpu"},
      {"POST",
       "/v1/domains/web1/vcpupin",
       {{"vcpu", 0}, {"cpuset", "0-99999999999"}, {"config", true}},
       "cpuset"},
      {"POST", "/v1/domains/web1/emulatorpin", {{"cpuset", "abc"}, {"config", true}}, "cpuset"},
      {"POST",
       "/v1/domains/web1/disks",
       {{"source", "relative.img"}, {"target", "vdb"}, {"config", true}},
       "relative.img"},
      {"POST",
       "/v1/domains/web1/disks",
       {{"source", "/x.img"}, {"target", long_name}, {"config", true}},
       "target"},
      {"POST",
       "/v1/domains/web1/interfaces",
       {{"type", "network"}, {"source", "default"}, {"mac", "zz:zz"}, {"config", true}},
       "mac"},
      {"DELETE", "/v1/domains/web1/interfaces?type=network&mac=zz&config=true", nullptr, "mac"},
      {"POST", "/v1/domains/web1/save", {{"file", "relative.save"}}, "relative.save"},
      {"POST",
       "/v1/domains/restore",
       {{"file", (dir_.path() / "none.save").string()}},
       "none.save"},
      {"GET", "/v1/domains/web1/xml?inactive=maybe", nullptr, "inactive"},
      {"GET", "/v1/jobs/99999999999999999999999", nullptr, "job"},
      {"POST",
       "/v1/networks",
       {{"xml", "<network><name>" + long_name + "</name></network>"}},
       "name"},
      {"POST",
       "/v1/networks",
       {{"xml", "<network><name>n</name><ip address='300.1.1.1' prefix='24'/></network>"}},
       "300.1.1.1"},
      {"POST",
       "/v1/pools",
       {{"xml", "<pool type='dir'><name>p</name><target><path>rel</path></target></pool>"}},
       "rel"},
      {"POST",
       "/v1/pools/default/volumes",
       {{"xml", "<volume><name>big</name><capacity unit='EiB'>99999</capacity></volume>"}},
       "capacity"},
      {"POST",
       "/v1/pools/default/volumes",
       {{"xml", "<volume><name>" + long_name + "</name><capacity>1</capacity></volume>"}},
       "name"},
      {"POST", "/v1/pools/default/volumes/none.img/resize", {{"capacity", "1G"}}, "capacity"},
      {"GET", "/v1/volumes?path=relative", nullptr, "relative"},
  };
  for (const auto& c : cases) {
    auto r = Call(c.method, c.target, c.body);
    EXPECT_GE(r.status, 400) << c.method << " " << c.target << ": " << r.body;
    EXPECT_LT(r.status, 500) << c.method << " " << c.target << ": " << r.body;
    EXPECT_NE(r.body.find(c.names), std::string::npos)
        << c.method << " " << c.target << ": the error names no '" << c.names << "': " << r.body;
  }
  // Nothing of it was kept.
  EXPECT_EQ(Body(Call("GET", "/v1/domains"))["domains"].size(), 1u);
}

TEST(ApiDocTest, EveryRouteIsDocumented) {
  auto doc = ReadFile(testing::SourceDir() / "docs/api.md");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  fake::FakeHypervisor hv;
  EventBus events;
  testing::TempDir dir;
  Service s(Paths(dir.path()), hv, events);
  Api api(s);
  ASSERT_GT(api.routes().size(), 40u);
  for (const auto& r : api.routes()) {
    std::string row = "`" + r.method + " " + r.pattern + "` | " + (r.write ? "admin" : "read");
    EXPECT_NE(doc->find(row), std::string::npos) << "docs/api.md lacks: " << row;
  }
}

// The paths the CLI builds (api/routes.h) are the paths the daemon serves: an unknown
// method on a known path is refused as such, never as an unknown route.
TEST_F(ApiTest, EveryClientPathIsServed) {
  namespace routes = api::routes;
  std::vector<std::string> paths = {std::string(routes::kVersion),
                                    std::string(routes::kEvents),
                                    std::string(routes::kHostCapabilities),
                                    std::string(routes::kHostValidate),
                                    std::string(routes::kDomains),
                                    std::string(routes::kDomainRestore),
                                    std::string(routes::kNetworks),
                                    std::string(routes::kPools),
                                    std::string(routes::kVolumes),
                                    std::string(routes::kJobs),
                                    routes::Job(3),
                                    routes::Domain("web 1"),
                                    routes::DomainDisk("web1", "vdb"),
                                    routes::Network("lab"),
                                    routes::Pool("p"),
                                    routes::PoolVolumes("p"),
                                    routes::Volume("p", "a.qcow2")};
  for (const char* sub :
       {"xml",        "start",       "shutdown",  "destroy",     "reboot",    "reset",
        "suspend",    "resume",      "autostart", "stats",       "disks",     "devices",
        "interfaces", "addresses",   "memory",    "vcpus",       "schedinfo", "pinning",
        "vcpupin",    "emulatorpin", "save",      "managedsave", "console",   "clone"}) {
    paths.push_back(routes::Domain("web1", sub));
  }
  for (const char* sub : {"xml", "autostart", "start", "destroy", "leases", "diagram"}) {
    paths.push_back(routes::Network("lab", sub));
  }
  for (const char* sub :
       {"xml", "autostart", "start", "destroy", "build", "delete", "refresh", "info"}) {
    paths.push_back(routes::Pool("p", sub));
  }
  for (const char* sub : {"xml", "wipe", "resize", "extents", "data"}) {
    paths.push_back(routes::Volume("p", "a.qcow2", sub));
  }
  for (const auto& path : paths) {
    auto r = Call("PATCH", path);
    EXPECT_EQ(r.status, 400) << path << ": " << r.body;
    EXPECT_NE(r.body.find("method PATCH is not allowed"), std::string::npos) << path;
  }
}

// ---------------------------------------------------------------- clone

class CloneTest : public ApiTest {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(img_);
    // 1 MiB of data, a 3 MiB hole, 1 MiB of data: the copy keeps both.
    std::string data(1 << 20, 'x');
    std::ofstream f(img_ / "web.img", std::ios::binary);
    f << data;
    f.seekp(4 << 20);
    f << std::string(1 << 20, 'y');
    f.close();
    std::string xml =
        "<domain type='qemu'><name>web</name><memory unit='MiB'>128</memory>"
        "<os><type arch='x86_64' machine='q35'>hvm</type></os><devices>"
        "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='" +
        (img_ / "web.img").string() +
        "'/><target dev='vda' bus='virtio'/></disk>"
        "<interface type='network'><source network='default'/>"
        "<mac address='52:54:00:00:00:01'/></interface></devices></domain>";
    ASSERT_EQ(Call("POST", "/v1/domains", {{"xml", xml}}).status, 201);
  }
  json Clone(const json& body, int want) {
    auto r = Call("POST", api::routes::Domain("web", "clone"), body);
    EXPECT_EQ(r.status, want) << r.body;
    return Body(r);
  }
  std::string Wait(const json& reply) {
    auto id = reply["job"]["id"].get<uint64_t>();
    auto j = Body(Call("GET", "/v1/jobs/" + std::to_string(id) + "?wait=true"));
    return j["state"].get<std::string>() + (j.contains("error") ? ": " + j["error"].dump() : "");
  }
  std::vector<std::string> Files() {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(img_)) {
      out.push_back(e.path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  std::filesystem::path img_ = dir_.path() / "img";
};

TEST_F(CloneTest, CopiesTheDisksAndDefinesTheClone) {
  auto r = Clone(json::object(), 202);
  EXPECT_EQ(r["name"], "web-clone");
  ASSERT_EQ(r["files"].size(), 1u);
  EXPECT_EQ(r["files"][0]["path"], (img_ / "web-clone.img").string());
  EXPECT_EQ(r["files"][0]["how"], "copy");
  EXPECT_EQ(Wait(r), "completed");
  EXPECT_EQ(Files(), (std::vector<std::string>{"web-clone.img", "web.img"}));
  EXPECT_EQ(*ReadFile(img_ / "web-clone.img"), *ReadFile(img_ / "web.img"));
  auto xml = Body(Call("GET", api::routes::Domain("web-clone", "xml")))["xml"].get<std::string>();
  EXPECT_NE(xml.find("web-clone.img"), std::string::npos) << xml;
  EXPECT_EQ(xml.find("52:54:00:00:00:01"), std::string::npos) << xml;
  EXPECT_NE(Body(Call("GET", "/v1/domains/web-clone"))["uuid"],
            Body(Call("GET", "/v1/domains/web"))["uuid"]);
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "var/lib/skiff/clones/web-clone.json"));
  // The next one counts on; the clone survives a daemon restart.
  EXPECT_EQ(Clone(json::object(), 202)["name"], "web-clone1");
  Restart();
  EXPECT_EQ(Call("GET", "/v1/domains/web-clone").status, 200);
  EXPECT_TRUE(std::filesystem::exists(img_ / "web-clone.img"));
}

TEST_F(CloneTest, PrintXmlAndRefusalsChangeNothing) {
  auto r = Clone({{"name", "w2"}, {"print_xml", true}}, 200);
  EXPECT_NE(r["xml"].get<std::string>().find("<name>w2</name>"), std::string::npos);
  EXPECT_FALSE(r.contains("job"));
  EXPECT_EQ(Call("GET", "/v1/domains/w2").status, 404);
  EXPECT_EQ(Clone({{"name", "web"}}, 409)["error"]["message"], "domain 'web' already exists");
  EXPECT_EQ(Clone({{"files", {"rel.img"}}}, 400)["error"]["message"],
            "--file: 'rel.img' must be an absolute path");
  ASSERT_EQ(Call("POST", api::routes::Domain("web", "start")).status, 200);
  EXPECT_EQ(Clone(json::object(), 409)["error"]["message"],
            "domain 'web' is running: clone needs it shut off, or paused (skiff suspend)");
  ASSERT_EQ(Call("POST", api::routes::Domain("web", "suspend")).status, 200);
  EXPECT_EQ(Clone({{"linked", true}}, 409)["error"]["message"],
            "domain 'web' is paused: --linked needs it shut off, as its disks become the clone's "
            "backing files");
  // Paused, it is copied as it is.
  EXPECT_EQ(Wait(Clone({{"name", "frozen"}}, 202)), "completed");
  EXPECT_EQ(Files(), (std::vector<std::string>{"frozen.img", "web.img"}));
}

TEST_F(CloneTest, AFailedCopyLeavesNoFileAndNoDomain) {
  std::filesystem::remove(img_ / "web.img");
  auto r = Clone({{"name", "w3"}}, 202);
  EXPECT_EQ(Wait(r).rfind("failed", 0), 0u);
  EXPECT_TRUE(Files().empty());
  EXPECT_EQ(Call("GET", "/v1/domains/w3").status, 404);
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "var/lib/skiff/clones/w3.json"));
}

TEST_F(CloneTest, ADaemonKilledMidCloneLeavesNothingBehind) {
  // What a daemon killed while copying left: the journal, a partial copy, and (for
  // a second clone, killed after renaming) a whole one that was never defined.
  auto journal = dir_.path() / "var/lib/skiff/clones";
  std::filesystem::create_directories(journal);
  auto write = [](const std::filesystem::path& p) { std::ofstream(p) << "half"; };
  write(img_ / ".w4.img.skiff-clone");
  write(img_ / "w5.img");
  json files4 = json::array({{{"partial", (img_ / ".w4.img.skiff-clone").string()},
                              {"path", (img_ / "w4.img").string()}}});
  json files5 = json::array({{{"partial", (img_ / ".w5.img.skiff-clone").string()},
                              {"path", (img_ / "w5.img").string()}}});
  std::ofstream(journal / "w4.json") << json{{"name", "w4"}, {"uuid", kUuid}, {"files", files4}};
  std::ofstream(journal / "w5.json") << json{{"name", "w5"}, {"uuid", kUuid}, {"files", files5}};
  // A third was defined before the kill: its file stays.
  EXPECT_EQ(Wait(Clone({{"name", "w6"}}, 202)), "completed");
  auto uuid6 = Body(Call("GET", "/v1/domains/w6"))["uuid"].get<std::string>();
  json files6 = json::array({{{"partial", (img_ / ".w6.img.skiff-clone").string()},
                              {"path", (img_ / "w6.img").string()}}});
  std::ofstream(journal / "w6.json") << json{{"name", "w6"}, {"uuid", uuid6}, {"files", files6}};
  Restart();
  EXPECT_EQ(Files(), (std::vector<std::string>{"w6.img", "web.img"}));
  EXPECT_TRUE(std::filesystem::is_empty(journal));
  EXPECT_EQ(Call("GET", "/v1/domains/w6").status, 200);
}

TEST_F(CloneTest, ALinkedCloneMovesTheOriginalOntoAnOverlayOfItsOwn) {
  auto r = Clone({{"name", "l1"}, {"linked", true}}, 202);
  ASSERT_EQ(r["files"].size(), 2u);
  EXPECT_EQ(r["files"][0]["how"], "overlay");
  EXPECT_EQ(r["files"][1]["how"], "original");
  EXPECT_EQ(r["files"][1]["path"], (img_ / "web.l1.img").string());
  EXPECT_EQ(Wait(r), "completed");
  EXPECT_EQ(Files(), (std::vector<std::string>{"l1.img", "web.img", "web.l1.img"}));
  for (const char* f : {"l1.img", "web.l1.img"}) {
    EXPECT_EQ(ReadFile(img_ / f)->substr(0, 4), "QFI\xfb") << f;  // qcow2 overlays
  }
  auto xml = Body(Call("GET", api::routes::Domain("web", "xml")))["xml"].get<std::string>();
  EXPECT_NE(xml.find((img_ / "web.l1.img").string()), std::string::npos) << xml;
  EXPECT_NE(xml.find("type='qcow2'"), std::string::npos) << xml;
}

TEST_F(CloneTest, ALinkedCloneCutOffPutsTheOriginalBackOnItsDisk) {
  // Killed after the original moved onto its overlay, before the clone was defined.
  std::string before =
      Body(Call("GET", api::routes::Domain("web", "xml")))["xml"].get<std::string>();
  std::string after = before;
  after.replace(after.find("web.img"), 7, "web.l2.img");
  std::ofstream(img_ / "web.l2.img") << "overlay";
  std::ofstream(img_ / "l2.img") << "overlay";
  ASSERT_EQ(Call("POST", "/v1/domains", {{"xml", after}}).status, 201);
  auto journal = dir_.path() / "var/lib/skiff/clones";
  std::filesystem::create_directories(journal);
  json files = json::array();
  for (const char* f : {"l2.img", "web.l2.img"}) {
    files.push_back({{"partial", (img_ / ("." + std::string(f) + ".skiff-clone")).string()},
                     {"path", (img_ / f).string()}});
  }
  std::ofstream(journal / "l2.json") << json{{"name", "l2"},
                                             {"uuid", kUuid},
                                             {"files", files},
                                             {"original", "web"},
                                             {"original_before", before}};
  Restart();
  EXPECT_EQ(Body(Call("GET", api::routes::Domain("web", "xml")))["xml"], before);
  EXPECT_EQ(Files(), (std::vector<std::string>{"web.img"}));
  EXPECT_EQ(Call("GET", "/v1/domains/l2").status, 404);
}

}  // namespace
}  // namespace skiff::daemon
