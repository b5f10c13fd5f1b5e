"""Bridge mode: guests join an existing host bridge and get their address
from the LAN's DHCP server (a dnsmasq the test runs in another namespace on
that bridge); Skiff adds no rules and runs no dnsmasq there.
"""
import os
import re

from framework.net import DNSMASQ, run, running_pids
from framework.util import wait_until

PLAN = """
name = lan
mode = bridge
bridge = sklan0
"""


def test_bridge_mode_guest_gets_lan_dhcp(world):
    w = world
    host = w.ns("host")
    lan = w.ns("lan")
    # The "LAN": a bridge on the host with a DHCP server behind one port.
    run("ip", "-n", host, "link", "add", "sklan0", "type", "bridge")
    run("ip", "-n", host, "link", "set", "sklan0", "up")
    w.veth(host, "vlan0", lan, "eth0")
    run("ip", "-n", host, "link", "set", "vlan0", "master", "sklan0")
    run("ip", "-n", lan, "addr", "add", "10.66.0.1/24", "dev", "eth0")
    leases = os.path.join(w.tmp, "lan.leases")
    server = w.spawn(lan, DNSMASQ, "--keep-in-foreground", "--conf-file=/dev/null",
                     "--no-resolv", "--port=0", "--interface=eth0", "--bind-interfaces",
                     "--dhcp-range=10.66.0.50,10.66.0.60,255.255.255.0",
                     f"--dhcp-leasefile={leases}", f"--pid-file={w.tmp}/lan.pid")

    plan = w.plan("lan", PLAN)
    out = w.tool(host, "start", plan, w.state).stdout
    assert "dnsmasq" not in out, "bridge mode must not start a dnsmasq"
    assert "skiff" not in w.sh(host, "nft", "list", "tables").stdout

    g1, port = w.guest(host, "sklan0", "g1", mac="52:54:00:00:66:01")
    ip = w.dhcp(g1, hostname="languest")
    assert ip is not None, "guest got no lease from the LAN's server"
    assert ip.startswith("10.66.0.") and 50 <= int(ip.split(".")[3]) <= 60, ip
    assert server.poll() is None
    assert wait_until(lambda: "52:54:00:00:66:01" in open(leases).read(), 10, 0.1)
    assert w.ping(g1, "10.66.0.1")

    # A tap made by the library joins the host bridge too.
    w.tool(host, "tap-add", "sktap1", "sklan0")
    assert run("ip", "-n", host, "-o", "link", "show", "sktap1").stdout.count("master sklan0") == 1
    diagram = w.tool(host, "diagram", plan, w.state, "sktap1=vm1", f"{port}=g1").stdout
    assert "DHCP: from the LAN behind bridge sklan0 via vlan0 (Skiff runs no DHCP here)" in diagram
    assert re.search(r"\(port\) +-- vlan0 ", diagram), diagram
    assert re.search(r"guest vm1 +-- sktap1 ", diagram), diagram

    # Stop leaves the host's bridge alone; VM stop removes the tap.
    w.tool(host, "stop", plan, w.state)
    w.tool(host, "tap-del", "sktap1")
    links = run("ip", "-n", host, "-br", "link").stdout
    assert "sklan0" in links and "sktap1" not in links, links
    assert not running_pids(os.path.join(w.state, "dnsmasq"))


def test_bridge_mode_needs_the_bridge(world):
    w = world
    host = w.ns("host")
    plan = w.plan("lan", PLAN)
    r = w.tool(host, "start", plan, w.state, check=False)
    assert r.returncode == 1
    assert "host bridge 'sklan0' does not exist" in r.stderr, r.stderr
