"""Snapshots end to end on the booted test guest (TCG), through skiffd and skiff:

- internal with memory: the running guest counts (SKIFF-COUNTER) and writes a
  file; a snapshot; it writes again; snapshot-revert restarts it from the
  snapshot: its counter resumes from the snapshot's value, the file (in the
  guest and on the disk) is back to the first content;
- internal offline: a shut-off domain's snapshot, a boot that writes a new file,
  revert, and the file is gone from the disk;
- the tree (snapshot-list --tree), deleting the root leaves its child revertible,
  undefine needs --snapshots-metadata; bad input is one line and changes nothing.

Oracles nobody here wrote: the guest's own counter and shell, qemu-img (snapshot
-l, check) and debugfs reading the guest's ext2 file system.
"""
import re
import subprocess

from framework.console import ConsoleLog
from framework.console import shell as console_shell
from framework.daemon import daemon_session
from framework.guest import disk_xml, domain_xml, files_in
from framework.util import require_guest


def counters(log, since=0):
    return [int(n) for n in re.findall(r"^SKIFF-COUNTER (\d+)$", log.text(since), re.M)]


def shell(d, log, command, marker):
    return console_shell(d, log, "g", command, marker)


def qemu_img_tags(image):
    out = subprocess.run(["qemu-img", "snapshot", "-l", "-U", str(image)], capture_output=True,
                         text=True, check=True).stdout
    return re.findall(r"^\d+\s+(\S+)\s", out, re.M)


def qemu_img_clean(image):
    r = subprocess.run(["qemu-img", "check", "-U", str(image)], capture_output=True, text=True)
    return r.returncode == 0, r.stdout + r.stderr


def test_internal_snapshots_with_memory_and_offline():
    kernel, initrd = require_guest()
    with daemon_session("skiffd-snap-") as d:
        root = d.root
        disk = root / "g.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
        xml = domain_xml("g", kernel, initrd, memory_mib=128,
                         cmdline="skiff.nodhcp=1 skiff.mkfs=1 skiff.write=a.txt:first "
                                 "skiff.counter=1",
                         devices=disk_xml("vda", file=disk, fmt="qcow2"))
        (root / "g.xml").write_text(xml)
        d.skiff("define", str(root / "g.xml"))
        d.skiff("start", "g")
        log = ConsoleLog(d, root, "g")
        log.wait(r"^SKIFF-WROTE a.txt", timeout=150)
        log.wait(r"^SKIFF-COUNTER 3$", timeout=60)

        # --- internal, with memory, of the running guest
        out = d.skiff("snapshot-create-as", "g", "live1", "the first content").stdout
        assert out.strip() == "Domain snapshot live1 created", out
        at_snapshot = max(counters(log))
        info = d.skiff("snapshot-info", "g", "live1").stdout
        assert re.search(r"^State:\s+running$", info, re.M), info
        assert re.search(r"^Location:\s+internal$", info, re.M), info
        assert re.search(r"^Current:\s+yes$", info, re.M), info
        assert "live1" in qemu_img_tags(disk)
        shell(d, log, "echo second > /mnt/a.txt; sync; echo A=$(cat /mnt/a.txt)-$((1+1))",
              r"^A=second-2")
        log.wait(rf"^SKIFF-COUNTER {at_snapshot + 6}$", timeout=60)
        before_revert = log.size()
        d.skiff("snapshot-revert", "g", "live1")
        assert "running" in d.skiff("domstate", "g").stdout
        log.wait(r"^SKIFF-COUNTER \d+$", since=before_revert, timeout=60)
        resumed = counters(log, before_revert)[0]
        # The guest goes on from where the snapshot caught it, not from where it was.
        assert at_snapshot - 2 <= resumed <= at_snapshot + 2, (at_snapshot, resumed)
        shell(d, log, "echo A=$(cat /mnt/a.txt)-$((1+2))", r"^A=first-3")
        d.skiff("destroy", "g")
        assert files_in(disk, root)["a.txt"] == "first"

        # --- internal, offline (shut off)
        out = d.skiff("snapshot-create-as", "g", "--name", "off1").stdout
        assert "Domain snapshot off1 created" in out, out
        assert re.search(r"^State:\s+shutoff$",
                         d.skiff("snapshot-info", "g", "--current").stdout, re.M)
        since = log.size()
        d.skiff("start", "g")
        log.wait(r"^SKIFF-WROTE a.txt", since=since, timeout=150)
        shell(d, log, "echo third > /mnt/b.txt; sync; echo B=$(cat /mnt/b.txt)-$((2+2))",
              r"^B=third-4")
        d.skiff("destroy", "g")
        assert files_in(disk, root).get("b.txt") == "third"
        d.skiff("snapshot-revert", "g", "off1")
        assert "b.txt" not in files_in(disk, root)
        assert "shut off" in d.skiff("domstate", "g").stdout
        ok, report = qemu_img_clean(disk)
        assert ok, report

        # --- the tree, listings, and deleting the root
        tree = d.skiff("snapshot-list", "g", "--tree").stdout
        assert tree.startswith("live1\n  |\n  +- off1\n"), repr(tree)
        listing = d.skiff("snapshot-list", "g", "--parent").stdout
        assert re.search(r"^ off1\s+\S+ \S+ \S+\s+shutoff\s+live1$", listing, re.M), listing
        assert d.skiff("snapshot-parent", "g", "off1").stdout.strip() == "live1"
        assert d.skiff("snapshot-current", "g", "--name").stdout.strip() == "off1"
        dumped = d.skiff("snapshot-dumpxml", "g", "live1").stdout
        assert "<description>the first content</description>" in dumped, dumped
        assert "<memory snapshot='internal'/>" in dumped and "<domain type='qemu'>" in dumped

        # --- bad input: one line each, nothing changed
        tags = qemu_img_tags(disk)
        for args, want in [
            (("snapshot-revert", "g", "nope"), "error: domain 'g' has no snapshot named 'nope'"),
            (("snapshot-create-as", "g", "a/b"), "invalid name 'a/b'"),
            (("snapshot-create-as", "g", "x", "--disk-only"),
             "external snapshots are not supported yet"),
            (("undefine", "g"), "cannot undefine domain 'g' with 2 snapshot(s)"),
        ]:
            r = d.skiff(*args, check=False)
            assert r.returncode == 1 and want in r.stderr, (args, r.stderr)
            assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert qemu_img_tags(disk) == tags

        # The memory snapshot comes back from shut off too, paused when asked.
        d.skiff("snapshot-revert", "g", "live1", "--paused")
        assert "paused" in d.skiff("domstate", "g").stdout
        d.skiff("destroy", "g")
        d.skiff("snapshot-delete", "g", "live1")
        assert qemu_img_tags(disk) == ["off1"]
        assert d.skiff("snapshot-list", "g", "--roots", "--name").stdout.split() == ["off1"]
        d.skiff("snapshot-revert", "g", "off1")
        assert "b.txt" not in files_in(disk, root)
        ok, report = qemu_img_clean(disk)
        assert ok, report
        d.skiff("undefine", "g", "--snapshots-metadata")
        assert not (root / "var/lib/skiff/snapshots/g").exists()
        assert qemu_img_tags(disk) == ["off1"]  # the image keeps its data
