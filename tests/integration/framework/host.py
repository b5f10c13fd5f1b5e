"""What the host shows of a running domain: its QEMU's pid, cgroups, threads and
their CPU affinity, and the lock QEMU holds on an image."""
import json
import pathlib
import subprocess


def qemu_pid(root, name):
    """The pid of domain `name`'s QEMU, from skiffd's status file under `root`."""
    return json.loads((root / f"run/skiff/domains/{name}.qemu.json").read_text())["pid"]


def qemus_serving(qmp):
    """Pids of the live processes that serve QMP socket `qmp`: skiffd names it in
    QEMU's environment (SKIFF_QMP_SOCKET), as QEMU gets the socket as an fd."""
    entry = f"SKIFF_QMP_SOCKET={qmp}".encode()
    pids = []
    for p in pathlib.Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            env = (p / "environ").read_bytes().split(b"\0")
            state = (p / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if entry in env and state != "Z":
            pids.append(int(p.name))
    return pids


def skiff_cgroups(pid, name):
    """The cgroup directories of `pid` that are skiff's cgroup of domain `name`."""
    dirs = []
    for line in pathlib.Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, ctrls, path = line.split(":", 2)
        if not path.endswith(f"/skiff/{name}"):
            continue
        if ctrls == "":
            dirs.append(pathlib.Path("/sys/fs/cgroup") / path.lstrip("/"))
        else:
            for c in ctrls.split(","):
                d = pathlib.Path("/sys/fs/cgroup") / c / path.lstrip("/")
                if d.exists():
                    dirs.append(d)
    return dirs


def assert_in_own_cgroup(pid, name):
    """Asserts that `pid` is in skiff's cgroup of domain `name`; returns its directories."""
    dirs = skiff_cgroups(pid, name)
    assert dirs, f"qemu {pid} is in no skiff cgroup: " + pathlib.Path(
        f"/proc/{pid}/cgroup").read_text()
    for d in dirs:
        procs = (d / "cgroup.procs").read_text().split()
        assert str(pid) in procs, f"{d}/cgroup.procs: {procs}"
    return dirs


def affinity(pid, tid):
    """Thread `tid` of process `pid`'s Cpus_allowed_list ("0-1")."""
    for line in pathlib.Path(f"/proc/{pid}/task/{tid}/status").read_text().splitlines():
        if line.startswith("Cpus_allowed_list:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no Cpus_allowed_list for thread {tid}")


def threads(pid):
    """{tid: name} of QEMU's threads (vCPU threads are 'CPU N/TCG' with debug-threads)."""
    out = {}
    for t in pathlib.Path(f"/proc/{pid}/task").iterdir():
        try:
            out[int(t.name)] = (t / "comm").read_text().strip()
        except FileNotFoundError:
            pass
    return out


def locked(img):
    """True while a QEMU holds `img` open (qemu-img then cannot take its lock)."""
    return subprocess.run(["qemu-img", "info", str(img)], capture_output=True).returncode != 0
