"""skiff backup end to end, on the booted test guest (TCG): the guest writes file A
to its qcow2 disk, a full backup is taken, it writes B, an incremental backup is
taken (it holds only the clusters the guest changed, which QEMU recorded in the
disk's bitmap while the guest ran), it writes C. Each backup restores as a new
domain that holds A only, or A and B; the restored domain boots. Bad input is
refused in one line and changes nothing: an incremental with nothing to build on or of a raw disk, a restore over an
existing domain, a corrupt manifest, a truncated disk image. A skiffd killed
(-9) during a backup leaves either the complete backup or none. A running guest
is backed up by QEMU as it runs, consistent at the instant the backup began.
Oracles: qemu-img (check, info of the incremental's backing file, map of what it
holds) and debugfs reading the restored ext2 file systems.
"""
import json
import os
import re
import shutil
import subprocess
import time

from framework.console import ConsoleLog, shell
from framework.util import SKIFF, wait_until
from framework.guest import disk_xml, domain_xml, files_in

SKIFF_BACKUP_BITMAP = "skiff-backup-"


def run_guest(env, name, write, mkfs=False):
    """Boots `name` with a kernel command line that writes `write` (FILE:TEXT) to its
    disk's file system, then shuts it down through ACPI (QEMU stores the disk's
    bitmaps as it closes it)."""
    d = env.d
    xml = d.skiff("dumpxml", name).stdout
    xml = re.sub(r"<cmdline>[^<]*</cmdline>",
                 f"<cmdline>console=ttyS0 skiff.nodhcp=1 {'skiff.mkfs=1 ' if mkfs else ''}"
                 f"skiff.write={write}</cmdline>", xml)
    (env.root / f"{name}.xml").write_text(xml)
    d.skiff("define", str(env.root / f"{name}.xml"))
    seen = env.count(name, "SKIFF-WROTE")
    d.skiff("start", name)
    env.wait_marker(name, "SKIFF-WROTE", seen + 1, timeout=150)
    env.shutdown(name)
    env.wait_state(name, "shut off (shutdown)", timeout=60)


def backups_in(d, where):
    return json.loads(d.skiff("backup", "list", str(where), "--json").stdout)


def qemu_img(*args):
    return subprocess.run(["qemu-img", *args], check=True, capture_output=True,
                          text=True).stdout


def clusters_differing(root, a, b):
    """How many 64 KiB clusters differ between two images (read as raw by qemu-img)."""
    raws = []
    for i, img in enumerate((a, b)):
        raws.append(root / f"cmp{i}.raw")
        qemu_img("convert", "-O", "raw", str(img), str(raws[-1]))
    n = 0
    with open(raws[0], "rb") as fa, open(raws[1], "rb") as fb:
        while True:
            ca, cb = fa.read(65536), fb.read(65536)
            if not ca and not cb:
                break
            n += ca != cb
    for r in raws:
        r.unlink()
    return n


def one_line_error(r, *words):
    assert r.returncode != 0, r.stdout
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    for w in words:
        assert w in r.stderr, (w, r.stderr)


def test_full_and_incremental_backups_restore_what_the_guest_wrote(env):
    d, root = env.d, env.root
    disk = root / "vm.qcow2"
    # 8 MiB of data at the disk's end, past what the guest's file system uses: the
    # full backup holds it, the incremental must not.
    raw = root / "vm.raw"
    with open(raw, "wb") as f:
        f.truncate(32 << 20)
        f.seek(24 << 20)
        f.write(os.urandom(8 << 20))
    qemu_img("convert", "-f", "raw", "-O", "qcow2", str(raw), str(disk))
    raw.unlink()
    xml = domain_xml("vm", env.kernel, env.initrd, memory_mib=128,
                     devices=disk_xml("vda", file=str(disk), fmt="qcow2"))
    (root / "vm.xml").write_text(xml)
    d.skiff("define", str(root / "vm.xml"))
    store = root / "backups"

    run_guest(env, "vm", "a.txt:A", mkfs=True)
    # Nothing to build an incremental on yet.
    r = d.skiff("backup", "create", "vm", "--incremental", "--to", str(store), check=False)
    one_line_error(r, "no backup of 'vm'", "take a full backup first")

    out = d.skiff("backup", "create", "vm", "--to", str(store)).stdout
    assert "Backing up 'vm' (full)" in out and "is complete." in out, out
    [full] = backups_in(d, store)
    assert full["kind"] == "full" and full["domain"] == "vm" and full["disks"] == ["vda"], full
    # The domain's disk now records what the guest changes since this backup.
    info = json.loads(qemu_img("info", "--output=json", "-U", str(disk)))
    names = [b["name"] for b in info["format-specific"]["data"].get("bitmaps", [])]
    assert names == [SKIFF_BACKUP_BITMAP + full["id"]], info

    run_guest(env, "vm", "b.txt:B")
    out = d.skiff("backup", "create", "vm", "--incremental", "--to", str(store)).stdout
    assert f"(incremental since {full['id']})" in out, out
    run_guest(env, "vm", "c.txt:C")

    listing = d.skiff("backup", "list", str(store)).stdout
    assert re.search(rf"^ {full['id']}\s+vm\s+full\s", listing, re.M), listing
    listed = backups_in(d, store)
    assert [b["kind"] for b in listed] == ["full", "incremental"], listed
    incr = listed[1]
    assert incr["parent"] == full["id"], incr
    assert d.skiff("backup", "verify", str(store)).stdout == \
        f"{full['id']}: ok\n{incr['id']}: ok\n"

    # qemu-img's view: both are clean qcow2 images; the incremental's backing file is
    # the full's disk, and it holds only the few clusters the guest's write of b.txt
    # touched (an ext2 inode, bitmap, directory and data block), at least every
    # cluster that differs between the two points in time, and nothing else.
    fdisk, idisk = store / full["id"] / "vda.qcow2", store / incr["id"] / "vda.qcow2"
    for f in (fdisk, idisk):
        qemu_img("check", str(f))
    iinfo = json.loads(qemu_img("info", "--output=json", str(idisk)))
    assert iinfo["backing-filename"] == f"../{full['id']}/vda.qcow2", iinfo
    assert os.path.normpath(iinfo["full-backing-filename"]) == str(fdisk), iinfo
    mapped = json.loads(qemu_img("map", "--output=json", str(idisk)))
    own = sum(e["length"] for e in mapped if e["depth"] == 0 and e["data"])
    fmapped = json.loads(qemu_img("map", "--output=json", str(fdisk)))
    fown = sum(e["length"] for e in fmapped if e["data"])
    assert fown >= 8 << 20 and 0 < own <= 512 << 10, (own, fown)
    assert os.path.getsize(idisk) < 1 << 20 < (8 << 20) < os.path.getsize(fdisk)

    # A restore over an existing domain is refused and writes nothing.
    r = d.skiff("backup", "restore", str(store), check=False)
    one_line_error(r, "domain 'vm' already exists", "--name")
    # Each backup comes back as a domain of its own, with what the guest had then.
    out = d.skiff("backup", "restore", str(store), "--at", full["id"], "--name", "r1").stdout
    assert f"Domain 'r1' restored from backup '{full['id']}'" in out, out
    d.skiff("backup", "restore", str(store), "--name", "r2")
    images = root / "var/lib/skiff/images"
    assert files_in(images / "r1-vda.qcow2", root) == {"a.txt": "A"}
    assert files_in(images / "r2-vda.qcow2", root) == {"a.txt": "A", "b.txt": "B"}
    assert files_in(disk, root) == {"a.txt": "A", "b.txt": "B", "c.txt": "C"}
    changed = clusters_differing(root, images / "r1-vda.qcow2", images / "r2-vda.qcow2")
    assert 0 < changed * 65536 <= own, (changed, own)
    uuid = re.compile(r"<uuid>([^<]+)</uuid>")
    assert uuid.search(d.skiff("dumpxml", "r2").stdout).group(1) != \
        uuid.search(d.skiff("dumpxml", "vm").stdout).group(1)
    # Defined and ready to start: r2 boots and finds its file system.
    log = ConsoleLog(d, root, "r2")
    d.skiff("start", "r2")
    log.wait(r"^SKIFF-DISK-MOUNTED ext", timeout=150)
    assert "SKIFF-DISK-FORMATTED" not in log.text()
    d.skiff("destroy", "r2")

    # Damage: a corrupt manifest and a truncated disk image are named by verify,
    # and a restore from them writes nothing.
    bad = root / "bad"
    shutil.copytree(store, bad)
    manifest = bad / full["id"] / "manifest.json"
    manifest.write_text(manifest.read_text()[:40])
    r = d.skiff("backup", "verify", str(bad), check=False)
    assert r.returncode == 1, r.stdout
    assert f"{full['id']}: damaged: {manifest}: not a manifest: invalid JSON at byte" in \
        r.stdout, r.stdout
    assert f"{incr['id']}: ok" in r.stdout, r.stdout
    assert "1 of 2 backup(s) are damaged" in r.stderr, r.stderr
    r = d.skiff("backup", "restore", str(bad / incr["id"]), "--name", "r3", check=False)
    one_line_error(r, str(manifest))
    shutil.copy(store / full["id"] / "manifest.json", manifest)
    idisk_bad = bad / incr["id"] / "vda.qcow2"
    size = os.path.getsize(idisk_bad)
    os.truncate(idisk_bad, size - 65536)
    r = d.skiff("backup", "verify", str(bad / incr["id"]), check=False)
    assert r.returncode == 1 and \
        f"vda.qcow2: {size - 65536} bytes, the manifest says {size} (truncated)" in r.stdout, \
        r.stdout
    r = d.skiff("backup", "restore", str(bad), "--name", "r3", check=False)
    one_line_error(r, f"backup '{incr['id']}' is damaged", "truncated")
    assert "r3" not in d.skiff("list", "--all", "--name").stdout
    assert not list(images.glob("r3*")) and not list(images.glob(".*")), list(images.iterdir())


def test_a_running_guest_keeps_running_and_is_backed_up_as_it_was_when_the_backup_began(env):
    """QEMU copies the running guest's disk (blockdev-backup) and keeps the bitmap
    the next incremental reads; after a clean shutdown the chain goes on offline."""
    d, root = env.d, env.root
    disk = root / "live.qcow2"
    qemu_img("create", "-f", "qcow2", str(disk), "32M")
    xml = domain_xml("live", env.kernel, env.initrd, memory_mib=128,
                     cmdline="skiff.nodhcp=1 skiff.mkfs=1 skiff.write=a.txt:A",
                     devices=disk_xml("vda", file=str(disk), fmt="qcow2"))
    (root / "live.xml").write_text(xml)
    d.skiff("define", str(root / "live.xml"))
    log = ConsoleLog(d, root, "live")
    d.skiff("start", "live")
    log.wait(r"^SKIFF-WROTE a.txt", timeout=150)
    store = root / "backups"
    out = d.skiff("backup", "create", "live", "--to", str(store)).stdout
    assert "is complete." in out, out
    # The guest ran on: it writes B, and answers.
    shell(d, log, "live", "echo B > /mnt/b.txt && sync && echo WROTE-$((40+2))", r"^WROTE-42")
    d.skiff("backup", "create", "live", "--incremental", "--to", str(store))
    shell(d, log, "live", "echo C > /mnt/c.txt && sync && echo WROTE-$((40+3))", r"^WROTE-43")
    assert env.state("live") == "running (booted)"
    full, incr = backups_in(d, store)
    assert (full["kind"], incr["kind"], incr["parent"]) == ("full", "incremental", full["id"])
    assert d.skiff("backup", "verify", str(store)).returncode == 0
    for b in (full, incr):
        qemu_img("check", str(store / b["id"] / "vda.qcow2"))
    # QEMU stores the bitmap as it stops; the next (offline) incremental reads it.
    env.shutdown("live")
    env.wait_state("live", "shut off (shutdown)", timeout=60)
    d.skiff("backup", "create", "live", "--incremental", "--to", str(store))
    third = backups_in(d, store)[2]
    assert third["parent"] == incr["id"], third
    images = root / "var/lib/skiff/images"
    d.skiff("backup", "restore", str(store / full["id"]), "--name", "l1", "--quiet")
    d.skiff("backup", "restore", str(store / incr["id"]), "--name", "l2", "--quiet")
    d.skiff("backup", "restore", str(store), "--name", "l3", "--quiet")
    assert files_in(images / "l1-vda.qcow2", root) == {"a.txt": "A"}
    assert files_in(images / "l2-vda.qcow2", root) == {"a.txt": "A", "b.txt": "B"}
    assert files_in(images / "l3-vda.qcow2", root) == {"a.txt": "A", "b.txt": "B",
                                                       "c.txt": "C"}


def test_raw_disks_back_up_in_full_and_a_killed_daemon_leaves_all_or_nothing(env):
    d, root = env.d, env.root
    disk = root / "raw.img"
    # 192 MiB of data, so that the backup takes a moment to copy.
    with open(disk, "wb") as f:
        for _ in range(192):
            f.write(os.urandom(1 << 20))
    xml = domain_xml("rawvm", env.kernel, env.initrd, memory_mib=128,
                     devices=disk_xml("vda", file=str(disk), fmt="raw"))
    (root / "rawvm.xml").write_text(xml)
    d.skiff("define", str(root / "rawvm.xml"))
    store = root / "backups"
    d.skiff("backup", "create", "rawvm", "--to", str(store), "--quiet")
    [first] = backups_in(d, store)
    r = d.skiff("backup", "create", "rawvm", "--incremental", "--to", str(store), check=False)
    one_line_error(r, "disk vda is raw", "take a full backup")
    # The full backup restores to the same bytes, as a raw volume.
    d.skiff("backup", "restore", str(store), "--name", "back", "--quiet")
    restored = root / "var/lib/skiff/images/back-vda.raw"
    qemu_img("compare", "-f", "raw", "-F", "raw", str(disk), str(restored))
    assert "type='raw'" in d.skiff("dumpxml", "back").stdout

    # kill -9 while a second backup is being written, then restart.
    client = subprocess.Popen([str(SKIFF), "backup", "create", "rawvm", "--to", str(store),
                               "--quiet"], env=d.env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    started = wait_until(lambda: any(p.name[0] == "." for p in store.iterdir()), 30, step=0.01)
    assert started, \
        list(store.iterdir())
    time.sleep(0.2)
    d.kill_and_restart()
    client.wait(timeout=30)
    left = sorted(p.name for p in store.iterdir())
    assert not [n for n in left if n.startswith(".")], left  # no half-written backup
    listed = backups_in(d, store)
    assert len(listed) in (1, 2) and listed[0]["id"] == first["id"], listed
    assert d.skiff("backup", "verify", str(store)).returncode == 0
    # The domain is left as it was: it starts (its disk not held by any job).
    d.skiff("start", "rawvm")
    d.skiff("destroy", "rawvm")
