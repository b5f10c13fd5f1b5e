"""skiff clone (virt-clone) end to end: a guest writes a file to its qcow2 volume;
a full clone and a linked clone of it land as volumes in the same pool (the
linked one moves the original onto an overlay of its own); the three boot side
by side (TCG) on the test's own NAT network, each with its own MAC and DHCP
lease; each finds the original's file system, and what each writes stays its own. Oracles: qemu-img (check, compare, info of the
overlay's backing file) and debugfs reading the guests' ext2 file systems.

Runs as root (taps, bridge, dnsmasq); in CI (CI=true) a missing prerequisite
fails the test. Everything is removed at the end.
"""
import os
import random
import re
import shutil
import signal
import subprocess

from framework.console import ConsoleLog
from framework.daemon import daemon_session
from framework.guest import disk_xml, domain_xml, files_in
from framework.net import free_test_subnet, link_exists, require_net_prerequisites, sh
from framework.util import require_guest


def net_xml(name, bridge, prefix):
    return f"""<network>
  <name>{name}</name>
  <forward mode='nat'/>
  <bridge name='{bridge}' stp='on' delay='0'/>
  <ip address='{prefix}.1' netmask='255.255.255.0'>
    <dhcp><range start='{prefix}.100' end='{prefix}.200'/></dhcp>
  </ip>
</network>
"""


def pool_xml(path):
    return f"<pool type='dir'><name>p</name><target><path>{path}</path></target></pool>\n"


def mac_of(d, name):
    return re.search(r"<mac address='([0-9a-f:]+)'/>", d.skiff("dumpxml", name).stdout).group(1)


def test_full_and_linked_clones_boot_beside_the_original():
    require_net_prerequisites()
    kernel, initrd = require_guest()
    tag = "".join(random.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(6))
    net, bridge, prefix = f"skc{tag}", f"skc-{tag}", free_test_subnet()
    with daemon_session("skiffd-clone-") as d:
        root = d.root
        os.chmod(root, 0o755)  # dnsmasq reads its files as "nobody"
        try:
            (root / "net.xml").write_text(net_xml(net, bridge, prefix))
            d.skiff("net-define", str(root / "net.xml"))
            d.skiff("net-start", net)
            pool = root / "pool"
            (root / "pool.xml").write_text(pool_xml(pool))
            d.skiff("pool-define", str(root / "pool.xml"))
            d.skiff("pool-build", "p")
            d.skiff("pool-start", "p")
            d.skiff("vol-create-as", "p", "orig.qcow2", "32M", "--format", "qcow2")
            nic = f"""    <interface type='network'>
      <source network='{net}'/>
      <model type='virtio'/>
    </interface>
"""
            xml = domain_xml("orig", kernel, initrd, memory_mib=128,
                             cmdline="skiff.mkfs=1 skiff.write=a.txt:from-orig",
                             devices=disk_xml("vda", pool="p", volume="orig.qcow2", fmt="qcow2")
                             + nic)
            (root / "orig.xml").write_text(xml)
            d.skiff("define", str(root / "orig.xml"))
            d.skiff("start", "orig")
            orig = ConsoleLog(d, root, "orig")
            orig.wait(r"^SKIFF-WROTE a.txt", timeout=150)

            # A running original is refused; --print-xml shows the plan and makes nothing.
            r = d.skiff("clone", "--original", "orig", "--auto-clone", check=False)
            assert r.returncode == 1 and "domain 'orig' is running: clone needs it shut off" \
                in r.stderr, r.stderr
            d.skiff("destroy", "orig")
            plan = d.skiff("clone", "-o", "orig", "-n", "full1", "--auto-clone",
                           "--print-xml").stdout
            assert "<name>full1</name>" in plan and "volume='full1.qcow2'" in plan, plan
            assert "full1" not in d.skiff("list", "--all", "--name").stdout
            assert not (pool / "full1.qcow2").exists()

            out = d.skiff("clone", "-o", "orig", "-n", "full1", "--auto-clone").stdout
            assert "Allocating 'full1.qcow2'" in out and "Clone 'full1' created successfully." \
                in out, out
            out = d.skiff("clone", "-o", "orig", "-n", "linked1", "--auto-clone",
                          "--linked").stdout
            assert "Clone 'linked1' created successfully." in out, out
            # The original moved onto an overlay of its own: orig.qcow2 is now the
            # read-only base of both, so that they can run side by side.
            assert "Moving 'orig' onto overlay 'orig.linked1.qcow2'" in out, out
            assert "volume='orig.linked1.qcow2'" in d.skiff("dumpxml", "orig").stdout
            vols = d.skiff("vol-list", "p").stdout
            for v in ("full1.qcow2", "linked1.qcow2", "orig.linked1.qcow2"):
                assert v in vols, vols
            assert not list(pool.glob(".*")), list(pool.glob(".*"))

            # qemu-img's view: the full copy is a clean, identical image; the linked
            # one an overlay on the original.
            subprocess.run(["qemu-img", "check", str(pool / "full1.qcow2")], check=True,
                           capture_output=True)
            subprocess.run(["qemu-img", "compare", str(pool / "orig.qcow2"),
                            str(pool / "full1.qcow2")], check=True, capture_output=True)
            info = subprocess.run(["qemu-img", "info", "--output=json",
                                   str(pool / "linked1.qcow2")], check=True,
                                  capture_output=True, text=True).stdout
            assert f'"backing-filename": "{pool / "orig.qcow2"}"' in info, info

            # Each writes a file of its own.
            for name, f in (("orig", "o.txt:orig-again"), ("full1", "b.txt:from-full1"),
                            ("linked1", "c.txt:from-linked1")):
                x = d.skiff("dumpxml", name).stdout.replace(
                    "skiff.write=a.txt:from-orig", f"skiff.write={f} skiff.hostname={name}")
                (root / f"{name}.xml").write_text(x)
                d.skiff("define", str(root / f"{name}.xml"))

            guests = ("orig", "full1", "linked1")
            macs = {g: mac_of(d, g) for g in guests}
            assert len(set(macs.values())) == 3, macs
            logs, ips = {}, {}
            # The original first, then both clones (three TCG guests booting on two
            # CPUs at once can starve a DHCP client of its 20 s).
            for batch in (guests[:1], guests[1:]):
                for g in batch:
                    logs[g] = ConsoleLog(d, root, g)
                    logs[g].mark = logs[g].size()
                    d.skiff("start", g)
                for g in batch:
                    m = logs[g].wait(r"^SKIFF-GUEST-IP (\S+)", since=logs[g].mark, timeout=240)
                    ips[g] = m.group(1)
            for g in guests:
                text = logs[g].text(logs[g].mark)
                # skiff.mkfs=1 formats a disk without a file system: each found one.
                assert "SKIFF-DISK-FORMATTED" not in text, text[-2000:]
            for g, f in (("orig", "o.txt"), ("full1", "b.txt"), ("linked1", "c.txt")):
                logs[g].wait(rf"^SKIFF-WROTE {f}", since=logs[g].mark, timeout=60)
            assert len(set(ips.values())) == 3, ips
            leases = d.skiff("net-dhcp-leases", net).stdout
            for g in guests:
                assert macs[g] in leases and ips[g] in leases, (g, leases)
            for g in guests:
                d.skiff("destroy", g)

            # The base holds what the original wrote before the clones; each wrote
            # to its own file since.
            assert files_in(pool / "orig.qcow2", root) == {"a.txt": "from-orig"}
            assert files_in(pool / "orig.linked1.qcow2", root) == {"a.txt": "from-orig",
                                                                  "o.txt": "orig-again"}
            assert files_in(pool / "full1.qcow2", root) == {"a.txt": "from-orig",
                                                           "b.txt": "from-full1"}
            assert files_in(pool / "linked1.qcow2", root) == {"a.txt": "from-orig",
                                                             "c.txt": "from-linked1"}

            # A second auto-clone counts on, as virt-clone does.
            out = d.skiff("clone", "-o", "full1", "--auto-clone", "-q").stdout
            assert out == "", out
            assert "full1-clone" in d.skiff("list", "--all", "--name").stdout
            assert (pool / "full1-clone.qcow2").exists()
        finally:
            for g in d.skiff("list", "--name", check=False).stdout.split():
                d.skiff("destroy", g, check=False)
            d.skiff("net-destroy", net, check=False)
            for pidfile in (root / "var/lib/skiff/dnsmasq").glob("*.pid"):
                try:
                    os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)
                except (ValueError, ProcessLookupError, OSError):
                    pass
            if link_exists(bridge):
                sh("ip", "link", "del", "dev", bridge)
            sh("nft", "delete", "table", "ip", f"skiff_{net}")
            shutil.rmtree(root / "pool", ignore_errors=True)


def shared_extents(path):
    """How many of the file's extents filefrag (e2fsprogs) reports as shared."""
    out = subprocess.run(["filefrag", "-v", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return sum(1 for line in out.splitlines() if "shared" in line)


def test_reflink_clones_share_extents_and_are_refused_where_they_cannot():
    """--reflink on an XFS file system (a loop device of the test's own) makes a
    copy whose extents are shared with the original's; on a file system without
    reflinks it fails naming the directory, and leaves no file and no domain."""
    if os.geteuid() != 0 or not shutil.which("mkfs.xfs"):
        import pytest
        if os.environ.get("CI") == "true":
            pytest.fail("the reflink test needs root and mkfs.xfs (xfsprogs)")
        pytest.skip("the reflink test needs root and mkfs.xfs (xfsprogs)")
    kernel, initrd = require_guest()
    with daemon_session("skiffd-reflink-") as d:
        root = d.root
        image, mnt = root / "xfs.img", root / "xfs"
        with open(image, "wb") as f:
            f.truncate(512 << 20)  # XFS wants 300 MiB at least
        subprocess.run(["mkfs.xfs", "-q", "-m", "reflink=1", str(image)], check=True)
        mnt.mkdir()
        subprocess.run(["mount", "-o", "loop", str(image), str(mnt)], check=True)
        try:
            disk = mnt / "r.raw"
            with open(disk, "wb") as f:
                for i in range(8):  # 8 MiB of data
                    f.write(bytes([i + 1]) * (1 << 20))
            xml = domain_xml("r", kernel, initrd, devices=disk_xml("vda", file=disk))
            (root / "r.xml").write_text(xml)
            d.skiff("define", str(root / "r.xml"))
            out = d.skiff("clone", "-o", "r", "-n", "r2", "--auto-clone", "--reflink").stdout
            assert "Allocating 'r2.raw' (8 MiB, shared extents)" in out, out
            copy = mnt / "r2.raw"
            assert copy.read_bytes() == disk.read_bytes()
            assert shared_extents(copy) > 0 and shared_extents(disk) > 0

            # The same onto the ext file system of the state root: refused, nothing kept.
            r = d.skiff("clone", "-o", "r", "-n", "r3", "--file", str(root / "r3.raw"),
                        "--reflink", check=False)
            assert r.returncode == 1, r.stdout
            assert f"--reflink: '{root}' cannot share extents with '{disk}'" in r.stderr, r.stderr
            assert not (root / "r3.raw").exists() and not list(root.glob(".r3*"))
            assert "r3" not in d.skiff("list", "--all", "--name").stdout.split()
        finally:
            subprocess.run(["umount", str(mnt)], check=False)
