// qemu-system-fake: a stand-in QEMU for QemuProcess unit tests. It serves QMP
// (through FakeQmpServer) on --qmp PATH and acts out start-up failures, hangs and
// stubborn exits on request. Not a product binary.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>

#include <nlohmann/json.hpp>

#include "testutil/fake_qmp_server.h"

using nlohmann::json;
using skiff::testing::FakeQmpServer;

int main(int argc, char** argv) {
  std::string qmp, fail;
  bool no_qmp = false, ignore_term = false, ignore_quit = false, paused = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--qmp" && i + 1 < argc) {
      qmp = argv[++i];
    } else if (a == "--fail" && i + 1 < argc) {
      fail = argv[++i];
    } else if (a == "--no-qmp") {
      no_qmp = true;
    } else if (a == "--ignore-term") {
      ignore_term = true;
    } else if (a == "--ignore-quit") {
      ignore_quit = true;
    } else if (a == "-S") {
      paused = true;
    }
  }
  std::printf("fake qemu starting\n");
  std::fflush(stdout);
  if (!fail.empty()) {
    std::fprintf(stderr, "qemu-system-fake: %s\n", fail.c_str());
    return 1;
  }
  if (ignore_term) ::signal(SIGTERM, SIG_IGN);
  if (no_qmp || qmp.empty()) {
    for (;;) ::pause();
  }
  std::atomic<bool> running{!paused};
  FakeQmpServer server(qmp);
  server.OnCommand("query-status", [&](FakeQmpServer& s, const FakeQmpServer::Command& c) {
    bool r = running;
    s.Reply(c, json{{"running", r}, {"singlestep", false}, {"status", r ? "running" : (paused ? "prelaunch" : "paused")}});
  });
  server.OnCommand("cont", [&](FakeQmpServer& s, const FakeQmpServer::Command& c) {
    running = true;
    paused = false;
    s.Reply(c, json::object());
    s.SendEvent("RESUME");
  });
  server.OnCommand("stop", [&](FakeQmpServer& s, const FakeQmpServer::Command& c) {
    running = false;
    s.Reply(c, json::object());
    s.SendEvent("STOP");
  });
  server.OnCommand("quit", [&](FakeQmpServer& s, const FakeQmpServer::Command& c) {
    s.Reply(c, json::object());
    if (ignore_quit) return;
    s.SendEvent("SHUTDOWN", json{{"guest", false}, {"reason", "host-qmp-quit"}});
    ::_exit(0);
  });
  server.OnCommand("system_powerdown", [&](FakeQmpServer& s, const FakeQmpServer::Command& c) {
    s.Reply(c, json::object());
    s.SendEvent("POWERDOWN");
    s.SendEvent("SHUTDOWN", json{{"guest", true}, {"reason", "guest-shutdown"}});
    ::_exit(0);
  });
  if (!server.Start().ok()) {
    std::fprintf(stderr, "qemu-system-fake: cannot listen on %s\n", qmp.c_str());
    return 1;
  }
  for (;;) ::pause();
}
