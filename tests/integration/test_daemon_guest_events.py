"""What a running guest does without a daemon request reaches the domain's state and
the event stream, as virsh users know it: QEMU pausing a guest whose disk ran out of
space (paused, reason ioerror; the administrator frees space and resumes), also
while skiffd was down, and a reboot from inside the guest (a 'rebooted' event, the
domain stays running).
"""
import os
import pathlib
import socket
import subprocess
import tempfile

import pytest

from framework.console import Viewer
from framework.daemon import Daemon, Events
from framework.guest import disk_xml, domain_xml
from framework.util import require_guest, wait_until


def full_disk_guest(root, small, d, kernel, initrd, name):
    disk = small / f"{name}.raw"
    with open(disk, "wb") as f:
        f.truncate(64 << 20)
    xml = root / f"{name}.xml"
    xml.write_text(domain_xml(name, kernel, initrd, memory_mib=192, cmdline="skiff.nodhcp=1",
                              devices=disk_xml("vda", file=disk)))
    d.skiff("define", str(xml))
    d.skiff("start", name)


FILL = "dd if=/dev/urandom of=/dev/vda bs=64k count=256 conv=fsync && echo DD-DONE-$((20+22))"


@pytest.fixture
def env():
    """(root, small, daemon, events, kernel, initrd), small a 4 MiB tmpfs; this file's
    own env, in place of conftest.py's."""
    kernel, initrd = require_guest()
    with tempfile.TemporaryDirectory(prefix="skiff-gev-") as root:
        root = pathlib.Path(root)
        small = root / "small"
        small.mkdir()
        # A 4 MiB filesystem under a 64 MiB sparse disk: the guest can fill it.
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4M", "skiff-gev", str(small)],
                       check=True)
        d = Daemon(root)
        ev = Events(d)
        try:
            yield root, small, d, ev, kernel, initrd
        finally:
            ev.close()
            for name in d.skiff("list", "--name", check=False).stdout.split():
                d.skiff("destroy", name, check=False)
            d.stop()
            subprocess.run(["umount", str(small)], check=False)


def state(d, name):
    return d.skiff("domstate", "--reason", name).stdout.strip()


def test_disk_full_pauses_with_ioerror_and_resume_continues(env):
    root, small, d, ev, kernel, initrd = env
    full_disk_guest(root, small, d, kernel, initrd, "full")
    con = Viewer(d, "full")
    try:
        assert con.wait_for("SKIFF-GUEST-READY", 120), con.text()
        con.type(f"\r{FILL}\r")
        # QEMU stops the guest at ENOSPC (its default werror=enospc); skiffd shows why.
        assert wait_until(lambda: state(d, "full") == "paused (ioerror)", 120), (
            state(d, "full"), con.text()[-3000:])
        ev.wait("full", "suspended", "ioerror")
        assert "DD-DONE-42" not in con.text()
        # The administrator makes room and resumes: the write completes.
        subprocess.run(["mount", "-o", "remount,size=128M", str(small)], check=True)
        d.skiff("resume", "full")
        assert state(d, "full") == "running (unpaused)"
        assert con.wait_for("DD-DONE-42", 120), con.text()[-2000:]
        assert state(d, "full") == "running (unpaused)"
    finally:
        con.leave()


def test_reboot_from_inside_the_guest_is_an_event(env):
    root, small, d, ev, kernel, initrd = env
    xml = root / "rb.xml"
    xml.write_text(domain_xml("rb", kernel, initrd, memory_mib=192, cmdline="skiff.nodhcp=1"))
    d.skiff("define", str(xml))
    d.skiff("start", "rb")
    con = Viewer(d, "rb")
    try:
        assert con.wait_for("SKIFF-GUEST-READY", 120), con.text()
        con.type("\rreboot -f\r")
        ev.wait("rb", "rebooted", "guest", timeout=60)
        assert wait_until(lambda: con.text().count("SKIFF-GUEST-READY") >= 2, 120), con.text()
        assert state(d, "rb").startswith("running")
        # The daemon's own requests are not reported twice as guest events.
        assert not [e for e in ev.seen if e.get("name") == "rb" and e.get("event") == "suspended"]
    finally:
        con.leave()


def test_a_pause_while_skiffd_was_down_is_seen_at_restart(env):
    root, small, d, ev, kernel, initrd = env
    full_disk_guest(root, small, d, kernel, initrd, "late")
    con = Viewer(d, "late")
    assert con.wait_for("SKIFF-GUEST-READY", 120), con.text()
    con.leave()
    d.kill()
    # With skiffd gone, type on QEMU's own serial socket: the guest fills its disk and
    # QEMU pauses it; nobody is there to see the events.
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(root / "run/skiff/domains/late.serial"))
        s.sendall(f"\r{FILL}\r".encode())
        assert wait_until(lambda: os.statvfs(small).f_bavail == 0, 120), "disk never filled"
        out = b""
        s.settimeout(0.5)
        for _ in range(10):  # the guest is stopped: its console stays quiet
            try:
                out += s.recv(4096)
            except socket.timeout:
                pass
        assert b"DD-DONE-42" not in out
    d2 = Daemon(root)
    try:
        assert wait_until(lambda: state(d2, "late") == "paused (ioerror)", 30), state(d2, "late")
        subprocess.run(["mount", "-o", "remount,size=128M", str(small)], check=True)
        d2.skiff("resume", "late")
        con = Viewer(d2, "late")
        try:
            con.type("\recho AFTER-$((1+2))\r")
            assert con.wait_for("AFTER-3", 60), con.text()
        finally:
            con.leave()
        assert state(d2, "late") == "running (unpaused)"
    finally:
        d2.skiff("destroy", "late", check=False)
        d2.stop()
