#!/usr/bin/env bash
# The demo: installs dependencies, builds Skiff and the test guest, starts skiffd
# on a private state root, and through `skiff` creates a disk volume in the
# default pool, defines the test guest as a VM on the default NAT network (TCG
# where KVM is not usable), boots it showing its console lines and the address
# it leased, then shuts it down with the ACPI power button. On exit the demo's
# network (bridge, nftables table, dnsmasq) and state root are removed.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
jobs=$(nproc)

bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
cmake --build build --target guest

root=$(mktemp -d /tmp/skiff-demo-XXXXXX)
export SKIFF_URI="unix://$root/run/skiff/skiffd.sock"
skiff() { "$src/build/bin/skiff" "$@"; }
step() { printf '\n\033[1m$ skiff %s\033[0m\n' "$*"; skiff "$@"; }
cleanup() {
  skiff destroy demo >/dev/null 2>&1 || true
  skiff net-destroy default >/dev/null 2>&1 || true
  [[ -n ${daemon:-} ]] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
  rm -rf "$root"
}
trap cleanup EXIT

echo "== starting skiffd --root $root"
# --default-network: define and start the `default` NAT network here too (by
# default skiffd does that only when its root is /).
"$src/build/bin/skiffd" --root "$root" --default-network &
daemon=$!
for _ in $(seq 1 100); do [[ -S $root/run/skiff/skiffd.sock ]] && break; sleep 0.1; done

step version
type=qemu
if skiff version | grep -q '^KVM: usable'; then type=kvm; fi
step pool-list --all --details
step net-list --all
step vol-create-as default demo-disk.img 64M
cat > "$root/demo.xml" <<XML
<domain type='$type'>
  <name>demo</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>$src/build/guest/vmlinuz</kernel>
    <initrd>$src/build/guest/initrd.img</initrd>
    <cmdline>console=ttyS0 quiet skiff.hostname=demo skiff.mkfs=1 skiff.write=hello.txt:written-by-the-demo-guest</cmdline>
  </os>
  <devices>
    <disk type='volume' device='disk'>
      <driver name='qemu' type='raw'/>
      <source pool='default' volume='demo-disk.img'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='network'>
      <source network='default'/>
      <model type='virtio'/>
    </interface>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
  </devices>
</domain>
XML
step define "$root/demo.xml"
step start demo
log="$root/var/log/skiff/domains/demo.log"
for _ in $(seq 1 300); do grep -aq -e SKIFF-GUEST-IP -e SKIFF-GUEST-NO-LEASE "$log" 2>/dev/null && break; sleep 0.2; done
echo "== the guest's console (from $log):"
grep -a SKIFF "$log" | sed 's/^/  console: /'
step list --all
step dominfo demo
step domblklist demo
step domifaddr demo
step net-dhcp-leases default
step net-diagram default
step shutdown demo
for _ in $(seq 1 150); do [[ $(skiff domstate demo) == "shut off" ]] && break; sleep 0.2; done
grep -a -e SKIFF-GUEST-POWERDOWN "$log" | sed 's/^/  console: /'
step domstate demo --reason
step vol-info demo-disk.img --pool default
echo "== the demo's state root $root is removed on exit"
