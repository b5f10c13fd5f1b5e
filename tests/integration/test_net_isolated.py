"""Isolated and routed networks through the net library, inside namespaces.

Isolated: two guests on the bridge reach each other and the host, never the
upstream namespace, even on a host that forwards packets for other reasons.
Routed: the upstream sees the guest's own address (no masquerading).
"""
import os

from framework.net import run

ISOLATED = """
name = priv
mode = isolated
bridge = skpriv0
ipv4 = 10.88.0.1/24
dhcp_range = 10.88.0.100 10.88.0.120
dns_forward = off
"""

ROUTED = """
name = routed
mode = route
bridge = skrt0
ipv4 = 10.55.0.1/24
dhcp_range = 10.55.0.100 10.55.0.120
uplink = up0
dns_forward = off
"""

PROOF = """table ip proof {
 chain input {
  type filter hook input priority 0; policy accept;
  ip saddr 10.99.0.1 icmp type echo-request counter comment "from_host"
  ip saddr %s icmp type echo-request counter comment "from_guest_subnet"
 }
}
"""


def upstream(w, host, subnet):
    up = w.ns("up")
    w.veth(host, "up0", up, "eth0")
    run("ip", "-n", host, "addr", "add", "10.99.0.1/24", "dev", "up0")
    run("ip", "-n", up, "addr", "add", "10.99.0.2/24", "dev", "eth0")
    path = os.path.join(w.tmp, "proof.nft")
    with open(path, "w") as f:
        f.write(PROOF % subnet)
    w.sh(up, "nft", "-f", path)
    return up


def test_isolated_guests_reach_each_other_not_upstream(world):
    w = world
    host = w.ns("host")
    up = upstream(w, host, "10.88.0.0/24")
    # A host that forwards anyway (e.g. for another network): only Skiff's rules isolate.
    w.sh(host, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    plan = w.plan("priv", ISOLATED)
    w.tool(host, "start", plan, w.state)
    g1, _ = w.guest(host, "skpriv0", "g1")
    g2, _ = w.guest(host, "skpriv0", "g2")
    ip1, ip2 = w.dhcp(g1), w.dhcp(g2)
    assert ip1 and ip2 and ip1 != ip2, (ip1, ip2)
    assert w.ping(g1, ip2) and w.ping(g2, ip1), "guests on the isolated network must meet"
    assert w.ping(g1, "10.88.0.1"), "guests reach the host"
    # dnsmasq gives no router on an isolated network.
    assert "default" not in run("ip", "-n", g1, "route").stdout
    # Even with a route out, the table stops the packets.
    run("ip", "-n", g1, "route", "add", "default", "via", "10.88.0.1")
    assert not w.ping(g1, "10.99.0.2", count=2)
    c = w.nft_counters(up, "proof")
    assert c == {"from_host": 0, "from_guest_subnet": 0}, c
    # The network does not take IP forwarding: the host's own setting stays.
    w.tool(host, "stop", plan, w.state)
    assert w.sh(host, "cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip() == "1"
    assert "skpriv0" not in run("ip", "-n", host, "-br", "link").stdout
    assert "skiff" not in w.sh(host, "nft", "list", "tables").stdout


def test_routed_guest_keeps_its_address(world):
    w = world
    host = w.ns("host")
    up = upstream(w, host, "10.55.0.0/24")
    # The upstream routes the guests' subnet back through the host.
    run("ip", "-n", up, "route", "add", "10.55.0.0/24", "via", "10.99.0.1")
    plan = w.plan("routed", ROUTED)
    w.tool(host, "start", plan, w.state)
    assert w.sh(host, "cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip() == "1"
    g1, _ = w.guest(host, "skrt0", "g1")
    assert w.dhcp(g1)
    assert w.ping(g1, "10.99.0.2", count=2)
    c = w.nft_counters(up, "proof")
    assert c["from_guest_subnet"] >= 2 and c["from_host"] == 0, c
    w.tool(host, "stop", plan, w.state)
    assert w.sh(host, "cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip() == "0"
    assert "skiff" not in w.sh(host, "nft", "list", "tables").stdout
