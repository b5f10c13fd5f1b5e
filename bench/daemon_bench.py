#!/usr/bin/python3
"""Implementation of bench/daemon_bench.sh (see there).

Environment: BENCH_RUNS (timed runs per command, default 50), BENCH_FAKE=1 (skiffd
with the fake hypervisor; default: the QEMU driver when this is root and QEMU and
the test guest are there), BENCH_GUEST (directory with vmlinuz and initrd.img,
default BUILD/guest, then build/guest), BENCH_NO_LIBVIRT=1 (skip the libvirt half).
"""
import datetime
import http.client
import os
import pathlib
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BUILD = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "build").resolve()
BIN = BUILD / "bin"
SRC = pathlib.Path(__file__).resolve().parents[1]
RUNS = int(os.environ.get("BENCH_RUNS", "50"))
N_DOMAINS = 100
N_RUNNING = 5


def xml(name, i, guest=None):
    os_extra = ""
    devices = ""
    mem = 64
    if guest:  # the test guest: boots under TCG and says SKIFF-GUEST-READY on ttyS0
        mem = 256
        os_extra = (f"<kernel>{guest / 'vmlinuz'}</kernel><initrd>{guest / 'initrd.img'}</initrd>"
                    "<cmdline>console=ttyS0</cmdline>")
        devices = ("<devices><serial type='pty'><target port='0'/></serial>"
                   "<console type='pty'><target type='serial' port='0'/></console></devices>")
    return (f"<domain type='qemu'><name>{name}</name>"
            f"<uuid>00000000-0000-4000-8000-{i:012d}</uuid>"
            f"<memory unit='MiB'>{mem}</memory><vcpu>1</vcpu>"
            f"<os><type arch='x86_64' machine='q35'>hvm</type>{os_extra}</os>{devices}</domain>")


def spawn_wait(cmd, env):
    """Runs cmd with stdout/stderr on /dev/null (posix_spawn: little overhead on our
    side); returns the exit status."""
    fa = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
          (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)]
    pid = os.posix_spawn(cmd[0], cmd, env, file_actions=fa)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def timed_ms(cmd, env=None, runs=RUNS):
    """Median and minimum wall time of `runs` runs, in ms (after 3 warm-up runs)."""
    env = env or dict(os.environ)
    cmd = [shutil.which(cmd[0]) or cmd[0]] + cmd[1:]
    for _ in range(3):
        if spawn_wait(cmd, env) != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed")
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        rc = spawn_wait(cmd, env)
        times.append((time.perf_counter() - t0) * 1000)
        if rc != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed")
    return statistics.median(times), min(times)


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def loadavg():
    return open("/proc/loadavg").read().split()[0]


class Unix(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.p = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(self.p)


def api_rps(sock, seconds=5, clients=8):
    stop = time.time() + seconds
    counts = [0] * clients

    def run(i):
        c = Unix(sock)
        while time.time() < stop:
            c.request("GET", "/v1/domains/d1")
            c.getresponse().read()
            counts[i] += 1

    ts = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    return sum(counts) / seconds


def find_guest():
    for d in (os.environ.get("BENCH_GUEST"), BUILD / "guest", SRC / "build/guest"):
        if d and (pathlib.Path(d) / "vmlinuz").exists() and (pathlib.Path(d) / "initrd.img").exists():
            return pathlib.Path(d)
    return None


def bench_skiff():
    out = {}
    guest = find_guest()
    fake = os.environ.get("BENCH_FAKE") == "1" or os.geteuid() != 0 or guest is None or \
        not shutil.which("qemu-system-x86_64")
    with tempfile.TemporaryDirectory(prefix="skiff-bench-") as root:
        root = pathlib.Path(root)
        sock = root / "run/skiff/skiffd.sock"
        args = [str(BIN / "skiffd"), "--root", str(root), "--no-default-network"]
        if fake:
            args.append("--fake-hypervisor")
        d = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(3000):
                if sock.exists() or d.poll() is not None:
                    break
                time.sleep(0.01)
            if not sock.exists():
                raise RuntimeError("skiffd did not start")
            env = dict(os.environ, SKIFF_URI=f"unix://{sock}")
            skiff = str(BIN / "skiff")
            for i in range(N_DOMAINS):
                f = root / f"d{i}.xml"
                f.write_text(xml(f"d{i}", i, guest if (i < N_RUNNING and not fake) else None))
                subprocess.run([skiff, "define", str(f)], env=env, check=True,
                               stdout=subprocess.DEVNULL)
            out["start"] = timed_ms([skiff, "help"], env)
            out["list"] = timed_ms([skiff, "list", "--all"], env)
            out["dominfo"] = timed_ms([skiff, "dominfo", "d1"], env)
            out["rps"] = api_rps(str(sock))
            out["rss_defined"] = rss_kib(d.pid)
            for i in range(N_RUNNING):
                subprocess.run([skiff, "start", f"d{i}"], env=env, check=True,
                               stdout=subprocess.DEVNULL)
            ready = 0
            if fake:
                time.sleep(1)
            else:  # RSS once the guests are up (QMP and console connections open)
                deadline = time.time() + 300
                logs = [root / f"var/log/skiff/domains/d{i}.log" for i in range(N_RUNNING)]
                while time.time() < deadline:
                    ready = sum(1 for l in logs
                                if l.exists() and "SKIFF-GUEST-READY" in l.read_text(errors="replace"))
                    if ready == N_RUNNING:
                        break
                    time.sleep(1)
            out["running"] = len(subprocess.run([skiff, "list", "--state-running", "--name"],
                                                env=env, capture_output=True, text=True)
                                 .stdout.split())
            out["ready"] = ready
            out["rss_running"] = rss_kib(d.pid)
            out["list_running"] = timed_ms([skiff, "list", "--all"], env)
            out["driver"] = "fake" if fake else "qemu (TCG)"
            for i in range(N_RUNNING):
                subprocess.run([skiff, "destroy", f"d{i}"], env=env, stdout=subprocess.DEVNULL)
        finally:
            d.send_signal(signal.SIGTERM)
            d.wait(timeout=60)
    return out


def bench_libvirt():
    if not shutil.which("libvirtd"):
        subprocess.run(["apt-get", "install", "-y", "-q", "libvirt-daemon-system"], check=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
                       stdout=subprocess.DEVNULL)
    out = {}
    d = subprocess.Popen(["libvirtd"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    v = ["virsh", "-c", "qemu:///system"]
    try:
        for _ in range(600):
            if subprocess.run(v + ["version"], capture_output=True).returncode == 0:
                break
            time.sleep(0.05)
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(N_DOMAINS):
                f = pathlib.Path(tmp) / f"b{i}.xml"
                f.write_text(xml(f"skiffbench{i}", i))
                subprocess.run(v + ["define", str(f)], check=True, stdout=subprocess.DEVNULL)
        out["start"] = timed_ms(["virsh", "help"])
        out["list"] = timed_ms(v + ["list", "--all"])
        out["dominfo"] = timed_ms(v + ["dominfo", "skiffbench1"])
        out["rss_defined"] = rss_kib(d.pid)
        out["version"] = subprocess.run(["libvirtd", "--version"], capture_output=True,
                                        text=True).stdout.strip()
    finally:
        for i in range(N_DOMAINS):
            subprocess.run(v + ["undefine", f"skiffbench{i}"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        d.send_signal(signal.SIGTERM)
        d.wait(timeout=30)
    return out


def main():
    load_before = loadavg()
    s = bench_skiff()
    v = {}
    if os.environ.get("BENCH_NO_LIBVIRT") != "1":
        try:
            v = bench_libvirt()
        except Exception as e:  # report what we have
            print(f"libvirt part failed: {e}", file=sys.stderr)
    load_after = loadavg()
    cpu = [l for l in open("/proc/cpuinfo") if l.startswith("model name")][0].split(":")[1].strip()
    build_type = "?"
    cache = BUILD / "CMakeCache.txt"
    if cache.exists():
        for l in cache.read_text().splitlines():
            if l.startswith("CMAKE_BUILD_TYPE:"):
                build_type = l.split("=", 1)[1]

    def ms(pair):
        return f"{pair[0]:.2f} (min {pair[1]:.2f})"

    def row(label, key, fmt=ms, ratio=True):
        a, b = s.get(key), v.get(key)
        r = f"{b[0] / a[0]:.1f}x" if (ratio and a and b) else ""
        print(f"| {label} | {fmt(a) if a else 'n/a'} | {fmt(b) if b else 'n/a'} | {r} |")

    print(f"Run of {datetime.date.today()} (`BENCH_RUNS={RUNS}`): {cpu}, {os.cpu_count()} cpus, "
          f"{platform.release()}; `{BUILD.name}` is a {build_type} build; skiffd driver: "
          f"{s['driver']}; {v.get('version', 'libvirt not measured')}. Load average "
          f"{load_before} at the start, {load_after} at the end.\n")
    print("| measure | skiff | virsh/libvirtd | ratio (virsh / skiff) |")
    print("|---|---|---|---|")
    row("`list --all`, 100 domains, median ms", "list")
    row("`dominfo`, median ms", "dominfo")
    row("client start-up alone (`help`), median ms", "start")
    print(f"| API requests/s (GET domain, 8 keep-alive clients) | {s['rps']:.0f} | n/a | |")
    vr, sr = v.get("rss_defined"), s["rss_defined"]
    print(f"| daemon RSS, 100 defined (MiB) | {sr / 1024:.1f} | "
          + (f"{vr / 1024:.1f} | {vr / sr:.1f}x smaller |" if vr else "n/a | |"))
    print(f"| skiffd RSS, 100 defined + {s['running']} running (MiB) | "
          f"{s['rss_running'] / 1024:.1f} | | |")
    print(f"| `list --all` with {s['running']} running, median ms | {ms(s['list_running'])} | | |")
    print()
    if s["driver"] != "fake":
        print(f"The {N_RUNNING} running domains are the test guest under TCG "
              f"({s['ready']} of {N_RUNNING} had printed SKIFF-GUEST-READY when the RSS was read).")
    else:
        print(f"The {N_RUNNING} running domains are fake ones (no QEMU).")
    ok_list = s["list"][0] < 5
    ok_ratio = bool(v.get("list")) and v["list"][0] / s["list"][0] >= 5
    ok_rss = s["rss_running"] / 1024 < 20
    print(f"Targets: `list --all` under 5 ms median: {'met' if ok_list else 'missed'}; "
          f"at least 5x faster than virsh: {'met' if ok_ratio else 'missed' if v else 'not measured'}; "
          f"skiffd RSS under 20 MiB with 100 defined and {N_RUNNING} running: "
          f"{'met' if ok_rss else 'missed'}.")


if __name__ == "__main__":
    main()
