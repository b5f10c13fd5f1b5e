"""QEMU confined (issue 23 item 4): a domain's QEMU runs as skiff-qemu with no
capabilities, no_new_privs and its seccomp sandbox, in a mount namespace whose
/dev holds only the nodes it needs; skiffd hands it every file as an fd. The
guest still boots from a qcow2 overlay on a raw base (both root's, mode 0600,
under a 0700 directory: QEMU could open neither by name), writes to it, takes a
hot-plugged overlay and lets it go again; nothing on the host changes owner or
mode, and the data lands where e2fsprogs' debugfs finds it.
"""
import os
import pathlib
import pwd
import stat
import subprocess

import pytest

from framework.daemon import daemon_session
from framework.guest import boot, domain_xml
from framework.util import require_guest, wait_until

NAME = "confined1"
# What QEMU's /dev may hold: skiffd's usual nodes (those the host has) and the
# host's pts, shm, mqueue and hugepages carried over.
ALLOWED_DEV = {"null", "zero", "full", "random", "urandom", "ptmx", "kvm", "net",
               "vhost-net", "vhost-vsock", "sev", "pts", "shm", "mqueue", "hugepages"}


def status_fields(pid):
    out = {}
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        out[k] = v.split()
    return out


def open_files(pid):
    """The host paths QEMU holds open."""
    out = set()
    for fd in pathlib.Path(f"/proc/{pid}/fd").iterdir():
        try:
            out.add(os.readlink(fd))
        except OSError:
            pass
    return out


def ext2_image(path, size_mib=16):
    subprocess.run(["truncate", "-s", f"{size_mib}M", str(path)], check=True)
    subprocess.run(["mke2fs", "-q", "-F", str(path)], check=True)


def qcow2_overlay(path, base, base_fmt):
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(base), "-F", base_fmt,
                    str(path)], check=True)


def owner_and_mode(path):
    st = os.stat(path)
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


@pytest.fixture(scope="module")
def guest():
    if os.geteuid() != 0:
        pytest.skip("needs root")
    try:
        user = pwd.getpwnam("skiff-qemu")
    except KeyError:
        pytest.fail("no user skiff-qemu: scripts/install-deps.sh creates it")
    kernel, initrd = require_guest()
    with daemon_session("skiffd-confine-") as d:
        images = d.root / "images"
        images.mkdir(mode=0o700)
        base, top = images / "base.raw", images / "top.qcow2"
        ext2_image(base)
        qcow2_overlay(top, base, "raw")
        for p in (images / "base.raw", images / "top.qcow2"):
            os.chmod(p, 0o600)
        before = {p: owner_and_mode(p) for p in (base, top)}
        disk = f"""    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{top}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
"""
        g = boot(d, d.root, NAME, domain_xml(
            NAME, kernel, initrd, machine="pc", head="  <features><acpi/></features>\n",
            cmdline="skiff.nodhcp=1 skiff.write=hello.txt:confined", devices=disk))
        g.user, g.images, g.base, g.top, g.before = user, images, base, top, before
        yield g


def test_qemu_runs_unprivileged_without_capabilities(guest):
    f = status_fields(guest.pid)
    assert f["Uid"] == [str(guest.user.pw_uid)] * 4, f["Uid"]
    assert f["Gid"] == [str(guest.user.pw_gid)] * 4, f["Gid"]
    for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(f[cap][0], 16) == 0, (cap, f[cap])
    assert f["NoNewPrivs"] == ["1"], f["NoNewPrivs"]
    assert f["Seccomp"] == ["2"], f["Seccomp"]  # -sandbox on


def test_qemu_sees_a_dev_of_its_own(guest):
    pid = guest.pid
    assert os.readlink(f"/proc/{pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
    dev = pathlib.Path(f"/proc/{pid}/root/dev")
    names = set(os.listdir(dev))
    assert names <= ALLOWED_DEV, names - ALLOWED_DEV
    assert {"null", "urandom", "ptmx", "pts"} <= names, names
    for n in names:  # not one host disk
        assert not stat.S_ISBLK(os.lstat(dev / n).st_mode), n
    # The host's /dev is still whole for everyone else.
    assert os.path.exists("/dev/loop-control") or os.path.exists("/dev/tty")


def test_the_guest_writes_through_fds_and_nothing_changes_owner(guest):
    guest.wait(r"^SKIFF-WROTE hello.txt$", timeout=90)
    held = open_files(guest.pid)
    assert str(guest.top) in held and str(guest.base) in held, held
    for p, was in guest.before.items():
        assert owner_and_mode(p) == was, (p, owner_and_mode(p), was)
    # The live definition names the chain it read from the images, as libvirt does.
    live = guest.d.skiff("dumpxml", NAME).stdout
    assert f"<source file='{guest.base}'/>" in live and "<backingStore" in live, live


def test_hotplugged_overlay_comes_and_goes_with_its_fds(guest):
    d = guest.d
    extra_base, extra = guest.images / "extra-base.raw", guest.images / "extra.qcow2"
    ext2_image(extra_base, 8)
    qcow2_overlay(extra, extra_base, "raw")
    for p in (extra_base, extra):
        os.chmod(p, 0o600)
    mark = guest.size()
    d.skiff("attach-disk", NAME, str(extra), "vdb", "--subdriver", "qcow2", "--live")
    guest.wait(r"^SKIFF-BLOCKS: vda vdb$", since=mark)
    held = open_files(guest.pid)
    assert str(extra) in held and str(extra_base) in held, held

    mark = guest.size()
    d.skiff("detach-disk", NAME, "vdb", "--live")
    guest.wait(r"^SKIFF-BLOCKS: vda$", since=mark)
    assert wait_until(lambda: not ({str(extra), str(extra_base)} & open_files(guest.pid)), 10), \
        open_files(guest.pid)
    assert owner_and_mode(extra) == (0, 0, 0o600)


def test_the_written_file_is_in_the_overlay(guest):
    d = guest.d
    guest.wait(r"^SKIFF-WROTE hello.txt$", timeout=90)
    d.skiff("destroy", NAME)
    assert wait_until(lambda: not os.path.exists(f"/proc/{guest.pid}"), 15)
    flat = guest.images / "flat.raw"
    subprocess.run(["qemu-img", "check", "-q", str(guest.top)], check=True)
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(guest.top), str(flat)], check=True)
    out = subprocess.run(["debugfs", "-R", "cat /hello.txt", str(flat)], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "confined", out
