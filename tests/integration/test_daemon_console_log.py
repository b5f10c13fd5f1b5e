"""A guest cannot fill the host's disk through its console log (issue 23 item 10).

skiffd caps and rotates each domain's console log as libvirt's virtlogd does
(2 MiB x 3 files by default; --domain-log-max-size and --domain-log-max-files).
Here the limits are small (16 KiB, two files) and the guest prints far more
than that from its console shell: the log files stay within the cap, no third
file appears, and the guest's last line is still in the log.
"""
import socket
import time

from framework.console import ConsoleLog
from framework.daemon import daemon_session
from framework.guest import domain_xml
from framework.host import qemu_pid
from framework.util import require_guest, wait_until

NAME = "chatty1"
LIMIT = 16 << 10
# The relay checks the log after every 16 KiB it relays, and QEMU writes the log
# a little ahead of the console socket: a log may pass LIMIT by about that much.
SLACK = 32 << 10
LINES = 4000  # about 200 KB of output, twelve times the limit


def console_send(root, text):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(str(root / f"run/skiff/domains/{NAME}.console"))
    s.sendall(text.encode())
    time.sleep(0.3)
    s.close()


def test_console_log_is_capped_and_rotated():
    kernel, initrd = require_guest()
    with daemon_session("skiffd-conslog-", "--domain-log-max-size", "16K",
                        "--domain-log-max-files", "2") as d:
        xml = d.root / "g.xml"
        xml.write_text(domain_xml(NAME, kernel, initrd, memory_mib=128, cmdline="skiff.nodhcp=1"))
        d.skiff("define", str(xml))
        d.skiff("start", NAME)
        d.pids.append(qemu_pid(d.root, NAME))
        con = ConsoleLog(d, d.root, NAME)
        logs = d.root / "var/log/skiff/domains"
        rotated = logs / f"{NAME}.log.1"

        def logged():
            return con.text() + (rotated.read_text(errors="replace") if rotated.exists() else "")

        assert wait_until(lambda: "SKIFF-GUEST-READY" in logged(), 120), logged()[-3000:]
        flood = (f"i=0; while [ $i -lt {LINES} ]; do "
                 "echo SKIFF-FLOOD-$i-abcdefghijklmnopqrstuvwxyz0123456789; i=$((i+1)); done; "
                 "echo SKIFF-FLOOD-DO''NE\n")
        console_send(d.root, "\n" + flood)
        # The typed command echoes as SKIFF-FLOOD-DO''NE; only the guest's own
        # output has it whole.
        assert wait_until(lambda: "SKIFF-FLOOD-DONE" in logged(), 300), logged()[-3000:]
        files = sorted(p.name for p in logs.iterdir() if p.name.startswith(NAME + ".log"))
        assert files == [f"{NAME}.log", f"{NAME}.log.1"], files
        sizes = {f: (logs / f).stat().st_size for f in files}
        for f, size in sizes.items():
            assert size <= LIMIT + SLACK, f"{f} holds {size} bytes, over its limit: {sizes}"
        # The last lines are kept: the end of the flood sits in the newest files.
        assert f"SKIFF-FLOOD-{LINES - 1}-" in logged()
        d.skiff("destroy", NAME)
