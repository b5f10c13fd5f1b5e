#!/usr/bin/python3
"""CLI transcript tests: each <case>.in is a list of `skiff` command lines run against
a fresh `skiffd --fake-hypervisor` on a temp root; the transcript must equal <case>.out.

Lines: `# comment`, `@NAME=VALUE` (sets an environment variable for later commands),
anything else is the argument list of one `skiff` call (shell-quoted). ${DATA} is this
directory's data/, ${ROOT} the daemon's state root. SKIFF_REGENERATE_GOLDEN=1 rewrites
the .out files. A data file that no case references fails the run.
"""
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
BUILD = os.environ.get("SKIFF_BUILD_DIR", os.path.join(HERE, "../../../build"))
BIN = os.path.join(BUILD, "bin")


def start_daemon(root):
    sock = os.path.join(root, "run/skiff/skiffd.sock")
    proc = subprocess.Popen([os.path.join(BIN, "skiffd"), "--root", root, "--fake-hypervisor"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Ready when a client can connect: the socket file appears at bind(), a moment
    # before listen() (long on a loaded machine).
    deadline = time.time() + 20
    while time.time() < deadline:
        if os.path.exists(sock):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
                try:
                    c.connect(sock)
                    return proc, sock
                except OSError:
                    pass
        if proc.poll() is not None:
            raise RuntimeError("skiffd exited with %d" % proc.returncode)
        time.sleep(0.01)
    proc.kill()
    raise RuntimeError("skiffd did not accept connections on its socket")


def run_case(path):
    with tempfile.TemporaryDirectory(prefix="skiff-cli-") as root:
        proc, sock = start_daemon(root)
        env = dict(os.environ, SKIFF_URI="unix://" + sock)
        out = []
        try:
            for raw in open(path):
                line = raw.rstrip("\n")
                if not line.strip() or line.startswith("#"):
                    continue
                if line.startswith("@"):
                    k, v = line[1:].split("=", 1)
                    env[k] = v.replace("${DATA}", DATA).replace("${ROOT}", root)
                    continue
                args = shlex.split(line.replace("${DATA}", DATA).replace("${ROOT}", root))
                r = subprocess.run([os.path.join(BIN, "skiff")] + args, env=env,
                                   capture_output=True, text=True, timeout=60)
                text = r.stdout + r.stderr
                text = text.replace(root, "${ROOT}").replace(DATA, "${DATA}")
                out.append("$ skiff " + line + "\n" + text)
                if r.returncode != 0:
                    out.append("[exit %d]\n" % r.returncode)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        if proc.returncode not in (0, -15):
            out.append("[skiffd exit %d]\n" % proc.returncode)
        return "".join(out)


def main():
    cases = sorted(f for f in os.listdir(HERE) if f.endswith(".in"))
    regen = os.environ.get("SKIFF_REGENERATE_GOLDEN") == "1"
    failed = []
    used = set()
    for c in cases:
        text = open(os.path.join(HERE, c)).read()
        for f in os.listdir(DATA):
            if f in text:
                used.add(f)
        got = run_case(os.path.join(HERE, c))
        want_path = os.path.join(HERE, c[:-3] + ".out")
        if regen:
            open(want_path, "w").write(got)
            continue
        want = open(want_path).read() if os.path.exists(want_path) else None
        if got != want:
            failed.append(c)
            sys.stdout.write("--- %s differs; got:\n%s\n" % (c, got))
    unused = sorted(set(os.listdir(DATA)) - used)
    if unused:
        failed.append("unreferenced data files: " + ", ".join(unused))
    for f in failed:
        print("FAIL:", f)
    print("%d cases, %d failed" % (len(cases), len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
