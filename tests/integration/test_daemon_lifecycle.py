"""Lifecycle of a real QEMU guest (TCG) through skiffd, as a virsh user sees it:
states and reasons, ACPI shutdown, reboot, reset, suspend/resume, the
on_poweroff / on_reboot actions, a QEMU that dies, autostart at daemon start,
start failures that leave nothing behind, the event stream, and domstats. The
`env` fixture (conftest.py) is a daemon on a fresh root with the test guest.
"""
import json
import os
import signal
import subprocess
import time

from framework.daemon import Daemon, Events
from framework.util import pid_alive


def test_states_reasons_and_events_through_a_whole_life(env):
    ev = Events(env.d)
    try:
        env.define("life")
        env.d.skiff("start", "--paused", "life")
        assert env.state("life") == "paused (user)" or env.state("life").startswith("paused")
        ev.wait("life", "started")
        env.d.skiff("resume", "life")
        assert env.state("life") == "running (unpaused)"
        env.wait_marker("life", "SKIFF-GUEST-READY")

        env.d.skiff("suspend", "life")
        assert env.state("life") == "paused (user)"
        ev.wait("life", "suspended")
        env.d.skiff("resume", "life")
        assert env.state("life") == "running (unpaused)"
        ev.wait("life", "resumed")

        # reboot: the guest boots again, QEMU keeps running, the domain stays running.
        pid = env.qemu_pid("life")
        env.d.skiff("reboot", "life")
        env.wait_marker("life", "SKIFF-GUEST-READY", 2, timeout=180)
        assert env.qemu_pid("life") == pid
        assert env.state("life").startswith("running")

        # reset: a hard reset, likewise.
        env.d.skiff("reset", "life")
        env.wait_marker("life", "SKIFF-GUEST-READY", 3, timeout=180)
        assert env.state("life").startswith("running")

        # ACPI shutdown: the guest sees the power button, powers off, QEMU exits.
        r = env.shutdown("life")
        assert "is being shutdown" in r.stdout
        env.wait_state("life", "shut off (shutdown)", timeout=60)
        assert not pid_alive(pid)
        ev.wait("life", "stopped", "shutdown")
        assert not (env.root / "run/skiff/domains/life.qemu.json").exists()
    finally:
        ev.close()


def test_killed_qemu_is_crashed_and_noticed_at_once(env):
    env.define("victim")
    env.d.skiff("start", "victim")
    env.wait_marker("victim", "SKIFF-GUEST-READY")
    pid = env.qemu_pid("victim")
    os.kill(pid, signal.SIGKILL)
    t0 = time.time()
    env.wait_state("victim", "shut off (crashed)", timeout=10)
    assert time.time() - t0 < 5, "QEMU's death took too long to notice"
    # and it starts again cleanly
    env.d.skiff("start", "victim")
    env.wait_marker("victim", "SKIFF-GUEST-READY", 2)
    env.d.skiff("destroy", "victim")
    assert env.state("victim") == "shut off (destroyed)"


def test_on_reboot_destroy_and_on_poweroff_restart(env):
    env.define("noreboot", on_reboot="destroy")
    env.d.skiff("start", "noreboot")
    env.wait_marker("noreboot", "SKIFF-GUEST-READY")
    pid = env.qemu_pid("noreboot")
    env.d.skiff("reboot", "noreboot")
    # like libvirt: QEMU runs with -no-reboot, exits at the guest's reset, and the domain
    # is shut off with reason shutdown
    env.wait_state("noreboot", "shut off (shutdown)", timeout=90)
    assert not pid_alive(pid)
    assert env.count("noreboot", "SKIFF-GUEST-READY") == 1

    env.define("phoenix", on_poweroff="restart")
    env.d.skiff("start", "phoenix")
    env.wait_marker("phoenix", "SKIFF-GUEST-READY")
    env.shutdown("phoenix")
    # the guest powered off; the domain comes back by itself
    env.wait_marker("phoenix", "SKIFF-GUEST-READY", 2, timeout=120)
    assert env.state("phoenix").startswith("running")
    env.d.skiff("destroy", "phoenix")
    assert env.state("phoenix") == "shut off (destroyed)"


def test_autostart_at_daemon_start(env):
    env.define("auto")
    env.define("manual")
    env.d.skiff("autostart", "auto")
    assert (env.root / "etc/skiff/domains/autostart/auto.xml").exists()
    env.d.stop()
    env.d = Daemon(env.root)
    env.wait_state("auto", "running (booted)", timeout=30)
    assert env.state("manual") == "shut off (unknown)" or env.state("manual").startswith("shut off")
    env.wait_marker("auto", "SKIFF-GUEST-READY")
    env.d.skiff("autostart", "--disable", "auto")
    assert not (env.root / "etc/skiff/domains/autostart/auto.xml").exists()


def test_failed_start_reports_qemu_and_leaves_nothing(env):
    env.define("broken", disk="/nonexistent/skiff-missing.img")
    r = env.d.skiff("start", "broken", check=False)
    assert r.returncode == 1
    assert r.stderr.startswith("error:")
    assert "skiff-missing.img" in r.stderr
    assert env.state("broken").startswith("shut off")
    run = env.root / "run/skiff/domains"
    leftovers = [p.name for p in run.iterdir() if p.name.startswith("broken")] if run.exists() else []
    assert leftovers == []
    out = subprocess.run(["pgrep", "-f", "guest=broken"], capture_output=True, text=True).stdout
    assert out.strip() == ""


def test_domstats_and_dominfo_report_real_counters(env):
    disk = env.root / "data.img"
    subprocess.run(["truncate", "-s", "64M", str(disk)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(disk)], check=True)
    env.define("busy", disk=disk)
    env.d.skiff("start", "busy")
    env.wait_marker("busy", "SKIFF-WROTE hello.txt", timeout=120)
    stats = json.loads(env.d.skiff("domstats", "--json", "busy").stdout)[0]["stats"]
    assert stats["state.state"] == 1
    assert stats["cpu.time"] > 0
    assert stats["balloon.maximum"] == 192 * 1024
    assert stats["vcpu.current"] == 1
    assert stats["block.count"] == 1
    assert stats["block.0.name"] == "vda"
    assert stats["block.0.rd.reqs"] > 0 and stats["block.0.rd.bytes"] > 0
    assert stats["block.0.wr.reqs"] > 0 and stats["block.0.wr.bytes"] > 0
    text = env.d.skiff("domstats", "busy").stdout
    assert "block.0.name=vda" in text.replace('"', "")
    info = env.d.skiff("dominfo", "busy").stdout
    assert "State:          running" in info
    assert "CPU time:" in info
