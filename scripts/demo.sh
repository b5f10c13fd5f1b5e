#!/usr/bin/env bash
# The demo: installs dependencies, builds Skiff and the test guest, and boots the
# guest as a VM (TCG where KVM is not usable), showing its console lines; then
# presses the ACPI power button and shows the guest shutting down.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"
cmake --build build --target guest

echo
./build/bin/skiff version
accel=tcg
if ./build/bin/skiff version | grep -q '^KVM: usable'; then accel=kvm; fi

run=$(mktemp -d)
trap 'kill "$qemu" 2>/dev/null || true; rm -rf "$run"' EXIT
echo
echo "== booting the test guest (accel=$accel); console follows"
qemu-system-x86_64 -accel "$accel" -machine q35 -m 256 -nodefaults -no-user-config \
  -display none -kernel build/guest/vmlinuz -initrd build/guest/initrd.img \
  -append "console=ttyS0 quiet skiff.hostname=demo" -serial "file:$run/console.log" \
  -qmp "unix:$run/qmp.sock,server=on,wait=off" \
  -netdev user,id=n0,restrict=on -device virtio-net-pci,netdev=n0 &
qemu=$!
for _ in $(seq 1 300); do
  grep -aq -e SKIFF-GUEST-IP -e SKIFF-GUEST-NO-LEASE "$run/console.log" 2>/dev/null && break
  sleep 0.2
done
grep -a SKIFF "$run/console.log" | sed 's/^/  console: /'
echo "== pressing the ACPI power button (QMP system_powerdown)"
python3 - "$run/qmp.sock" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rw")
f.readline()
for cmd in ("qmp_capabilities", "system_powerdown"):
    f.write(json.dumps({"execute": cmd}) + "\n"); f.flush(); f.readline()
PY
wait "$qemu" || true
grep -a -e SKIFF-GUEST-POWERDOWN -e "reboot: Power down" "$run/console.log" | sed 's/^/  console: /'
echo "== the guest powered off cleanly"
