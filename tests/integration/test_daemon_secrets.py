"""Secrets of a running domain stay off the host's process table (issue 23 item 5),
and its QEMU runs under QEMU's seccomp sandbox (item 4, in part).

A VNC password used to reach QEMU as `-object secret,data=...`, readable by every
local user in /proc/PID/cmdline. QEMU now starts with `password=on` and skiffd
sets the password over QMP before the guest first runs. The oracle is QEMU's own
VNC server: it must ask for VNC authentication, refuse a wrong password and take
the right one, while neither QEMU's command line nor its environment holds it.
"""
import contextlib
import socket
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from framework.daemon import daemon_session
from framework.guest import domain_xml
from framework.host import qemu_pid
from framework.util import require_guest, wait_until

NAME = "secret1"
PASSWORD = "s3cr,et!"  # a comma: QEMU's option syntax would need it doubled


def free_vnc_port():
    """A free TCP port on loopback in VNC's range (5900 + display)."""
    for port in range(5950, 6000):
        with contextlib.closing(socket.socket()) as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port in 5950-5999")


def listening(port):
    with contextlib.closing(socket.socket()) as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def vnc_response(password, challenge):
    """RFB's VNC authentication: DES-ECB of the 16-byte challenge under the password
    (8 bytes, zero-padded, each byte's bits reversed). TripleDES with one key three
    times is single DES."""
    key = bytes(int(f"{b:08b}"[::-1], 2) for b in password.encode()[:8].ljust(8, b"\0"))
    enc = Cipher(algorithms.TripleDES(key * 3), modes.ECB()).encryptor()
    return enc.update(challenge) + enc.finalize()


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise ConnectionError(f"VNC server closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def vnc_login(port, password):
    """Runs RFB 3.8's handshake; returns (security types offered, auth result or None)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        assert recv_exact(s, 12).startswith(b"RFB 003.")
        s.sendall(b"RFB 003.008\n")
        n = recv_exact(s, 1)[0]
        assert n > 0, "the VNC server refused the connection"
        types = set(recv_exact(s, n))
        if 2 not in types:
            return types, None
        s.sendall(bytes([2]))
        challenge = recv_exact(s, 16)
        s.sendall(vnc_response(password, challenge))
        (result,) = struct.unpack(">I", recv_exact(s, 4))
        return types, result


def test_vnc_password_is_set_over_qmp_not_on_the_command_line():
    kernel, initrd = require_guest()
    port = free_vnc_port()
    graphics = (f"    <graphics type='vnc' port='{port}' autoport='no' listen='127.0.0.1' "
                f"passwd='{PASSWORD}'/>\n")
    with daemon_session("skiffd-secret-") as d:
        xml = d.root / "g.xml"
        xml.write_text(domain_xml(NAME, kernel, initrd, memory_mib=128, devices=graphics))
        d.skiff("define", str(xml))
        # Paused: QEMU serves VNC and the password is set, the guest runs nothing.
        d.skiff("start", NAME, "--paused")
        pid = qemu_pid(d.root, NAME)
        d.pids.append(pid)
        for what in ("cmdline", "environ"):
            raw = open(f"/proc/{pid}/{what}", "rb").read()
            assert PASSWORD.encode() not in raw, f"the VNC password is in /proc/{pid}/{what}"
            assert b"s3cr,,et" not in raw, f"the VNC password is in /proc/{pid}/{what}"
        assert b"password=on" in open(f"/proc/{pid}/cmdline", "rb").read()
        # QEMU runs under its seccomp filter (-sandbox, as libvirt starts it):
        # mode 2 is a filter installed.
        status = open(f"/proc/{pid}/status").read()
        assert "\nSeccomp:\t2\n" in status, "QEMU runs without its seccomp sandbox"
        assert wait_until(lambda: listening(port), 30), f"QEMU does not listen on VNC port {port}"
        types, result = vnc_login(port, "wrong")
        assert 2 in types and 1 not in types, f"VNC offers security types {sorted(types)}"
        assert result != 0, "a wrong VNC password was accepted"
        types, result = vnc_login(port, PASSWORD)
        assert result == 0, "the domain's VNC password was refused"
        # The admin's dumpxml still shows it (edit round-trips it).
        assert PASSWORD in d.skiff("dumpxml", NAME, "--security-info").stdout
        d.skiff("destroy", NAME)
