#!/usr/bin/python3
"""Storage volume benchmark: vol-clone, vol-upload and vol-download throughput of
skiffd + skiff next to `cp --sparse=always` (the physical reference) and next to
libvirtd + virsh on the same files. Not part of the test suite.

The image is "mixed": per 64 MiB, 24 MiB of random data, 8 MiB of written zeroes
and a 32 MiB hole. Every transfer is checked (cmp) against the source.
Environment: BENCH_SIZE_MIB (default 1536), BENCH_NO_LIBVIRT=1, BENCH_DIR (default /var/tmp).
"""
import os
import pathlib
import subprocess
import sys
import tempfile

from benchlib import MiB, SKIFF, libvirtd, skiffd, timed, write_mixed

SIZE = int(os.environ.get("BENCH_SIZE_MIB", "1536")) * MiB


def same(a, b):
    return subprocess.run(["cmp", "-s", str(a), str(b)]).returncode == 0


def du_mib(p):
    return os.stat(p).st_blocks * 512 / MiB


def fresh(path):
    """Drops a file from the page cache where the kernel lets us (best effort)."""
    subprocess.run(["dd", f"if={path}", "iflag=nocache", "count=0", "status=none"],
                   stderr=subprocess.DEVNULL)


def bench_cp(work, src):
    dst = work / "cp.raw"
    t = timed(["cp", "--sparse=always", str(src), str(dst)])
    assert same(src, dst)
    r = {"clone": t, "alloc": du_mib(dst)}
    dst.unlink()
    return r


def bench_skiff(work, src):
    root = work / "skiffroot"
    sk = SKIFF
    images = root / "var/lib/skiff/images"
    out = {}
    with skiffd(root) as env:
        subprocess.run(sk + ["vol-create-as", "default", "b.raw", "1M"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        out["upload"] = timed(sk + ["vol-upload", "b.raw", str(src), "--pool", "default"], env)
        assert same(src, images / "b.raw")
        out["clone"] = timed(sk + ["vol-clone", "b.raw", "c.raw", "--pool", "default"], env)
        assert same(src, images / "c.raw")
        out["alloc"] = du_mib(images / "c.raw")
        back = work / "skiff-back.raw"
        out["download"] = timed(sk + ["vol-download", "b.raw", str(back), "--pool", "default"], env)
        assert same(src, back)
        out["download_alloc"] = du_mib(back)
        back.unlink()
    return out


def bench_libvirt(work, src):
    target = work / "lvpool"
    out = {}
    with libvirtd(("libvirtd", "virsh"), ("libvirt-daemon-system", "libvirt-clients")) as v:
        try:
            subprocess.run(v + ["pool-create-as", "skiffbench", "dir", "--target", str(target),
                                "--build"], check=True, stdout=subprocess.DEVNULL)
            subprocess.run(v + ["vol-create-as", "skiffbench", "b.raw", "1M"], check=True,
                           stdout=subprocess.DEVNULL)
            out["upload"] = timed(v + ["vol-upload", "--sparse", "b.raw", str(src), "--pool",
                                       "skiffbench"])
            assert same(src, target / "b.raw")
            out["clone"] = timed(v + ["vol-clone", "b.raw", "c.raw", "--pool", "skiffbench"])
            assert same(src, target / "c.raw")
            out["alloc"] = du_mib(target / "c.raw")
            back = work / "virsh-back.raw"
            out["download"] = timed(v + ["vol-download", "--sparse", "b.raw", str(back), "--pool",
                                         "skiffbench"])
            assert same(src, back)
            out["download_alloc"] = du_mib(back)
            back.unlink()
            out["version"] = subprocess.run(["libvirtd", "--version"], capture_output=True,
                                            text=True).stdout.strip()
        finally:
            for vol in ("b.raw", "c.raw"):
                subprocess.run(v + ["vol-delete", vol, "--pool", "skiffbench"], capture_output=True)
            subprocess.run(v + ["pool-destroy", "skiffbench"], capture_output=True)
            subprocess.run(v + ["pool-undefine", "skiffbench"], capture_output=True)
    return out


def main():
    base = pathlib.Path(os.environ.get("BENCH_DIR", "/var/tmp"))
    with tempfile.TemporaryDirectory(prefix="skiff-storage-bench-", dir=base) as work:
        work = pathlib.Path(work)
        src = work / "src.raw"
        write_mixed(src, SIZE)
        data = du_mib(src)
        load = os.getloadavg()[0]
        subprocess.run(["cat", str(src)], stdout=subprocess.DEVNULL)  # same cache state for all
        c = bench_cp(work, src)
        s = bench_skiff(work, src)
        lv, why = {}, "BENCH_NO_LIBVIRT=1"
        if os.environ.get("BENCH_NO_LIBVIRT") != "1":
            try:
                lv = bench_libvirt(work, src)
            except Exception as e:  # noqa: BLE001 - reported in the table
                why = str(e)
                print(f"libvirt part failed: {e}", file=sys.stderr)
    load_after = os.getloadavg()[0]
    size_mib = SIZE / MiB

    def cell(t):
        return f"{t:.2f} s ({size_mib / t:.0f} MiB/s)" if t else "-"

    print(f"Image: {size_mib:.0f} MiB, {data:.0f} MiB allocated ({data / size_mib * 100:.0f}% data, "
          f"of it 1/4 written zeroes; the rest holes). {os.cpu_count()} CPUs, load average "
          f"{load:.1f} before / {load_after:.1f} after; {lv.get('version', 'libvirt: ' + why)}.\n")
    print("| operation | cp --sparse=always | skiff | virsh/libvirtd | virsh / skiff | skiff / cp |")
    print("|---|---|---|---|---|---|")
    for key, label in (("clone", "vol-clone (raw)"), ("upload", "vol-upload"),
                       ("download", "vol-download")):
        ref = c["clone"]
        lt = lv.get(key)
        print(f"| {label} | {cell(ref)} | {cell(s[key])} | {cell(lt) if lt else '-'} | "
              f"{(lt / s[key]) if lt else 0:.2f}x | {s[key] / ref:.2f}x |")
    print(f"\nAllocated after the copy (MiB): cp {c['alloc']:.0f}, skiff clone {s['alloc']:.0f} / "
          f"download {s['download_alloc']:.0f}"
          + (f", virsh clone {lv['alloc']:.0f} / download {lv['download_alloc']:.0f}" if lv else ""))


if __name__ == "__main__":
    main()
