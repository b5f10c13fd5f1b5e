"""NAT networks through the net library (skiff-net-tool), all inside namespaces.

host namespace:     bridge skbr0 10.77.0.1/24 (Skiff's), uplink up0 10.99.0.1/24
guest namespaces:   eth0, a veth whose peer is a port of skbr0
upstream namespace: eth0 10.99.0.2/24, the peer of up0: the "outside"
"""
import os
import re

from framework.net import BUSYBOX, run, running_pids
from framework.util import wait_until

PLAN = """
name = natnet
mode = nat
bridge = skbr0
ipv4 = 10.77.0.1/24
dhcp_range = 10.77.0.100 10.77.0.150
host = 52:54:00:00:77:01 fixed 10.77.0.10
dns_host = 10.77.0.1 gateway
domain = nat.test
domain_local_only = on
uplink = up0
dns_forward = off
"""


def start_nat(w, host=None):
    host = host or w.ns("host")
    up = w.ns("up")
    w.veth(host, "up0", up, "eth0")
    run("ip", "-n", host, "addr", "add", "10.99.0.1/24", "dev", "up0")
    run("ip", "-n", up, "addr", "add", "10.99.0.2/24", "dev", "eth0")
    plan = w.plan("natnet", PLAN)
    assert w.sh(host, "cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip() == "0"
    out = w.tool(host, "start", plan, w.state).stdout
    assert out.startswith("dnsmasq "), out
    return host, up, plan


def probe(w, host, plan):
    out = w.tool(host, "probe", plan, w.state).stdout
    return dict(line.split("=", 1) for line in out.split())


def leases(w, host, plan):
    out = w.tool(host, "leases", plan, w.state).stdout
    return [line.split() for line in out.splitlines()]


def test_nat_lease_static_host_and_cleanup(world):
    w = world
    host, up, plan = start_nat(w)
    p = probe(w, host, plan)
    assert p["complete"] == "1" and p["bridge"] == "1" and p["nft_table"] == "1", p
    assert w.sh(host, "cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip() == "1"

    g1, port1 = w.guest(host, "skbr0", "g1", mac="52:54:00:00:77:99")
    g2, port2 = w.guest(host, "skbr0", "g2", mac="52:54:00:00:77:01")
    ip1 = w.dhcp(g1, hostname="dyn1")
    assert ip1 is not None, "guest g1 got no lease"
    last = [int(x) for x in ip1.split(".")]
    assert last[:3] == [10, 77, 0] and 100 <= last[3] <= 150, ip1
    ip2 = w.dhcp(g2, hostname="whatever")
    assert ip2 == "10.77.0.10", "static host entry must give the fixed address"

    by_mac = {l[1]: l for l in leases(w, host, plan)}
    assert by_mac["52:54:00:00:77:99"][2] == ip1
    assert by_mac["52:54:00:00:77:99"][3] == "dyn1"
    assert by_mac["52:54:00:00:77:01"][2] == "10.77.0.10"

    # DNS from the network's dnsmasq: DNS host entries, with the domain, and
    # names of DHCP clients.
    def lookup(name):
        r = w.sh(g1, BUSYBOX, "nslookup", name, "10.77.0.1", check=False, timeout=20)
        return r.stdout if r.returncode == 0 else ""
    assert "10.77.0.1" in lookup("gateway.nat.test").split("Name:", 1)[-1]
    assert "10.77.0.10" in lookup("fixed.nat.test").split("Name:", 1)[-1]
    assert lookup("nosuchname.nat.test") == ""

    # Guests reach each other and the host over the bridge.
    assert w.ping(g1, "10.77.0.10")
    assert w.ping(g1, "10.77.0.1")

    # A persistent tap made by the library, attached to the bridge, as the daemon does for VMs.
    assert w.tool(host, "tap-add", "sktap0", "skbr0").stdout.strip() == "sktap0"
    diagram = w.tool(host, "diagram", plan, w.state, f"{port1}=g1", "sktap0=vm1").stdout
    assert "network 'natnet': nat, active" in diagram, diagram
    assert "guest vm1 -- sktap0" in diagram and "guest g1" in diagram, diagram
    assert "table ip skiff_natnet (loaded)" in diagram, diagram
    assert "DHCP + DNS: dnsmasq pid" in diagram and "uplink up0" in diagram, diagram
    assert "10.99.0.1/24" in diagram, diagram
    svg = w.tool(host, "diagram-svg", plan, w.state).stdout
    assert svg.startswith("<svg") and "skiff_natnet" in svg

    # dnsmasq dies: the network is incomplete until the daemon restarts it;
    # the guests keep their addresses (the lease file survives).
    old = int(probe(w, host, plan)["dnsmasq"])
    os.kill(old, 9)
    assert wait_until(lambda: probe(w, host, plan)["complete"] == "0", 10, 0.1)
    assert probe(w, host, plan)["dnsmasq"] == "0"
    assert w.tool(host, "restart-dnsmasq", plan, w.state).stdout.startswith("dnsmasq ")
    p = probe(w, host, plan)
    assert p["complete"] == "1" and int(p["dnsmasq"]) != old, p
    assert w.dhcp(g1, hostname="dyn1") == ip1

    # Destroy: VM stop removes its tap, net-destroy removes the rest.
    conf = os.path.join(w.state, "dnsmasq", "natnet.conf")
    pid = int(probe(w, host, plan)["dnsmasq"])
    w.tool(host, "tap-del", "sktap0")
    w.tool(host, "stop", plan, w.state)
    links = run("ip", "-n", host, "-br", "link").stdout
    assert "skbr0" not in links and "sktap0" not in links, links
    assert "skiff" not in w.sh(host, "nft", "list", "tables").stdout
    assert wait_until(lambda: not running_pids("--conf-file=" + conf), 10, 0.1), \
        "dnsmasq left behind"
    assert not os.path.exists(f"/proc/{pid}/cmdline") or \
        open(f"/proc/{pid}/cmdline").read() == ""
    assert w.sh(host, "cat", "/proc/sys/net/ipv4/ip_forward").stdout.strip() == "0"
    p = probe(w, host, plan)
    assert p == {"bridge": "0", "nft_table": "0", "dnsmasq": "0", "forwarding": "0",
                 "complete": "0"}, p
    # The lease file stays, as libvirt keeps it.
    assert os.path.exists(os.path.join(w.state, "dnsmasq", "natnet.leases"))
    # A second stop is harmless.
    w.tool(host, "stop", plan, w.state)


HOST_FIREWALL = """table inet hostfw {
 chain host_forward {
  type filter hook forward priority 10; policy accept;
  counter comment "seen_by_host_firewall"
 }
}
"""


def test_nat_masquerades_to_uplink_address(world):
    w = world
    host = w.ns("host")
    # The host's own firewall, loaded before Skiff's rules, must stay as it is.
    fw = os.path.join(w.tmp, "hostfw.nft")
    with open(fw, "w") as f:
        f.write(HOST_FIREWALL)
    w.sh(host, "nft", "-f", fw)
    host, up, plan = start_nat(w, host)
    g1, _ = w.guest(host, "skbr0", "g1")
    ip1 = w.dhcp(g1)
    assert ip1 is not None
    # Counters in the upstream namespace show where packets come from.
    rules = (
        "table ip proof {\n"
        " chain input {\n"
        "  type filter hook input priority 0; policy accept;\n"
        "  ip saddr 10.99.0.1 icmp type echo-request counter comment \"from_host\"\n"
        "  ip saddr 10.77.0.0/24 counter comment \"from_guest_subnet\"\n"
        " }\n"
        "}\n")
    rules_file = os.path.join(w.tmp, "proof.nft")
    with open(rules_file, "w") as f:
        f.write(rules)
    w.sh(up, "nft", "-f", rules_file)
    assert w.ping(g1, "10.99.0.2", count=3), "guest cannot reach the upstream namespace"
    c = w.nft_counters(up, "proof")
    assert c["from_host"] >= 3, c
    assert c["from_guest_subnet"] == 0, c

    # The forwarded packets passed the host's firewall too.
    text = w.sh(host, "nft", "list", "table", "inet", "hostfw").stdout
    assert int(re.search(r"counter packets (\d+)", text).group(1)) >= 6, text

    w.tool(host, "stop", plan, w.state)
    assert w.sh(host, "nft", "list", "tables").stdout.split() == ["table", "inet", "hostfw"]
    assert "seen_by_host_firewall" in w.sh(host, "nft", "list", "table", "inet", "hostfw").stdout
