"""skiffd end to end: boot the test guest (TCG) through the daemon, survive a daemon
restart, destroy; and the socket's read-only group access.
"""
import os
import pathlib
import subprocess
import tempfile
import time

import pytest

from framework.daemon import Daemon
from framework.guest import domain_xml
from framework.util import BIN, pid_alive, require_guest, wait_for


def guest_xml(name, kernel, initrd):
    return domain_xml(name, kernel, initrd)


def test_guest_boots_through_skiffd_and_survives_restart():
    kernel, initrd = require_guest()
    with tempfile.TemporaryDirectory(prefix="skiffd-e2e-") as root:
        root = pathlib.Path(root)
        xml = root / "guest.xml"
        xml.write_text(guest_xml("tiny", kernel, initrd))
        d = Daemon(root)
        try:
            d.skiff("define", str(xml))
            assert (root / "etc/skiff/domains/tiny.xml").exists()
            d.skiff("start", "tiny")
            log = root / "var/log/skiff/domains/tiny.log"
            assert wait_for(log, "SKIFF-GUEST-READY", 120), log.read_text(errors="replace")
            assert d.skiff("domstate", "tiny").stdout.strip() == "running"
            info = d.skiff("dominfo", "tiny").stdout
            assert "State:          running" in info
            status = (root / "run/skiff/domains/tiny.qemu.json").read_text()
            import json
            pid = json.loads(status)["pid"]
            assert pid_alive(pid)

            # SIGTERM stops the daemon and leaves the guest running; a new daemon re-attaches.
            assert d.stop() == 0
            assert pid_alive(pid)
            d = Daemon(root)
            assert "running" in d.skiff("list").stdout
            assert d.skiff("domid", "tiny").stdout.strip() == "1"

            d.skiff("destroy", "tiny")
            for _ in range(100):
                if not pid_alive(pid):
                    break
                time.sleep(0.05)
            assert not pid_alive(pid), "qemu still running after destroy"
            assert d.skiff("domstate", "--reason", "tiny").stdout.strip() == "shut off (destroyed)"
            d.skiff("undefine", "tiny")
        finally:
            d.stop()


def test_kvm_domain_on_host_without_usable_kvm_fails_clearly():
    kernel, initrd = require_guest()
    probe = subprocess.run([str(BIN / "skiffd"), "--version"], capture_output=True, text=True)
    if "KVM: usable" in probe.stdout:
        pytest.skip("this host has usable KVM")
    with tempfile.TemporaryDirectory(prefix="skiffd-e2e-") as root:
        xml = pathlib.Path(root) / "kvm.xml"
        xml.write_text(guest_xml("k", kernel, initrd).replace("type='qemu'", "type='kvm'", 1))
        d = Daemon(root)
        try:
            d.skiff("define", str(xml))
            r = d.skiff("start", "k", check=False)
            assert r.returncode == 1
            assert r.stderr.startswith("error: ")
            assert "kvm" in r.stderr.lower()
        finally:
            d.stop()


def test_socket_group_members_get_read_only_access():
    if subprocess.run(["which", "setpriv"], capture_output=True).returncode != 0:
        pytest.skip("setpriv is not installed")
    import grp
    gid = grp.getgrnam("users").gr_gid
    with tempfile.TemporaryDirectory(prefix="skiffd-acl-") as root:
        os.chmod(root, 0o755)
        d = Daemon(root, "--fake-hypervisor", "--socket-group", "users")
        try:
            st = os.stat(d.sock)
            assert oct(st.st_mode & 0o777) == "0o660" and st.st_gid == gid
            os.chmod(pathlib.Path(root) / "run", 0o755)
            os.chmod(pathlib.Path(root) / "run/skiff", 0o755)
            xml = pathlib.Path(root) / "d.xml"
            xml.write_text("<domain type='qemu'><name>d</name><memory unit='MiB'>64</memory>"
                           "<os><type arch='x86_64'>hvm</type></os></domain>")
            d.skiff("define", str(xml))
            as_user = ["setpriv", "--reuid=65534", f"--regid={gid}", "--clear-groups"]
            r = subprocess.run(as_user + [str(BIN / "skiff"), "list", "--all"], env=d.env,
                               capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
            assert " d " in r.stdout
            r = subprocess.run(as_user + [str(BIN / "skiff"), "start", "d"], env=d.env,
                               capture_output=True, text=True)
            assert r.returncode == 1
            assert r.stderr.startswith("error: uid 65534 has read-only access")
            # Not in the group: the socket's mode keeps the caller out.
            r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                str(BIN / "skiff"), "list"], env=d.env, capture_output=True,
                               text=True)
            assert r.returncode == 1
            assert "permission denied" in r.stderr
        finally:
            d.stop()
