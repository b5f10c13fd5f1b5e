// One dnsmasq per network: its configuration (modelled on libvirt's), the
// process's start and stop, and the lease file read back for net-dhcp-leases
// and domifaddr.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "skiff/base/process.h"
#include "skiff/base/status.h"
#include "skiff/net/plan.h"

namespace skiff::net {

// The files of one network's dnsmasq, all in one state directory (the daemon
// passes ROOT/var/lib/skiff/dnsmasq). dnsmasq reads the hosts files after it
// has dropped root for user "nobody", so the directory and its parents must be
// searchable by everyone.
struct DnsmasqFiles {
  std::filesystem::path conf;       // <dir>/<net>.conf
  std::filesystem::path pid;        // <dir>/<net>.pid
  std::filesystem::path leases;     // <dir>/<net>.leases (dnsmasq's own lease format)
  std::filesystem::path hostsfile;  // <dir>/<net>.hostsfile (dhcp-hostsfile: static hosts)
  std::filesystem::path addnhosts;  // <dir>/<net>.addnhosts (addn-hosts: DNS entries)
  std::filesystem::path log;        // <dir>/<net>.log (dnsmasq's stdout and stderr)
};
DnsmasqFiles DnsmasqFilesFor(const std::filesystem::path& dir, const std::string& network);

// The dnsmasq.conf text: strict-order, pid-file, except-interface=lo,
// bind-dynamic, interface=<bridge>, domain and expand-hosts when a domain is
// set (and local=/domain/ when it is local only), no-resolv when DNS forwarding is off, dhcp-range
// per range (a static-only range when there are hosts but no range), dhcp-no-override,
// dhcp-authoritative, dhcp-lease-max, dhcp-hostsfile, addn-hosts,
// dhcp-leasefile, and dhcp-option=3 (no router) on isolated networks.
// kInvalidArgument for an invalid plan or one without dnsmasq (NeedsDnsmasq).
Result<std::string> RenderDnsmasqConf(const NetworkPlan& plan, const DnsmasqFiles& files);
// dhcp-hostsfile lines: "MAC,IP,NAME" (parts absent from the host left out).
std::string RenderDhcpHostsFile(const NetworkPlan& plan);
// addn-hosts lines: "IP NAME...".
std::string RenderAddnHostsFile(const NetworkPlan& plan);

// Writes conf, hostsfile and addnhosts atomically (creating the directory).
Status WriteDnsmasqFiles(const NetworkPlan& plan, const DnsmasqFiles& files);

// Starts `dnsmasq --keep-in-foreground --conf-file=<conf>` in a new session, so
// the returned child is dnsmasq itself (the caller reaps it, e.g. by watching
// its pidfd) and it survives a daemon restart. Waits until dnsmasq has written
// its pid file (it then listens). The files must have been written.
// `program` empty: "dnsmasq" from PATH, then /usr/sbin/dnsmasq.
// kUnavailable with dnsmasq's stderr when it exits at once (e.g. bad config).
Result<Child> StartDnsmasq(const DnsmasqFiles& files, const std::string& program = "");

// The pid of the running dnsmasq of these files (from the pid file, checked
// against /proc/PID/cmdline naming our conf file); nullopt when none runs.
std::optional<pid_t> RunningDnsmasqPid(const DnsmasqFiles& files);

// Stops that dnsmasq (SIGTERM, then SIGKILL after 5 s), reaping it when it is
// a child of this process, and removes the pid file. Ok when none runs.
Status StopDnsmasq(const DnsmasqFiles& files);

// Stops dnsmasq, rewrites the files from the plan and starts it again (the
// daemon calls this when dnsmasq died, or after a change of hosts).
Result<Child> RestartDnsmasq(const NetworkPlan& plan, const DnsmasqFiles& files,
                             const std::string& program = "");

// Removes conf, pid, hostsfile, addnhosts and log (the lease file is kept, as
// libvirt keeps it, so that guests keep their addresses across restarts).
Status RemoveDnsmasqFiles(const DnsmasqFiles& files);

// One DHCP lease as dnsmasq records it.
struct Lease {
  int64_t expiry = 0;     // seconds since the epoch; 0: never expires
  std::string mac;        // lower-case
  std::string ip;         // IPv4 (or IPv6) address text
  std::string hostname;   // empty when the client sent none ('*')
  std::string client_id;  // empty when none ('*')
  bool operator==(const Lease&) const = default;
};

// Parses dnsmasq's lease file: "EXPIRY MAC IP HOSTNAME CLIENTID" per line,
// '*' for absent fields; the "duid" line (DHCPv6) is skipped. kCorruption
// names the line that does not parse.
Result<std::vector<Lease>> ParseLeases(std::string_view text);
// Reads and parses the file; a missing file is no leases. Leases whose expiry
// is before `now` (seconds since the epoch; 0: keep all) are dropped.
Result<std::vector<Lease>> ReadLeases(const std::filesystem::path& path, int64_t now = 0);

}  // namespace skiff::net
