#!/usr/bin/python3
"""Implementation of bench/daemon_bench.sh (see there)."""
import http.client
import json
import os
import pathlib
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
RUNS = int(os.environ.get("BENCH_RUNS", "50"))
N_DOMAINS = 100


def xml(name, i):
    return (f"<domain type='qemu'><name>{name}</name>"
            f"<uuid>00000000-0000-4000-8000-{i:012d}</uuid>"
            "<memory unit='MiB'>64</memory><vcpu>1</vcpu>"
            "<os><type arch='x86_64' machine='q35'>hvm</type></os></domain>")


def median_ms(cmd, env=None, runs=RUNS):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


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


def bench_skiff():
    out = {}
    with tempfile.TemporaryDirectory(prefix="skiff-bench-") as root:
        root = pathlib.Path(root)
        sock = root / "run/skiff/skiffd.sock"
        fake = os.environ.get("BENCH_FAKE", "1") == "1"
        args = [str(BIN / "skiffd"), "--root", str(root)] + (["--fake-hypervisor"] if fake else [])
        d = subprocess.Popen(args)
        while not sock.exists():
            time.sleep(0.01)
        env = dict(os.environ, SKIFF_URI=f"unix://{sock}")
        for i in range(N_DOMAINS):
            f = root / f"d{i}.xml"
            f.write_text(xml(f"d{i}", i))
            subprocess.run([str(BIN / "skiff"), "define", str(f)], env=env, check=True,
                           stdout=subprocess.DEVNULL)
        out["list"] = median_ms([str(BIN / "skiff"), "list", "--all"], env)
        out["dominfo"] = median_ms([str(BIN / "skiff"), "dominfo", "d1"], env)
        out["rps"] = api_rps(str(sock))
        out["rss_defined"] = rss_kib(d.pid)
        for i in range(5):
            subprocess.run([str(BIN / "skiff"), "start", f"d{i}"], env=env, check=True,
                           stdout=subprocess.DEVNULL)
        time.sleep(0.5)
        out["rss_running"] = rss_kib(d.pid)
        out["driver"] = "fake" if fake else "qemu"
        for i in range(5):
            subprocess.run([str(BIN / "skiff"), "destroy", f"d{i}"], env=env, stdout=subprocess.DEVNULL)
        d.send_signal(signal.SIGTERM)
        d.wait()
    return out


def bench_libvirt():
    if not shutil.which("libvirtd"):
        subprocess.run(["apt-get", "install", "-y", "-q", "libvirt-daemon-system"], check=True,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
                       stdout=subprocess.DEVNULL)
    out = {}
    d = subprocess.Popen(["libvirtd"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(500):
            if subprocess.run(["virsh", "-c", "qemu:///system", "version"],
                              capture_output=True).returncode == 0:
                break
            time.sleep(0.05)
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(N_DOMAINS):
                f = pathlib.Path(tmp) / f"b{i}.xml"
                f.write_text(xml(f"skiffbench{i}", i))
                subprocess.run(["virsh", "-c", "qemu:///system", "define", str(f)], check=True,
                               stdout=subprocess.DEVNULL)
        v = ["virsh", "-c", "qemu:///system"]
        out["list"] = median_ms(v + ["list", "--all"])
        out["dominfo"] = median_ms(v + ["dominfo", "skiffbench1"])
        out["rss_defined"] = rss_kib(d.pid)
        for i in range(N_DOMAINS):
            subprocess.run(v + ["undefine", f"skiffbench{i}"], stdout=subprocess.DEVNULL)
    finally:
        d.send_signal(signal.SIGTERM)
        d.wait(timeout=30)
    return out


def main():
    s = bench_skiff()
    try:
        v = bench_libvirt()
    except Exception as e:  # report what we have
        print(f"libvirt part failed: {e}", file=sys.stderr)
        v = {}
    cpu = [l for l in open("/proc/cpuinfo") if l.startswith("model name")][0].split(":")[1].strip()
    print(f"Machine: {cpu}, {os.cpu_count()} cpus; build {BUILD}; skiffd driver: {s['driver']}\n")
    print("| measure | skiff | virsh/libvirtd | ratio (virsh / skiff) |")
    print("|---|---|---|---|")
    for k, label in (("list", "`list --all`, 100 domains, median ms"),
                     ("dominfo", "`dominfo`, median ms")):
        vv = v.get(k)
        ratio = f"{vv / s[k]:.1f}x" if vv else "n/a"
        print(f"| {label} | {s[k]:.2f} | {vv:.2f} | {ratio} |" if vv else
              f"| {label} | {s[k]:.2f} | n/a | n/a |")
    print(f"| API requests/s (GET domain, 8 clients) | {s['rps']:.0f} | n/a | |")
    vr = v.get("rss_defined")
    print(f"| daemon RSS, 100 defined (MiB) | {s['rss_defined']/1024:.1f} | "
          f"{vr/1024:.1f} |  |" if vr else f"| daemon RSS, 100 defined (MiB) | {s['rss_defined']/1024:.1f} | n/a | |")
    print(f"| skiffd RSS, 100 defined + 5 running (MiB) | {s['rss_running']/1024:.1f} | | |")


if __name__ == "__main__":
    main()
