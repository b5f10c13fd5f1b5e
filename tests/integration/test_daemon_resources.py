"""Resource control through skiffd: <cputune><shares> and <memtune> land in the domain's own
cgroup, <vcpupin>/<emulatorpin> in its QEMU threads' affinity; the cgroup goes with
the domain.
"""
import os
import pathlib
import tempfile
import time

from framework.daemon import Daemon
from framework.guest import domain_xml
from framework.host import affinity, assert_in_own_cgroup, qemu_pid, threads
from framework.util import pid_alive, require_guest, wait_for


def pinned_xml(name, kernel, initrd):
    cputune = """  <cputune>
    <shares>512</shares>
    <vcpupin vcpu='0' cpuset='1'/>
    <vcpupin vcpu='1' cpuset='0'/>
    <emulatorpin cpuset='1'/>
  </cputune>
  <memtune>
    <hard_limit unit='GiB'>2</hard_limit>
    <soft_limit unit='GiB'>1</soft_limit>
  </memtune>
"""
    return domain_xml(name, kernel, initrd, memory_mib=192, vcpu="<vcpu>2</vcpu>",
                      cmdline="skiff.nodhcp=1", head=cputune, console=False)


def test_cputune_shares_and_pinning_apply_to_the_qemu():
    kernel, initrd = require_guest()
    if os.cpu_count() < 2:
        import pytest
        pytest.skip("needs 2 CPUs")
    with tempfile.TemporaryDirectory(prefix="skiffd-res-") as root:
        root = pathlib.Path(root)
        (root / "p.xml").write_text(pinned_xml("p", kernel, initrd))
        d = Daemon(root)
        pid = None
        try:
            d.skiff("define", str(root / "p.xml"))
            d.skiff("start", "p")
            pid = qemu_pid(root, "p")
            assert wait_for(root / "var/log/skiff/domains/p.log", "SKIFF-GUEST-READY", 150)

            dirs = assert_in_own_cgroup(pid, "p")
            values = {}
            for c in dirs:
                for f in ("cpu.shares", "cpu.weight", "memory.limit_in_bytes", "memory.max",
                          "memory.soft_limit_in_bytes", "memory.high"):
                    if (c / f).exists():
                        values[f] = (c / f).read_text().strip()
            if "cpu.shares" in values:
                assert values["cpu.shares"] == "512"
                # <memtune>: hard limit and soft limit
                assert values["memory.limit_in_bytes"] == str(2 << 30)
                assert values["memory.soft_limit_in_bytes"] == str(1 << 30)
            else:
                assert values["cpu.weight"] == "20"  # 512 shares on the weight scale
                assert values["memory.max"] == str(2 << 30)
                assert values["memory.high"] == str(1 << 30)
            xml = d.skiff("dumpxml", "p").stdout
            assert "<hard_limit unit='KiB'>2097152</hard_limit>" in xml

            ts = threads(pid)
            vcpus = {name: tid for tid, name in ts.items() if name.startswith("CPU ")}
            assert sorted(vcpus) == ["CPU 0/TCG", "CPU 1/TCG"], ts
            assert affinity(pid, vcpus["CPU 0/TCG"]) == "1"
            assert affinity(pid, vcpus["CPU 1/TCG"]) == "0"
            assert affinity(pid, pid) == "1"  # the main (emulator) thread

            cgroups = list(dirs)
            d.skiff("destroy", "p")
            assert not pid_alive(pid)
            for c in cgroups:
                for _ in range(50):
                    if not c.exists():
                        break
                    time.sleep(0.1)
                assert not c.exists(), f"cgroup {c} left behind"
        finally:
            if pid and pid_alive(pid):
                os.kill(pid, 9)
            d.stop()

