"""Persistent dirty bitmaps: skiff img against qemu-img, qemu-io and qemu-nbd.

The oracle for a bitmap's content is QEMU itself: qemu-nbd exports the image
with the bitmap (-B) and qemu-img map reads it back through NBD's
qemu:dirty-bitmap context, where dirty ranges show as "data": false.
"""
import hashlib
import json
import os
import subprocess

import pytest

from conftest import assert_qemu_clean, qemu_img, qemu_io, skiff

MiB = 1 << 20


def merged(ranges):
    out = []
    for s, n in ranges:
        if out and out[-1][0] + out[-1][1] == s:
            out[-1] = (out[-1][0], out[-1][1] + n)
        else:
            out.append((s, n))
    return out


def qemu_dirty(path, bitmap, tmp):
    """The ranges QEMU reads as dirty in `bitmap` of `path`."""
    sock = tmp / f"nbd-{bitmap}.sock"
    if sock.exists():
        sock.unlink()
    subprocess.run(["qemu-nbd", "--fork", "-r", "-f", "qcow2", "-k", str(sock), "-B", bitmap,
                    str(path)], check=True, capture_output=True, timeout=60)
    opts = f"driver=nbd,server.type=unix,server.path={sock},x-dirty-bitmap=qemu:dirty-bitmap:{bitmap}"
    p = qemu_img("map", "--output=json", "--image-opts", opts)
    return merged([(e["start"], e["length"]) for e in json.loads(p.stdout) if not e["data"]])


def skiff_dirty(path, bitmap):
    p = skiff("bitmap", "--show", "--output=json", path, bitmap)
    return merged([(e["start"], e["length"]) for e in json.loads(p.stdout)])


def info_bitmaps(tool, path):
    p = (skiff if tool == "skiff" else qemu_img)("info", "--output=json", path)
    return json.loads(p.stdout)["format-specific"]["data"].get("bitmaps", [])


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture
def qemu_made(tmp_path):
    """An image whose bitmaps qemu-img made and qemu-io dirtied."""
    img = tmp_path / "q.qcow2"
    qemu_img("create", "-f", "qcow2", img, "16M")
    qemu_img("bitmap", "--add", "-g", "128k", img, "b0")
    qemu_img("bitmap", "--add", img, "b1", "--disable")
    qemu_io(img, "write -P 1 1M 64k", "write -P 2 5M 4k", "write -P 3 15M 1M")
    return img


def test_skiff_reads_qemu_bitmaps(qemu_made, tmp_path):
    assert skiff("info", qemu_made).stdout == qemu_img("info", qemu_made).stdout
    assert (skiff("info", "--output=json", qemu_made).stdout ==
            qemu_img("info", "--output=json", qemu_made).stdout)
    assert skiff_dirty(qemu_made, "b0") == qemu_dirty(qemu_made, "b0", tmp_path)
    assert skiff_dirty(qemu_made, "b0") == [(1 * MiB, 128 << 10), (5 * MiB, 128 << 10),
                                            (15 * MiB, MiB)]
    assert skiff_dirty(qemu_made, "b1") == [] == qemu_dirty(qemu_made, "b1", tmp_path)
    assert (skiff("measure", "-O", "qcow2", qemu_made).stdout ==
            qemu_img("measure", "-O", "qcow2", qemu_made).stdout)


def test_skiff_writes_are_tracked_as_qemu_tracks_them(qemu_made, tmp_path):
    ours = tmp_path / "ours.qcow2"
    theirs = tmp_path / "theirs.qcow2"
    for p in (ours, theirs):
        subprocess.run(["cp", qemu_made, p], check=True)
    # The same writes, by skiff's engine and by QEMU.
    skiff("bench", "-w", "-c", "3", "-s", "64k", "-S", "1M", "-o", "8M", ours)
    qemu_io(theirs, "write 8M 64k", "write 9M 64k", "write 10M 64k")
    assert_qemu_clean(ours)
    assert info_bitmaps("qemu", ours) == info_bitmaps("qemu", theirs)  # in-use cleared on close
    for b in ("b0", "b1"):
        assert qemu_dirty(ours, b, tmp_path) == qemu_dirty(theirs, b, tmp_path)
    assert (8 * MiB, 128 << 10) in qemu_dirty(ours, "b0", tmp_path)


def test_bitmap_edits_match_qemu_img(qemu_made, tmp_path):
    other = tmp_path / "other.qcow2"
    qemu_img("create", "-f", "qcow2", other, "16M")
    qemu_img("bitmap", "--add", other, "src")
    qemu_io(other, "write 12M 64k")
    ours, theirs = tmp_path / "ours.qcow2", tmp_path / "theirs.qcow2"
    for p in (ours, theirs):
        subprocess.run(["cp", qemu_made, p], check=True)
    steps = [
        ["--add", "-g", "64k", "{img}", "n1"],
        ["--add", "--disable", "{img}", "n2"],
        ["--merge", "b0", "{img}", "n1"],
        ["--merge", "src", "-b", str(other), "-F", "qcow2", "{img}", "n2"],
        ["--clear", "{img}", "b0"],
        ["--enable", "{img}", "b1"],
        ["--remove", "{img}", "b1"],
    ]
    for step in steps:
        skiff("bitmap", *[a.format(img=ours) for a in step])
        qemu_img("bitmap", *[a.format(img=theirs) for a in step])
    assert info_bitmaps("qemu", ours) == info_bitmaps("qemu", theirs)
    assert_qemu_clean(ours)
    for b in ("b0", "n1", "n2"):
        assert qemu_dirty(ours, b, tmp_path) == qemu_dirty(theirs, b, tmp_path), b
    assert skiff_dirty(ours, "n2") == [(12 * MiB, 64 << 10)]
    # qemu-img works on what skiff wrote, and the other way round.
    qemu_img("bitmap", "--remove", ours, "n2")
    skiff("bitmap", "--remove", theirs, "n2")
    assert info_bitmaps("skiff", ours) == info_bitmaps("qemu", theirs)
    assert_qemu_clean(theirs)


def test_convert_bitmaps(qemu_made, tmp_path):
    ours, theirs = tmp_path / "ours.qcow2", tmp_path / "theirs.qcow2"
    skiff("convert", "--bitmaps", "-O", "qcow2", qemu_made, ours)
    qemu_img("convert", "--bitmaps", "-O", "qcow2", qemu_made, theirs)
    assert_qemu_clean(ours)
    assert info_bitmaps("qemu", ours) == info_bitmaps("qemu", theirs)
    for b in ("b0", "b1"):
        assert qemu_dirty(ours, b, tmp_path) == qemu_dirty(theirs, b, tmp_path)
    assert qemu_img("compare", ours, theirs).returncode == 0
    # Without --bitmaps none are copied, as qemu-img does.
    plain = tmp_path / "plain.qcow2"
    skiff("convert", "-O", "qcow2", qemu_made, plain)
    assert info_bitmaps("qemu", plain) == []


def test_inconsistent_bitmap(tmp_path):
    img = tmp_path / "crash.qcow2"
    qemu_img("create", "-f", "qcow2", img, "4M")
    qemu_img("bitmap", "--add", img, "b0")
    # QEMU dies without storing the bitmap: it stays in use, its content unknown.
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write 0 64k", "-c", "abort", img],
                   capture_output=True)
    assert info_bitmaps("skiff", img) == info_bitmaps("qemu", img)
    assert info_bitmaps("skiff", img)[0]["flags"] == ["in-use", "auto"]
    p = skiff("bitmap", "--show", img, "b0", check=False)
    assert p.returncode != 0 and "inconsistent" in p.stderr
    before = sha(img)
    out = tmp_path / "out.qcow2"
    p = skiff("convert", "--bitmaps", "-O", "qcow2", img, out, check=False)
    assert p.returncode != 0 and "b0" in p.stderr and "--skip-broken-bitmaps" in p.stderr
    assert not out.exists() and sha(img) == before
    skiff("convert", "--bitmaps", "--skip-broken-bitmaps", "-O", "qcow2", img, out)
    assert info_bitmaps("qemu", out) == []
    skiff("bitmap", "--remove", img, "b0")
    assert info_bitmaps("qemu", img) == []
    qemu_img("check", "-r", "all", img)  # the aborted write's refcounts, not ours
    assert_qemu_clean(img)


def test_resize_keeps_bitmaps_usable_by_qemu(tmp_path):
    img = tmp_path / "r.qcow2"
    qemu_img("create", "-f", "qcow2", img, "4M")
    qemu_img("bitmap", "--add", img, "b0")
    skiff("resize", img, "+4M")
    assert_qemu_clean(img)
    # The grown area counts as changed; QEMU opens the image and reads the bitmap.
    assert qemu_dirty(img, "b0", tmp_path) == skiff_dirty(img, "b0") == [(4 * MiB, 4 * MiB)]
    qemu_io(img, "write 0 64k")
    assert skiff_dirty(img, "b0") == [(0, 64 << 10), (4 * MiB, 4 * MiB)]


@pytest.mark.parametrize("args,needle", [
    (["--merge", "nope", "{img}", "b0"], "nope"),
    (["--add", "--merge", "nope", "{img}", "new"], "nope"),
    (["--add", "{img}", "b0"], "already exists"),
    (["--remove", "{img}", "nope"], "no bitmap 'nope'"),
    (["--add", "-g", "1000", "{img}", "x"], "granularity"),
    (["--add", "{img}", ""], "name cannot be empty"),
    (["-g", "64k", "--remove", "{img}", "b0"], "only supported with --add"),
    (["{img}", "b0"], "at least one of"),
])
def test_bad_bitmap_edits_change_nothing(qemu_made, args, needle):
    before = sha(qemu_made)
    p = skiff("bitmap", *[a.format(img=qemu_made) for a in args], check=False)
    assert p.returncode != 0 and needle in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert sha(qemu_made) == before


def test_formats_without_bitmaps_are_refused(tmp_path):
    v2 = tmp_path / "v2.qcow2"
    qemu_img("create", "-f", "qcow2", "-o", "compat=0.10", v2, "1M")
    p = skiff("bitmap", "--add", v2, "x", check=False)
    assert p.returncode != 0 and "v2" in p.stderr
    raw = tmp_path / "r.raw"
    qemu_img("create", "-f", "raw", raw, "1M")
    p = skiff("bitmap", "--add", raw, "x", check=False)
    assert p.returncode != 0 and "qcow2" in p.stderr
    p = skiff("convert", "--bitmaps", "-O", "raw", v2, tmp_path / "x.raw", check=False)
    assert p.returncode != 0 and not os.path.exists(tmp_path / "x.raw")


@pytest.mark.parametrize("cluster", ["512", "4k", "64k", "2M"])
def test_every_cluster_size_takes_bitmaps_as_qemu_img(tmp_path, cluster):
    # qemu-img leaves the feature name table out with clusters of 4 KiB or less,
    # which is what leaves room for the bitmaps extension with 512-byte clusters.
    ours, theirs = tmp_path / "ours.qcow2", tmp_path / "theirs.qcow2"
    skiff("create", "-f", "qcow2", "-o", f"cluster_size={cluster}", ours, "8M")
    qemu_img("create", "-f", "qcow2", "-o", f"cluster_size={cluster}", theirs, "8M")
    cs = json.loads(qemu_img("info", "--output=json", ours).stdout)["cluster-size"]
    assert open(ours, "rb").read(cs) == open(theirs, "rb").read(cs)
    skiff("bitmap", "--add", ours, "b0")
    qemu_img("bitmap", "--add", theirs, "b0")
    assert info_bitmaps("qemu", ours) == info_bitmaps("qemu", theirs)
    assert_qemu_clean(ours)
    skiff("bench", "-w", "-c", "1", "-s", "4k", "-o", "1M", ours)
    qemu_io(theirs, "write 1M 4k")
    assert qemu_dirty(ours, "b0", tmp_path) == qemu_dirty(theirs, "b0", tmp_path)
