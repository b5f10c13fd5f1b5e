"""Save, restore, managed save and live device changes of a real QEMU guest (TCG)
through skiffd: the guest's counter carries on across save/restore and managed
save; a qcow2 disk and a NIC on the test's own isolated network are hot-plugged
and unplugged (the guest reports its block devices and NICs on the console); the
balloon and the vCPU count change live. One guest serves all cases, in order.

Runs as root (taps, bridge, dnsmasq); in CI (CI=true) a missing prerequisite
fails the test. Everything (daemon root, network, bridge, QEMU) is removed at the end.
"""
import json
import os
import random
import re
import subprocess
import time

import pytest

from framework.console import ConsoleLog
from framework.daemon import daemon_session
from framework.guest import disk_xml, domain_xml
from framework.net import free_test_subnet, link_exists, require_net_prerequisites, sh
from framework.util import pid_alive, require_guest, wait_until

NAME = "live1"


def guest_xml(kernel, initrd, disk):
    # machine 'pc' with ACPI: its PCI bus takes hot-plugged devices (q35 needs root
    # ports), and ACPI tells the guest about new devices and vCPUs.
    # 256 MiB maximum, started at <currentMemory> 192 MiB as libvirt starts it.
    return domain_xml(NAME, kernel, initrd, machine="pc",
                      vcpu="<currentMemory unit='MiB'>192</currentMemory>\n"
                           "  <vcpu current='1'>2</vcpu>",
                      cmdline="skiff.counter=1 skiff.nodhcp=1",
                      head="  <features><acpi/></features>\n",
                      devices=disk_xml("vda", file=disk))  # no <memballoon>: added by default


class Guest(ConsoleLog):
    """The running test guest: its console log and helpers to wait for markers."""

    def __init__(self, d, root):
        super().__init__(d, root, NAME)

    def counters(self, since=0):
        return [int(n) for n in re.findall(r"^SKIFF-COUNTER (\d+)", self.text(since), re.M)]

    def state(self):
        return self.d.skiff("domstate", "--reason", NAME).stdout.strip()

    def stats(self, *groups):
        out = self.d.skiff("domstats", *groups, NAME).stdout
        return dict(re.findall(r"^\s+([\w.]+)=(\S+)", out, re.M))


def wait_gone(pid, timeout=20):
    assert wait_until(lambda: not pid_alive(pid), timeout), f"qemu {pid} still running"


@pytest.fixture(scope="module")
def guest():
    require_net_prerequisites()
    kernel, initrd = require_guest()
    with daemon_session("skiffd-live-") as d:
        root = d.root
        os.chmod(root, 0o755)  # dnsmasq reads its files as "nobody"
        disk = root / "vda.raw"
        with open(disk, "wb") as f:
            f.truncate(16 << 20)
        (root / "g.xml").write_text(guest_xml(kernel, initrd, disk))
        d.skiff("define", str(root / "g.xml"))
        d.skiff("start", NAME)
        g = Guest(d, root)
        d.pids.append(g.qemu_pid())
        g.wait(r"^SKIFF-GUEST-READY", timeout=150)
        g.wait(r"^SKIFF-COUNTER 2\b", timeout=60)
        g.pids = d.pids
        yield g


def test_the_guest_starts_at_its_current_memory(guest):
    # The balloon takes the guest to <currentMemory> at start (issue 25 item 3).
    assert wait_until(lambda: guest.stats("--balloon").get("balloon.current") == "196608", 60), \
        guest.stats("--balloon")
    assert guest.stats("--balloon").get("balloon.maximum") == "262144"
    info = guest.d.skiff("dominfo", NAME).stdout
    assert "Max memory:     262144 KiB" in info and "Used memory:    196608 KiB" in info, info


def test_save_and_restore_keep_the_guest_counting(guest):
    d, save = guest.d, guest.root / "live1.save"
    before = guest.counters()[-1]
    pid = guest.qemu_pid()
    mark = guest.size()
    r = d.skiff("save", NAME, str(save))
    assert f"Domain '{NAME}' saved to {save}" in r.stdout, r.stdout
    assert guest.state() == "shut off (saved)"
    wait_gone(pid)
    assert not (guest.root / f"run/skiff/domains/{NAME}.qemu.json").exists()
    # One file: the header line, then QEMU's state (about the guest's used RAM).
    data = save.read_bytes()
    header, _, state = data.partition(b"\n")
    assert json.loads(header)["magic"] == "skiff-save-v1"
    assert NAME in json.loads(header)["xml"]
    assert len(state) > 1 << 20, len(state)
    last = max(guest.counters())
    assert last >= before

    mark = guest.size()
    r = d.skiff("restore", str(save))
    assert f"Domain restored from {save}" in r.stdout, r.stdout
    assert guest.state() == "running (restored)"
    guest.pids.append(guest.qemu_pid())
    # The counter carries on where it stopped: it does not boot again from 0.
    guest.wait(r"^SKIFF-COUNTER \d+", since=mark, timeout=60)
    after = guest.counters(mark)
    assert after[0] >= last and after[0] <= last + 3, (last, after)
    assert "SKIFF-GUEST-READY" not in guest.text(mark)
    guest.wait(rf"^SKIFF-COUNTER {after[0] + 2}\b", since=mark, timeout=30)
    # It keeps the memory it had when saved.
    assert wait_until(lambda: guest.stats("--balloon").get("balloon.current") == "196608", 60), \
        guest.stats("--balloon")

    # A file that is not a save file is refused, naming it.
    r = d.skiff("restore", str(guest.root / "g.xml"), check=False)
    assert r.returncode == 1 and "is not a skiff save file" in r.stderr, r.stderr


def test_managedsave_then_start_resumes_and_removes_the_image(guest):
    d = guest.d
    image = guest.root / f"var/lib/skiff/save/{NAME}.save"
    pid = guest.qemu_pid()
    d.skiff("managedsave", NAME)
    wait_gone(pid)
    assert guest.state() == "shut off (saved)"
    assert image.exists() and image.stat().st_size > 1 << 20
    assert "Managed save:   yes" in d.skiff("dominfo", NAME).stdout
    assert re.search(rf"^\s*-\s+{NAME}\s+shut off", d.skiff("list", "--all").stdout, re.M)
    last = max(guest.counters())

    # managedsave-dumpxml shows what the image restores; managedsave-define points
    # its disk somewhere else (a hard link: the same disk under a new name, as
    # after moving images) but refuses a change the saved guest would see.
    saved_xml = d.skiff("managedsave-dumpxml", NAME).stdout
    disk = str(guest.root / "vda.raw")
    moved = str(guest.root / "vda-moved.raw")
    assert f"<source file='{disk}'/>" in saved_xml, saved_xml
    os.link(disk, moved)
    bigger = guest.root / "bigger.xml"
    bigger.write_text(re.sub(r"<memory unit='KiB'>\d+</memory>",
                             "<memory unit='KiB'>524288</memory>", saved_xml))
    r = d.skiff("managedsave-define", NAME, str(bigger), check=False)
    assert r.returncode == 1 and "changes the saved guest's hardware" in r.stderr, r.stderr
    assert d.skiff("managedsave-dumpxml", NAME).stdout == saved_xml
    redefined = guest.root / "moved.xml"
    redefined.write_text(saved_xml.replace(disk, moved))
    out = d.skiff("managedsave-define", NAME, str(redefined)).stdout
    assert f"Managed save state file of domain '{NAME}' updated." in out
    assert moved in d.skiff("managedsave-dumpxml", NAME).stdout

    mark = guest.size()
    d.skiff("start", NAME)
    guest.pids.append(guest.qemu_pid())
    assert guest.state() == "running (restored)"
    assert f"<source file='{moved}'/>" in d.skiff("dumpxml", NAME).stdout
    guest.wait(r"^SKIFF-COUNTER \d+", since=mark, timeout=60)
    after = guest.counters(mark)
    assert last <= after[0] <= last + 3, (last, after)
    assert not image.exists()
    assert "Managed save:   no" in d.skiff("dominfo", NAME).stdout


def test_a_guest_saved_paused_comes_back_paused(guest):
    """As virsh: restore and start-from-managed-save bring the guest back in the state
    it was saved in; restore --running / --paused override it."""
    d, save = guest.d, guest.root / "paused.save"
    d.skiff("suspend", NAME)
    pid = guest.qemu_pid()
    d.skiff("save", NAME, str(save))
    wait_gone(pid)
    assert json.loads(save.read_bytes().partition(b"\n")[0])["paused"] is True
    r = d.skiff("restore", "--running", "--paused", str(save), check=False)
    assert r.returncode == 1 and "mutually exclusive" in r.stderr, r.stderr
    assert guest.state() == "shut off (saved)"

    mark = guest.size()
    d.skiff("restore", str(save))
    guest.pids.append(guest.qemu_pid())
    assert guest.state() == "paused (user)"
    time.sleep(3)
    assert guest.counters(mark) == [], "a paused guest counted"

    # Managed save of the paused guest: start brings it back paused too.
    pid = guest.qemu_pid()
    d.skiff("managedsave", NAME)
    wait_gone(pid)
    d.skiff("start", NAME)
    guest.pids.append(guest.qemu_pid())
    assert guest.state() == "paused (user)"
    d.skiff("resume", NAME)
    guest.wait(r"^SKIFF-COUNTER \d+", since=mark, timeout=60)

    # Saved running, restored --paused.
    pid = guest.qemu_pid()
    d.skiff("save", NAME, str(save))
    wait_gone(pid)
    d.skiff("restore", "--paused", str(save))
    guest.pids.append(guest.qemu_pid())
    assert guest.state() == "paused (user)"
    d.skiff("resume", NAME)
    assert guest.state() == "running (unpaused)"


def test_attach_and_detach_disk_live(guest):
    d = guest.d
    img = guest.root / "extra.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(img), "64M"], check=True)
    mark = guest.size()
    d.skiff("attach-disk", NAME, str(img), "vdb", "--subdriver", "qcow2", "--live")
    guest.wait(r"^SKIFF-BLOCKS: vda vdb$", since=mark)
    assert "vdb" in d.skiff("domblklist", NAME).stdout
    assert "<target dev='vdb'" in d.skiff("dumpxml", NAME).stdout
    assert "vdb" not in d.skiff("dumpxml", "--inactive", NAME).stdout
    # QEMU holds the image open (and locked) while it is attached.
    assert subprocess.run(["qemu-img", "info", str(img)], capture_output=True).returncode != 0

    # Saved and restored with the hot-plugged disk: it keeps its PCI slot (QEMU
    # refuses the state otherwise) and the guest keeps using it.
    save = guest.root / "hotplug.save"
    d.skiff("save", NAME, str(save))
    mark = guest.size()
    d.skiff("restore", str(save))
    guest.pids.append(guest.qemu_pid())
    assert guest.state() == "running (restored)"
    guest.wait(r"^SKIFF-COUNTER \d+", since=mark, timeout=60)
    assert "SKIFF-BLOCKS" not in guest.text(mark)  # no change seen by the guest
    save.unlink()

    mark = guest.size()
    d.skiff("detach-disk", NAME, "vdb", "--live")
    guest.wait(r"^SKIFF-BLOCKS: vda$", since=mark)
    assert "vdb" not in d.skiff("dumpxml", NAME).stdout
    assert wait_until(lambda: subprocess.run(["qemu-img", "info", str(img)],
                                             capture_output=True).returncode == 0, 10)
    # Twice: the second detach names the missing disk and changes nothing.
    r = d.skiff("detach-disk", NAME, "vdb", "--live", check=False)
    assert r.returncode == 1 and "has no disk 'vdb'" in r.stderr, r.stderr


def test_attach_and_detach_interface_live(guest):
    d = guest.d
    tag = "".join(random.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(6))
    net, bridge, prefix = f"sklv{tag}", f"skl-{tag}", free_test_subnet()
    mac = "52:54:00:%02x:%02x:%02x" % (random.randint(0, 255), random.randint(0, 255), 7)
    (guest.root / "net.xml").write_text(f"""<network>
  <name>{net}</name>
  <bridge name='{bridge}'/>
  <ip address='{prefix}.1' netmask='255.255.255.0'/>
</network>
""")
    d.skiff("net-create", str(guest.root / "net.xml"))
    try:
        assert link_exists(bridge)
        mark = guest.size()
        d.skiff("attach-interface", NAME, "network", net, "--mac", mac, "--model", "virtio",
                "--live")
        guest.wait(r"^SKIFF-NICS: eth0$", since=mark)
        iflist = d.skiff("domiflist", NAME).stdout
        m = re.search(r"^\s*(vnet\d+)\s+network\s+" + re.escape(net), iflist, re.M)
        assert m, iflist
        tap = m.group(1)
        assert f"master {bridge}" in sh("ip", "link", "show", "dev", tap).stdout
        assert mac in d.skiff("dumpxml", NAME).stdout
        assert mac not in d.skiff("dumpxml", "--inactive", NAME).stdout

        # Through save and restore the NIC keeps its slot and gets a new tap on the
        # bridge; detach finds it again by its MAC.
        save = guest.root / "nic.save"
        d.skiff("save", NAME, str(save))
        assert wait_until(lambda: not link_exists(tap), 10)
        mark = guest.size()
        d.skiff("restore", str(save))
        guest.pids.append(guest.qemu_pid())
        guest.wait(r"^SKIFF-COUNTER \d+", since=mark, timeout=60)
        assert "SKIFF-NICS" not in guest.text(mark)
        m = re.search(r"^\s*(vnet\d+)\s+network\s+" + re.escape(net),
                      d.skiff("domiflist", NAME).stdout, re.M)
        assert m
        tap = m.group(1)
        assert f"master {bridge}" in sh("ip", "link", "show", "dev", tap).stdout
        save.unlink()

        mark = guest.size()
        d.skiff("detach-interface", NAME, "network", "--mac", mac, "--live")
        guest.wait(r"^SKIFF-NICS: $", since=mark)
        assert mac not in d.skiff("dumpxml", NAME).stdout
        assert wait_until(lambda: not link_exists(tap), 10), f"tap {tap} left behind"
    finally:
        d.skiff("net-destroy", net, check=False)
    assert not link_exists(bridge)


def test_setmem_and_setvcpus_live(guest):
    d = guest.d
    d.skiff("setmem", NAME, "128M", "--live")
    # The guest gives the pages back to the balloon driver over a few seconds.
    assert wait_until(lambda: guest.stats("--balloon").get("balloon.current") == "131072", 60), \
        guest.stats("--balloon")
    assert "Used memory:    131072 KiB" in d.skiff("dominfo", NAME).stdout
    assert "131072" not in d.skiff("dumpxml", "--inactive", NAME).stdout

    assert guest.stats("--vcpu").get("vcpu.current") == "1"
    mark = guest.size()
    d.skiff("setvcpus", NAME, "2", "--live")
    assert guest.stats("--vcpu").get("vcpu.current") == "2"
    guest.wait(r"^SKIFF-CPUS: 0-1$", since=mark)
    assert "current='2'" not in d.skiff("dumpxml", NAME).stdout  # 2 of 2: no current=
    assert "current='1'" in d.skiff("dumpxml", "--inactive", NAME).stdout
    # More than the maximum is refused with a reason.
    r = d.skiff("setvcpus", NAME, "3", "--live", check=False)
    assert r.returncode == 1 and "exceed the maximum 2" in r.stderr, r.stderr
    # The hot-plugged vCPU goes again (test_daemon_tuning covers unplugging in depth).
    mark = guest.size()
    d.skiff("setvcpus", NAME, "1", "--live")
    guest.wait(r"^SKIFF-CPUS: 0$", since=mark)
    assert guest.stats("--vcpu").get("vcpu.current") == "1"
