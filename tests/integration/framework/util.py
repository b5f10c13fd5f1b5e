"""Paths of the build under test, polling, and the test guest's files."""
import os
import pathlib
import time

# The source tree (CTest sets SKIFF_SOURCE_DIR) and the build tree (SKIFF_BUILD_DIR),
# by default build/ in the source tree.
SOURCE = pathlib.Path(os.environ.get("SKIFF_SOURCE_DIR",
                                     pathlib.Path(__file__).resolve().parents[3]))
BUILD = pathlib.Path(os.environ.get("SKIFF_BUILD_DIR", SOURCE / "build"))
BIN = BUILD / "bin"
SKIFF = BIN / "skiff"
GUEST = BUILD / "guest"


def wait_until(pred, timeout, step=0.2):
    """Polls pred until it returns something true or timeout seconds pass; returns its value."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def wait_for(path, marker, timeout):
    """True once the file at `path` contains `marker`, False after `timeout` seconds."""
    return bool(wait_until(lambda: path.exists() and marker in path.read_text(errors="replace"),
                           timeout))


def pid_alive(pid):
    """True while process `pid` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


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
