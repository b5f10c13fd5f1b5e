"""A guest's serial console: read from its log file (ConsoleLog) or through
`skiff console` (Viewer)."""
import re
import subprocess
import threading
import time

from framework.host import qemu_pid
from framework.util import SKIFF, wait_until

TERMINAL_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class ConsoleLog:
    """A running guest's console, read from its log (ROOT/var/log/skiff/domains/NAME.log)."""

    def __init__(self, d, root, name):
        self.d, self.root, self.name = d, root, name
        self.log = root / f"var/log/skiff/domains/{name}.log"

    def text(self, since=0):
        """The console output after byte `since`, without carriage returns or the
        terminal escapes of the guest's shell (its prompt asks for the cursor position)."""
        if not self.log.exists():
            return ""
        with open(self.log, "rb") as f:
            f.seek(since)
            return TERMINAL_ESCAPE.sub("", f.read().decode(errors="replace").replace("\r", ""))

    def size(self):
        return self.log.stat().st_size if self.log.exists() else 0

    def qemu_pid(self):
        return qemu_pid(self.root, self.name)

    def wait(self, pattern, since=0, timeout=90):
        """The first match of `pattern` in the log after byte `since`; fails the test
        with the log's tail when none comes within `timeout` seconds."""
        import pytest
        m = wait_until(lambda: re.search(pattern, self.text(since), re.M), timeout, 0.3)
        if not m:
            pytest.fail(f"no {pattern!r} in the console within {timeout}s:\n"
                        + self.text(since)[-3000:])
        return m


class Viewer:
    """`skiff console NAME` with pipes: collects what it prints."""

    def __init__(self, d, name):
        self.proc = subprocess.Popen([str(SKIFF), "console", name], env=d.env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.out = b""
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while True:
            b = self.proc.stdout.read1(4096)
            if not b:
                return
            with self.lock:
                self.out += b

    def text(self):
        with self.lock:
            return self.out.decode(errors="replace")

    def wait_for(self, marker, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if marker in self.text():
                return True
            if self.proc.poll() is not None:
                time.sleep(0.2)
                return marker in self.text()
            time.sleep(0.1)
        return False

    def type(self, s):
        self.proc.stdin.write(s.encode())
        self.proc.stdin.flush()

    def leave(self):
        """Ctrl-] as a user presses it."""
        self.type("\x1d")
        rc = self.proc.wait(timeout=20)
        self.reader.join(timeout=5)
        return rc


def shell(d, log, name, command, marker):
    """Runs `command` on guest `name`'s console shell and waits for `marker` (a
    regex) in its console log `log`; returns the match."""
    con = Viewer(d, name)
    try:
        since = log.size()
        con.type(f"\r{command}\r")
        return log.wait(marker, since=since, timeout=60)
    finally:
        con.leave()
