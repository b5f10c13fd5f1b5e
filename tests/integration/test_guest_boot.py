"""The test guest boots under QEMU TCG (no daemon) and shows its markers.

Checks what later tests rely on: SKIFF-GUEST-READY on ttyS0, a DHCP lease
(from QEMU's own user-mode network, which never leaves the process), a file
written through the kernel command line onto /dev/vda, and a clean power-off on
the ACPI power button sent through QMP.
"""
import pathlib
import subprocess
import tempfile

from framework.qmp import qmp
from framework.util import require_guest, wait_for


def test_guest_boots_writes_disk_and_powers_off():
    kernel, initrd = require_guest()
    with tempfile.TemporaryDirectory() as d:
        d = pathlib.Path(d)
        disk, log, qmp_sock = d / "disk.img", d / "console.log", d / "qmp.sock"
        subprocess.run(["mkfs.ext4", "-q", "-F", str(disk), "32M"], check=True)
        proc = subprocess.Popen([
            "qemu-system-x86_64", "-accel", "tcg", "-machine", "q35", "-m", "256",
            "-nodefaults", "-no-user-config", "-display", "none",
            "-kernel", str(kernel), "-initrd", str(initrd),
            "-append", "console=ttyS0 quiet skiff.write=hello.txt:from-the-guest",
            "-serial", f"file:{log}",
            "-qmp", f"unix:{qmp_sock},server=on,wait=off",
            "-drive", f"file={disk},format=raw,if=virtio",
            "-netdev", "user,id=n0,restrict=on", "-device", "virtio-net-pci,netdev=n0",
        ], stderr=subprocess.PIPE)
        try:
            assert wait_for(log, "SKIFF-GUEST-READY", 90), log.read_text(errors="replace")
            assert wait_for(log, "SKIFF-WROTE hello.txt", 30)
            assert wait_for(log, "SKIFF-GUEST-IP 10.0.2.15", 60), log.read_text(errors="replace")
            assert "return" in qmp(qmp_sock, "system_powerdown")
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        text = log.read_text(errors="replace")
        assert "SKIFF-GUEST-POWERDOWN" in text
        assert "SKIFF-DISK-MOUNTED ext4" in text
        got = subprocess.run(["debugfs", "-R", "cat /hello.txt", str(disk)],
                             capture_output=True, text=True, check=True).stdout
        assert got.strip() == "from-the-guest"
