#!/usr/bin/python3
"""Clone benchmark: `skiff clone` (full and --linked) next to virt-clone on
libvirtd, on the same 2 GiB mixed-content qcow2 disk of a shut-off domain. Not
part of the test suite.

The disk: per 64 MiB, 24 MiB of random data, 8 MiB of written zeroes and a
32 MiB hole, converted to qcow2 by qemu-img. Every full copy is checked with
`qemu-img compare`. libvirt and virtinst are installed with apt-get when
missing; libvirtd is started by hand and stopped afterwards.
Environment: BENCH_SIZE_MIB (default 2048), BENCH_NO_LIBVIRT=1, BENCH_DIR (default /var/tmp).
"""
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

from benchlib import MiB, SKIFF, libvirtd, skiffd, timed, write_mixed

SIZE = int(os.environ.get("BENCH_SIZE_MIB", "2048")) * MiB


def make_disk(work):
    raw, qcow = work / "src.raw", work / "src.qcow2"
    write_mixed(raw, SIZE)
    subprocess.run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(qcow)], check=True)
    raw.unlink()
    return qcow


def domain_xml(name, disk):
    return f"""<domain type='qemu'><name>{name}</name><memory unit='MiB'>128</memory>
<os><type arch='x86_64' machine='q35'>hvm</type></os><devices>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{disk}'/>
<target dev='vda' bus='virtio'/></disk>
<interface type='user'><model type='virtio'/></interface></devices></domain>
"""


def same(a, b):
    return subprocess.run(["qemu-img", "compare", str(a), str(b)],
                          capture_output=True).returncode == 0


def bench_skiff(work, src):
    root, pool = work / "skiffroot", work / "skiffpool"
    pool.mkdir()
    shutil.copyfile(src, pool / "b.qcow2")
    sk = SKIFF
    out = {}
    with skiffd(root) as env:
        (work / "b.xml").write_text(domain_xml("b", pool / "b.qcow2"))
        subprocess.run(sk + ["define", str(work / "b.xml")], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run(["sync"], check=True)
        out["full"] = timed(sk + ["clone", "-o", "b", "-n", "c", "--auto-clone", "-q"], env)
        assert same(pool / "b.qcow2", pool / "c.qcow2")
        out["linked"] = timed(sk + ["clone", "-o", "b", "-n", "l", "--auto-clone", "--linked",
                                    "-q"], env)
        assert same(pool / "b.qcow2", pool / "l.qcow2")
    return out


def bench_libvirt(work, src):
    pool = work / "lvpool"
    pool.mkdir()
    shutil.copyfile(src, pool / "b.qcow2")
    out = {}
    with libvirtd(("libvirtd", "virt-clone"),
                  ("libvirt-daemon-system", "libvirt-clients", "virtinst")) as v:
        try:
            subprocess.run(v + ["pool-create-as", "skiffbench", "dir", "--target", str(pool)],
                           check=True, stdout=subprocess.DEVNULL)
            (work / "lb.xml").write_text(domain_xml("skiffbench-b", pool / "b.qcow2"))
            subprocess.run(v + ["define", str(work / "lb.xml")], check=True,
                           stdout=subprocess.DEVNULL)
            subprocess.run(["sync"], check=True)
            out["full"] = timed(["virt-clone", "--connect", "qemu:///system", "--original",
                                 "skiffbench-b", "--name", "skiffbench-c", "--file",
                                 str(pool / "c.qcow2")])
            assert same(pool / "b.qcow2", pool / "c.qcow2")
            out["version"] = subprocess.run(["virt-clone", "--version"], capture_output=True,
                                            text=True).stdout.strip()
        finally:
            for dom in ("skiffbench-b", "skiffbench-c"):
                subprocess.run(v + ["undefine", dom], capture_output=True)
            subprocess.run(v + ["pool-destroy", "skiffbench"], capture_output=True)
            subprocess.run(v + ["pool-undefine", "skiffbench"], capture_output=True)
    return out


def main():
    base = pathlib.Path(os.environ.get("BENCH_DIR", "/var/tmp"))
    with tempfile.TemporaryDirectory(prefix="skiff-clone-bench-", dir=base) as work:
        work = pathlib.Path(work)
        src = make_disk(work)
        alloc = os.stat(src).st_blocks * 512 / MiB
        load = os.getloadavg()[0]
        s = bench_skiff(work, src)
        lv, why = {}, "BENCH_NO_LIBVIRT=1"
        if os.environ.get("BENCH_NO_LIBVIRT") != "1":
            try:
                lv = bench_libvirt(work, src)
            except Exception as e:  # noqa: BLE001 - reported in the table
                why = str(e)
                print(f"libvirt part failed: {e}", file=sys.stderr)
    load_after = os.getloadavg()[0]
    print(f"Disk: {SIZE / MiB:.0f} MiB qcow2, {alloc:.0f} MiB allocated. {os.cpu_count()} CPUs, "
          f"load average {load:.1f} before / {load_after:.1f} after; "
          f"virt-clone {lv.get('version', why)}.\n")
    print("| operation | skiff clone | virt-clone | virt-clone / skiff |")
    print("|---|---|---|---|")
    full = lv.get("full")
    theirs = f"{full:.2f} s" if full else "-"
    ratio = f"{full / s['full']:.2f}x" if full else "-"
    print(f"| full clone | {s['full']:.2f} s | {theirs} | {ratio} |")
    print(f"| linked clone (--linked) | {s['linked']:.2f} s | no such option | |")


if __name__ == "__main__":
    main()
