"""Storage pools and volumes through skiffd and skiff, with real files.

Thin and thick volumes as `du` sees them, a clone that `qemu-img compare` finds
equal, an upload/download round trip of a 1 GiB image, refresh of a file dropped
into the pool's folder, and the test guest booting from a volume disk: while it
runs the volume cannot be deleted and a second domain cannot start on it.
"""
import hashlib
import os
import pathlib
import subprocess
import tempfile
import time

import pytest

from framework.daemon import Daemon
from framework.guest import disk_xml, domain_xml
from framework.util import require_guest, wait_for

MiB = 1 << 20


def du(path):
    return os.stat(path).st_blocks * 512


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 * MiB):
            h.update(chunk)
    return h.hexdigest()


@pytest.fixture()
def daemon():
    with tempfile.TemporaryDirectory(prefix="skiffd-storage-") as root:
        d = Daemon(pathlib.Path(root), skiff_timeout=600)  # 1 GiB up- and downloads
        try:
            yield d
        finally:
            for name in ("vmA", "vmB"):
                d.skiff("destroy", name, check=False)
            d.stop()


def test_volumes_thin_thick_clone_upload_refresh(daemon):
    d = daemon
    images = d.root / "var/lib/skiff/images"
    out = d.skiff("pool-list", "--all").stdout
    assert "default" in out and "active" in out
    d.skiff("vol-create-as", "default", "thin.qcow2", "10G", "--format", "qcow2")
    d.skiff("vol-create-as", "default", "thick.raw", "256M", "--allocation", "256M")
    d.skiff("vol-create-as", "default", "meta.qcow2", "1G", "--format", "qcow2",
            "--prealloc-metadata")
    assert du(images / "thin.qcow2") < 1 * MiB
    assert du(images / "thick.raw") >= 256 * MiB
    info = d.skiff("vol-info", "thin.qcow2", "--pool", "default").stdout
    assert "Capacity:       10.00 GiB" in info
    assert subprocess.run(["qemu-img", "check", str(images / "meta.qcow2")]).returncode == 0

    # A clone reads equal to its source.
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 1M 3M",
                    str(images / "thin.qcow2")], check=True, capture_output=True)
    d.skiff("vol-clone", "thin.qcow2", "clone.qcow2", "--pool", "default")
    r = subprocess.run(["qemu-img", "compare", str(images / "thin.qcow2"),
                        str(images / "clone.qcow2")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr

    # 1 GiB round trip, byte for byte: random data, written zeroes, holes and a
    # tail that is not a multiple of the transfer piece.
    with tempfile.TemporaryDirectory() as t:
        t = pathlib.Path(t)
        src, back = t / "src.img", t / "back.img"
        with open(src, "wb") as f:
            f.write(os.urandom(48 * MiB))
            f.write(b"\0" * (16 * MiB))
            f.seek(700 * MiB)
            f.write(os.urandom(16 * MiB + 12345))
            f.truncate(1024 * MiB - 4096 + 7)
        d.skiff("vol-create-as", "default", "up.img", "1M")
        t0 = time.monotonic()
        d.skiff("vol-upload", "up.img", str(src), "--pool", "default")
        t1 = time.monotonic()
        assert os.path.getsize(images / "up.img") == os.path.getsize(src)
        assert du(images / "up.img") < 200 * MiB  # holes and zeroes are not written
        d.skiff("vol-download", "up.img", str(back), "--pool", "default")
        t2 = time.monotonic()
        assert sha256(src) == sha256(back) == sha256(images / "up.img")
        assert du(back) < 200 * MiB  # holes stay holes
        print(f"1 GiB upload {t1 - t0:.1f} s, download {t2 - t1:.1f} s")

        # --offset/--length: a range of the volume, either way.
        part = t / "part.img"
        d.skiff("vol-download", "up.img", str(part), "--pool", "default",
                "--offset", str(700 * MiB + 1000), "--length", "3M")
        with open(src, "rb") as f:
            f.seek(700 * MiB + 1000)
            want = f.read(3 * MiB)
        assert part.read_bytes() == want
        d.skiff("vol-upload", "up.img", str(part), "--pool", "default", "--offset", "4096",
                "--length", "1000")
        with open(images / "up.img", "rb") as f:
            head = f.read(8192)
        with open(src, "rb") as f:
            orig = f.read(8192)
        assert head == orig[:4096] + want[:1000] + orig[5096:]
        assert os.path.getsize(images / "up.img") == os.path.getsize(src)

    # Refresh finds a file dropped in by hand.
    (images / "dropped.raw").write_bytes(b"\0" * 4096)
    d.skiff("pool-refresh", "default")
    assert "dropped.raw" in d.skiff("vol-list", "default").stdout

    # Bad names and sizes are refused with a clear one-line error and change nothing.
    r = d.skiff("vol-create-as", "default", "../escape", "1M", check=False)
    assert r.returncode == 1 and r.stderr.startswith("error:") and "escape" in r.stderr
    r = d.skiff("vol-create-as", "default", "x.img", "12Q", check=False)
    assert r.returncode == 1 and "12Q" in r.stderr
    r = d.skiff("vol-resize", "thin.qcow2", "1G", "--pool", "default", check=False)
    assert r.returncode == 1 and "--shrink" in r.stderr
    assert not (d.root / "var/lib/skiff/escape").exists()


def test_create_from_backing_wipe_and_bad_input(daemon):
    d = daemon
    images = d.root / "var/lib/skiff/images"
    d.skiff("vol-create-as", "default", "base.raw", "8M")
    subprocess.run(["qemu-io", "-f", "raw", "-c", "write -P 0x33 0 1M", str(images / "base.raw")],
                   check=True, capture_output=True)
    # An overlay with the backing volume's format given, and one probed.
    d.skiff("vol-create-as", "default", "ov.qcow2", "0", "--format", "qcow2",
            "--backing-vol", "base.raw", "--backing-vol-format", "raw")
    info = subprocess.run(["qemu-img", "info", "--output=json", str(images / "ov.qcow2")],
                          capture_output=True, text=True, check=True).stdout
    import json
    info = json.loads(info)
    assert info["backing-filename-format"] == "raw" and info["virtual-size"] == 8 * MiB
    assert info["backing-filename"].endswith("base.raw")
    assert "<backingStore>" in d.skiff("vol-dumpxml", "ov.qcow2", "--pool", "default").stdout
    r = subprocess.run(["qemu-img", "compare", str(images / "base.raw"), str(images / "ov.qcow2")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
    r = d.skiff("vol-create-as", "default", "bad.qcow2", "0", "--format", "qcow2",
                "--backing-vol", "missing.raw", check=False)
    assert r.returncode == 1 and "missing.raw" in r.stderr
    assert not (images / "bad.qcow2").exists()

    # vol-create-from: a new definition (qcow2) filled from another volume.
    x = d.root / "new.xml"
    x.write_text("<volume><name>from.qcow2</name><capacity unit='M'>16</capacity>"
                 "<target><format type='qcow2'/></target></volume>")
    d.skiff("vol-create-from", "default", str(x), "base.raw")
    r = subprocess.run(["qemu-img", "compare", str(images / "base.raw"), str(images / "from.qcow2")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout  # equal over the first 8 MiB, zeroes beyond
    assert "16.00 MiB" in d.skiff("vol-info", "from.qcow2", "--pool", "default").stdout

    # vol-wipe: reads as zeroes afterwards; the thick volume stays thick.
    d.skiff("vol-create-as", "default", "thick.raw", "8M", "--allocation", "8M")
    subprocess.run(["qemu-io", "-f", "raw", "-c", "write -P 0x44 1M 1M", str(images / "thick.raw")],
                   check=True, capture_output=True)
    d.skiff("vol-wipe", "thick.raw", "--pool", "default")
    assert (images / "thick.raw").read_bytes() == bytes(8 * MiB)
    assert du(images / "thick.raw") >= 8 * MiB
    d.skiff("vol-wipe", "from.qcow2", "--pool", "default")
    flat = d.root / "flat.raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(images / "from.qcow2"), str(flat)],
                   check=True)
    assert flat.read_bytes() == bytes(16 * MiB)
    assert "format type='qcow2'" in d.skiff("vol-dumpxml", "from.qcow2", "--pool", "default").stdout

    # Shrinking: refused without --shrink, allowed with it.
    r = d.skiff("vol-resize", "thick.raw", "4M", "--pool", "default", check=False)
    assert r.returncode == 1 and "--shrink" in r.stderr
    assert os.path.getsize(images / "thick.raw") == 8 * MiB
    d.skiff("vol-resize", "thick.raw", "4M", "--pool", "default", "--shrink")
    assert os.path.getsize(images / "thick.raw") == 4 * MiB

    # Bad formats, sizes and ranges: one-line errors, nothing made.
    r = d.skiff("vol-create-as", "default", "v.vmdk", "1M", "--format", "vmdk", check=False)
    assert r.returncode == 1 and "vmdk" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (images / "v.vmdk").exists()
    r = d.skiff("vol-download", "base.raw", str(d.root / "x"), "--pool", "default",
                "--offset", "lots", check=False)
    assert r.returncode == 1 and "lots" in r.stderr
    r = d.skiff("vol-upload", "nosuch.raw", str(x), "--pool", "default", check=False)
    assert r.returncode == 1 and "nosuch.raw" in r.stderr


def guest_xml(name, kernel, initrd, cmdline):
    return domain_xml(name, kernel, initrd, cmdline=cmdline,
                      devices=disk_xml("vda", pool="default", volume="data.img"))


def test_guest_boots_from_volume_and_volume_is_guarded(daemon):
    kernel, initrd = require_guest()
    d = daemon
    images = d.root / "var/lib/skiff/images"
    d.skiff("vol-create-as", "default", "data.img", "64M")
    subprocess.run(["mkfs.ext4", "-q", "-F", str(images / "data.img")], check=True)
    for name in ("vmA", "vmB"):
        x = d.root / f"{name}.xml"
        x.write_text(guest_xml(name, kernel, initrd, f"skiff.write=from-{name}.txt:hello-{name}"))
        d.skiff("define", str(x))
    d.skiff("start", "vmA")
    log = d.root / "var/log/skiff/domains/vmA.log"
    assert wait_for(log, "SKIFF-WROTE from-vmA.txt", 120), log.read_text(errors="replace")
    assert "vda" in d.skiff("domblklist", "vmA").stdout

    r = d.skiff("vol-delete", "data.img", "--pool", "default", check=False)
    assert r.returncode == 1 and "vmA" in r.stderr
    r = d.skiff("vol-wipe", "data.img", "--pool", "default", check=False)
    assert r.returncode == 1 and "vmA" in r.stderr
    r = d.skiff("start", "vmB", check=False)
    assert r.returncode == 1 and "in use by running domain 'vmA'" in r.stderr

    d.skiff("destroy", "vmA")
    got = subprocess.run(["debugfs", "-R", "cat /from-vmA.txt", str(images / "data.img")],
                         capture_output=True, text=True, check=True).stdout
    assert got.strip() == "hello-vmA"
    d.skiff("vol-delete", "data.img", "--pool", "default")
    r = d.skiff("start", "vmA", check=False)
    assert r.returncode == 1 and "data.img" in r.stderr
