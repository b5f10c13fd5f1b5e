// NetworkDriver: network registry, start/stop/adopt through the backend, dnsmasq
// supervision, guests' taps and leases.
#include "daemon/network/driver.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "daemon/definitions.h"
#include "skiff/base/fd.h"
#include "skiff/base/fs.h"
#include "skiff/net/mac.h"
#include "skiff/net/subnet.h"

namespace skiff::daemon {

namespace fs = std::filesystem;

struct NetworkDriver::Net {
  std::mutex mu;
  bool removed = false;                  // dropped from the registry
  conf::NetworkDef def;                  // the persistent definition (or the transient one)
  std::optional<conf::NetworkDef> live;  // while active: what it was started from
  bool persistent = true;
  bool autostart = false;
  // dnsmasq supervision: the pid being watched (-1: none) and its pidfd.
  pid_t dnsmasq_pid = -1;
  bool dnsmasq_child = false;
  std::shared_ptr<UniqueFd> dnsmasq_pidfd;
  std::vector<int64_t> restarts;  // when dnsmasq was restarted (s), for the back-off
};

namespace {

constexpr int kMaxRestarts = 5;          // dnsmasq restarts ...
constexpr int64_t kRestartWindowS = 60;  // ... within this many seconds, then give up

bool HasRules(const net::NetworkPlan& p) {
  return p.mode == net::Mode::kNat || p.mode == net::Mode::kRoute || p.mode == net::Mode::kIsolated;
}

int64_t NowS() { return static_cast<int64_t>(std::time(nullptr)); }

std::string HostSideMac(const std::string& guest_mac) {
  if (guest_mac.size() != 17) return "";
  return "fe" + guest_mac.substr(2);
}

}  // namespace

// ---------------------------------------------------------------- XML <-> plan

Result<net::NetworkPlan> PlanFromDef(const conf::NetworkDef& d) {
  net::NetworkPlan p;
  p.name = d.name;
  switch (d.forward) {
    case conf::ForwardMode::kNone:
      p.mode = net::Mode::kIsolated;
      break;
    case conf::ForwardMode::kNat:
      p.mode = net::Mode::kNat;
      break;
    case conf::ForwardMode::kRoute:
      p.mode = net::Mode::kRoute;
      break;
    case conf::ForwardMode::kOpen:
      p.mode = net::Mode::kOpen;
      break;
    case conf::ForwardMode::kBridge:
      p.mode = net::Mode::kBridge;
      break;
  }
  p.uplink = d.forward_dev;
  p.bridge = d.bridge;
  p.stp = d.bridge_stp != "off";
  p.delay_s = d.bridge_delay.value_or(0);
  p.mac = d.mac;
  p.mtu = d.mtu.value_or(0);
  const conf::NetworkIp* v4 = nullptr;
  for (const auto& ip : d.ips) {
    if (ip.family == "ipv6") {
      return UnsupportedError("network '{}': ipv6 address '{}' is not supported yet", d.name,
                              ip.address);
    }
    if (v4) {
      return UnsupportedError("network '{}': more than one ipv4 address is not supported ('{}')",
                              d.name, ip.address);
    }
    v4 = &ip;
  }
  if (v4) {
    auto addr = net::Ipv4Addr::Parse(v4->address);
    if (!addr.ok()) return addr.status().WithContext(fmt::format("network '{}'", d.name));
    p.ipv4 = net::Ipv4Net{*addr, static_cast<int>(v4->PrefixLength())};
    for (const auto& r : v4->dhcp_ranges) {
      auto s = net::Ipv4Addr::Parse(r.start);
      auto e = net::Ipv4Addr::Parse(r.end);
      if (!s.ok() || !e.ok()) {
        return InvalidArgumentError("network '{}': invalid dhcp range '{}'-'{}'", d.name, r.start,
                                    r.end);
      }
      p.dhcp_ranges.push_back({*s, *e});
    }
    for (const auto& h : v4->dhcp_hosts) {
      net::DhcpHost host;
      host.mac = h.mac;
      host.name = h.name;
      if (!h.ip.empty()) {
        auto a = net::Ipv4Addr::Parse(h.ip);
        if (!a.ok()) {
          return InvalidArgumentError("network '{}': invalid dhcp host address '{}'", d.name, h.ip);
        }
        host.ip = *a;
      }
      p.dhcp_hosts.push_back(std::move(host));
    }
  }
  for (const auto& h : d.dns_hosts) {
    auto a = net::Ipv4Addr::Parse(h.ip);
    if (!a.ok()) {
      return UnsupportedError("network '{}': dns host address '{}' is not ipv4", d.name, h.ip);
    }
    p.dns_hosts.push_back({*a, h.hostnames});
  }
  p.domain = d.domain_name;
  p.domain_local_only = d.domain_local == "yes";
  p.dns_enable = d.dns_enable != "no";
  Status st = net::ValidatePlan(p);
  if (!st.ok()) return st.WithContext(fmt::format("network '{}'", d.name));
  return p;
}

conf::NetworkDef DefFromDefaultPlan(const net::NetworkPlan& p, const Uuid& uuid) {
  conf::NetworkDef d;
  d.name = p.name;
  d.uuid = uuid;
  d.forward = conf::ForwardMode::kNat;
  d.bridge = p.bridge;
  d.bridge_stp = p.stp ? "on" : "off";
  d.bridge_delay = p.delay_s;
  d.mac = p.mac;
  if (p.ipv4) {
    conf::NetworkIp ip;
    ip.address = p.ipv4->addr.ToString();
    ip.netmask = p.ipv4->MaskString();
    for (const auto& r : p.dhcp_ranges)
      ip.dhcp_ranges.push_back({r.start.ToString(), r.end.ToString()});
    d.ips.push_back(std::move(ip));
  }
  return d;
}

// ---------------------------------------------------------------- life of the driver

NetworkDriver::NetworkDriver(Paths paths, NetworkBackend& backend, EventBus& events,
                             NetworkOptions options, Env& env)
    : paths_(std::move(paths)),
      env_(env),
      backend_(backend),
      events_(events),
      options_(options),
      status_dir_(paths_.run_dir / "networks") {
  wake_fd_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  watcher_ = std::thread([this] { WatchLoop(); });
}

NetworkDriver::~NetworkDriver() {
  stop_ = true;
  Wake();
  if (watcher_.joinable()) watcher_.join();
}

void NetworkDriver::Wake() {
  uint64_t one = 1;
  if (wake_fd_) (void)!::write(wake_fd_.get(), &one, sizeof one);
}

void NetworkDriver::Emit(const std::string& name, const std::string& event,
                         const std::string& detail) {
  events_.Publish(api::Event::Lifecycle("network", name, event, detail));
}

NetworkSummary NetworkDriver::Summarize(const Net& n) const {
  const conf::NetworkDef& d = n.live ? *n.live : n.def;
  return {d.name, d.uuid, n.live.has_value(), n.autostart, n.persistent, d.bridge};
}

Status NetworkDriver::WriteStatus(const Net& n) {
  SKIFF_TRY(env_.CreateDirs(status_dir_));
  return WriteFileAtomic(env_, status_dir_ / (n.live->name + ".xml"),
                         conf::FormatNetworkXml(*n.live), 0600);
}

Result<ObjectRegistry<NetworkDriver::Net>::Held> NetworkDriver::Acquire(const std::string& ref) {
  return networks_.Acquire(ref);
}

Status NetworkDriver::Load() {
  SKIFF_TRY(env_.CreateDirs(paths_.networks_dir));
  RemoveStaleTempFiles(env_, paths_.networks_dir);
  RemoveStaleTempFiles(env_, status_dir_);
  LoadDefinitionsInto(env_, paths_.networks_dir, "network", conf::ParseNetworkXml, networks_);
  // Networks that were active when the daemon stopped (transient ones only live here).
  for (const auto& entry : env_.ListDir(status_dir_).value_or(std::vector<std::string>{})) {
    const fs::path file = status_dir_ / entry;
    if (file.extension() != ".xml") continue;
    auto text = env_.ReadFile(file);
    if (!text.ok() && text.status().code() == Code::kNotFound) continue;
    auto def = text.ok() ? conf::ParseNetworkXml(*text, file.string())
                         : Result<conf::NetworkDef>(text.status());
    if (!def.ok()) {
      spdlog::error("dropping status of network '{}': {}", file.string(), def.status().ToString());
      (void)env_.RemoveFile(file);
      continue;
    }
    auto slot = networks_.FindOrAdd(*def, false, [] {
      auto n = std::make_shared<Net>();
      n->persistent = false;  // running, without a definition: transient
      return n;
    });
    if (!slot.ok()) {
      spdlog::error("dropping status of network '{}': {}", file.string(), slot.status().ToString());
      (void)env_.RemoveFile(file);
      continue;
    }
    std::shared_ptr<Net> n = slot->obj;
    n->live = std::move(*def);
    slot->lock.unlock();
    Adopt(n);
  }
  DefineDefaultNetwork();
  for (auto& n : networks_.List()) {
    std::lock_guard l(n->mu);
    if (!n->autostart || n->live || n->removed) continue;
    Status st = StartLocked(*n);
    if (!st.ok()) spdlog::error("autostart of network '{}' failed: {}", n->def.name, st.ToString());
  }
  return Status::Ok();
}

// Re-adopts a network found in the status directory: never starts one that is
// up; restarts only a missing dnsmasq; rebuilds a network that is half there.
// Runs during Load only, before the API serves requests: taking the registry lock
// under the network's lock is safe here.
void NetworkDriver::Adopt(const std::shared_ptr<Net>& np) {
  Net& n = *np;
  std::lock_guard l(n.mu);
  const std::string name = n.live->name;
  auto forget = [&](const std::string& why) {
    spdlog::error("network '{}' is no longer active: {}", name, why);
    n.live.reset();
    (void)env_.RemoveFile(status_dir_ / (name + ".xml"));
    if (!n.persistent) networks_.Remove(np);
  };
  auto plan = PlanFromDef(*n.live);
  if (!plan.ok()) return forget(plan.status().ToString());
  auto probe = backend_.Probe(*plan);
  if (!probe.ok()) return forget(probe.status().ToString());
  if (probe->complete) {
    spdlog::info("network '{}' is still active; adopted (dnsmasq pid {})", name,
                 probe->dnsmasq_pid ? std::to_string(*probe->dnsmasq_pid) : "none");
    WatchDnsmasq(n, std::nullopt, probe->dnsmasq_pid);
    return;
  }
  bool rest_present = probe->bridge_exists && (!HasRules(*plan) || probe->nft_table_exists) &&
                      (!net::NeedsForwarding(*plan) || probe->forwarding_held);
  if (rest_present && net::NeedsDnsmasq(*plan) && !probe->dnsmasq_pid) {
    spdlog::warn("network '{}' is active but its dnsmasq is gone; restarting it", name);
    auto child = backend_.RestartDnsmasq(*plan);
    if (!child.ok()) {
      spdlog::error("network '{}': {}", name, child.status().ToString());
      return;
    }
    WatchDnsmasq(n, std::move(*child), std::nullopt);
    return;
  }
  if (!probe->bridge_exists && !probe->nft_table_exists && !probe->dnsmasq_pid &&
      !probe->forwarding_held) {
    return forget("nothing of it exists on the host any more");
  }
  spdlog::warn("network '{}' is only partly present; rebuilding it", name);
  (void)backend_.Stop(*plan);
  auto started = backend_.Start(*plan);
  if (!started.ok()) return forget(started.status().ToString());
  WatchDnsmasq(n, std::move(*started), std::nullopt);
}

// ---------------------------------------------------------------- dnsmasq supervision

void NetworkDriver::WatchDnsmasq(Net& n, std::optional<Child> child, std::optional<pid_t> adopted) {
  n.dnsmasq_pid = -1;
  n.dnsmasq_pidfd.reset();
  n.dnsmasq_child = false;
  if (child && child->pid > 0) {
    n.dnsmasq_pid = child->pid;
    n.dnsmasq_child = true;
    if (child->pidfd) {
      n.dnsmasq_pidfd = std::make_shared<UniqueFd>(std::move(child->pidfd));
    } else {
      n.dnsmasq_pidfd = std::make_shared<UniqueFd>(PidfdOpen(child->pid));
    }
  } else if (adopted && *adopted > 0 && backend_.Capabilities().host_processes) {
    n.dnsmasq_pid = *adopted;
    n.dnsmasq_pidfd = std::make_shared<UniqueFd>(PidfdOpen(*adopted));
  }
  Wake();
}

void NetworkDriver::OnDnsmasqExit(const std::shared_ptr<Net>& np, pid_t pid) {
  Net& n = *np;
  std::lock_guard l(n.mu);
  if (n.dnsmasq_pid != pid) return;  // stopped or restarted meanwhile
  if (n.dnsmasq_child) {
    int status;
    (void)::waitpid(pid, &status, WNOHANG);
  }
  n.dnsmasq_pid = -1;
  n.dnsmasq_pidfd.reset();
  if (!n.live || n.removed) return;
  const std::string& name = n.live->name;
  int64_t now = NowS();
  std::erase_if(n.restarts, [&](int64_t t) { return now - t > kRestartWindowS; });
  if (static_cast<int>(n.restarts.size()) >= kMaxRestarts) {
    spdlog::error("dnsmasq of network '{}' died {} times within {} s; not restarting it again",
                  name, kMaxRestarts, kRestartWindowS);
    return;
  }
  n.restarts.push_back(now);
  spdlog::warn("dnsmasq (pid {}) of network '{}' exited; restarting it", pid, name);
  auto plan = PlanFromDef(*n.live);
  if (!plan.ok()) return;
  auto child = backend_.RestartDnsmasq(*plan);
  if (!child.ok()) {
    spdlog::error("restart of dnsmasq of network '{}' failed: {}", name, child.status().ToString());
    return;
  }
  spdlog::info("dnsmasq of network '{}' restarted (pid {})", name, child->pid);
  WatchDnsmasq(n, std::move(*child), std::nullopt);
}

void NetworkDriver::WatchLoop() {
  while (!stop_) {
    std::vector<std::shared_ptr<Net>> nets = networks_.List();
    struct Watched {
      std::shared_ptr<Net> net;
      pid_t pid;
      std::shared_ptr<UniqueFd> fd;  // kept open here even if the network drops it
    };
    std::vector<Watched> watched;
    for (auto& n : nets) {
      std::lock_guard l(n->mu);
      if (n->dnsmasq_pid > 0 && n->dnsmasq_pidfd && *n->dnsmasq_pidfd) {
        watched.push_back({n, n->dnsmasq_pid, n->dnsmasq_pidfd});
      }
    }
    std::vector<pollfd> pfds;
    pfds.push_back({wake_fd_.get(), POLLIN, 0});
    for (auto& w : watched) pfds.push_back({w.fd->get(), POLLIN, 0});
    int r = ::poll(pfds.data(), pfds.size(), 2000);
    if (stop_) break;
    if (r <= 0) continue;
    if (pfds[0].revents) {
      uint64_t v;
      (void)!::read(wake_fd_.get(), &v, sizeof v);
    }
    for (size_t i = 0; i < watched.size(); ++i) {
      if (pfds[i + 1].revents) OnDnsmasqExit(watched[i].net, watched[i].pid);
    }
  }
}

void NetworkDriver::SuperviseForTest() { Wake(); }

// ---------------------------------------------------------------- definitions

Status NetworkDriver::FillDefaults(conf::NetworkDef& def, const conf::NetworkDef* previous) {
  if (def.forward == conf::ForwardMode::kBridge) {
    if (def.bridge.empty()) {
      return InvalidArgumentError("network '{}': forward mode 'bridge' needs <bridge name=...>",
                                  def.name);
    }
    return Status::Ok();
  }
  if (def.bridge.empty() && previous && !previous->bridge.empty()) def.bridge = previous->bridge;
  if (def.mac.empty() && previous && !previous->mac.empty()) def.mac = previous->mac;
  if (def.mac.empty()) def.mac = net::GenerateMac();
  const auto all = networks_.List();  // their `def`s change only under define_mu_, held here
  for (auto& n : all) {
    if (n->def.name != def.name && !def.bridge.empty() && n->def.bridge == def.bridge) {
      return AlreadyExistsError("network '{}': bridge name '{}' is already used by network '{}'",
                                def.name, def.bridge, n->def.name);
    }
  }
  if (!def.bridge.empty()) return Status::Ok();
  for (int i = 0; i < 256; ++i) {
    std::string cand = "virbr" + std::to_string(i);
    bool used = false;
    for (auto& n : all) used = used || n->def.bridge == cand;
    if (used) continue;
    auto exists = backend_.LinkExists(cand);
    if (exists.ok() && *exists) continue;
    def.bridge = cand;
    return Status::Ok();
  }
  return UnavailableError("network '{}': no free bridge name virbr0..virbr255", def.name);
}

void NetworkDriver::DefineDefaultNetwork() {
  if (options_.default_network == DefaultNetwork::kNo) return;
  if (options_.default_network == DefaultNetwork::kAuto && paths_.root != fs::path("/") &&
      backend_.Capabilities().touches_host) {
    return;
  }
  fs::path marker = paths_.lib_dir / "network" / "default-network-defined";
  std::error_code ec;
  if (env_.FileExists(marker)) return;
  auto mark = [&] {
    Status st = env_.CreateDirs(marker.parent_path());
    if (st.ok()) {
      st = WriteFileAtomic(env_, marker,
                           "skiffd defined the default network once; it is yours now\n", 0644);
    }
    if (!st.ok()) spdlog::error("default network: {}", st.ToString());
  };
  std::lock_guard d(define_mu_);
  if (networks_.Contains("default")) return mark();
  auto prefixes = backend_.HostPrefixes();
  if (!prefixes.ok()) {
    spdlog::error("default network not defined: {}", prefixes.status().ToString());
    return;
  }
  for (auto& n : networks_.List()) {
    for (const auto& ip : n->def.ips) {
      auto a = net::Ipv4Addr::Parse(ip.address);
      if (a.ok() && ip.family != "ipv6") {
        prefixes->push_back(net::Ipv4Net{*a, static_cast<int>(ip.PrefixLength())});
      }
    }
  }
  auto subnet = net::PickFreeSubnet(*prefixes);
  if (!subnet.ok()) {
    spdlog::error("default network not defined: {}", subnet.status().ToString());
    return;
  }
  net::NetworkPlan plan = net::DefaultNetworkPlan(*subnet);
  plan.bridge.clear();
  conf::NetworkDef def = DefFromDefaultPlan(plan, Uuid::Generate());
  Status st = FillDefaults(def, nullptr);
  if (st.ok()) {
    st = WriteDefinitionFile(env_, paths_.networks_dir, "default", conf::FormatNetworkXml(def));
  }
  if (st.ok()) st = SetAutostartLink(env_, paths_.networks_dir, "default", true);
  if (!st.ok()) {
    spdlog::error("default network not defined: {}", st.ToString());
    return;
  }
  auto n = std::make_shared<Net>();
  n->def = std::move(def);
  n->autostart = true;
  spdlog::info("defined network 'default' on {} (bridge {}), autostarted", subnet->NetworkString(),
               n->def.bridge);
  if (Status added = networks_.Add(n); !added.ok()) {
    spdlog::error("default network: {}", added.ToString());
    return;
  }
  mark();
  Emit("default", "defined", "added");
}

std::vector<NetworkSummary> NetworkDriver::List() {
  std::vector<NetworkSummary> out;
  for (auto& n : networks_.List()) {
    std::lock_guard l(n->mu);
    if (!n->removed) out.push_back(Summarize(*n));
  }
  return out;
}

Result<NetworkDetails> NetworkDriver::Get(const std::string& ref) {
  SKIFF_ASSIGN_OR_RETURN(auto held, Acquire(ref));
  Net& n = *held.first;
  NetworkDetails d;
  d.summary = Summarize(n);
  const conf::NetworkDef& def = n.live ? *n.live : n.def;
  auto plan = PlanFromDef(def);
  if (plan.ok()) {
    d.mode = std::string(net::ModeName(plan->mode));
    if (plan->ipv4) d.ipv4 = plan->ipv4->ToString();
  } else {
    d.mode = def.forward == conf::ForwardMode::kNone ? "isolated"
                                                     : std::string(conf::ToString(def.forward));
  }
  if (n.live && n.dnsmasq_pid > 0) d.dnsmasq = n.dnsmasq_pid;
  if (n.live && !backend_.Capabilities().host_processes && plan.ok()) {
    auto probe = backend_.Probe(*plan);
    if (probe.ok()) d.dnsmasq = probe->dnsmasq_pid;
  }
  return d;
}

Result<std::string> NetworkDriver::Xml(const std::string& ref, bool inactive) {
  SKIFF_ASSIGN_OR_RETURN(auto held, Acquire(ref));
  Net& n = *held.first;
  return conf::FormatNetworkXml(n.live && !inactive ? *n.live : n.def);
}

Result<NetworkSummary> NetworkDriver::Define(const std::string& xml, const std::string& source) {
  SKIFF_ASSIGN_OR_RETURN(conf::NetworkDef def, conf::ParseNetworkXml(xml, source));
  std::lock_guard d(define_mu_);
  // No uuid in the input: a redefinition keeps the existing one, as libvirt does.
  SKIFF_ASSIGN_OR_RETURN(auto slot, networks_.FindOrAdd(def, xml.find("<uuid") != std::string::npos,
                                                        [] { return std::make_shared<Net>(); }));
  const std::shared_ptr<Net>& n = slot.obj;  // locked: slot.lock
  const bool fresh = slot.fresh;
  auto fail = [&](Status st) {
    if (fresh) networks_.Remove(n);
    return st;
  };
  if (Status st = FillDefaults(def, fresh ? nullptr : &n->def); !st.ok()) return fail(st);
  auto plan = PlanFromDef(def);
  if (!plan.ok() && plan.status().code() != Code::kUnsupported) return fail(plan.status());
  Status st = WriteDefinitionFile(env_, paths_.networks_dir, def.name, conf::FormatNetworkXml(def));
  if (!st.ok()) return fail(st);
  n->def = std::move(def);
  n->persistent = true;
  spdlog::info("network '{}' defined", n->def.name);
  Emit(n->def.name, "defined", fresh ? "added" : "updated");
  return Summarize(*n);
}

Result<NetworkSummary> NetworkDriver::Create(const std::string& xml, const std::string& source) {
  SKIFF_ASSIGN_OR_RETURN(conf::NetworkDef def, conf::ParseNetworkXml(xml, source));
  std::unique_lock d(define_mu_);
  SKIFF_ASSIGN_OR_RETURN(auto slot, networks_.FindOrAdd(def, false, [] {
    auto n = std::make_shared<Net>();
    n->persistent = false;
    return n;
  }));
  auto& [n, fresh, lock] = slot;
  if (!fresh) return AlreadyExistsError("network '{}' already exists", def.name);
  Status st = FillDefaults(def, nullptr);
  if (st.ok()) {
    n->def = std::move(def);
    d.unlock();
    st = StartLocked(*n);
  }
  if (!st.ok()) {
    networks_.Remove(n);
    return st;
  }
  return Summarize(*n);
}

Status NetworkDriver::Undefine(const std::string& ref) {
  SKIFF_ASSIGN_OR_RETURN(auto held, Acquire(ref));
  auto& [n, lock] = held;
  if (!n->persistent) {
    return FailedPreconditionError("cannot undefine transient network '{}'", n->def.name);
  }
  std::string name = n->def.name;
  SKIFF_TRY(RemoveDefinitionFile(env_, paths_.networks_dir, name));
  (void)SetAutostartLink(env_, paths_.networks_dir, name, false);
  n->autostart = false;
  Emit(name, "undefined", "removed");
  spdlog::info("network '{}' undefined", name);
  if (n->live) {
    n->persistent = false;  // stays up as a transient network until destroyed
    return Status::Ok();
  }
  networks_.Remove(n);
  return Status::Ok();
}

Status NetworkDriver::SetAutostart(const std::string& ref, bool enabled) {
  SKIFF_ASSIGN_OR_RETURN(auto held, Acquire(ref));
  Net& n = *held.first;
  if (!n.persistent) {
    return FailedPreconditionError("cannot set autostart for transient network '{}'", n.def.name);
  }
  SKIFF_TRY(SetAutostartLink(env_, paths_.networks_dir, n.def.name, enabled));
  n.autostart = enabled;
  return Status::Ok();
}

// ---------------------------------------------------------------- start / stop

Status NetworkDriver::StartLocked(Net& n) {
  const std::string name = n.def.name;
  if (n.live) return FailedPreconditionError("network '{}' is already active", name);
  SKIFF_ASSIGN_OR_RETURN(net::NetworkPlan plan, PlanFromDef(n.def));
  SKIFF_ASSIGN_OR_RETURN(std::optional<Child> child, backend_.Start(plan));
  n.live = n.def;
  Status st = WriteStatus(n);
  if (!st.ok()) {
    (void)backend_.Stop(plan);
    n.live.reset();
    return st.WithContext(fmt::format("start network '{}'", name));
  }
  n.restarts.clear();
  WatchDnsmasq(n, std::move(child), std::nullopt);
  spdlog::info("network '{}' started ({} on bridge {})", name, net::ModeName(plan.mode),
               plan.bridge);
  Emit(name, "started", "");
  return Status::Ok();
}

Status NetworkDriver::StopLocked(Net& n) {
  const std::string name = n.live->name;
  n.dnsmasq_pid = -1;  // the watcher leaves this one alone now
  n.dnsmasq_pidfd.reset();
  Status st;
  auto plan = PlanFromDef(*n.live);
  if (plan.ok()) {
    st = backend_.Stop(*plan);
  } else {
    st = plan.status();
  }
  n.live.reset();
  (void)env_.RemoveFile(status_dir_ / (name + ".xml"));
  Wake();
  spdlog::info("network '{}' destroyed{}", name, st.ok() ? "" : ": " + st.ToString());
  Emit(name, "stopped", "destroyed");
  if (!st.ok()) return st.WithContext(fmt::format("destroy network '{}'", name));
  return Status::Ok();
}

Result<NetworkSummary> NetworkDriver::Start(const std::string& ref) {
  SKIFF_ASSIGN_OR_RETURN(auto held, Acquire(ref));
  SKIFF_TRY(StartLocked(*held.first));
  return Summarize(*held.first);
}

Status NetworkDriver::Destroy(const std::string& ref) {
  SKIFF_ASSIGN_OR_RETURN(auto held, Acquire(ref));
  auto& [n, lock] = held;
  if (!n->live) return FailedPreconditionError("network '{}' is not active", n->def.name);
  Status st = StopLocked(*n);
  if (!n->persistent) networks_.Remove(n);
  return st;
}

// ---------------------------------------------------------------- leases, diagram

Result<std::vector<NetworkLease>> NetworkDriver::Leases(const std::string& ref,
                                                        const std::string& mac) {
  SKIFF_ASSIGN_OR_RETURN(auto held, Acquire(ref));
  Net& n = *held.first;
  if (!n.live) return FailedPreconditionError("network '{}' is not active", n.def.name);
  std::string want;
  if (!mac.empty()) {
    SKIFF_ASSIGN_OR_RETURN(want, net::NormalizeMac(mac));
  }
  SKIFF_ASSIGN_OR_RETURN(net::NetworkPlan plan, PlanFromDef(*n.live));
  std::vector<NetworkLease> out;
  if (!plan.ipv4) return out;
  SKIFF_ASSIGN_OR_RETURN(auto leases, backend_.Leases(plan));
  for (auto& l : leases) {
    if (!want.empty() && l.mac != want) continue;
    out.push_back({std::move(l), plan.ipv4->prefix});
  }
  return out;
}

Result<std::string> NetworkDriver::Diagram(const std::string& ref, bool svg,
                                           const std::map<std::string, std::string>& guests) {
  SKIFF_ASSIGN_OR_RETURN(auto held, Acquire(ref));
  Net& n = *held.first;
  SKIFF_ASSIGN_OR_RETURN(net::NetworkPlan plan, PlanFromDef(n.live ? *n.live : n.def));
  net::LiveState live;
  if (n.live) {
    SKIFF_ASSIGN_OR_RETURN(live, backend_.Live(plan));
  }
  return svg ? net::RenderDiagramSvg(plan, live, guests)
             : net::RenderDiagramText(plan, live, guests);
}

// ---------------------------------------------------------------- guests' taps

Result<PreparedTaps> NetworkDriver::PrepareInterfaces(conf::DomainDef& def) {
  PreparedTaps out;
  auto fail = [&](Status st) {
    for (const auto& t : out.taps) backend_.ReleaseTap(t.name);
    out.fds.clear();  // the kernel removes the taps with their last fd
    return st;
  };
  for (size_t i = 0; i < def.devices.interfaces.size(); ++i) {
    conf::InterfaceDef& nic = def.devices.interfaces[i];
    if (nic.type == conf::InterfaceType::kUser) continue;
    const std::string what = fmt::format("domain '{}': interface {}", def.name, nic.mac);
    std::optional<net::NetworkPlan> plan;
    std::string bridge;
    if (nic.type == conf::InterfaceType::kNetwork) {
      auto held = Acquire(nic.source);
      if (!held.ok()) {
        return fail(FailedPreconditionError("{}: network '{}' is not defined", what, nic.source));
      }
      Net& n = *held->first;
      if (!n.live) {
        return fail(FailedPreconditionError("{}: network '{}' is not active", what, nic.source));
      }
      auto p = PlanFromDef(*n.live);
      if (!p.ok()) return fail(p.status().WithContext(what));
      plan = std::move(*p);
      bridge = plan->bridge;
    } else {
      bridge = nic.source;
      auto exists = backend_.LinkExists(bridge);
      if (!exists.ok()) return fail(exists.status().WithContext(what));
      if (!*exists) {
        return fail(FailedPreconditionError("{}: bridge '{}' does not exist", what, bridge));
      }
    }
    net::TapOptions opts;
    opts.name = nic.target_dev.empty() ? "vnet%d" : nic.target_dev;
    opts.mac = HostSideMac(nic.mac);
    opts.bridge = bridge;
    auto tap = backend_.CreateTap(opts, nic.mac, plan ? &*plan : nullptr);
    if (!tap.ok()) {
      return fail(tap.status().WithContext(fmt::format("{}: tap on bridge '{}'", what, bridge)));
    }
    nic.target_dev = tap->name;
    out.taps.push_back({i, tap->fd.get(), tap->name});
    out.fds.push_back(std::move(tap->fd));
  }
  return out;
}

void NetworkDriver::ReleaseInterfaces(const conf::DomainDef& def) {
  for (const auto& nic : def.devices.interfaces) {
    if (nic.type != conf::InterfaceType::kUser && !nic.target_dev.empty()) {
      backend_.ReleaseTap(nic.target_dev);
    }
  }
}

std::vector<InterfaceAddress> NetworkDriver::Addresses(const conf::DomainDef& def) {
  std::vector<InterfaceAddress> out;
  std::map<std::string, std::vector<NetworkLease>> cache;
  for (const auto& nic : def.devices.interfaces) {
    if (nic.type != conf::InterfaceType::kNetwork) continue;
    auto it = cache.find(nic.source);
    if (it == cache.end()) {
      auto leases = Leases(nic.source, "");
      it = cache.emplace(nic.source, leases.ok() ? std::move(*leases) : std::vector<NetworkLease>{})
               .first;
    }
    for (const auto& l : it->second) {
      if (l.lease.mac != nic.mac) continue;
      bool v6 = l.lease.ip.find(':') != std::string::npos;
      out.push_back({nic.target_dev.empty() ? "-" : nic.target_dev, nic.mac, v6 ? "ipv6" : "ipv4",
                     fmt::format("{}/{}", l.lease.ip, l.prefix)});
    }
  }
  return out;
}

}  // namespace skiff::daemon
