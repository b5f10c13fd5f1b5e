"""skiffd on a temporary root, driven with the skiff CLI: Daemon, daemon_session,
the event stream (Events) and Env (a daemon plus the test guest, for the `env`
fixture of conftest.py)."""
import contextlib
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from framework.guest import lifecycle_xml
from framework.host import qemu_pid
from framework.util import BIN, SKIFF, pid_alive, require_guest, wait_until


class Daemon:
    """skiffd on state root `root` (`--root`), started at once; `extra` are more
    skiffd flags (e.g. "--fake-hypervisor"). `env` is the environment for a client
    (SKIFF_URI names the daemon's socket); `pids` collects QEMU pids that
    daemon_session kills if they are left at the end."""

    def __init__(self, root, *extra, skiff_timeout=120):
        self.root = pathlib.Path(root)
        self.sock = self.root / "run/skiff/skiffd.sock"
        self.extra = extra
        self.skiff_timeout = skiff_timeout
        self.pids = []
        self.spawn()

    def spawn(self):
        """Starts skiffd (again, after kill()) and waits for its socket."""
        if self.sock.exists():
            self.sock.unlink()
        self.proc = subprocess.Popen([str(BIN / "skiffd"), "--root", str(self.root), *self.extra],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # Ready when a client can connect: the socket file appears at bind(),
        # a moment before listen() (on a loaded machine that moment is long).
        deadline = time.time() + 20
        while not self._accepts():
            if self.proc.poll() is not None:
                raise RuntimeError("skiffd exited: " + self.proc.stderr.read().decode())
            if time.time() > deadline:
                raise RuntimeError("skiffd did not accept connections on its socket")
            time.sleep(0.02)
        self.env = dict(os.environ, SKIFF_URI=f"unix://{self.sock}")

    def _accepts(self):
        if not self.sock.exists():
            return False
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
            try:
                c.connect(str(self.sock))
                return True
            except OSError:
                return False

    def skiff(self, *args, check=True, env=None, **kw):
        """Runs `skiff ARGS` against this daemon (in `env` if given, else self.env);
        with check, fails the test unless it exits 0. Returns the CompletedProcess."""
        r = subprocess.run([str(SKIFF), *args], env=env or self.env, capture_output=True,
                           text=True, timeout=self.skiff_timeout, **kw)
        if check and r.returncode != 0:
            raise AssertionError(f"skiff {' '.join(args)}: {r.stdout}{r.stderr}")
        return r

    def kill(self):
        """`kill -9` skiffd; its guests run on, and spawn() starts it again."""
        self.proc.kill()
        self.proc.wait(timeout=20)

    def kill_and_restart(self):
        self.kill()
        self.spawn()

    def stop(self):
        """SIGTERM, if it still runs; returns skiffd's exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        return self.proc.returncode


@contextlib.contextmanager
def daemon_session(prefix, *extra):
    """A skiffd on a fresh root (a temporary directory named `prefix`...), started
    with the options `extra`. Afterwards
    every running domain is destroyed, the daemon stopped, any QEMU whose pid a test
    added to `d.pids` killed if it is still there, and the root removed."""
    root = pathlib.Path(tempfile.mkdtemp(prefix=prefix))
    d = None
    try:
        d = Daemon(root, *extra)
        yield d
    finally:
        if d is not None:
            for name in d.skiff("list", "--name", check=False).stdout.split():
                d.skiff("destroy", name, check=False)
            d.stop()
            for pid in d.pids:
                if pid_alive(pid):
                    os.kill(pid, 9)
        shutil.rmtree(root, ignore_errors=True)


class Events:
    """`skiff event --loop --json` in the background, collecting every event it prints."""

    def __init__(self, d):
        self.proc = subprocess.Popen([str(SKIFF), "event", "--loop", "--json"],
                                     env=d.env, stdout=subprocess.PIPE, text=True)
        self.seen = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        time.sleep(0.5)  # let the stream subscribe

    def _read(self):
        for line in self.proc.stdout:
            self.seen.append(json.loads(line))

    def wait(self, name, event, detail=None, timeout=60):
        def found():
            return next((ev for ev in list(self.seen) if ev.get("name") == name and
                         ev.get("event") == event and
                         (detail is None or ev.get("detail") == detail)), None)
        ev = wait_until(found, timeout)
        assert ev, f"no event {event}/{detail} for {name}; saw {self.seen}"
        return ev

    def close(self):
        self.proc.kill()
        self.proc.wait()


class Env:
    """A Daemon `d` on `root` and the test guest's `kernel` and `initrd`, with helpers
    that address guests by name: their console log, markers and state."""

    def __init__(self, root):
        self.root = pathlib.Path(root)
        self.kernel, self.initrd = require_guest()
        self.d = Daemon(self.root)

    def log(self, name):
        p = self.root / f"var/log/skiff/domains/{name}.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def count(self, name, marker):
        return self.log(name).count(marker)

    def wait_marker(self, name, marker, n=1, timeout=120):
        ok = wait_until(lambda: self.count(name, marker) >= n, timeout)
        assert ok, f"{marker} x{n} not seen in {name}'s log:\n{self.log(name)[-3000:]}"

    def state(self, name):
        return self.d.skiff("domstate", "--reason", name).stdout.strip()

    def wait_state(self, name, want, timeout=60):
        got = wait_until(lambda: self.state(name) == want, timeout)
        assert got, f"{name}: state {self.state(name)!r}, wanted {want!r}"

    def shutdown(self, name):
        """`skiff shutdown --mode acpi`, pressed again every 15 s until the guest reports
        SKIFF-GUEST-POWERDOWN: a guest that has just booted may miss the button (its acpid
        is still opening the input devices), and an administrator would press it again."""
        seen = self.count(name, "SKIFF-GUEST-POWERDOWN")
        first = self.d.skiff("shutdown", "--mode", "acpi", name)
        for _ in range(3):
            if wait_until(lambda: self.count(name, "SKIFF-GUEST-POWERDOWN") > seen, 15):
                break
            self.d.skiff("shutdown", "--mode", "acpi", name, check=False)
        self.wait_marker(name, "SKIFF-GUEST-POWERDOWN", seen + 1, timeout=15)
        return first

    def define(self, name, **kw):
        """Defines the test guest `name` (lifecycle_xml: disk, on_poweroff, on_reboot)."""
        xml = self.root / f"{name}.xml"
        xml.write_text(lifecycle_xml(name, self.kernel, self.initrd, **kw))
        self.d.skiff("define", str(xml))

    def qemu_pid(self, name):
        return qemu_pid(self.root, name)

    def close(self):
        for line in self.d.skiff("list", "--name", check=False).stdout.split():
            self.d.skiff("destroy", line, check=False)
        self.d.stop()
