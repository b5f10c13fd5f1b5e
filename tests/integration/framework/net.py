"""Networking for the integration tests.

Through skiffd (test_daemon_net, test_daemon_live): a free test subnet, links,
the prerequisites (root, dnsmasq, nft, ip, /dev/net/tun).

Through the net library in network namespaces (test_net_*): every test builds
its own little world of namespaces (World, the `world` fixture of conftest.py):
a "host" namespace in which skiff-net-tool runs the net library (so the real
host's interfaces, nftables and ip_forward are never touched), "guest"
namespaces standing in for VMs (a veth whose peer joins the bridge), and an
"upstream" namespace standing in for the outside. Traffic goes only between
these namespaces. Everything is removed at the end, also on failure.
"""
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile

import pytest

from framework.util import BIN

TOOL = str(BIN / "skiff-net-tool")
BUSYBOX = shutil.which("busybox") or "/bin/busybox"
DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"


# --- the host's network, for tests through skiffd ---

def require_net_prerequisites():
    """Skips the test (fails it in CI) unless it runs as root with dnsmasq, nft, ip
    and /dev/net/tun."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root")
    for prog in ("dnsmasq", "nft", "ip"):
        if not (shutil.which(prog) or os.access(f"/usr/sbin/{prog}", os.X_OK)):
            missing.append(prog)
    if not os.path.exists("/dev/net/tun"):
        missing.append("/dev/net/tun")
    if missing:
        msg = "daemon network tests need: " + ", ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)


def sh(*cmd, check=False):
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=60, check=check)


def link_exists(name):
    return sh("ip", "link", "show", "dev", name).returncode == 0


def free_test_subnet():
    """A 10.213.X.0/24 that no address or route of the host overlaps."""
    used = sh("ip", "-4", "-o", "addr").stdout + sh("ip", "-4", "route").stdout
    for _ in range(100):
        x = random.randint(1, 250)
        if f"10.213.{x}." not in used:
            return f"10.213.{x}"
    pytest.fail("no free 10.213.X.0/24 on this host")


# --- network namespaces, for tests of the net library ---

UDHCPC_SCRIPT = """#!/bin/sh
# udhcpc hook: configure the lease and record it for the test.
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    if [ -n "$router" ]; then ip route replace default via "${router%% *}" dev "$interface"; fi
    echo "$ip" > "$LEASE_OUT"
    ;;
esac
exit 0
"""


def require_netns_prerequisites():
    """Skips the test (fails it in CI) unless it runs as root with skiff-net-tool,
    busybox, dnsmasq, ip and nft."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root")
    for p in (TOOL, BUSYBOX, DNSMASQ, shutil.which("ip") or "", shutil.which("nft") or ""):
        if not p or not os.access(p, os.X_OK):
            missing.append(p or "ip/nft")
    if missing:
        msg = "net integration tests need: " + ", ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)


def run(*cmd, check=True, timeout=60, env=None):
    r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, env=env)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


class World:
    """The namespaces, processes and files of one test."""

    def __init__(self, tag):
        self.prefix = f"skn{os.getpid() % 100000}{tag}"
        self.namespaces = []
        self.procs = []
        self.tmp = tempfile.mkdtemp(prefix=f"skiff-{tag}-")
        # dnsmasq reads its hosts files after dropping root for "nobody".
        os.chmod(self.tmp, 0o755)
        self.state = os.path.join(self.tmp, "state")
        self.script = os.path.join(self.tmp, "udhcpc.script")
        with open(self.script, "w") as f:
            f.write(UDHCPC_SCRIPT)
        os.chmod(self.script, 0o755)

    # --- namespaces and links ---
    def ns(self, name):
        full = f"{self.prefix}-{name}"
        run("ip", "netns", "add", full)
        self.namespaces.append(full)
        self.sh(full, "ip", "link", "set", "lo", "up")
        return full

    def sh(self, ns, *cmd, check=True, timeout=60, env=None):
        return run("ip", "netns", "exec", ns, *cmd, check=check, timeout=timeout, env=env)

    def veth(self, ns_a, name_a, ns_b, name_b):
        run("ip", "-n", ns_a, "link", "add", name_a, "type", "veth", "peer", "name", name_b,
            "netns", ns_b)
        run("ip", "-n", ns_a, "link", "set", name_a, "up")
        run("ip", "-n", ns_b, "link", "set", name_b, "up")

    def guest(self, host_ns, bridge, name, mac=None):
        """A guest namespace whose eth0 is a veth with its peer on `bridge`."""
        g = self.ns(name)
        port = f"v{name}"[:15]
        self.veth(host_ns, port, g, "eth0")
        run("ip", "-n", host_ns, "link", "set", port, "master", bridge)
        if mac:
            run("ip", "-n", g, "link", "set", "eth0", "address", mac)
        return g, port

    def dhcp(self, guest_ns, hostname="guest", timeout=30):
        """Runs busybox udhcpc in the guest; returns the leased address or None."""
        out = os.path.join(self.tmp, f"{guest_ns}.lease")
        env = dict(os.environ, LEASE_OUT=out)
        r = self.sh(guest_ns, BUSYBOX, "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "10",
                    "-T", "1", "-A", "1", "-s", self.script, "-x", f"hostname:{hostname}",
                    check=False, timeout=timeout, env=env)
        if r.returncode != 0 or not os.path.exists(out):
            print(f"udhcpc in {guest_ns}: {r.returncode}\n{r.stdout}\n{r.stderr}")
            return None
        with open(out) as f:
            return f.read().strip()

    def ping(self, ns, addr, count=2):
        r = self.sh(ns, BUSYBOX, "ping", "-c", str(count), "-W", "2", addr, check=False,
                    timeout=30)
        return r.returncode == 0

    # --- skiff-net-tool ---
    def plan(self, name, text):
        path = os.path.join(self.tmp, f"{name}.plan")
        with open(path, "w") as f:
            f.write(text)
        return path

    def tool(self, ns, *args, check=True):
        return self.sh(ns, TOOL, *args, check=check)

    def spawn(self, ns, *cmd):
        p = subprocess.Popen(["ip", "netns", "exec", ns, *cmd], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, start_new_session=True)
        self.procs.append(p)
        return p

    # --- counters in an nft table of a test namespace ---
    def nft_counters(self, ns, table):
        text = self.sh(ns, "nft", "list", "table", "ip", table).stdout
        counts = {}
        for m in re.finditer(r'counter packets (\d+) bytes \d+ comment "([^"]+)"', text):
            counts[m.group(2)] = int(m.group(1))
        return counts

    # --- cleanup ---
    def dnsmasq_pids(self):
        pids = []
        d = os.path.join(self.state, "dnsmasq")
        if os.path.isdir(d):
            for f in os.listdir(d):
                if f.endswith(".pid"):
                    try:
                        pids.append(int(open(os.path.join(d, f)).read().strip()))
                    except ValueError:
                        pass
        return pids

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        for ns in self.namespaces:
            r = run("ip", "netns", "pids", ns, check=False)
            for pid in r.stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for pid in self.dnsmasq_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for ns in reversed(self.namespaces):
            run("ip", "netns", "del", ns, check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)


def running_pids(needle):
    """Pids whose command line contains `needle` (zombies excluded)."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if needle in cmd:
            out.append(int(pid))
    return out
