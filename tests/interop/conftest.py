"""Shared fixtures for the qemu-img interop tests: paths to skiff, qemu-img, qemu-io."""
import hashlib
import json
import os
import shutil
import subprocess

import pytest

BUILD = os.environ.get("SKIFF_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
SKIFF = os.path.join(BUILD, "bin", "skiff")


def run(*argv, check=True, cwd=None):
    p = subprocess.run([str(a) for a in argv], capture_output=True, text=True, cwd=cwd)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} exited {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def skiff(*args, check=True, cwd=None):
    return run(SKIFF, "img", *args, check=check, cwd=cwd)


def qemu_img(*args, check=True, cwd=None):
    return run("qemu-img", *args, check=check, cwd=cwd)


def qemu_io(path, *cmds, fmt="qcow2"):
    argv = ["qemu-io", "-f", fmt]
    for c in cmds:
        argv += ["-c", c]
    argv.append(str(path))
    p = run(*argv)
    assert "error" not in p.stdout.lower() and "failed" not in p.stdout.lower(), p.stdout
    return p


def sha_raw_export(tool, path, tmp, name="export.raw"):
    """sha256 of the guest content, exported to raw by `tool` (skiff or qemu-img)."""
    out = tmp / name
    if out.exists():
        out.unlink()
    if tool == "skiff":
        skiff("convert", "-O", "raw", path, out)
    else:
        qemu_img("convert", "-O", "raw", path, out)
    h = hashlib.sha256(out.read_bytes()).hexdigest()
    out.unlink()
    return h


def assert_qemu_clean(path):
    p = qemu_img("check", "--output=json", path, check=False)
    info = json.loads(p.stdout)
    assert p.returncode == 0, f"qemu-img check {path}: exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    assert info.get("corruptions", 0) == 0 and info.get("leaks", 0) == 0, p.stdout


@pytest.fixture(scope="session", autouse=True)
def tools_present():
    in_ci = os.environ.get("CI") == "true"
    for tool in ("qemu-img", "qemu-io"):
        if shutil.which(tool) is None:
            if in_ci:
                pytest.fail(f"{tool} is required for interop tests")
            pytest.skip(f"{tool} not installed")
    assert os.access(SKIFF, os.X_OK), f"build {SKIFF} first"
