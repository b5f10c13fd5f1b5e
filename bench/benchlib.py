"""What the storage and clone benchmarks share: the build's binaries, a
mixed-content image, timing a command, a skiffd on a private root and a libvirtd
started by hand. Not part of the test suite."""
import contextlib
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

BUILD = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SKIFF_BUILD_DIR", "build"))
BIN = BUILD / "bin"
SKIFF = [str(BIN / "skiff")]
MiB = 1 << 20


def write_mixed(path, size):
    """A raw image of `size` bytes: per 64 MiB, 24 MiB of random data, 8 MiB of
    written zeroes and a 32 MiB hole."""
    with open(path, "wb") as f:
        for seg in range(0, size, 64 * MiB):
            f.seek(seg)
            f.write(os.urandom(24 * MiB))
            f.write(bytes(8 * MiB))
        f.truncate(size)


def timed(cmd, env=None):
    t = time.monotonic()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.monotonic() - t


@contextlib.contextmanager
def skiffd(root):
    """skiffd on the state root `root`, once its socket is there; yields the
    environment for `skiff` (SKIFF_URI) and stops the daemon afterwards."""
    env = dict(os.environ, SKIFF_URI=f"unix://{root}/run/skiff/skiffd.sock")
    d = subprocess.Popen([str(BIN / "skiffd"), "--root", str(root)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            if (root / "run/skiff/skiffd.sock").exists():
                break
            time.sleep(0.1)
        yield env
    finally:
        d.send_signal(signal.SIGTERM)
        d.wait(timeout=30)


@contextlib.contextmanager
def libvirtd(programs, packages):
    """libvirtd started by hand (after installing `packages` with apt-get when one
    of `programs` is missing), once virsh reaches it; yields virsh's argv for
    qemu:///system and stops libvirtd afterwards. A libvirtd that already runs is
    someone else's: RuntimeError."""
    if subprocess.run(["pgrep", "-x", "libvirtd"], capture_output=True).returncode == 0:
        raise RuntimeError("a libvirtd is already running (someone else's): not touching it")
    if not all(shutil.which(p) for p in programs):
        subprocess.run(["apt-get", "install", "-y", "-q", *packages], check=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
                       stdout=subprocess.DEVNULL)
    # virtlogd keeps the logs of the guests libvirt starts; started by hand as well.
    logd = None
    if shutil.which("virtlogd") and subprocess.run(["pgrep", "-x", "virtlogd"],
                                                    capture_output=True).returncode != 0:
        logd = subprocess.Popen(["virtlogd"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    d = subprocess.Popen(["libvirtd"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    v = ["virsh", "-q", "-c", "qemu:///system"]
    try:
        for _ in range(600):
            if subprocess.run(v + ["version"], capture_output=True).returncode == 0:
                break
            time.sleep(0.05)
        yield v
    finally:
        d.send_signal(signal.SIGTERM)
        d.wait(timeout=30)
        if logd:
            logd.send_signal(signal.SIGTERM)
            logd.wait(timeout=30)
