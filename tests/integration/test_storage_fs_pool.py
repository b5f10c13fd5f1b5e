"""Storage pools of type fs: an image file formatted by pool-build, mounted by
pool-start (through a loop device), unmounted by pool-destroy, checked with findmnt.

Also pool-edit (through $EDITOR) and the --overwrite / --no-overwrite guards of
pool-build. Mounts and loop devices are cleaned up even when the test fails.
"""
import os
import pathlib
import subprocess
import tempfile

import pytest

from framework.daemon import Daemon

MiB = 1 << 20


def findmnt(target):
    r = subprocess.run(["findmnt", "-n", "-o", "SOURCE,FSTYPE,OPTIONS", "--mountpoint", str(target)],
                       capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else ""


def loops_of(image):
    r = subprocess.run(["losetup", "-j", str(image)], capture_output=True, text=True)
    return [line.split(":")[0] for line in r.stdout.splitlines() if line.strip()]


@pytest.fixture()
def env():
    """(daemon, disk image path, mount point); this file's own env, in place of
    conftest.py's."""
    if os.geteuid() != 0 or not os.path.exists("/dev/loop-control"):
        pytest.skip("fs pools need root and loop devices")
    with tempfile.TemporaryDirectory(prefix="skiff-fspool-") as t:
        t = pathlib.Path(t)
        disk, mnt = t / "disk.img", t / "mnt"
        d = Daemon(t / "root", skiff_timeout=600)
        try:
            yield d, disk, mnt
        finally:
            d.stop()
            for _ in range(3):
                if not findmnt(mnt):
                    break
                subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
            for loop in loops_of(disk):
                subprocess.run(["losetup", "-d", loop], capture_output=True)


def test_fs_pool_build_mount_volumes_unmount(env):
    d, disk, mnt = env
    with open(disk, "wb") as f:
        f.truncate(256 * MiB)
    r = d.skiff("pool-define-as", "fsp", "fs", "--target", str(mnt), check=False)
    assert r.returncode == 1 and "--source-dev" in r.stderr
    d.skiff("pool-define-as", "fsp", "fs", "--source-dev", str(disk), "--source-format", "ext4",
            "--target", str(mnt))
    xml = d.skiff("pool-dumpxml", "fsp").stdout
    assert f"<device path=\"{disk}\"/>" in xml or f"<device path='{disk}'/>" in xml
    assert "ext4" in xml

    r = d.skiff("pool-start", "fsp", check=False)
    assert r.returncode == 1 and "pool-build" in r.stderr
    d.skiff("pool-build", "fsp")
    probe = subprocess.run(["blkid", "-p", "-o", "value", "-s", "TYPE", str(disk)],
                           capture_output=True, text=True).stdout.strip()
    assert probe == "ext4"
    # Building again keeps the filesystem; --no-overwrite refuses a formatted device.
    d.skiff("pool-build", "fsp")
    r = d.skiff("pool-build", "fsp", "--no-overwrite", check=False)
    assert r.returncode == 1 and "already has a ext4 filesystem" in r.stderr

    d.skiff("pool-start", "fsp")
    m = findmnt(mnt)
    assert m.startswith("/dev/loop") and " ext4 " in m and "nodev" in m and "nosuid" in m, m
    info = d.skiff("pool-info", "fsp", "--json").stdout
    import json
    info = json.loads(info)
    st = os.statvfs(mnt)
    assert info["capacity"] == st.f_blocks * st.f_frsize
    assert 200 * MiB < info["capacity"] <= 256 * MiB  # the filesystem's size, not the host's
    assert info["available"] <= info["capacity"]

    d.skiff("vol-create-as", "fsp", "a.qcow2", "1G", "--format", "qcow2")
    d.skiff("vol-create-as", "fsp", "b.raw", "16M", "--allocation", "16M")
    vols = d.skiff("vol-list", "fsp").stdout
    assert "a.qcow2" in vols and "b.raw" in vols and "lost+found" not in vols
    assert (mnt / "a.qcow2").exists()
    # A thick volume takes space in the pool's filesystem.
    after = json.loads(d.skiff("pool-info", "fsp", "--json").stdout)
    assert after["available"] <= info["available"] - 15 * MiB

    r = d.skiff("pool-build", "fsp", "--overwrite", check=False)
    assert r.returncode == 1 and "destroy" in r.stderr
    r = d.skiff("pool-delete", "fsp", check=False)
    assert r.returncode == 1 and "active" in r.stderr

    d.skiff("pool-destroy", "fsp")
    assert findmnt(mnt) == ""
    assert not (mnt / "a.qcow2").exists()  # the volumes are on the device, not in the folder
    assert loops_of(disk) == []            # the loop device went with the mount

    # Start again: the volumes are back.
    d.skiff("pool-start", "fsp")
    assert "a.qcow2" in d.skiff("vol-list", "fsp").stdout
    d.skiff("pool-destroy", "fsp")

    # --overwrite formats anew: the volumes are gone.
    d.skiff("pool-build", "fsp", "--overwrite")
    d.skiff("pool-start", "fsp")
    assert "a.qcow2" not in d.skiff("vol-list", "fsp").stdout
    d.skiff("pool-destroy", "fsp")

    d.skiff("pool-delete", "fsp")
    assert not mnt.exists()
    d.skiff("pool-undefine", "fsp")
    assert "fsp" not in d.skiff("pool-list", "--all").stdout
    assert disk.exists()  # pool-delete removes the mount point, never the device


def test_fs_pool_refuses_other_filesystem_and_auto_format(env):
    d, disk, mnt = env
    with open(disk, "wb") as f:
        f.truncate(64 * MiB)
    subprocess.run(["mkfs.ext2", "-q", "-F", str(disk)], check=True)
    d.skiff("pool-define-as", "p4", "fs", "--source-dev", str(disk), "--source-format", "ext4",
            "--target", str(mnt))
    r = d.skiff("pool-build", "p4", check=False)
    assert r.returncode == 1 and "has a ext2 filesystem, not ext4" in r.stderr and "--overwrite" in r.stderr
    assert not mnt.exists()  # nothing made
    r = d.skiff("pool-start", "p4", check=False)
    assert r.returncode == 1
    assert findmnt(mnt) == ""
    d.skiff("pool-undefine", "p4")

    # Format auto mounts whatever the device has, but cannot format a blank one.
    d.skiff("pool-define-as", "pa", "fs", "--source-dev", str(disk), "--target", str(mnt))
    d.skiff("pool-build", "pa")
    d.skiff("pool-start", "pa")
    assert " ext2 " in findmnt(mnt)
    d.skiff("pool-destroy", "pa")
    r = d.skiff("pool-build", "pa", "--overwrite", check=False)
    assert r.returncode == 1 and "auto" in r.stderr
    d.skiff("pool-delete", "pa")
    d.skiff("pool-undefine", "pa")


def test_pool_edit(env, tmp_path):
    d, disk, mnt = env
    target = tmp_path / "p"
    d.skiff("pool-define-as", "ed", "dir", "--target", str(target))
    editor = tmp_path / "ed.sh"
    editor.write_text(f"#!/bin/sh\nsed -i 's|<path>{target}</path>|<path>{target}2</path>|' \"$1\"\n")
    editor.chmod(0o755)
    r = d.skiff("pool-edit", "ed", env=dict(d.env, EDITOR=str(editor)))
    assert "edited" in r.stdout
    assert f"<path>{target}2</path>" in d.skiff("pool-dumpxml", "ed").stdout

    bad = tmp_path / "bad.sh"
    bad.write_text("#!/bin/sh\nsed -i 's|<path>/|<path>rel/|' \"$1\"\n")
    bad.chmod(0o755)
    r = d.skiff("pool-edit", "ed", check=False, env=dict(d.env, EDITOR=str(bad)))
    assert r.returncode == 1 and "not absolute" in r.stderr and "kept" in r.stderr
    assert f"<path>{target}2</path>" in d.skiff("pool-dumpxml", "ed").stdout
    d.skiff("pool-undefine", "ed")
