"""Live disk hot-plug beyond virtio files on a real QEMU guest (TCG, machine pc)
through skiffd: a SCSI disk (the virtio-scsi controller is hot-plugged with it, as
libvirt does), a storage-pool volume attached with attach-device, a host block
device (a loop device), and a SATA disk refused with libvirt's message while
nothing changes; blockresize grows a disk the guest sees grow (domblkinfo,
domblkerror). The guest reports its block devices on the console
("SKIFF-BLOCKS: sda vda"). One guest serves all cases, in order.

Runs as root (loop devices); everything (daemon root, QEMU, loop device) is
removed at the end.
"""
import os
import re
import subprocess
import time

import pytest

from framework.console import shell
from framework.daemon import daemon_session
from framework.guest import boot, disk_xml, domain_xml
from framework.host import locked
from framework.util import require_guest, wait_until

NAME = "hotplug1"


@pytest.fixture(scope="module")
def guest():
    if os.geteuid() != 0:
        pytest.skip("needs root (loop devices)")
    kernel, initrd = require_guest()
    with daemon_session("skiffd-hotplug-") as d:
        disk = d.root / "vda.raw"
        with open(disk, "wb") as f:
            f.truncate(16 << 20)
        # machine 'pc' with ACPI: its PCI bus takes hot-plugged PCI devices.
        g = boot(d, d.root, NAME, domain_xml(NAME, kernel, initrd, machine="pc",
                                             head="  <features><acpi/></features>\n",
                                             devices=disk_xml("vda", file=disk)))
        g.wait(r"^SKIFF-BLOCKS: vda$", timeout=60)
        yield g


def test_scsi_disk_and_its_controller_are_hotplugged(guest):
    d = guest.d
    img = guest.root / "scsi.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(img), "32M"], check=True)
    mark = guest.size()
    d.skiff("attach-disk", NAME, str(img), "sda", "--targetbus", "scsi", "--subdriver", "qcow2",
            "--live")
    guest.wait(r"^SKIFF-BLOCKS: sda vda$", since=mark)
    live = d.skiff("dumpxml", NAME).stdout
    assert re.search(r"<target dev='sda' bus='scsi'/>", live), live
    assert "<controller type='scsi' index='0' model='virtio-scsi'" in live, live
    assert "sda" not in d.skiff("dumpxml", "--inactive", NAME).stdout
    assert locked(img)

    mark = guest.size()
    d.skiff("detach-disk", NAME, "sda", "--live")
    guest.wait(r"^SKIFF-BLOCKS: vda$", since=mark)
    assert "sda" not in d.skiff("domblklist", NAME).stdout
    assert wait_until(lambda: not locked(img), 10)

    # The controller stayed: a second SCSI disk goes onto it.
    mark = guest.size()
    d.skiff("attach-disk", NAME, str(img), "sdb", "--targetbus", "scsi", "--subdriver", "qcow2",
            "--live")
    guest.wait(r"^SKIFF-BLOCKS: sda vda$", since=mark)  # the guest names it sda
    mark = guest.size()
    d.skiff("detach-disk", NAME, "sdb", "--live")
    guest.wait(r"^SKIFF-BLOCKS: vda$", since=mark)


def test_volume_disk_attach_device_and_detach_device(guest):
    d = guest.d
    d.skiff("vol-create-as", "default", "hp.qcow2", "32M", "--format", "qcow2")
    path = guest.root / "var/lib/skiff/images/hp.qcow2"
    dev = guest.root / "vol-disk.xml"
    dev.write_text(disk_xml("vdb", pool="default", volume="hp.qcow2", fmt="qcow2"))
    mark = guest.size()
    out = d.skiff("attach-device", NAME, str(dev), "--live").stdout
    assert "Device attached successfully" in out
    guest.wait(r"^SKIFF-BLOCKS: vda vdb$", since=mark)
    live = d.skiff("dumpxml", NAME).stdout
    assert "<source pool='default' volume='hp.qcow2'/>" in live, live
    assert locked(path)

    mark = guest.size()
    out = d.skiff("detach-device", NAME, str(dev), "--live").stdout
    assert "Device detached successfully" in out
    guest.wait(r"^SKIFF-BLOCKS: vda$", since=mark)
    assert "hp.qcow2" not in d.skiff("dumpxml", NAME).stdout
    assert wait_until(lambda: not locked(path), 10)

    # A volume that does not exist: named, and nothing attached.
    dev.write_text(disk_xml("vdb", pool="default", volume="nope.qcow2", fmt="qcow2"))
    r = d.skiff("attach-device", NAME, str(dev), "--live", check=False)
    assert r.returncode != 0 and "nope.qcow2" in r.stderr, r.stderr
    assert "vdb" not in d.skiff("dumpxml", NAME).stdout


def test_block_device_attach_and_detach(guest):
    d = guest.d
    backing = guest.root / "loop.raw"
    with open(backing, "wb") as f:
        f.truncate(8 << 20)
    loop = subprocess.run(["losetup", "-f", "--show", str(backing)], capture_output=True,
                          text=True)
    if loop.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"losetup: {loop.stderr}")
        pytest.skip(f"no loop device: {loop.stderr}")
    loopdev = loop.stdout.strip()
    try:
        mark = guest.size()
        d.skiff("attach-disk", NAME, loopdev, "vdc", "--live")
        guest.wait(r"^SKIFF-BLOCKS: vda vdb$", since=mark)  # the guest numbers them itself
        live = d.skiff("dumpxml", NAME).stdout
        assert "<disk type='block' device='disk'>" in live, live
        assert f"<source dev='{loopdev}'/>" in live, live
        assert loopdev in d.skiff("domblklist", NAME).stdout

        mark = guest.size()
        d.skiff("detach-disk", NAME, "vdc", "--live")
        guest.wait(r"^SKIFF-BLOCKS: vda$", since=mark)
        assert loopdev not in d.skiff("dumpxml", NAME).stdout
    finally:
        subprocess.run(["losetup", "-d", loopdev], capture_output=True)


def test_sata_disk_is_refused_live_and_nothing_changes(guest):
    d = guest.d
    img = guest.root / "sata.raw"
    with open(img, "wb") as f:
        f.truncate(8 << 20)
    before_live = d.skiff("dumpxml", NAME).stdout
    before_config = d.skiff("dumpxml", "--inactive", NAME).stdout
    mark = guest.size()
    r = d.skiff("attach-disk", NAME, str(img), "sdb", "--targetbus", "sata", "--live",
                check=False)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "disk bus 'sata' cannot be hotplugged" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    # The same with --live --config: the definition does not change either.
    r = d.skiff("attach-disk", NAME, str(img), "sdb", "--targetbus", "sata", "--live",
                "--config", check=False)
    assert r.returncode == 1 and "cannot be hotplugged" in r.stderr, r.stderr
    assert d.skiff("dumpxml", NAME).stdout == before_live
    assert d.skiff("dumpxml", "--inactive", NAME).stdout == before_config
    assert not locked(img)
    time.sleep(2)
    assert "SKIFF-BLOCKS" not in guest.text(mark)

    # --config alone still changes only the definition (the next boot has the disk).
    d.skiff("attach-disk", NAME, str(img), "sdb", "--targetbus", "sata", "--config")
    assert "<target dev='sdb' bus='sata'/>" in d.skiff("dumpxml", "--inactive", NAME).stdout
    assert "sdb" not in d.skiff("dumpxml", NAME).stdout
    d.skiff("detach-disk", NAME, "sdb", "--config")


def test_usb_disk_is_plugged_on_the_usb_controller(guest):
    # The test guest's kernel has no USB drivers: QEMU's side is what is checked
    # (it opens and locks the image, and lets it go on detach).
    d = guest.d
    img = guest.root / "usb.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(img), "8M"], check=True)
    d.skiff("attach-disk", NAME, str(img), "sdd", "--targetbus", "usb", "--subdriver", "qcow2",
            "--live")
    assert "<target dev='sdd' bus='usb'/>" in d.skiff("dumpxml", NAME).stdout
    assert locked(img)
    d.skiff("detach-disk", NAME, "sdd", "--live")
    assert "sdd" not in d.skiff("dumpxml", NAME).stdout
    assert wait_until(lambda: not locked(img), 10)


def test_blockresize_grows_the_disk_the_running_guest_sees(guest):
    d = guest.d
    disk = d.root / "vda.raw"
    info = d.skiff("domblkinfo", NAME, "vda").stdout
    assert re.search(r"^Capacity:\s+16777216$", info, re.M), info
    out = d.skiff("blockresize", NAME, "vda", "24M").stdout
    assert "Block device 'vda' is resized" in out, out
    # The guest's own kernel sees the new size (QEMU's block_resize, virtio-blk).
    shell(d, guest, NAME, "echo VDA=$(cat /sys/block/vda/size)-$((3+4))", r"^VDA=49152-7")
    assert os.path.getsize(disk) == 24 << 20
    info = d.skiff("domblkinfo", NAME, str(disk)).stdout  # the disk named by its file
    assert re.search(r"^Capacity:\s+25165824$", info, re.M), info
    human = d.skiff("domblkinfo", NAME, "vda", "--human").stdout
    assert re.search(r"^Capacity:\s+24\.000 MiB$", human, re.M), human
    assert d.skiff("domblkerror", NAME).stdout.strip() == "No errors found"
    # Shrinking would cut the guest's data off: refused in one line, nothing changes.
    r = d.skiff("blockresize", NAME, "vda", "8M", check=False)
    assert r.returncode == 1 and "shrinking" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert os.path.getsize(disk) == 24 << 20
