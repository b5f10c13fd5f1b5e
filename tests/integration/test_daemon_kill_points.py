"""skiffd killed (SIGKILL) at twenty randomized points of `start` (issue 23 item
1) and started again. After every kill the domain is in exactly one consistent
state: running or paused with exactly one QEMU of ours, or shut off with no QEMU
of ours left, and `start` works. Before, a kill in the ~100 ms after QEMU was
spawned left it running behind a "shut off" domain that could never start
again (its QEMU held the pid file lock), and one killed before QEMU had written
its pid file was not found even by the orphan reaper.
"""
import pathlib
import random
import subprocess
import time

from framework.daemon import daemon_session
from framework.guest import domain_xml
from framework.util import SKIFF, pid_alive, require_guest, wait_until

KILLS = 20


def qemus_of(root, name):
    """Pids of the QEMU processes running domain `name` of the daemon at `root`."""
    qmp = f"{root}/run/skiff/domains/{name}.qmp".encode()
    pids = []
    for p in pathlib.Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes()
        except OSError:
            continue
        if qmp in cmd and pid_alive(int(p.name)):
            pids.append(int(p.name))
    return pids


def state(d, name):
    return d.skiff("domstate", name).stdout.strip()


def killed_during(d, args, window):
    """Runs `skiff ARGS`, kills skiffd after a random moment within `window`
    seconds, waits for the client and starts skiffd again; returns the delay."""
    delay = random.uniform(0, window)
    client = subprocess.Popen([str(SKIFF), *args], env=d.env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    time.sleep(delay)
    d.kill()
    client.kill()  # it would wait for a job the killed daemon no longer runs
    client.wait(timeout=20)
    d.spawn()
    return delay


def test_kill_during_start():
    kernel, initrd = require_guest()
    with daemon_session("skiffd-kstart-") as d:
        (d.root / "k.xml").write_text(domain_xml("k1", kernel, initrd, memory_mib=128,
                                                 cmdline="skiff.nodhcp=1"))
        d.skiff("define", str(d.root / "k.xml"))
        for i in range(KILLS):
            # Paused: QEMU is spawned and set up as for any start, and costs no CPU after.
            delay = killed_during(d, ("start", "--paused", "k1"), 0.4)
            s, qemus = state(d, "k1"), qemus_of(d.root, "k1")
            where = f"kill {i} at {delay * 1000:.0f} ms: {s}, qemu {qemus}"
            if s in ("running", "paused"):
                assert len(qemus) == 1, where
                d.pids.extend(qemus)
            else:
                assert s == "shut off", where
                assert qemus == [], where  # an orphan would hold the pid file lock
                d.skiff("start", "--paused", "k1")
                d.pids.extend(qemus_of(d.root, "k1"))
            d.skiff("destroy", "k1")
            assert wait_until(lambda: not qemus_of(d.root, "k1"), 20), where
