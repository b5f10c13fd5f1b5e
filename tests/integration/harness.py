"""Shared pieces of the integration tests: the test guest's domain XML and polling."""
import time


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


def wait_until(pred, timeout, step=0.2):
    """Polls pred until it returns something true or timeout seconds pass; returns its value."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()
