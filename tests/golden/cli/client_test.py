#!/usr/bin/python3
"""The skiff binary as a user runs it, against a `skiffd --fake-hypervisor` on a temp
root: bash completion (packaging/skiff.bash-completion: the script is sourced in
bash, _skiff runs for a command line, COMPREPLY is checked); `skiff help VERB`,
which the completion reads, for every verb; the offline verbs, which skiff runs
through the helpers skiff-img (`img`) and skiff-offline (the others); and tls://
URIs, for which skiff loads OpenSSL at run time (it does not link it).
"""
import os
import pathlib
import shlex
import socket
import subprocess
import tempfile
import time

import pytest

SRC = pathlib.Path(os.environ.get("SKIFF_SOURCE_DIR", pathlib.Path(__file__).parents[3]))
BUILD = pathlib.Path(os.environ.get("SKIFF_BUILD_DIR", SRC / "build"))
SKIFF = BUILD / "bin" / "skiff"
COMPLETION = SRC / "packaging" / "skiff.bash-completion"
OFFLINE = {"version", "img", "validate", "domxml-to-native"}


def skiff(*args, env=None):
    r = subprocess.run([str(SKIFF), *args], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def verbs_of(help_text):
    return [l.split()[0] for l in help_text.splitlines() if l.startswith("  ") and l[2:3].isalpha()]


@pytest.fixture(scope="module")
def daemon():
    with tempfile.TemporaryDirectory(prefix="skiff-compl-") as root:
        sock = os.path.join(root, "run/skiff/skiffd.sock")
        # a TLS listener too, with a self-signed certificate and a token
        pki = pathlib.Path(root) / "pki"
        pki.mkdir()
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj",
                        "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                        "-keyout", str(pki / "key.pem"), "-out", str(pki / "cert.pem"),
                        "-days", "1"], check=True, capture_output=True)
        (pki / "tokens").write_text("token-0123456789abcdef\n")
        (pki / "tokens").chmod(0o600)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = subprocess.Popen([str(BUILD / "bin/skiffd"), "--root", root, "--fake-hypervisor",
                                 "--listen", "unix:" + sock, "--listen", f"tcp:127.0.0.1:{port}",
                                 "--tls-cert", str(pki / "cert.pem"), "--tls-key",
                                 str(pki / "key.pem"), "--token-file", str(pki / "tokens")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(1000):
                if os.path.exists(sock) or proc.poll() is not None:
                    break
                time.sleep(0.01)
            assert os.path.exists(sock), "skiffd did not start"
            env = dict(os.environ, SKIFF_URI="unix://" + sock)
            for name in ("alpha", "beta", "gamma-2"):
                xml = pathlib.Path(root) / f"{name}.xml"
                xml.write_text(f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>64</memory>"
                               "<vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>")
                skiff("define", str(xml), env=env)
            net = pathlib.Path(root) / "lab.xml"
            net.write_text("<network><name>lab</name><bridge name='skcompl0'/>"
                           "<ip address='10.231.7.1' netmask='255.255.255.0'/></network>")
            skiff("net-define", str(net), env=env)
            skiff("vol-create-as", "default", "disk1.qcow2", "1M", "--format", "qcow2", env=env)
            skiff("vol-create-as", "default", "disk2.raw", "1M", env=env)
            work = pathlib.Path(root) / "cwd"
            work.mkdir()
            (work / "guest.xml").write_text("<domain/>")
            (work / "notes.txt").write_text("")
            yield {"env": env, "sock": sock, "cwd": work, "port": port, "pki": pki}
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def complete(d, line, env=None):
    """COMPREPLY for `line` (the word being completed is the last one; a trailing
    space means an empty word), as a sorted list."""
    words = shlex.split(line)
    if line.endswith(" "):
        words.append("")
    words[0] = str(SKIFF)
    script = (f"source {shlex.quote(str(COMPLETION))}\n"
              f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)})\n"
              f"COMP_CWORD={len(words) - 1}\n"
              "_skiff\n"
              "printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], env=env or d["env"],
                       cwd=d["cwd"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    return sorted(w for w in r.stdout.split("\n") if w)


def test_verbs(daemon):
    verbs = verbs_of(skiff("help"))
    assert complete(daemon, "skiff li") == ["list"]
    assert complete(daemon, "skiff ") == sorted(verbs + ["help"])
    assert complete(daemon, "skiff net-") == sorted(v for v in verbs if v.startswith("net-"))
    assert {"net-list", "net-start", "net-dhcp-leases", "net-edit"} <= set(complete(daemon, "skiff net-"))
    assert complete(daemon, "skiff dom") == ["domblkerror", "domblkinfo", "domblklist", "domid",
                                            "domifaddr", "domiflist",
                                            "dominfo", "domname", "domstate", "domstats",
                                            "domuuid", "domxml-to-native"]
    assert complete(daemon, "skiff -c " + daemon["sock"] + " vol-c") == [
        "vol-clone", "vol-create", "vol-create-as", "vol-create-from"]
    assert complete(daemon, "skiff help sta") == ["start"]
    assert complete(daemon, "skiff --") == ["--connect", "--help", "--version"]


def test_options(daemon):
    assert complete(daemon, "skiff list --") == [
        "--all", "--autostart", "--inactive", "--json", "--name", "--no-autostart",
        "--persistent", "--state-paused", "--state-running", "--state-shutoff", "--table",
        "--transient", "--uuid"]
    assert complete(daemon, "skiff undefine --sn") == ["--snapshots-metadata"]
    assert complete(daemon, "skiff start --") == ["--autodestroy", "--console", "--domain",
                                                 "--force-boot", "--paused"]
    # a positional already given is not offered again as --NAME
    assert "--domain" not in complete(daemon, "skiff start alpha --")
    assert complete(daemon, "skiff vol-create-as default d 1M --f") == ["--format"]


def test_object_names(daemon):
    assert complete(daemon, "skiff start ") == ["alpha", "beta", "gamma-2"]
    assert complete(daemon, "skiff dominfo g") == ["gamma-2"]
    assert complete(daemon, "skiff undefine --remove-all-storage b") == ["beta"]
    assert complete(daemon, "skiff net-start ") == ["default", "lab"]
    assert complete(daemon, "skiff net-info l") == ["lab"]
    assert complete(daemon, "skiff vol-list ") == ["default"]
    assert complete(daemon, "skiff vol-info --pool default ") == ["disk1.qcow2", "disk2.raw"]
    assert complete(daemon, "skiff vol-info --pool=default disk1") == ["disk1.qcow2"]
    assert complete(daemon, "skiff vol-info disk1.qcow2 ") == ["default"]
    assert complete(daemon, "skiff vol-create-as default d 1M --format ") == ["qcow2", "raw"]
    # the daemon named by -c, not $SKIFF_URI
    env = dict(daemon["env"], SKIFF_URI="unix:///nonexistent.sock")
    assert complete(daemon, "skiff start ", env) == []
    assert complete(daemon, f"skiff -c unix://{daemon['sock']} start a", env) == ["alpha"]
    assert complete(daemon, f"skiff --connect=unix://{daemon['sock']} start a", env) == ["alpha"]
    # no daemon: nothing, and no error text on the terminal
    assert complete(daemon, "skiff domstate ", env) == []


def test_files_and_offline_verbs(daemon):
    assert complete(daemon, "skiff define gu") == ["guest.xml"]
    assert complete(daemon, "skiff attach-disk alpha no") == ["notes.txt"]
    assert complete(daemon, "skiff validate ") == ["guest.xml", "notes.txt"]
    sub = complete(daemon, "skiff img ")
    assert {"create", "info", "check", "convert", "snapshot", "iso-ls"} <= set(sub)
    assert complete(daemon, "skiff img con") == ["convert"]
    assert complete(daemon, "skiff img info gu") == ["guest.xml"]


def test_group_verbs(daemon):
    """skiff backup CREATE|LIST|VERIFY|RESTORE: the subcommand, then its arguments."""
    assert complete(daemon, "skiff backup ") == ["create", "list", "restore", "verify"]
    assert complete(daemon, "skiff backup cr") == ["create"]
    assert complete(daemon, "skiff backup create ") == ["alpha", "beta", "gamma-2"]
    assert complete(daemon, "skiff backup create alpha --") == [
        "--incremental", "--keep-daily", "--keep-last", "--quiet", "--to"]
    assert complete(daemon, "skiff backup restore no") == ["notes.txt"]
    assert complete(daemon, "skiff backup restore x --na") == ["--name"]
    text = skiff("help", "backup", "create")
    assert text.startswith("  NAME\n    backup create - ")
    assert skiff("help", "backup create") == text
    assert "  COMMANDS\n    create - " in skiff("help", "backup")


def test_cli_describes_every_daemon_verb():
    for verb in verbs_of(skiff("help")):
        text = skiff("help", verb)
        assert text.startswith(f"  NAME\n    {verb} - ")
        synopsis = text.split("  SYNOPSIS\n    ", 1)[1].splitlines()[0]
        assert synopsis.split()[0] == verb
        if verb not in OFFLINE:
            assert "..." not in synopsis, verb  # the completion needs its arguments
    r = subprocess.run([str(SKIFF), "help", "nosuch"], capture_output=True, text=True)
    assert (r.returncode, r.stderr) == (1, "error: command 'nosuch' doesn't exist\n")


def test_offline_table_matches_helper():
    # skiff lists the offline verbs from offline_verbs.h without running skiff-offline
    main = {l[2:].split(None, 1)[0]: l for l in skiff("help").splitlines() if l.startswith("  ")}
    helper = subprocess.run([str(BUILD / "bin/skiff-offline"), "help"], capture_output=True,
                            text=True, check=True).stdout
    helper_lines = [l for l in helper.splitlines() if l.startswith("  ")]
    assert {l.split()[0] for l in helper_lines} == OFFLINE
    for l in helper_lines:
        assert main[l.split()[0]] == l


def test_offline_verb_without_helper_is_one_line_error(tmp_path):
    lone = tmp_path / "skiff"
    lone.write_bytes(SKIFF.read_bytes())
    lone.chmod(0o755)
    r = subprocess.run([str(lone), "img", "info", "x.qcow2"], capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr == ("error: 'img' needs skiff-img, which is installed neither next to "
                        "skiff nor in ../libexec/skiff/\n")
    r = subprocess.run([str(lone), "validate", "x.xml"], capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr == ("error: 'validate' needs skiff-offline, which is installed neither next to "
                        "skiff nor in ../libexec/skiff/\n")


def test_img_helper_is_lean(tmp_path):
    # `skiff img` execs skiff-img, which loads no library but libc and libm (its
    # start-up is most of `img info`'s time); libisofs is loaded by iso-create only
    libs = subprocess.run(["ldd", str(BUILD / "bin/skiff-img")], capture_output=True, text=True,
                          check=True).stdout
    names = {l.split()[0].split(".so")[0] for l in libs.splitlines() if ".so" in l}
    assert names <= {"linux-vdso", "libm", "libc", "/lib64/ld-linux-x86-64"}, libs
    img = tmp_path / "a.qcow2"
    skiff("img", "create", "-q", "-f", "qcow2", str(img), "1M")
    assert "file format: qcow2" in skiff("img", "info", str(img))
    helper = subprocess.run([str(BUILD / "bin/skiff-img"), "help"], capture_output=True, text=True,
                            check=True).stdout
    assert [l.split()[0] for l in helper.splitlines() if l.startswith("  ")] == ["img"]


def test_tls_uri(daemon):
    # skiff does not link OpenSSL (it would slow every start); it loads it for tls://
    assert "libssl" not in subprocess.run(["ldd", str(SKIFF)], capture_output=True,
                                          text=True).stdout
    uri = f"tls://127.0.0.1:{daemon['port']}"
    env = dict(os.environ, SKIFF_TLS_CA=str(daemon["pki"] / "cert.pem"),
               SKIFF_TOKEN="token-0123456789abcdef")
    env.pop("SKIFF_URI", None)
    r = subprocess.run([str(SKIFF), "-c", uri, "list", "--all", "--name"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert (r.returncode, r.stdout, r.stderr) == (0, "alpha\nbeta\ngamma-2\n\n", "")
    r = subprocess.run([str(SKIFF), "-c", uri, "list"], capture_output=True, text=True,
                       env=dict(env, SKIFF_TOKEN="wrong-token-0123456789"), timeout=60)
    assert r.returncode == 1 and r.stderr.startswith("error: ") and r.stderr.count("\n") == 1
    r = subprocess.run([str(SKIFF), "-c", uri, "list"], capture_output=True, text=True,
                       env=dict(env, SKIFF_TLS_CA="/etc/ssl/certs/ca-certificates.crt"),
                       timeout=60)
    assert r.returncode == 1
    assert r.stderr.startswith(f"error: failed to connect to the daemon: tls handshake with "
                               f"'127.0.0.1:{daemon['port']}' failed: ")
