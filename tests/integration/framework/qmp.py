"""Talking QMP to a QEMU directly, past skiffd (tests of what happens while it is down)."""
import json
import socket


def qmp(sock_path, command):
    """Runs one QMP command on QEMU's monitor socket (free while skiffd is down) and
    returns the reply."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(20)
        s.connect(str(sock_path))
        f = s.makefile("rw")
        json.loads(f.readline())
        f.write(json.dumps({"execute": "qmp_capabilities"}) + "\n")
        f.flush()
        assert "return" in json.loads(f.readline())
        f.write(json.dumps({"execute": command}) + "\n")
        f.flush()
        while True:
            reply = json.loads(f.readline())
            if "event" not in reply:
                return reply
