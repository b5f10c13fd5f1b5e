#!/usr/bin/env bash
# Builds the test guest from Debian packages: the cloud kernel (bzImage + the
# virtio modules it needs) and busybox-static, packed into an initramfs whose
# init (tools/guest/init) prints markers on ttyS0.
# Usage: build-guest.sh OUTDIR        -> OUTDIR/vmlinuz, OUTDIR/initrd.img
# The downloaded .debs are cached in OUTDIR/cache; the guest is rebuilt only when
# the package versions or the files in tools/guest change (stamp file).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build-guest.sh OUTDIR}
mkdir -p "$out/cache"
out=$(cd "$out" && pwd)

kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
if [[ -z "$kpkg" ]]; then
  apt-get update -qq
  kpkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
fi
[[ -n "$kpkg" ]] || { echo "build-guest: cannot resolve linux-image-cloud-amd64" >&2; exit 1; }
kver=$(apt-cache policy "$kpkg" | awk '/Candidate:/{print $2}')
bver=$(apt-cache policy busybox-static | awk '/Candidate:/{print $2}')

inputs_hash=$( (echo "$kpkg $kver $bver"; cat "$here/build-guest.sh" "$here/init" "$here/udhcpc.script") | sha256sum | cut -d' ' -f1)
if [[ -f "$out/vmlinuz" && -f "$out/initrd.img" && "$(cat "$out/stamp" 2>/dev/null)" == "$inputs_hash" ]]; then
  echo "build-guest: up to date ($kpkg $kver, busybox $bver)"
  exit 0
fi

cd "$out/cache"
for p in "$kpkg" busybox-static; do
  if ! ls "${p}"_*.deb >/dev/null 2>&1 || [[ $p == "$kpkg" && ! -f "${p}_${kver}_amd64.deb" ]]; then
    rm -f "${p}"_*.deb
    apt-get download "$p" 2>&1 | grep -v "unsandboxed" || true
  fi
done
kdeb=$(ls "${kpkg}"_*.deb | head -1)
bdeb=$(ls busybox-static_*.deb | head -1)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$kdeb" "$work/k"
dpkg-deb -x "$bdeb" "$work/b"
krel=$(ls "$work/k/lib/modules")
moddir="$work/k/lib/modules/$krel"
# The package ships no modules.dep (depmod makes it at install time): make it here.
/sbin/depmod -b "$work/k" "$krel"

# Modules the guest loads, each after its dependencies (from modules.dep).
wanted=(virtio_pci virtio_blk virtio_net virtio_balloon virtio_scsi virtio-rng sd_mod sr_mod
        isofs vfat nls_cp437 nls_ascii button evdev pvpanic-mmio pvpanic-pci)
declare -A seen=()
order=()
path_of() { awk -v m="$1" -F: '{ n=$1; sub(/.*\//,"",n); sub(/\.ko(\.[a-z]+)?$/,"",n); if (n==m) {print $1; exit} }' "$moddir/modules.dep"; }
deps_of() { awk -v p="$1" -F': *' '$1==p {print $2; exit}' "$moddir/modules.dep"; }
add_mod() {
  local p=$1
  [[ -n ${seen[$p]:-} ]] && return
  seen[$p]=1
  local d
  for d in $(deps_of "$p"); do add_mod "$d"; done
  order+=("$p")
}
for m in "${wanted[@]}"; do
  p=$(path_of "$m")
  [[ -n $p ]] || { echo "build-guest: module $m not in $kpkg" >&2; exit 1; }
  add_mod "$p"
done

root="$work/root"
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,mnt,tmp,run,lib/modules,usr/share/udhcpc,var/run}
cp "$work/b/bin/busybox" "$root/bin/busybox"
for app in $("$root/bin/busybox" --list); do
  [[ $app == busybox ]] || ln -sf busybox "$root/bin/$app"
done
: > "$root/lib/modules/order"
for p in "${order[@]}"; do
  f=$(basename "$p")
  case "$f" in
    *.ko.xz) xz -dc "$moddir/$p" > "$root/lib/modules/${f%.xz}"; f=${f%.xz} ;;
    *.ko.zst) zstd -qdc "$moddir/$p" > "$root/lib/modules/${f%.zst}"; f=${f%.zst} ;;
    *) cp "$moddir/$p" "$root/lib/modules/$f" ;;
  esac
  echo "$f" >> "$root/lib/modules/order"
done
install -m 0755 "$here/init" "$root/init"
install -m 0755 "$here/udhcpc.script" "$root/usr/share/udhcpc/default.script"
mkdir -p "$root/etc/acpi/PWRF"
# The marker starts a line of its own (newline in front, one write), also right
# after the console shell's prompt.
printf '#!/bin/sh\necho "\nSKIFF-GUEST-POWERDOWN" > /dev/ttyS0\nsync\npoweroff -f\n' > "$root/etc/acpi/PWRF/00000080"
chmod 0755 "$root/etc/acpi/PWRF/00000080"
echo "root:x:0:0:root:/:/bin/sh" > "$root/etc/passwd"

(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 > "$out/initrd.img.new"
cp "$work/k/boot/vmlinuz-$krel" "$out/vmlinuz.new"
mv "$out/vmlinuz.new" "$out/vmlinuz"
mv "$out/initrd.img.new" "$out/initrd.img"
echo "$inputs_hash" > "$out/stamp"
echo "build-guest: built $out/vmlinuz ($krel) and $out/initrd.img (${#order[@]} modules)"
