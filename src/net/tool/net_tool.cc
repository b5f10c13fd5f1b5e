// skiff-net-tool: drives the net library by hand and for the integration
// tests (tests/integration/test_net_*.py), one network plan file at a time.
//   skiff-net-tool start|stop|restart-dnsmasq|probe|leases|diagram|diagram-svg PLAN STATEDIR
//   [TAP=GUEST...] skiff-net-tool render-nft|render-dnsmasq PLAN skiff-net-tool tap-add NAME BRIDGE
//   | tap-del NAME | pick-subnet
// STATEDIR holds dnsmasq's files (STATEDIR/dnsmasq) and the forwarding state.
#include <cstdio>
#include <ctime>
#include <map>
#include <string>
#include <vector>

#include "skiff/base/fs.h"
#include "skiff/net/diagram.h"
#include "skiff/net/dnsmasq.h"
#include "skiff/net/netlink.h"
#include "skiff/net/network.h"
#include "skiff/net/nft.h"
#include "skiff/net/subnet.h"

namespace skiff::net {
namespace {

int Fail(const Status& st) {
  std::fprintf(stderr, "skiff-net-tool: %s\n", st.ToString().c_str());
  return 1;
}

int Usage() {
  std::fprintf(stderr,
               "usage: skiff-net-tool start|stop|restart-dnsmasq|probe|leases|diagram|diagram-svg "
               "PLAN STATEDIR "
               "[TAP=GUEST...]\n"
               "       skiff-net-tool render-nft|render-dnsmasq PLAN\n"
               "       skiff-net-tool tap-add NAME BRIDGE | tap-del NAME | pick-subnet\n");
  return 2;
}

int Run(const std::vector<std::string>& a) {
  if (a.empty()) return Usage();
  const std::string& cmd = a[0];
  if (cmd == "pick-subnet") {
    auto in_use = HostIpv4Prefixes();
    if (!in_use.ok()) return Fail(in_use.status());
    auto n = PickFreeSubnet(*in_use);
    if (!n.ok()) return Fail(n.status());
    std::printf("%s\n", n->NetworkString().c_str());
    return 0;
  }
  if (cmd == "tap-add" && a.size() == 3) {
    TapOptions o;
    o.name = a[1];
    o.persistent = true;
    o.bridge = a[2];
    auto t = CreateTap(o);
    if (!t.ok()) return Fail(t.status());
    std::printf("%s\n", t->name.c_str());
    return 0;
  }
  if (cmd == "tap-del" && a.size() == 2) {
    Status st = DeleteLink(a[1]);
    return st.ok() ? 0 : Fail(st);
  }
  if (a.size() < 2) return Usage();
  auto text = ReadFile(a[1]);
  if (!text.ok()) return Fail(text.status());
  auto plan = ParsePlanText(*text);
  if (!plan.ok()) return Fail(plan.status().WithContext(a[1]));
  if (cmd == "render-nft") {
    auto r = RenderNftRuleset(*plan);
    if (!r.ok()) return Fail(r.status());
    std::fputs(r->c_str(), stdout);
    return 0;
  }
  if (cmd == "render-dnsmasq") {
    auto r = RenderDnsmasqConf(*plan, DnsmasqFilesFor(".", plan->name));
    if (!r.ok()) return Fail(r.status());
    std::fputs(r->c_str(), stdout);
    return 0;
  }
  if (a.size() < 3) return Usage();
  std::filesystem::path state = a[2];
  IpForwarding fwd("/proc/sys/net/ipv4/ip_forward", state / "ip_forward.state");
  NetworkEnv env;
  env.dnsmasq_dir = state / "dnsmasq";
  env.forwarding = &fwd;
  if (cmd == "start") {
    auto r = StartNetwork(*plan, env);
    if (!r.ok()) return Fail(r.status());
    // dnsmasq runs in its own session and is left to init when this tool exits.
    if (r->dnsmasq) std::printf("dnsmasq %d\n", r->dnsmasq->pid);
    return 0;
  }
  if (cmd == "restart-dnsmasq") {
    auto r = RestartDnsmasq(*plan, env.files(*plan), env.dnsmasq_program);
    if (!r.ok()) return Fail(r.status());
    std::printf("dnsmasq %d\n", r->pid);
    return 0;
  }
  if (cmd == "stop") {
    Status st = StopNetwork(*plan, env);
    return st.ok() ? 0 : Fail(st);
  }
  if (cmd == "probe") {
    auto r = ProbeNetwork(*plan, env);
    if (!r.ok()) return Fail(r.status());
    std::printf("bridge=%d\nnft_table=%d\ndnsmasq=%d\nforwarding=%d\ncomplete=%d\n",
                r->bridge_exists, r->nft_table_exists, r->dnsmasq_pid ? *r->dnsmasq_pid : 0,
                r->forwarding_held, r->complete);
    return 0;
  }
  if (cmd == "leases") {
    auto r = ReadLeases(env.files(*plan).leases, static_cast<int64_t>(std::time(nullptr)));
    if (!r.ok()) return Fail(r.status());
    for (const auto& l : *r) {
      std::printf("%lld %s %s %s %s\n", static_cast<long long>(l.expiry), l.mac.c_str(),
                  l.ip.c_str(), l.hostname.empty() ? "-" : l.hostname.c_str(),
                  l.client_id.empty() ? "-" : l.client_id.c_str());
    }
    return 0;
  }
  if (cmd == "diagram" || cmd == "diagram-svg") {
    std::map<std::string, std::string> guests;
    for (size_t i = 3; i < a.size(); ++i) {
      size_t eq = a[i].find('=');
      if (eq == std::string::npos) return Usage();
      guests[a[i].substr(0, eq)] = a[i].substr(eq + 1);
    }
    auto live = CollectLiveState(*plan, env);
    if (!live.ok()) return Fail(live.status());
    std::string out = cmd == "diagram" ? RenderDiagramText(*plan, *live, guests)
                                       : RenderDiagramSvg(*plan, *live, guests);
    std::fputs(out.c_str(), stdout);
    return 0;
  }
  return Usage();
}

}  // namespace
}  // namespace skiff::net

int main(int argc, char** argv) {
  return skiff::net::Run(std::vector<std::string>(argv + 1, argv + argc));
}
