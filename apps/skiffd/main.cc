// skiffd: the Skiff daemon. Flags -> modules -> run.
#include <grp.h>
#include <sys/prctl.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "skiff/base/log.h"
#include "skiff/base/size.h"
#include "skiff/daemon/network.h"
#include "skiff/daemon/rest.h"
#include "skiff/daemon/server.h"
#include "skiff/fake/fake_hypervisor.h"
#include "skiff/qemu/host.h"
#include "skiff/qemu/qemu_driver.h"

namespace sd = skiff::daemon;

static int PrintVersion() {
  std::printf("skiffd %s\n", SKIFF_VERSION);
  auto q = skiff::qemu::FindQemu();
  std::printf("QEMU: %s\n",
              q.ok() ? (q->version + " (" + q->path + ")").c_str() : q.status().message().c_str());
  std::printf("KVM: %s\n", skiff::qemu::DescribeKvm(skiff::qemu::ProbeKvm()).c_str());
  return 0;
}

int main(int argc, char** argv) {
  CLI::App app{"skiffd: the Skiff virtualization daemon"};
  std::string root = "/", group = "skiff", tls_cert, tls_key, token_file;
  std::string log_max_size = "2M";
  std::string qemu_user;
  unsigned log_max_files = 3;
  int max_clients = 5000, max_anonymous_clients = 20;
  std::vector<std::string> listen;
  bool version = false, fake = false, verbose = false, log_stderr = false;
  bool default_net = false, no_default_net = false;
  app.add_flag("-V,--version", version, "print versions and exit");
  app.add_option("--root", root, "state root (default /)");
  app.add_option("--listen", listen, "unix:PATH or tcp:HOST:PORT (repeatable)");
  app.add_option("--tls-cert", tls_cert, "PEM certificate for tcp listeners");
  app.add_option("--tls-key", tls_key, "PEM private key for tcp listeners");
  app.add_option("--token-file", token_file, "bearer tokens for tcp clients, one a line");
  app.add_option("--socket-group", group, "group with read-only access to the socket");
  app.add_flag("--verbose", verbose, "log debug lines");
  app.add_flag("--log-stderr", log_stderr, "log to stderr instead of the log file");
  app.add_flag("--default-network", default_net,
               "define the 'default' NAT network on the first start even when --root is not /");
  app.add_flag("--no-default-network", no_default_net, "never define the 'default' network");
  app.add_option("--max-clients", max_clients,
                 "connections served at once (default 5000; root on the unix socket always)")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--max-anonymous-clients", max_anonymous_clients,
                 "tcp connections not yet past their token check (default 20)")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--domain-log-max-size", log_max_size,
                 "rotate a domain's console log past this size (default 2M, as virtlogd)");
  app.add_option("--domain-log-max-files", log_max_files,
                 "console log files kept per domain, the live one included (default 3)")
      ->check(CLI::Range(1U, 100U));
  app.add_option("--qemu-user", qemu_user,
                 "user QEMU runs as (default skiff-qemu when it exists, else root; "
                 "never with capabilities)");
  app.add_flag("--fake-hypervisor", fake, "")->group("");  // hidden: tests only
  CLI11_PARSE(app, argc, argv);
  if (version) return PrintVersion();
  auto log_max_bytes = skiff::ParseSize(log_max_size);
  if (!log_max_bytes.ok() || *log_max_bytes < 4096) {
    std::fprintf(stderr, "error: --domain-log-max-size '%s': expected a size of 4K or more\n",
                 log_max_size.c_str());
    return 1;
  }

  sd::Paths paths(root);
  if (auto st = paths.Create(); !st.ok()) {
    std::fprintf(stderr, "error: %s\n", st.ToString().c_str());
    return 1;
  }
  skiff::InitLogging(log_stderr ? "" : paths.log_dir / "skiffd.log", verbose);
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);

  sd::ServerOptions so;
  so.tls_cert = tls_cert;
  so.tls_key = tls_key;
  so.token_file = token_file;
  so.max_clients = max_clients;
  so.max_anonymous_clients = max_anonymous_clients;
  if (struct group* g = ::getgrnam(group.c_str())) {
    so.socket_gid = g->gr_gid;
    so.have_read_group = true;
  }
  if (listen.empty()) listen.push_back("unix:" + paths.socket.string());
  for (const auto& l : listen) {
    if (l.rfind("unix:", 0) == 0) {
      so.unix_path = l.substr(5);
    } else if (l.rfind("tcp:", 0) == 0 && l.rfind(':') > 4) {
      so.tcp_host = l.substr(4, l.rfind(':') - 4);
      so.tcp_port = std::atoi(l.c_str() + l.rfind(':') + 1);
    } else {
      std::fprintf(stderr, "error: --listen '%s': expected unix:PATH or tcp:HOST:PORT\n",
                   l.c_str());
      return 1;
    }
  }

  // QEMU's user: skiff-qemu (scripts/install-deps.sh makes it) unless told.
  std::optional<skiff::SpawnOptions::User> qemu_as;
  if (!fake && qemu_user != "root") {
    auto u = skiff::qemu::LookUpUser(qemu_user.empty() ? "skiff-qemu" : qemu_user);
    if (u.ok()) {
      qemu_as = *u;
    } else if (!qemu_user.empty()) {
      std::fprintf(stderr, "error: --qemu-user: %s\n", u.status().message().c_str());
      return 1;
    } else {
      spdlog::warn(
          "no user 'skiff-qemu': QEMU runs as root (without capabilities); "
          "create it with scripts/install-deps.sh or name one with --qemu-user");
    }
  }

  // The driver: QEMU, or the in-memory fake for tests (--fake-hypervisor).
  std::unique_ptr<skiff::hypervisor::Hypervisor> hv;
  if (fake) {
    hv = std::make_unique<skiff::fake::FakeHypervisor>();
  } else {
    hv = skiff::qemu::MakeQemuDriver({.run_dir = paths.run_domains,
                                      .log_dir = paths.log_dir,
                                      .lib_dir = paths.lib_dir,
                                      .log_max_bytes = *log_max_bytes,
                                      .log_max_files = log_max_files,
                                      .qemu_user = qemu_as});
  }
  sd::EventBus events;
  auto net_backend = fake ? sd::MakeFakeNetworkBackend() : sd::MakeHostNetworkBackend(paths);
  sd::NetworkOptions net_options;
  net_options.default_network = no_default_net ? sd::DefaultNetwork::kNo
                                : default_net  ? sd::DefaultNetwork::kYes
                                               : sd::DefaultNetwork::kAuto;
  sd::Service service(paths, *hv, events, net_backend.get(), net_options);
  if (auto st = service.Load(); !st.ok()) {
    spdlog::error("load: {}", st.ToString());
    std::fprintf(stderr, "error: %s\n", st.ToString().c_str());
    return 1;
  }
  sd::Api api(service);
  auto server = sd::Server::Create(api, events, so);
  if (!server.ok()) {
    spdlog::error("{}", server.status().ToString());
    std::fprintf(stderr, "error: %s\n", server.status().message().c_str());
    return 1;
  }
  spdlog::info("skiffd {} listening (root {}, hypervisor {})", SKIFF_VERSION, root, hv->Describe());
  if ((*server)->tcp_port()) spdlog::info("tls listener on port {}", (*server)->tcp_port());
  (*server)->Run();
  spdlog::info("skiffd stopped");
  return 0;
}
