"""The AppArmor profile for skiffd's QEMU (packaging/apparmor/skiff-qemu,
docs/security.md) against AppArmor's own parser: it compiles, and so would be
loaded by `apparmor_parser -r` on a host with AppArmor. This machine's kernel
has no AppArmor, so the profile is compiled here, never enforced."""
import pathlib
import subprocess

SOURCE = pathlib.Path(__file__).resolve().parents[2]
PROFILE = SOURCE / "packaging/apparmor/skiff-qemu"
PARSER = "/usr/sbin/apparmor_parser"


def compile_profile(path):
    # -Q: skip the kernel load, -T/-K: no cache.
    return subprocess.run([PARSER, "-QTK", str(path)], capture_output=True, text=True)


def test_profile_compiles():
    r = compile_profile(PROFILE)
    assert r.returncode == 0, r.stderr


def test_the_parser_refuses_a_broken_profile(tmp_path):
    # The check above means something: a one-word slip fails it.
    bad = tmp_path / "skiff-qemu"
    bad.write_text(PROFILE.read_text().replace("deny mount,", "deny mountx,"))
    r = compile_profile(bad)
    assert r.returncode != 0 and "skiff-qemu" in r.stderr, r.stderr

