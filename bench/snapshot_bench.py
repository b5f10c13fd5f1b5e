#!/usr/bin/python3
"""Snapshot benchmark: skiff's snapshot verbs next to virsh's on libvirtd, on the
same guest (the test guest, 256 MiB, TCG) with the same 64 MiB qcow2 disk. Not
part of the test suite.

Rows: an internal snapshot of the running guest with its memory, a revert to it
(running), its delete; an internal snapshot of the shut-off domain, a revert to
it. Each operation runs REPEAT times (the median is shown). libvirt is installed
with apt-get when missing; libvirtd is started by hand and stopped afterwards.
Environment: BENCH_NO_LIBVIRT=1, BENCH_DIR (default /var/tmp), BENCH_REPEAT (3).
"""
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import BUILD, SKIFF, libvirtd, skiffd, timed

REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
GUEST = BUILD / "guest"


def domain_xml(name, work, disk, serial):
    return f"""<domain type='qemu'><name>{name}</name><memory unit='MiB'>256</memory>
<os><type arch='x86_64' machine='q35'>hvm</type><kernel>{work}/vmlinuz</kernel>
<initrd>{work}/initrd.img</initrd><cmdline>console=ttyS0 skiff.nodhcp=1 skiff.counter=1</cmdline>
</os><devices>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='{disk}'/>
<target dev='vda' bus='virtio'/></disk>
{serial}</devices></domain>
"""


def wait_for(path, pattern, timeout=180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists() and re.search(pattern, path.read_text(errors="replace"), re.M):
            return
        time.sleep(0.2)
    raise RuntimeError(f"no {pattern!r} in {path} within {timeout}s")


def run(cmd, env=None):
    r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()}")


def rounds(cli, dom, env, console, started):
    """The five operations, REPEAT times each; `cli` is skiff's or virsh's argv."""
    t = {k: [] for k in ("live", "revert", "delete", "offline", "offline-revert")}
    run(cli + ["start", dom], env)
    wait_for(console, r"^SKIFF-COUNTER 2", 180)
    run(cli + ["snapshot-create-as", dom, "base"], env)
    for i in range(REPEAT):
        t["live"].append(timed(cli + ["snapshot-create-as", dom, f"live{i}"], env))
        t["revert"].append(timed(cli + ["snapshot-revert", dom, "base"], env))
        t["delete"].append(timed(cli + ["snapshot-delete", dom, f"live{i}"], env))
    run(cli + ["destroy", dom], env)
    for i in range(REPEAT):
        t["offline"].append(timed(cli + ["snapshot-create-as", dom, f"off{i}"], env))
        t["offline-revert"].append(timed(cli + ["snapshot-revert", dom, f"off{i}"], env))
    started.append(True)
    return {k: statistics.median(v) for k, v in t.items()}


def prepare(work, prefix):
    for f in ("vmlinuz", "initrd.img"):
        shutil.copyfile(GUEST / f, work / f)
    disk = work / f"{prefix}.qcow2"
    run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"])
    os.chmod(work, 0o755)
    return disk


def bench_skiff(work):
    disk = prepare(work, "skiff")
    root = work / "skiffroot"
    with skiffd(root) as env:
        (work / "s.xml").write_text(domain_xml("s", work, disk, "<serial type='pty'/>"))
        run(SKIFF + ["define", str(work / "s.xml")], env)
        try:
            return rounds(SKIFF, "s", env, root / "var/log/skiff/domains/s.log", [])
        finally:
            subprocess.run(SKIFF + ["destroy", "s"], env=env, capture_output=True)


def bench_libvirt(work):
    disk = prepare(work, "lv")
    console = work / "lv-console.log"
    with libvirtd(("libvirtd", "virsh"), ("libvirt-daemon-system", "libvirt-clients")) as v:
        dom = "skiffbench-snap"
        try:
            serial = f"<serial type='file'><source path='{console}'/></serial>"
            (work / "lv.xml").write_text(domain_xml(dom, work, disk, serial))
            run(v + ["define", str(work / "lv.xml")])
            out = rounds(v, dom, None, console, [])
            out["version"] = subprocess.run(v + ["version", "--daemon"], capture_output=True,
                                            text=True).stdout.strip().splitlines()[-1]
            return out
        finally:
            subprocess.run(v + ["destroy", dom], capture_output=True)
            names = subprocess.run(v + ["snapshot-list", dom, "--name"], capture_output=True,
                                   text=True).stdout.split()
            for n in reversed(names):
                subprocess.run(v + ["snapshot-delete", dom, n, "--metadata"], capture_output=True)
            subprocess.run(v + ["undefine", dom], capture_output=True)


def main():
    base = pathlib.Path(os.environ.get("BENCH_DIR", "/var/tmp"))
    with tempfile.TemporaryDirectory(prefix="skiff-snap-bench-", dir=base) as work:
        work = pathlib.Path(work)
        os.chmod(work, 0o755)  # libvirt's QEMU (libvirt-qemu) reaches the guest's files
        load = os.getloadavg()[0]
        (work / "s").mkdir()
        s = bench_skiff(work / "s")
        lv, why = {}, "BENCH_NO_LIBVIRT=1"
        if os.environ.get("BENCH_NO_LIBVIRT") != "1":
            try:
                (work / "lv").mkdir()
                lv = bench_libvirt(work / "lv")
            except Exception as e:  # noqa: BLE001 - reported in the table
                why = str(e)
                print(f"libvirt part failed: {e}", file=sys.stderr)
    print(f"Guest: the test guest, 256 MiB, TCG; a 64 MiB qcow2 disk; median of {REPEAT}. "
          f"{os.cpu_count()} CPUs, load average {load:.1f} before / {os.getloadavg()[0]:.1f} "
          f"after; libvirt: {lv.get('version', why)}.\n")
    print("| operation | skiff | virsh (libvirt) | virsh / skiff |")
    print("|---|---|---|---|")
    rows = [("live", "snapshot-create-as, running guest (memory + disk, internal)"),
            ("revert", "snapshot-revert to a running snapshot"),
            ("delete", "snapshot-delete of a running guest's snapshot"),
            ("offline", "snapshot-create-as, shut off (disk, internal)"),
            ("offline-revert", "snapshot-revert to a shut-off snapshot")]
    for key, label in rows:
        theirs = lv.get(key)
        print(f"| {label} | {s[key]:.2f} s | {f'{theirs:.2f} s' if theirs else '-'} | "
              f"{f'{theirs / s[key]:.2f}x' if theirs else '-'} |")


if __name__ == "__main__":
    main()
