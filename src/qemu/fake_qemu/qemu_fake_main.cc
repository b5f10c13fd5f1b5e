// qemu-system-fake: a stand-in QEMU for QemuProcess unit tests. It serves QMP
// (through FakeQmpServer) on --qmp PATH and acts out start-up failures, hangs and
// stubborn exits on request. Not a product binary.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
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
  bool die_on_negotiate = false;
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
    } else if (a == "--die-on-negotiate") {
      die_on_negotiate = true;
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
  if (die_on_negotiate) {
    // As QEMU does when machine set-up fails after the monitor came up: greet, then
    // exit with the client's qmp_capabilities unread (the client sees a reset).
    int l = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", qmp.c_str());
    if (::bind(l, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(l, 1) != 0) {
      return 1;
    }
    int c = ::accept(l, nullptr, nullptr);
    const char greeting[] = "{\"QMP\": {\"version\": {}, \"capabilities\": []}}\r\n";
    (void)!::write(c, greeting, sizeof greeting - 1);
    ::usleep(300 * 1000);
    std::fprintf(stderr, "qemu-system-fake: could not open kernel file 'x'\n");
    ::_exit(1);
  }
  std::atomic<bool> running{!paused};
  FakeQmpServer server(qmp);
  server.OnCommand("query-status", [&](FakeQmpServer& s, const FakeQmpServer::Command& c) {
    bool r = running;
    s.Reply(c, json{{"running", r},
                    {"singlestep", false},
                    {"status", r ? "running" : (paused ? "prelaunch" : "paused")}});
  });
  server.OnCommand("cont", [&](FakeQmpServer& s, const FakeQmpServer::Command& c) {
    running = true;
    paused = false;
    s.Reply(c, json::object());
    s.SendEvent("RESUME");
  });
  server.OnCommand("set_password", [&](FakeQmpServer& s, const FakeQmpServer::Command& c) {
    s.Reply(c, json::object());
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
