"""Live hot-plug on a q35 guest (TCG) through skiffd: pcie.0 takes no hot-plugged
devices, so, as with libvirt, a disk and a NIC each take a free pcie-root-port of
the definition (two spare ones here, as virt-install adds); with none free the
attach fails with a clear message and nothing changes; an unplug frees its port
again; save and restore keep a device behind its root port.
"""
import re
import subprocess

import pytest

from framework.daemon import daemon_session
from framework.guest import boot, disk_xml, domain_xml
from framework.host import locked
from framework.util import require_guest, wait_until

NAME = "hotplugq35"

SPARE_PORTS = """    <controller type='pci' index='0' model='pcie-root'/>
    <controller type='pci' index='1' model='pcie-root-port'/>
    <controller type='pci' index='2' model='pcie-root-port'/>
"""


@pytest.fixture(scope="module")
def guest():
    kernel, initrd = require_guest()
    with daemon_session("skiffd-hotplug-q35-") as d:
        disk = d.root / "vda.raw"
        with open(disk, "wb") as f:
            f.truncate(16 << 20)
        g = boot(d, d.root, NAME, domain_xml(NAME, kernel, initrd, machine="q35",
                                             head="  <features><acpi/></features>\n",
                                             devices=disk_xml("vda", file=disk) + SPARE_PORTS))
        g.pids = d.pids
        g.wait(r"^SKIFF-BLOCKS: vda$", timeout=60)
        yield g


def new_image(root, name):
    img = root / name
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(img), "32M"], check=True)
    return img


def test_disk_and_nic_take_free_root_ports_and_then_none_is_left(guest):
    d = guest.d
    vdb = new_image(guest.root, "vdb.qcow2")
    mark = guest.size()
    d.skiff("attach-disk", NAME, str(vdb), "vdb", "--subdriver", "qcow2", "--live")
    guest.wait(r"^SKIFF-BLOCKS: vda vdb$", since=mark)
    # Behind a root port: on a bus of its own (pcie.0 is bus 0), not on pcie.0.
    assert re.search(r"pci 0000:0[1-9]:00\.0: \[1af4:", guest.text(mark)), guest.text(mark)

    mark = guest.size()
    d.skiff("attach-interface", NAME, "user", "--mac", "52:54:00:35:00:01", "--live")
    guest.wait(r"^SKIFF-NICS: eth0$", since=mark)

    # Both spare ports are taken: the next device has nowhere to go.
    vdc = new_image(guest.root, "vdc.qcow2")
    before = d.skiff("dumpxml", NAME).stdout
    r = d.skiff("attach-disk", NAME, str(vdc), "vdc", "--subdriver", "qcow2", "--live",
                check=False)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "no free pcie-root-port" in r.stderr and "pcie-root-port" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert d.skiff("dumpxml", NAME).stdout == before
    assert not locked(vdc)

    # Save and restore: the disk and the NIC come back behind their root ports
    # (QEMU refuses the state otherwise) and the guest sees no change.
    save = guest.root / "q35.save"
    d.skiff("save", NAME, str(save))
    mark = guest.size()
    d.skiff("restore", str(save))
    guest.pids.append(guest.qemu_pid())
    assert d.skiff("domstate", "--reason", NAME).stdout.strip() == "running (restored)"
    save.unlink()

    # Unplugging the disk frees its port for the next one.
    mark = guest.size()
    d.skiff("detach-disk", NAME, "vdb", "--live")
    guest.wait(r"^SKIFF-BLOCKS: vda$", since=mark)
    assert "SKIFF-NICS" not in guest.text(mark)
    assert wait_until(lambda: not locked(vdb), 10)
    mark = guest.size()
    d.skiff("attach-disk", NAME, str(vdc), "vdc", "--subdriver", "qcow2", "--live")
    guest.wait(r"^SKIFF-BLOCKS: vda vdb$", since=mark)  # the guest numbers disks itself

    mark = guest.size()
    d.skiff("detach-interface", NAME, "user", "--mac", "52:54:00:35:00:01", "--live")
    guest.wait(r"^SKIFF-NICS: $", since=mark)
    mark = guest.size()
    d.skiff("detach-disk", NAME, "vdc", "--live")
    guest.wait(r"^SKIFF-BLOCKS: vda$", since=mark)
