"""Virtual networks through skiffd and skiff, end to end: a NAT network on a
test-only subnet and bridge, two guests (TCG) on it taking a dynamic and a
static DHCP lease, the lease in net-dhcp-leases and domifaddr, a ping to the
bridge, dnsmasq restarted when it dies, the network re-adopted by a restarted
daemon, and nothing left behind (tap, bridge, nft table, dnsmasq) afterwards.

Traffic goes only between the test's guests and its own bridge. Runs as root;
in CI (CI=true) a missing prerequisite fails the test.
"""
import json
import os
import pathlib
import random
import re
import shutil
import signal
import tempfile

from framework.daemon import Daemon
from framework.guest import domain_xml
from framework.net import free_test_subnet, link_exists, require_net_prerequisites, sh
from framework.util import pid_alive, require_guest, wait_for, wait_until


def net_xml(name, bridge, prefix, static_mac):
    return f"""<network>
  <name>{name}</name>
  <forward mode='nat'/>
  <bridge name='{bridge}' stp='on' delay='0'/>
  <ip address='{prefix}.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='{prefix}.100' end='{prefix}.200'/>
      <host mac='{static_mac}' name='fixed' ip='{prefix}.50'/>
    </dhcp>
  </ip>
</network>
"""


def guest_xml(name, kernel, initrd, network, mac, ping):
    nic = f"""    <interface type='network'>
      <source network='{network}'/>
      <mac address='{mac}'/>
      <model type='virtio'/>
    </interface>
"""
    return domain_xml(name, kernel, initrd, cmdline=f"skiff.hostname={name} skiff.ping={ping}",
                      devices=nic)


def guest_ip(log):
    m = re.search(r"SKIFF-GUEST-IP (\d+\.\d+\.\d+\.\d+)", log.read_text(errors="replace"))
    return m.group(1) if m else None


def net_info(d, name):
    return json.loads(d.skiff("net-info", name, "--json").stdout)


def test_nat_network_guests_leases_ping_and_cleanup():
    require_net_prerequisites()
    kernel, initrd = require_guest()
    tag = "".join(random.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(6))
    name, bridge = f"sknet{tag}", f"skt-{tag}"
    prefix = free_test_subnet()
    dyn_mac = "52:54:00:%02x:%02x:%02x" % (random.randint(0, 255), random.randint(0, 255), 1)
    static_mac = "52:54:00:%02x:%02x:%02x" % (random.randint(0, 255), random.randint(0, 255), 2)
    root = pathlib.Path(tempfile.mkdtemp(prefix="skiffd-net-"))
    # dnsmasq reads its hosts files after dropping root for "nobody".
    os.chmod(root, 0o755)
    d = None
    try:
        d = Daemon(root)
        # A daemon on a test root defines no default network (and touches no virbr0).
        assert d.skiff("net-list", "--all", "--name").stdout.strip() == ""

        (root / "net.xml").write_text(net_xml(name, bridge, prefix, static_mac))
        d.skiff("net-define", str(root / "net.xml"))
        d.skiff("net-start", name)
        assert link_exists(bridge)
        assert f"skiff_{name}" in sh("nft", "list", "tables").stdout
        info = net_info(d, name)
        assert info["active"] and info["bridge"] == bridge
        dnsmasq = info["dnsmasq_pid"]
        assert dnsmasq and pid_alive(dnsmasq)
        assert "active" in d.skiff("net-list").stdout

        # A guest on an inactive network is refused, naming the interface and the network.
        (root / "off.xml").write_text(net_xml("offnet" + tag, "sko-" + tag, "10.213.254",
                                              "52:54:00:00:00:09"))
        d.skiff("net-define", str(root / "off.xml"))
        (root / "g0.xml").write_text(guest_xml("g0", kernel, initrd, "offnet" + tag,
                                               "52:54:00:00:00:0a", prefix + ".1"))
        d.skiff("define", str(root / "g0.xml"))
        r = d.skiff("start", "g0", check=False)
        assert r.returncode == 1
        assert f"network 'offnet{tag}' is not active" in r.stderr
        assert "52:54:00:00:00:0a" in r.stderr
        d.skiff("undefine", "g0")
        d.skiff("net-undefine", "offnet" + tag)

        for g, mac in (("g1", dyn_mac), ("g2", static_mac)):
            (root / f"{g}.xml").write_text(guest_xml(g, kernel, initrd, name, mac, prefix + ".1"))
            d.skiff("define", str(root / f"{g}.xml"))
            d.skiff("start", g)
        logs = {g: root / f"var/log/skiff/domains/{g}.log" for g in ("g1", "g2")}
        for g, log in logs.items():
            assert wait_for(log, "SKIFF-GUEST-IP", 120), log.read_text(errors="replace")
        ip1, ip2 = guest_ip(logs["g1"]), guest_ip(logs["g2"])
        assert ip1.startswith(prefix + ".") and 100 <= int(ip1.split(".")[3]) <= 200, ip1
        assert ip2 == prefix + ".50"

        leases = d.skiff("net-dhcp-leases", name).stdout
        assert dyn_mac in leases and f"{ip1}/24" in leases, leases
        assert static_mac in leases and f"{ip2}/24" in leases, leases
        assert f"{ip1}/24" in d.skiff("domifaddr", "g1").stdout
        assert f"{ip2}/24" in d.skiff("domifaddr", "g2").stdout

        for g, log in logs.items():
            assert wait_for(log, f"SKIFF-PING-OK {prefix}.1", 60), log.read_text(errors="replace")

        iflist = d.skiff("domiflist", "g1").stdout
        m = re.search(r"^\s*(vnet\d+)\s+network\s+" + re.escape(name), iflist, re.M)
        assert m, iflist
        tap = m.group(1)
        assert f"master {bridge}" in sh("ip", "link", "show", "dev", tap).stdout
        # domstats counts the guest's DHCP and ping traffic on its interface
        stats = json.loads(d.skiff("domstats", "--json", "g1").stdout)[0]["stats"]
        assert stats["net.count"] == 1 and stats["net.0.name"] == tap, stats
        assert stats["net.0.tx.pkts"] >= 4 and stats["net.0.tx.bytes"] > 0, stats
        assert stats["net.0.rx.pkts"] >= 4 and stats["net.0.rx.bytes"] > 0, stats
        diagram = d.skiff("net-diagram", name).stdout
        assert f"guest g1 -- {tap}" in diagram, diagram
        assert "<svg" in d.skiff("net-diagram", name, "--svg").stdout

        # dnsmasq dies: the daemon starts a new one.
        os.kill(dnsmasq, signal.SIGKILL)
        assert wait_until(lambda: net_info(d, name).get("dnsmasq_pid") not in (None, dnsmasq), 20)
        dnsmasq = net_info(d, name)["dnsmasq_pid"]
        assert pid_alive(dnsmasq)

        # A restarted daemon adopts the network (same dnsmasq) and the guests.
        assert d.stop() == 0
        d = Daemon(root)
        info = net_info(d, name)
        assert info["active"] and info["dnsmasq_pid"] == dnsmasq
        assert f"{ip1}/24" in d.skiff("domifaddr", "g1").stdout

        d.skiff("destroy", "g1")
        assert wait_until(lambda: not link_exists(tap), 10), f"tap {tap} left after destroy"
        d.skiff("destroy", "g2")

        d.skiff("net-destroy", name)
        assert not link_exists(bridge)
        assert f"skiff_{name}" not in sh("nft", "list", "tables").stdout
        assert wait_until(lambda: not pid_alive(dnsmasq), 10), "dnsmasq left after net-destroy"
        assert "inactive" in d.skiff("net-list", "--all").stdout
        d.skiff("net-undefine", name)
    finally:
        if d is not None:
            for g in ("g0", "g1", "g2"):
                d.skiff("destroy", g, check=False)
            d.skiff("net-destroy", name, check=False)
            d.stop()
        # Whatever a failed run left behind.
        for pidfile in (root / "var/lib/skiff/dnsmasq").glob("*.pid"):
            try:
                os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)
            except (ValueError, ProcessLookupError, OSError):
                pass
        for link in (bridge, "sko-" + tag):
            if link_exists(link):
                sh("ip", "link", "del", "dev", link)
        sh("nft", "delete", "table", "ip", f"skiff_{name}")
        shutil.rmtree(root, ignore_errors=True)
