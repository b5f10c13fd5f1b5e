"""Shared pieces of the integration tests: the test guest's domain XML, polling and
its serial console."""
import json
import os
import pathlib
import re
import socket
import subprocess
import threading
import time


def domain_xml(name, kernel, initrd, *, cmdline="", memory_mib=256, vcpu="<vcpu>1</vcpu>",
               machine="q35", head="", devices="", console=True):
    """A TCG domain that boots the test guest's kernel and initrd with its serial console.

    head: XML placed after <os> (features, cputune, lifecycle actions, ...);
    devices: XML placed first in <devices> (disks, interfaces, ...).
    """
    serial = "    <serial type='pty'><target port='0'/></serial>\n"
    if console:
        serial += "    <console type='pty'><target type='serial' port='0'/></console>\n"
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>{memory_mib}</memory>
  {vcpu}
  <os>
    <type arch='x86_64' machine='{machine}'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>console=ttyS0 {cmdline}</cmdline>
  </os>
{head}  <devices>
{devices}{serial}  </devices>
</domain>
"""


def disk_xml(dev, *, file=None, pool=None, volume=None, fmt="raw"):
    """A virtio disk from a file, or from a volume of a pool."""
    if file is not None:
        kind, source = "file", f"<source file='{file}'/>"
    else:
        kind, source = "volume", f"<source pool='{pool}' volume='{volume}'/>"
    return f"""    <disk type='{kind}' device='disk'>
      <driver name='qemu' type='{fmt}'/>
      {source}
      <target dev='{dev}' bus='virtio'/>
    </disk>
"""


def wait_until(pred, timeout, step=0.2):
    """Polls pred until it returns something true or timeout seconds pass; returns its value."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


BUILD = pathlib.Path(os.environ.get("SKIFF_BUILD_DIR", "build"))
SKIFF = BUILD / "bin" / "skiff"
GUEST = BUILD / "guest"


def require_guest():
    """The test guest's kernel and initrd; skips the test when they were not built
    (fails it in CI, where they must be)."""
    import pytest
    kernel, initrd = GUEST / "vmlinuz", GUEST / "initrd.img"
    if not (kernel.exists() and initrd.exists()):
        msg = f"test guest missing in {GUEST}: run cmake --build build --target guest"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return kernel, initrd


def wait_for(path, marker, timeout):
    """True once the file at `path` contains `marker`, False after `timeout` seconds."""
    return bool(wait_until(lambda: path.exists() and marker in path.read_text(errors="replace"),
                           timeout))


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


def qmp(sock_path, command):
    """Runs one QMP command on QEMU's monitor socket (free while skiffd is down) and
    returns the reply."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(20)
        s.connect(str(sock_path))
        f = s.makefile("rw")
        json.loads(f.readline())
        f.write(json.dumps({"execute": "qmp_capabilities"}) + "\n")
        f.flush()
        assert "return" in json.loads(f.readline())
        f.write(json.dumps({"execute": command}) + "\n")
        f.flush()
        while True:
            reply = json.loads(f.readline())
            if "event" not in reply:
                return reply


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
        status = self.root / f"run/skiff/domains/{self.name}.qemu.json"
        return json.loads(status.read_text())["pid"]

    def wait(self, pattern, since=0, timeout=90):
        """The first match of `pattern` in the log after byte `since`; fails the test
        with the log's tail when none comes within `timeout` seconds."""
        import pytest
        m = wait_until(lambda: re.search(pattern, self.text(since), re.M), timeout, 0.3)
        if not m:
            pytest.fail(f"no {pattern!r} in the console within {timeout}s:\n"
                        + self.text(since)[-3000:])
        return m
