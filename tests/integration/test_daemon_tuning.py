"""CPU tuning of a running QEMU guest (TCG) through skiffd: QEMU starts inside its
domain cgroup (its memory is charged there from the first page; a hard limit too
small for it fails the start cleanly), vCPUs are plugged and unplugged (only
hot-plugged ones; a guest that does not release one is reported after a timeout),
schedinfo changes the cgroup's cpu shares, vcpupin/emulatorpin the threads'
affinity, and vcpucount/vcpuinfo report what the guest has.
"""
import os
import pathlib
import re

import pytest

from framework.console import ConsoleLog
from framework.daemon import daemon_session
from framework.guest import domain_xml
from framework.host import affinity, assert_in_own_cgroup, qemu_pid, threads
from framework.util import pid_alive, require_guest, wait_until

NAME = "tune1"


def guest_xml(name, kernel, initrd, head=""):
    # machine 'pc' with ACPI: ACPI tells the guest about new vCPUs and asks it to
    # release them. Two vCPUs at boot (0 and 1), up to four.
    return domain_xml(name, kernel, initrd, memory_mib=192, machine="pc",
                      vcpu="<vcpu current='2'>4</vcpu>", cmdline="skiff.nodhcp=1",
                      head="  <features><acpi/></features>\n" + head)


def memory_cgroup(pid, name):
    """The domain cgroup directory that accounts memory, and its usage file."""
    for d in assert_in_own_cgroup(pid, name):
        for f in ("memory.usage_in_bytes", "memory.current"):
            if (d / f).exists():
                return d, f
    pytest.fail(f"no memory accounting in the cgroups of qemu {pid}")


def private_rss(pid):
    """QEMU's anonymous and shared-memory pages (heap, guest RAM), in bytes."""
    total = 0
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("RssAnon:", "RssShmem:")):
            total += int(line.split()[1]) * 1024
    return total


class Guest(ConsoleLog):
    def __init__(self, d, root):
        super().__init__(d, root, NAME)

    def vcpucount(self):
        out = self.d.skiff("vcpucount", NAME).stdout
        return {f"{a} {b}": int(n) for a, b, n in re.findall(r"^(\w+)\s+(\w+)\s+(\d+)$", out, re.M)}


@pytest.fixture(scope="module")
def guest():
    kernel, initrd = require_guest()
    with daemon_session("skiffd-tune-") as d:
        root = d.root
        (root / "g.xml").write_text(guest_xml(NAME, kernel, initrd))
        d.skiff("define", str(root / "g.xml"))
        g = Guest(d, root)
        g.kernel, g.initrd = kernel, initrd
        # Paused: QEMU has loaded the guest's kernel and initrd but run nothing yet.
        d.skiff("start", NAME, "--paused")
        g.pid = qemu_pid(root, NAME)
        d.pids.append(g.pid)
        g.pids = d.pids
        yield g


def test_qemu_is_charged_to_its_cgroup_from_the_start(guest):
    pid = guest.pid
    d, usage = memory_cgroup(pid, NAME)
    # Everything QEMU allocated before it was paused (its heap, the guest's kernel
    # and initrd in guest RAM) is charged to the domain's cgroup: a QEMU moved in
    # after start-up leaves those pages charged to skiffd's cgroup.
    charged, anon = int((d / usage).read_text()), private_rss(pid)
    assert anon > 8 << 20, anon
    assert charged >= anon * 0.9, (charged, anon, str(d))
    guest.d.skiff("resume", NAME)
    guest.wait(r"^SKIFF-GUEST-READY", timeout=150)
    guest.wait(r"^SKIFF-CPUS: 0-1$", timeout=30)


def test_memory_hard_limit_binds_from_the_first_page(guest):
    """A hard limit QEMU cannot even start in: the start fails, nothing is left."""
    d, root = guest.d, guest.root
    small = "  <memtune><hard_limit unit='MiB'>4</hard_limit></memtune>\n"
    (root / "small.xml").write_text(guest_xml("small1", guest.kernel, guest.initrd, small))
    d.skiff("define", str(root / "small.xml"))
    parent = next(p for p in memory_cgroup(guest.pid, NAME)[0].parents if p.name == "skiff")
    r = d.skiff("start", "small1", check=False)
    assert r.returncode == 1, r.stdout
    assert "small1" in r.stderr and "qemu" in r.stderr, r.stderr
    assert "hard_limit" in r.stderr, r.stderr  # the hint at the likely cause
    assert not (parent / "small1").exists()
    assert not (root / "run/skiff/domains/small1.qemu.json").exists()
    assert "shut off" in d.skiff("domstate", "small1").stdout
    d.skiff("undefine", "small1")


def test_vcpus_plug_and_unplug(guest):
    d = guest.d
    assert guest.vcpucount() == {"maximum config": 4, "maximum live": 4,
                                 "current config": 2, "current live": 2}
    mark = guest.size()
    d.skiff("setvcpus", NAME, "4", "--live")
    guest.wait(r"^SKIFF-CPUS: 0-3$", since=mark)
    assert guest.vcpucount()["current live"] == 4
    info = d.skiff("vcpuinfo", NAME, "--pretty").stdout
    assert re.findall(r"^VCPU:\s+(\d+)$", info, re.M) == ["0", "1", "2", "3"], info

    # Down again: the guest releases the last hot-plugged vCPU.
    mark = guest.size()
    d.skiff("setvcpus", NAME, "3", "--live")
    guest.wait(r"^SKIFF-CPUS: 0-2$", since=mark)
    counts = guest.vcpucount()
    assert counts["current live"] == 3 and counts["current config"] == 2, counts
    assert "CPU(s):         3" in d.skiff("dominfo", NAME).stdout
    assert wait_until(lambda: len([n for n in threads(guest.pid).values()
                                   if n.startswith("CPU ")]) == 3, 10), threads(guest.pid)

    # vCPUs QEMU made at boot cannot go; nothing changes.
    r = d.skiff("setvcpus", NAME, "1", "--live", check=False)
    assert r.returncode == 1, r.stdout
    assert "only hot-plugged vcpus can be unplugged" in r.stderr, r.stderr
    assert guest.vcpucount()["current live"] == 3

    # --config changes the definition's current count only.
    d.skiff("setvcpus", NAME, "1", "--config")
    counts = guest.vcpucount()
    assert counts["current config"] == 1 and counts["current live"] == 3, counts
    assert "current='1'" in d.skiff("dumpxml", "--inactive", NAME).stdout
    d.skiff("setvcpus", NAME, "2", "--config")


def test_unplug_a_guest_does_not_release_times_out(guest):
    d = guest.d
    # A paused guest cannot answer the ACPI eject request.
    d.skiff("suspend", NAME)
    r = d.skiff("setvcpus", NAME, "2", "--live", check=False)
    assert r.returncode == 1, r.stdout
    assert "'vcpu2' was not released by the guest within" in r.stderr, r.stderr
    assert guest.vcpucount()["current live"] == 3
    # Once it runs again it handles the pending request.
    mark = guest.size()
    d.skiff("resume", NAME)
    guest.wait(r"^SKIFF-CPUS: 0-1$", since=mark, timeout=60)
    assert wait_until(lambda: guest.vcpucount()["current live"] == 2, 20)
    # Under TCG a freed slot is not plugged again while this QEMU runs (QEMU 7.2
    # would die), also after a daemon restart.
    for restart in (False, True):
        if restart:
            d.kill_and_restart()
        r = d.skiff("setvcpus", NAME, "3", "--live", check=False)
        assert r.returncode == 1 and "cannot be plugged again after an unplug" in r.stderr, \
            r.stderr
        assert guest.vcpucount()["current live"] == 2
    assert pid_alive(guest.pid)


def cpu_weight_or_shares(pid):
    for d in assert_in_own_cgroup(pid, NAME):
        for f in ("cpu.shares", "cpu.weight"):
            if (d / f).exists():
                return f, int((d / f).read_text())
    pytest.fail("no cpu controller")


def test_schedinfo_reads_and_writes_the_cgroup(guest):
    d = guest.d
    f, before = cpu_weight_or_shares(guest.pid)
    out = d.skiff("schedinfo", NAME).stdout
    assert out.startswith("Scheduler      : posix\n"), out
    shown = int(re.search(r"^cpu_shares\s+: (\d+)$", out, re.M).group(1))
    if f == "cpu.shares":
        assert shown == before, (shown, before)
    out = d.skiff("schedinfo", NAME, "--set", "cpu_shares=300", "--live").stdout
    assert "cpu_shares     : 300" in out, out
    assert cpu_weight_or_shares(guest.pid) == (f, 300 if f == "cpu.shares" else 12)
    assert "<shares>300</shares>" in d.skiff("dumpxml", NAME).stdout
    assert "<shares>" not in d.skiff("dumpxml", "--inactive", NAME).stdout
    assert "cpu_shares     : 0" in d.skiff("schedinfo", NAME, "--config").stdout
    d.skiff("schedinfo", NAME, "--set", "cpu_shares=700", "--config")
    assert "<shares>700</shares>" in d.skiff("dumpxml", "--inactive", NAME).stdout
    assert cpu_weight_or_shares(guest.pid) == (f, 300 if f == "cpu.shares" else 12)
    r = d.skiff("schedinfo", NAME, "--set", "cpu_shares=1", "--live", check=False)
    assert r.returncode == 1 and "out of range 2..262144" in r.stderr, r.stderr


def test_vcpupin_and_emulatorpin_move_the_threads(guest):
    if os.cpu_count() < 2:
        pytest.skip("needs 2 CPUs")
    d, pid = guest.d, guest.pid
    vcpus = {name: tid for tid, name in threads(pid).items() if name.startswith("CPU ")}
    d.skiff("vcpupin", NAME, "1", "1", "--live")
    d.skiff("vcpupin", NAME, "0", "0", "--live")
    assert affinity(pid, vcpus["CPU 1/TCG"]) == "1"
    assert affinity(pid, vcpus["CPU 0/TCG"]) == "0"
    table = d.skiff("vcpupin", NAME).stdout
    assert table.startswith(" VCPU   CPU Affinity\n----------------------\n"), table
    assert re.search(r"^ 0      0$", table, re.M) and re.search(r"^ 1      1$", table, re.M)
    assert "vcpupin vcpu='1' cpuset='1'" in d.skiff("dumpxml", NAME).stdout
    assert "vcpupin" not in d.skiff("dumpxml", "--inactive", NAME).stdout
    info = d.skiff("vcpuinfo", NAME, "--pretty").stdout
    assert re.search(r"^VCPU:\s+1\nCPU:\s+\d+\nState:\s+running\nCPU time:\s+[\d.]+s\n"
                     r"CPU Affinity:\s+1$", info, re.M), info

    d.skiff("emulatorpin", NAME, "1", "--live")
    assert affinity(pid, pid) == "1"
    assert affinity(pid, vcpus["CPU 0/TCG"]) == "0"  # vCPU threads keep theirs
    assert "       *: 1" in d.skiff("emulatorpin", NAME).stdout

    # --config: the definition only; a bad cpu list or vcpu is refused.
    d.skiff("vcpupin", NAME, "2", "0-1", "--config")
    assert "vcpupin vcpu='2' cpuset='0-1'" in d.skiff("dumpxml", "--inactive", NAME).stdout
    assert affinity(pid, vcpus["CPU 1/TCG"]) == "1"
    r = d.skiff("vcpupin", NAME, "0", "999", "--live", check=False)
    assert r.returncode == 1 and "names no CPU of this host" in r.stderr, r.stderr
    r = d.skiff("vcpupin", NAME, "7", "0", "--live", check=False)
    assert r.returncode == 1 and "out of range" in r.stderr, r.stderr
    assert affinity(pid, vcpus["CPU 0/TCG"]) == "0"
