"""skiff img against qemu-img/qemu-io, both directions.

qemu-made images (every option qcow2 has) must read through skiff with the same
content; every image skiff creates, converts, resizes, snapshots, rebases or
commits must pass `qemu-img check` without errors or leaks and hold the content
it should.
"""
import hashlib
import json
import os
import struct

import pytest

from conftest import assert_qemu_clean, qemu_img, qemu_io, run, sha_raw_export, skiff

QEMU_VARIANTS = [
    "cluster_size=512",
    "cluster_size=4k",
    "cluster_size=64k",
    "cluster_size=2M",
    "refcount_bits=1",
    "refcount_bits=2",
    "refcount_bits=4",
    "refcount_bits=8",
    "refcount_bits=32",
    "refcount_bits=64",
    "compat=0.10",
    "extended_l2=on",
    "extended_l2=on,cluster_size=16k",
    "compression_type=zstd",
    "lazy_refcounts=on",
]

PATTERN = [
    "write -P 0x11 0 100k",
    "write -z 200k 300k",
    "write -c -P 0x22 4M 2M",
    "write -P 0x33 7777 12345",
    "write -z 4100k 3k",
    "write -P 0x44 19M 1M",
]


@pytest.mark.parametrize("opts", QEMU_VARIANTS)
def test_qemu_image_reads_the_same(tmp_path, opts):
    img = tmp_path / "q.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-o", opts, img, "20M")
    qemu_io(img, *PATTERN)
    assert sha_raw_export("skiff", img, tmp_path) == sha_raw_export("qemu-img", img, tmp_path)
    # Our checker agrees that the image is clean, and info/measure match qemu-img's.
    assert skiff("check", img).returncode == 0
    assert skiff("info", "--output=json", img).stdout == qemu_img("info", "--output=json", img).stdout
    assert (skiff("measure", "--output=json", "-O", "qcow2", img).stdout
            == qemu_img("measure", "--output=json", "-O", "qcow2", img).stdout)


@pytest.mark.parametrize("opts", ["cluster_size=64k", "compat=0.10", "cluster_size=4k,refcount_bits=8"])
def test_map_json_matches_qemu(tmp_path, opts):
    img = tmp_path / "q.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-o", opts, img, "20M")
    qemu_io(img, "write -P 1 0 128k", "write -z 1M 64k", "write -P 2 3M 200k")
    assert skiff("map", "--output=json", img).stdout == qemu_img("map", "--output=json", img).stdout
    assert skiff("map", img).stdout == qemu_img("map", img).stdout


def test_backing_chain_depth_3(tmp_path):
    base, mid, top = tmp_path / "base.qcow2", tmp_path / "mid.qcow2", tmp_path / "top.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", base, "10M")
    qemu_io(base, "write -P 1 0 4M")
    qemu_img("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", mid)
    qemu_io(mid, "write -P 2 1M 1M", "write -z 3M 64k")
    qemu_img("create", "-q", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", top)
    qemu_io(top, "write -P 3 1536k 1M", "write -c -P 4 6M 64k")
    assert sha_raw_export("skiff", top, tmp_path) == sha_raw_export("qemu-img", top, tmp_path)
    ours = json.loads(skiff("info", "--backing-chain", "--output=json", top).stdout)
    assert [i["filename"] for i in ours] == [str(top), str(tmp_path / "mid.qcow2"), str(tmp_path / "base.qcow2")]
    assert skiff("map", "--output=json", top).stdout == qemu_img("map", "--output=json", top).stdout
    # Flattening the chain with convert.
    flat = tmp_path / "flat.qcow2"
    skiff("convert", "-O", "qcow2", top, flat)
    assert_qemu_clean(flat)
    assert qemu_img("compare", top, flat).returncode == 0
    assert "backing" not in json.loads(qemu_img("info", "--output=json", flat).stdout).get("backing-filename", "")


def test_internal_snapshots_from_qemu(tmp_path):
    img = tmp_path / "s.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", img, "8M")
    qemu_io(img, "write -P 1 0 1M")
    qemu_img("snapshot", "-c", "one", img)
    qemu_io(img, "write -P 2 512k 1M")
    qemu_img("snapshot", "-c", "two", img)
    qemu_io(img, "write -P 3 0 64k")
    assert skiff("check", img).returncode == 0
    assert skiff("snapshot", "-l", img).stdout == qemu_img("snapshot", "-l", img).stdout
    assert skiff("info", img).stdout == qemu_img("info", img).stdout
    expected = sha_raw_export("qemu-img", img, tmp_path)
    assert sha_raw_export("skiff", img, tmp_path) == expected


def test_snapshot_tables_written_in_turns_by_both_tools(tmp_path):
    """QEMU leaves out the last entry's padding when the table ends the file:
    Skiff reads such a table, and sizes it as QEMU does when it frees it."""
    img = tmp_path / "t.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", img, "64M")
    for i, name in enumerate(["a", "bb", "ccc", "dddd", "eeeee"]):
        tool = skiff if i % 2 == 0 else qemu_img
        tool("snapshot", "-c", name, img)
        qemu_io(img, f"write -P {i + 1} 0 64k")
        assert skiff("snapshot", "-l", img).stdout == qemu_img("snapshot", "-l", img).stdout
    skiff("snapshot", "-a", "bb", img)
    qemu_img("snapshot", "-d", "ccc", img)
    skiff("snapshot", "-d", "a", img)
    assert_qemu_clean(img)
    assert skiff("check", img).returncode == 0
    assert qemu_io(img, "read -P 1 0 64k").returncode == 0
    assert [line.split()[1] for line in qemu_img("snapshot", "-l", img).stdout.splitlines()[2:]] \
        == ["bb", "dddd", "eeeee"]


@pytest.fixture
def source_raw(tmp_path):
    """A raw image with holes, written zeroes, random data and compressible text."""
    p = tmp_path / "src.raw"
    rnd = os.urandom(3 << 20)
    text = (b"skiff image engine interop test line %d\n" * 1) * 0
    lines = b"".join(b"line %08d of some compressible text\n" % i for i in range(40000))
    with open(p, "wb") as f:
        f.truncate(24 << 20)
        f.seek(0)
        f.write(rnd[: 1 << 20])
        f.seek(3 << 20)
        f.write(b"\0" * (1 << 20))  # written zeroes
        f.seek(5 << 20)
        f.write(lines)
        f.seek((9 << 20) + 1234)
        f.write(rnd[1 << 20 :])
        f.seek((24 << 20) - 4096)
        f.write(b"\xff" * 4096)
    return p


SKIFF_CREATE_VARIANTS = [
    "cluster_size=512",
    "cluster_size=4k",
    "cluster_size=64k",
    "cluster_size=2M",
    "refcount_bits=1",
    "refcount_bits=2",
    "refcount_bits=64,cluster_size=512",
    "compat=0.10",
    "extended_l2=on",
    "compression_type=zstd",
    "lazy_refcounts=on",
]


@pytest.mark.parametrize("opts", SKIFF_CREATE_VARIANTS)
@pytest.mark.parametrize("compress", [False, True])
def test_skiff_convert_passes_qemu_check(tmp_path, source_raw, opts, compress):
    out = tmp_path / "out.qcow2"
    args = ["convert", "-O", "qcow2", "-o", opts]
    if compress:
        args.append("-c")
    skiff(*args, source_raw, out)
    assert_qemu_clean(out)
    assert qemu_img("compare", "-f", "raw", source_raw, out).returncode == 0
    # And back to raw through skiff, sparse.
    back = tmp_path / "back.raw"
    skiff("convert", "-O", "raw", out, back)
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(source_raw.read_bytes()).digest()
    assert os.stat(back).st_blocks * 512 < os.path.getsize(back)


def test_compressed_images_are_smaller_and_qemu_sees_compressed_clusters(tmp_path, source_raw):
    for ctype in ("zlib", "zstd"):
        out = tmp_path / f"c-{ctype}.qcow2"
        skiff("convert", "-c", "-O", "qcow2", "-o", f"compression_type={ctype}", source_raw, out)
        info = json.loads(qemu_img("check", "--output=json", out).stdout)
        assert info.get("compressed-clusters", 0) > 0
        plain = tmp_path / "plain.qcow2"
        skiff("convert", "-O", "qcow2", source_raw, plain)
        assert os.path.getsize(out) < os.path.getsize(plain)


@pytest.mark.parametrize("fmt,prealloc", [
    ("raw", "off"), ("raw", "falloc"), ("raw", "full"),
    ("qcow2", "off"), ("qcow2", "metadata"), ("qcow2", "falloc"), ("qcow2", "full"),
])
def test_create_preallocation_matches_qemu(tmp_path, fmt, prealloc):
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    skiff("create", "-q", "-f", fmt, "-o", f"preallocation={prealloc}", ours, "64M")
    qemu_img("create", "-q", "-f", fmt, "-o", f"preallocation={prealloc}", theirs, "64M")
    if fmt == "qcow2":
        assert_qemu_clean(ours)
    du_ours = os.stat(ours).st_blocks * 512
    du_theirs = os.stat(theirs).st_blocks * 512
    assert os.path.getsize(ours) == os.path.getsize(theirs)
    # Allocation as named: within 1 MiB of qemu-img's for the same mode.
    assert abs(du_ours - du_theirs) <= (1 << 20), (du_ours, du_theirs)
    if prealloc in ("falloc", "full"):
        assert du_ours >= 64 << 20
    if prealloc == "off":
        assert du_ours < 1 << 20
    info = json.loads(skiff("info", "--output=json", ours).stdout)
    assert info["virtual-size"] == 64 << 20
    assert info["actual-size"] == du_ours


def test_create_with_backing_and_info(tmp_path):
    base = tmp_path / "base.raw"
    qemu_img("create", "-q", "-f", "raw", base, "10M")
    top = tmp_path / "top.qcow2"
    skiff("create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", top)
    assert_qemu_clean(top)
    assert skiff("info", "--output=json", top).stdout == qemu_img("info", "--output=json", top).stdout
    assert skiff("info", top).stdout == qemu_img("info", top).stdout
    err = skiff("create", "-f", "qcow2", "-b", "base.raw", tmp_path / "x.qcow2", check=False)
    assert err.returncode == 1 and err.stderr.startswith("error: ")


def test_create_with_backing_prints_the_backing_size(tmp_path):
    # Without a size the image takes its backing file's; both tools say so (issue 25 item 4).
    qemu_img("create", "-q", "-f", "qcow2", tmp_path / "base.qcow2", "10M")
    ours = skiff("create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "ours.qcow2",
                 cwd=tmp_path).stdout
    theirs = qemu_img("create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "theirs.qcow2",
                      cwd=tmp_path).stdout
    assert "size=10485760" in theirs
    assert ours == theirs.replace("theirs.qcow2", "ours.qcow2")


def test_resize_grow_and_shrink(tmp_path, source_raw):
    img = tmp_path / "r.qcow2"
    skiff("convert", "-O", "qcow2", "-o", "cluster_size=4k", source_raw, img)
    skiff("resize", img, "+2G")
    assert_qemu_clean(img)
    info = json.loads(qemu_img("info", "--output=json", img).stdout)
    assert info["virtual-size"] == (24 << 20) + (2 << 30)
    qemu_io(img, "write -P 9 2G 64k")
    p = skiff("resize", img, "8M", check=False)
    assert p.returncode == 1 and "--shrink" in p.stderr
    skiff("resize", "--shrink", img, "8M")
    assert_qemu_clean(img)
    expect = tmp_path / "expect.raw"
    with open(source_raw, "rb") as f:
        expect.write_bytes(f.read(8 << 20))
    assert qemu_img("compare", "-f", "raw", expect, img).returncode == 0
    raw = tmp_path / "grow.raw"
    skiff("create", "-q", "-f", "raw", raw, "1M")
    skiff("resize", "-f", "raw", raw, "+1M")
    assert os.path.getsize(raw) == 2 << 20


def test_snapshot_create_apply_delete(tmp_path, source_raw):
    img = tmp_path / "s.qcow2"
    skiff("convert", "-O", "qcow2", source_raw, img)
    before = sha_raw_export("qemu-img", img, tmp_path)
    skiff("snapshot", "-c", "clean", img)
    assert_qemu_clean(img)
    qemu_io(img, "write -P 0x5a 0 2M", "write -z 5M 1M")
    assert sha_raw_export("qemu-img", img, tmp_path) != before
    listing = skiff("snapshot", "-l", img).stdout
    assert "clean" in listing and listing == qemu_img("snapshot", "-l", img).stdout
    skiff("snapshot", "-a", "clean", img)
    assert_qemu_clean(img)
    assert sha_raw_export("qemu-img", img, tmp_path) == before
    skiff("snapshot", "-d", "clean", img)
    assert_qemu_clean(img)
    assert qemu_img("snapshot", "-l", img).stdout == ""
    assert sha_raw_export("qemu-img", img, tmp_path) == before
    # qemu-img can apply snapshots we made and we can apply ones it made.
    skiff("snapshot", "-c", "ours", img)
    qemu_io(img, "write -P 1 0 64k")
    qemu_img("snapshot", "-a", "ours", img)
    assert sha_raw_export("qemu-img", img, tmp_path) == before
    qemu_img("snapshot", "-c", "theirs", img)
    qemu_io(img, "write -P 2 0 64k")
    skiff("snapshot", "-a", "theirs", img)
    assert_qemu_clean(img)
    assert sha_raw_export("qemu-img", img, tmp_path) == before


def test_rebase_safe_and_unsafe(tmp_path):
    old = tmp_path / "old.qcow2"
    new = tmp_path / "new.qcow2"
    top = tmp_path / "top.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", old, "8M")
    qemu_io(old, "write -P 1 0 4M")
    qemu_img("create", "-q", "-f", "qcow2", new, "8M")
    qemu_io(new, "write -P 1 0 1M", "write -P 7 2M 1M")
    qemu_img("create", "-q", "-f", "qcow2", "-b", "old.qcow2", "-F", "qcow2", top)
    qemu_io(top, "write -P 3 3M 64k")
    before = sha_raw_export("qemu-img", top, tmp_path)
    skiff("rebase", "-b", "new.qcow2", "-F", "qcow2", top)
    assert_qemu_clean(top)
    assert json.loads(qemu_img("info", "--output=json", top).stdout)["backing-filename"] == "new.qcow2"
    assert sha_raw_export("qemu-img", top, tmp_path) == before
    # Unsafe: only the name changes.
    skiff("rebase", "-u", "-b", "old.qcow2", "-F", "qcow2", top)
    assert_qemu_clean(top)
    assert json.loads(qemu_img("info", "--output=json", top).stdout)["backing-filename"] == "old.qcow2"
    # Removing the backing file keeps the content.
    skiff("rebase", "-b", "", top)
    assert_qemu_clean(top)
    assert "backing-filename" not in json.loads(qemu_img("info", "--output=json", top).stdout)


def test_commit(tmp_path):
    base = tmp_path / "base.qcow2"
    top = tmp_path / "top.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", base, "8M")
    qemu_io(base, "write -P 1 0 8M")
    qemu_img("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", top)
    qemu_io(top, "write -P 2 1M 1M", "write -z 4M 64k", "write -c -P 3 6M 64k")
    expected = sha_raw_export("qemu-img", top, tmp_path)
    p = skiff("commit", top)
    assert "Image committed." in p.stdout
    assert_qemu_clean(base)
    assert_qemu_clean(top)
    assert sha_raw_export("qemu-img", base, tmp_path) == expected
    assert sha_raw_export("qemu-img", top, tmp_path) == expected
    # The top is empty now: everything comes from the base.
    extents = json.loads(qemu_img("map", "--output=json", top).stdout)
    assert all(e["depth"] == 1 for e in extents if e["present"])


def test_convert_with_target_backing(tmp_path):
    base = tmp_path / "base.qcow2"
    top = tmp_path / "top.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", base, "8M")
    qemu_io(base, "write -P 1 0 8M")
    qemu_img("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", top)
    qemu_io(top, "write -P 2 1M 64k", "write -z 2M 64k")
    out = tmp_path / "out.qcow2"
    skiff("convert", "-O", "qcow2", "-B", "base.qcow2", "-F", "qcow2", top, out)
    assert_qemu_clean(out)
    assert qemu_img("compare", top, out).returncode == 0
    assert os.path.getsize(out) < 1 << 20


def test_compare_exit_codes(tmp_path):
    a, b = tmp_path / "a.qcow2", tmp_path / "b.raw"
    qemu_img("create", "-q", "-f", "qcow2", a, "4M")
    qemu_img("create", "-q", "-f", "raw", b, "4M")
    assert skiff("compare", a, b).stdout == "Images are identical.\n"
    qemu_io(a, "write -P 1 3M 512")
    p = skiff("compare", a, b, check=False)
    assert p.returncode == 1 and p.stdout == qemu_img("compare", a, b, check=False).stdout
    p = skiff("compare", a, tmp_path / "missing", check=False)
    assert p.returncode == 2


def test_measure_matches_qemu(tmp_path, source_raw):
    for opts in ("cluster_size=64k", "cluster_size=4k,refcount_bits=64", "cluster_size=2M,extended_l2=on"):
        for src in (["--size", "5G"], ["-f", "raw", str(source_raw)]):
            ours = skiff("measure", "--output=json", "-O", "qcow2", "-o", opts, *src).stdout
            theirs = qemu_img("measure", "--output=json", "-O", "qcow2", "-o", opts, *src).stdout
            assert ours == theirs, (opts, src)


def test_check_finds_and_repairs_leaks(tmp_path, source_raw):
    img = tmp_path / "l.qcow2"
    skiff("convert", "-O", "qcow2", source_raw, img)
    # Leak two clusters: grow the file and give its new clusters refcount 1.
    with open(img, "r+b") as f:
        hdr = f.read(104)
        rt_off = struct.unpack(">Q", hdr[48:56])[0]
        f.seek(rt_off)
        rb_off = struct.unpack(">Q", f.read(8))[0]
        size = os.path.getsize(img)
        cl = (size + 65535) // 65536
        f.truncate((cl + 2) * 65536)
        for c in (cl, cl + 1):
            f.seek(rb_off + 2 * c)
            f.write(struct.pack(">H", 1))
    p = skiff("check", img, check=False)
    assert p.returncode == 3, p.stdout
    assert "2 leaked clusters were found" in p.stdout
    assert qemu_img("check", img, check=False).returncode == 3
    p = skiff("check", "-r", "leaks", img, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    assert_qemu_clean(img)
    assert qemu_img("compare", "-f", "raw", source_raw, img).returncode == 0


def test_check_repairs_lazy_refcount_crash(tmp_path):
    img = tmp_path / "lazy.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-o", "lazy_refcounts=on", img, "8M")
    run("qemu-io", "-c", "write -P 7 0 1M", "-c", "flush", "-c", "abort", img, check=False)
    assert qemu_img("check", img, check=False).returncode == 2
    p = skiff("check", img, check=False)
    assert p.returncode == 2
    info = skiff("info", img).stdout
    assert "cleanly shut down: no" in info
    skiff("check", "-r", "all", img)
    assert_qemu_clean(img)
    qemu_io(img, "read -P 7 0 1M")


def test_unknown_incompatible_feature_is_refused(tmp_path):
    img = tmp_path / "f.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", img, "1M")
    with open(img, "r+b") as f:
        f.seek(72)
        f.write(struct.pack(">Q", 1 << 40))
    p = skiff("info", img, check=False)
    assert p.returncode == 1
    assert p.stderr.count("\n") == 1 and "incompatible" in p.stderr and "bit 40" in p.stderr


def test_progress_bar(tmp_path, source_raw):
    p = skiff("convert", "-p", "-O", "qcow2", source_raw, tmp_path / "p.qcow2")
    assert "(100.00/100%)" in p.stdout


# Issue 23 item 14: images of formats Skiff cannot read, made by the real qemu-img,
# are refused by name (never read as raw), and a convert of one writes nothing.
FOREIGN = [
    ("vmdk", "", "VMware VMDK"),
    ("vmdk", "subformat=streamOptimized", "VMware VMDK"),
    ("vdi", "", "VirtualBox VDI"),
    ("vhdx", "", "Hyper-V VHDX"),
    ("vpc", "", "Virtual PC VHD"),
    ("qed", "", "QEMU QED"),
    ("qcow", "", "QEMU qcow (version 1)"),
    ("parallels", "", "Parallels"),
]


@pytest.mark.parametrize("fmt,opts,title", FOREIGN)
def test_foreign_formats_refused_by_name(tmp_path, fmt, opts, title):
    img = tmp_path / f"disk.{fmt}"
    args = ["create", "-q", "-f", fmt] + (["-o", opts] if opts else []) + [img, "64M"]
    qemu_img(*args)
    assert json.loads(qemu_img("info", "--output=json", img).stdout)["format"] == fmt
    info = skiff("info", img, check=False)
    assert info.returncode != 0
    assert f"is a {title} image (format '{fmt}')" in info.stderr, info.stderr
    out = tmp_path / "out.qcow2"
    conv = skiff("convert", "-O", "qcow2", img, out, check=False)
    assert conv.returncode != 0 and f"format '{fmt}'" in conv.stderr, conv.stderr
    assert not out.exists()
    # An explicit raw format is the user's word: that still reads the bytes.
    assert skiff("info", "-f", "raw", img).returncode == 0
