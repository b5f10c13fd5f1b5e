"""A guest kernel panic through a <panic> device (pvpanic, QEMU's GUEST_PANICKED) and
what <on_crash> makes of it, as virsh shows it: destroy -> shut off (crashed);
restart -> the same QEMU boots again, running (crashed); preserve -> crashed
(panicked) with QEMU kept until destroyed; coredump-destroy -> an ELF core of the
guest's memory in ROOT/var/lib/skiff/dump, then shut off (crashed). The four guests
run side by side to keep the test short.
"""
import socket
import time

from framework.daemon import Events
from framework.guest import domain_xml
from framework.qmp import qmp
from framework.util import pid_alive, wait_until

ACTIONS = {"pdestroy": "destroy", "prestart": "restart", "ppreserve": "preserve",
           "pdump": "coredump-destroy", "plate": "destroy"}
# The isa model on most guests; one pvpanic-pci, which the guest drives through its own module.
PANIC = {"pdestroy": "<panic model='isa'><address type='isa' iobase='0x505'/></panic>",
         "prestart": "<panic model='pvpanic'/>",
         "ppreserve": "<panic model='isa'/>",
         "pdump": "<panic model='isa'/>",
         "plate": "<panic model='isa'/>"}
SIDE_BY_SIDE = ("pdestroy", "prestart", "ppreserve", "pdump")


def panic_xml(env, name):
    return domain_xml(name, env.kernel, env.initrd, memory_mib=128,
                      cmdline="skiff.nodhcp=1 panic=0",
                      head=f"  <on_crash>{ACTIONS[name]}</on_crash>\n",
                      devices=f"    {PANIC[name]}\n")


def console_send(env, name, text):
    """Types `text` on the domain's serial console (the guest runs a shell there)."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(str(env.root / f"run/skiff/domains/{name}.console"))
    s.sendall(text.encode())
    time.sleep(0.3)
    s.close()


def panic(env, name, crashed):
    """Panics the guest from its console shell; asks again while the shell was not yet
    reading (just booted) until `crashed()` says the daemon saw it."""
    for _ in range(6):
        console_send(env, name, "\necho SKIFF-PANICKING; echo c > /proc/sysrq-trigger\n")
        if wait_until(crashed, 10):
            return
    assert crashed(), f"{name} did not panic:\n{env.log(name)[-3000:]}"


def test_on_crash_actions_after_a_guest_panic(env):
    ev = Events(env.d)
    try:
        for name in SIDE_BY_SIDE:
            xml = env.root / f"{name}.xml"
            xml.write_text(panic_xml(env, name))
            env.d.skiff("define", str(xml))
            dumped = env.d.skiff("dumpxml", name).stdout
            assert PANIC[name].split(">")[0].rstrip("/") in dumped, dumped
            assert f"<on_crash>{ACTIONS[name]}</on_crash>" in dumped
            env.d.skiff("start", name)
        for name in SIDE_BY_SIDE:
            env.wait_marker(name, "SKIFF-GUEST-READY", timeout=150)
        pids = {name: env.qemu_pid(name) for name in SIDE_BY_SIDE}

        # destroy: QEMU goes, the domain is shut off (crashed).
        panic(env, "pdestroy", lambda: env.state("pdestroy") == "shut off (crashed)")
        ev.wait("pdestroy", "crashed", "panicked")
        ev.wait("pdestroy", "stopped", "crashed")
        assert wait_until(lambda: not pid_alive(pids["pdestroy"]), 10)

        # preserve: crashed (panicked), QEMU kept and stopped; destroy still works.
        panic(env, "ppreserve", lambda: env.state("ppreserve") == "crashed (panicked)")
        ev.wait("ppreserve", "crashed", "panicked")
        time.sleep(1)
        assert env.state("ppreserve") == "crashed (panicked)"
        assert pid_alive(pids["ppreserve"])
        info = env.d.skiff("dominfo", "ppreserve").stdout
        assert "crashed" in info, info
        env.d.skiff("destroy", "ppreserve")
        assert env.state("ppreserve") == "shut off (destroyed)"
        assert wait_until(lambda: not pid_alive(pids["ppreserve"]), 10)

        # restart: the same QEMU resets and boots the guest again.
        panic(env, "prestart", lambda: env.count("prestart", "SKIFF-GUEST-READY") >= 2 or
              env.state("prestart") == "running (crashed)")
        env.wait_marker("prestart", "SKIFF-GUEST-READY", 2, timeout=150)
        assert env.state("prestart") == "running (crashed)"
        assert env.qemu_pid("prestart") == pids["prestart"]
        ev.wait("prestart", "crashed", "panicked")
        ev.wait("prestart", "resumed", "unpaused")

        # coredump-destroy: an ELF core of the guest's memory, then shut off (crashed).
        panic(env, "pdump", lambda: env.state("pdump") == "shut off (crashed)")
        ev.wait("pdump", "stopped", "crashed")
        dumps = list((env.root / "var/lib/skiff/dump").glob("*-pdump-*"))
        assert len(dumps) == 1, dumps
        with open(dumps[0], "rb") as f:
            head = f.read(20)
        assert head[:4] == b"\x7fELF", head
        assert int.from_bytes(head[16:18], "little") == 4  # ET_CORE
        assert dumps[0].stat().st_size >= 128 << 20  # all of the guest's memory
        assert not pid_alive(pids["pdump"])
    finally:
        ev.close()


def test_a_panic_while_skiffd_was_down_is_handled_at_restart(env):
    xml = env.root / "plate.xml"
    xml.write_text(panic_xml(env, "plate"))
    env.d.skiff("define", str(xml))
    env.d.skiff("start", "plate")
    env.wait_marker("plate", "SKIFF-GUEST-READY", timeout=150)
    pid = env.qemu_pid("plate")
    env.d.kill()
    try:
        # With skiffd gone, panic the guest through QEMU's own serial socket; QEMU stops it
        # (-action panic=pause) and nobody is there to see GUEST_PANICKED.
        status = lambda: qmp(env.root / "run/skiff/domains/plate.qmp", "query-status")["return"]
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(env.root / "run/skiff/domains/plate.serial"))
            for _ in range(6):
                s.sendall(b"\recho c > /proc/sysrq-trigger\r")
                if wait_until(lambda: status()["status"] == "guest-panicked", 10):
                    break
        assert status()["status"] == "guest-panicked", status()
        assert pid_alive(pid)  # stopped, not gone: the panic waits for <on_crash>
    finally:
        env.d.spawn()  # and the fixture's clean-up destroys the guest
    env.wait_state("plate", "shut off (crashed)", timeout=30)
    assert wait_until(lambda: not pid_alive(pid), 10)


def test_panic_model_qemu_cannot_do_is_refused(env):
    xml = env.root / "bad.xml"
    xml.write_text(domain_xml("bad", env.kernel, env.initrd, devices="    <panic model='hyperv'/>\n"))
    r = env.d.skiff("define", str(xml), check=False)
    assert r.returncode != 0
    assert "panic model 'hyperv' is not supported" in r.stderr, r.stderr
    assert not (env.root / "etc/skiff/domains/bad.xml").exists()
