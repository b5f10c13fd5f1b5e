"""The test guest (build/guest: a kernel and an initrd that print markers on ttyS0)
as a domain: its domain XML, its disks, and booting it through skiffd."""
import subprocess

from framework.console import ConsoleLog


def domain_xml(name, kernel, initrd, *, cmdline="", memory_mib=256, vcpu="<vcpu>1</vcpu>",
               machine="q35", head="", devices="", console=True):
    """A TCG domain that boots the test guest's kernel and initrd with its serial console.

    head: XML placed after <os> (features, cputune, lifecycle actions, ...);
    devices: XML placed first in <devices> (disks, interfaces, ...).
    """
    serial = "    <serial type='pty'><target port='0'/></serial>\n"
    if console:
        serial += "    <console type='pty'><target type='serial' port='0'/></console>\n"
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>{memory_mib}</memory>
  {vcpu}
  <os>
    <type arch='x86_64' machine='{machine}'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>console=ttyS0 {cmdline}</cmdline>
  </os>
{head}  <devices>
{devices}{serial}  </devices>
</domain>
"""


def disk_xml(dev, *, file=None, pool=None, volume=None, fmt="raw"):
    """A virtio disk from a file, or from a volume of a pool."""
    if file is not None:
        kind, source = "file", f"<source file='{file}'/>"
    else:
        kind, source = "volume", f"<source pool='{pool}' volume='{volume}'/>"
    return f"""    <disk type='{kind}' device='disk'>
      <driver name='qemu' type='{fmt}'/>
      {source}
      <target dev='{dev}' bus='virtio'/>
    </disk>
"""


def lifecycle_xml(name, kernel, initrd, disk=None, on_poweroff=None, on_reboot=None):
    """The guest that Env.define() defines: 192 MiB, no DHCP, writes hello.txt to its
    disk (if it has one), with optional <on_poweroff>/<on_reboot> actions."""
    actions = ""
    if on_poweroff:
        actions += f"  <on_poweroff>{on_poweroff}</on_poweroff>\n"
    if on_reboot:
        actions += f"  <on_reboot>{on_reboot}</on_reboot>\n"
    return domain_xml(name, kernel, initrd, memory_mib=192,
                      cmdline="skiff.nodhcp=1 skiff.write=hello.txt:lifecycle", head=actions,
                      devices=disk_xml("vda", file=disk) if disk else "")


def boot(d, root, name, xml):
    """Defines and starts `name` on daemon `d`; returns its ConsoleLog (with `pid`, its
    QEMU's pid, also added to `d.pids`) once the guest reported ready."""
    (root / f"{name}.xml").write_text(xml)
    d.skiff("define", str(root / f"{name}.xml"))
    d.skiff("start", name)
    g = ConsoleLog(d, root, name)
    g.pid = g.qemu_pid()
    d.pids.append(g.pid)
    g.wait(r"^SKIFF-GUEST-READY", timeout=150)
    return g


def files_in(image, root):
    """The files at the top of the ext2 file system in `image` (any format qemu-img
    reads), with their contents, read by debugfs from a raw copy."""
    raw = root / "read.raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(image), str(raw)], check=True)
    ls = subprocess.run(["debugfs", "-R", "ls -p /", str(raw)], capture_output=True, text=True,
                        check=True).stdout
    names = [f.split("/")[5] for f in ls.split() if f.count("/") >= 6]
    out = {}
    for n in names:
        if n.endswith(".txt"):
            out[n] = subprocess.run(["debugfs", "-R", f"cat /{n}", str(raw)], capture_output=True,
                                    text=True, check=True).stdout.strip()
    raw.unlink()
    return out
