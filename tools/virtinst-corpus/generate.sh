#!/usr/bin/env bash
# Regenerates tests/compat/virtinst/ : real `virt-install --print-xml` outputs,
# made by Debian's virt-install against a real (system) libvirtd on this machine.
#
# Usage (as root, on Debian 12):  bash tools/virtinst-corpus/generate.sh
#
# What it does:
#   1. installs virtinst, libvirt-daemon-system, libvirt-daemon-driver-qemu, ovmf,
#      swtpm, swtpm-tools, xorriso and qemu-utils from Debian (services are kept
#      from starting by a temporary /usr/sbin/policy-rc.d; a pre-existing one is
#      restored afterwards);
#   2. makes sure no libvirt network can start (removes the autostart link of the
#      packaged NAT network `default`; no network is ever started: virt-install
#      --print-xml only writes <source network='...'/>, it needs no active network);
#   3. starts libvirtd (system mode) with its own pid file;
#   4. creates tiny placeholder media (ISOs, qcow2 images) that the command lines
#      name, under /var/lib/libvirt/images and /tmp/virtinst-corpus;
#   5. for each case of cases.txt runs
#        virt-install --connect qemu:///system --print-xml --dry-run ARGS
#      (--dry-run: no storage is created; no guest is defined or booted) and
#      writes NAME.xml, or NAME.1.xml (install phase) and NAME.2.xml (final
#      domain) for two-phase installs, plus NAME.cmdline and VERSIONS;
#   6. stops libvirtd and whatever it spawned (by pid), removes the placeholder
#      media it created, and checks that no virbr* link and no dnsmasq is left.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
cases_file=$here/cases.txt
out=$top/tests/compat/virtinst
images=/var/lib/libvirt/images
media=/tmp/virtinst-corpus            # fixed: cases.txt names files in it
pidfile=/run/virtinst-corpus-libvirtd.pid
uri=qemu:///system
prefix=(virt-install --connect "$uri" --print-xml --dry-run)

PKGS=(virtinst libvirt-daemon-system libvirt-daemon-driver-qemu qemu-system-x86
      qemu-utils ovmf swtpm swtpm-tools xorriso)

log() { echo "generate: $*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "run as root (system libvirtd)"
[[ -f $cases_file ]] || die "missing $cases_file"

# ---------------------------------------------------------------- state & cleanup
work=$(mktemp -d /tmp/virtinst-gen.XXXXXX)
prc=/usr/sbin/policy-rc.d
prc_saved=""
prc_ours=0
libvirtd_started=0
created_media=()
pids_before=""
links_before=""
unset pools_before

restore_policy_rc() {
  if ((prc_ours)); then
    if [[ -n $prc_saved ]]; then
      mv -f "$prc_saved" "$prc"
    else
      rm -f "$prc"
    fi
    prc_ours=0
  fi
}

# pids of the helper daemons libvirtd may spawn
helper_pids() {
  local name
  for name in virtlogd virtlockd dnsmasq swtpm; do
    pgrep -x "$name" || true
  done | sort
}

stop_libvirtd() {
  ((libvirtd_started)) || return 0
  local pid pool
  if [[ -n ${pools_before+set} ]]; then
    for pool in $(comm -13 <(echo "$pools_before") \
                   <(virsh -q -c "$uri" pool-list --all --name 2>/dev/null | grep -v '^$' | sort)); do
      log "removing storage pool '$pool' that virt-install defined"
      virsh -q -c "$uri" pool-destroy "$pool" >/dev/null 2>&1 || true
      virsh -q -c "$uri" pool-undefine "$pool" >/dev/null 2>&1 || true
    done
  fi
  pid=$(cat "$pidfile" 2>/dev/null || true)
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then
      log "libvirtd ($pid) did not stop on SIGTERM, killing it"
      kill -KILL "$pid" || true
    fi
  fi
  rm -f "$pidfile"
  libvirtd_started=0
  # helpers that appeared while our libvirtd ran (virtlogd, virtlockd, dnsmasq, swtpm)
  local new
  new=$(comm -13 <(echo "$pids_before") <(helper_pids) | grep -v '^$' || true)
  for pid in $new; do
    log "stopping $(ps -o comm= -p "$pid" 2>/dev/null || echo '?') ($pid) spawned during the run"
    kill -TERM "$pid" 2>/dev/null || true
  done
  # bridges that appeared (none expected: no network is ever started)
  local link
  for link in $(comm -13 <(echo "$links_before") <(list_virbr)); do
    log "removing link $link created during the run"
    ip link del "$link" || true
  done
}

list_virbr() { ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep '^virbr' | sort || true; }

cleanup() {
  local rc=$?
  set +e
  restore_policy_rc
  stop_libvirtd
  local f
  for f in "${created_media[@]}"; do rm -f "$f"; done
  rm -rf "$media" "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- 1. packages
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  if [[ -e $prc ]]; then
    prc_saved=$work/policy-rc.d.saved
    cp -a "$prc" "$prc_saved"
  fi
  prc_ours=1
  printf '#!/bin/sh\n# temporary, tools/virtinst-corpus/generate.sh: start no service\nexit 101\n' > "$prc"
  chmod 755 "$prc"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$work/apt.log" 2>&1 ||
    { cat "$work/apt.log" >&2; die "apt-get install failed"; }
  restore_policy_rc
fi

# ---------------------------------------------------------------- 2. network safety
if pgrep -x libvirtd >/dev/null || pgrep -x virtqemud >/dev/null; then
  die "a libvirtd/virtqemud is already running; stop it first (this script starts and stops its own)"
fi
netdir=/etc/libvirt/qemu/networks
rm -f "$netdir/autostart/default.xml"
shopt -s nullglob
others=("$netdir"/autostart/*.xml)
shopt -u nullglob
((${#others[@]} == 0)) || die "libvirt networks set to autostart: ${others[*]} (remove the links first)"

# ---------------------------------------------------------------- 3. libvirtd
pids_before=$(helper_pids)
links_before=$(list_virbr)
log "starting libvirtd"
libvirtd_started=1
nice -n 10 libvirtd -d -p "$pidfile"
for _ in $(seq 120); do
  virsh -q -c "$uri" uri >/dev/null 2>&1 && break
  sleep 0.5
done
virsh -q -c "$uri" uri >/dev/null || die "libvirtd did not answer on $uri"
active=$(virsh -q -c "$uri" net-list --name | grep -v '^$' || true)
[[ -z $active ]] || die "libvirt networks are active: $active"
# virt-install defines and starts dir pools for the folders it uses ('default' for
# /var/lib/libvirt/images, 'boot' for /var/lib/libvirt/boot); those it adds are
# removed again at the end (the folders are left).
pools_before=$(virsh -q -c "$uri" pool-list --all --name | grep -v '^$' | sort || true)

# ---------------------------------------------------------------- 4. placeholder media
mkdir -p "$images"
rm -rf "$media"; mkdir -p "$media"

# mkiso FILE VOLID DISK_INFO [debian-installer]
mkiso() {
  local f=$images/$1 tree=$work/isotree
  [[ -e $f ]] && return 0
  rm -rf "$tree"; mkdir -p "$tree/.disk"
  echo "$3" > "$tree/.disk/info"
  if [[ ${4:-} == debian-installer ]]; then   # what --location looks for on a Debian ISO
    mkdir -p "$tree/install.amd"
    echo "placeholder kernel" > "$tree/install.amd/vmlinuz"
    echo "placeholder initrd" | gzip -n > "$tree/install.amd/initrd.gz"
  fi
  xorrisofs -quiet -r -J -V "$2" -o "$f" "$tree" 2>/dev/null
  created_media+=("$f")
}
mkqcow2() {
  local f=$images/$1
  [[ -e $f ]] && return 0
  qemu-img create -q -f qcow2 "$f" 10G
  created_media+=("$f")
}
mkraw() {
  local f=$images/$1
  [[ -e $f ]] && return 0
  truncate -s 64M "$f"
  created_media+=("$f")
}

mkiso debian-12.5.0-amd64-netinst.iso "Debian 12.5.0 amd64 n" \
  'Debian GNU/Linux 12.5.0 "Bookworm" - Official amd64 NETINST with firmware 20240210-11:27' debian-installer
mkiso ubuntu-22.04.4-live-server-amd64.iso "Ubuntu-Server 22.04.4 LTS amd64" "Ubuntu-Server 22.04.4 LTS \"Jammy Jellyfish\" - Release amd64"
mkiso Fedora-Server-dvd-x86_64-37-1.7.iso "Fedora-S-dvd-x86_64-37" "Fedora Server 37"
mkiso CentOS-Stream-9-latest-x86_64-dvd1.iso "CentOS-Stream-9-BaseOS-x86_64" "CentOS Stream 9"
mkiso Win10_22H2_English_x64.iso "CCCOMA_X64FRE_EN-US_DV9" "Windows 10"
mkiso 17763.737.190906-2324.rs5_release_svc_refresh_SERVER_EVAL_x64FRE_en-us_1.iso "SSS_X64FREE_EN-US_DV9" "Windows Server 2019"
mkiso virtio-win.iso "virtio-win-0.1.240" "virtio-win"
mkiso FreeBSD-13.1-RELEASE-amd64-disc1.iso "13_1_RELEASE_AMD64_CD" "FreeBSD 13.1"
for f in debian-12-genericcloud-amd64.qcow2 jammy-server-cloudimg-amd64.img fedora37.qcow2 rhel9.qcow2 centos7.qcow2; do
  mkqcow2 "$f"
done
mkraw cluster-shared.img
echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPlaceholderKeyForTheVirtinstCorpusOnly0000 corpus@example" > "$media/id_ed25519.pub"

# ---------------------------------------------------------------- 5. cases
gen=$work/out
mkdir -p "$gen"
export HOME=$work/home XDG_CACHE_HOME=$work/home/.cache XDG_CONFIG_HOME=$work/home/.config LANG=C.UTF-8 LC_ALL=C.UTF-8
mkdir -p "$HOME"

failed=()
n=0
while IFS= read -r line || [[ -n $line ]]; do
  [[ -z ${line//[[:space:]]/} || $line =~ ^[[:space:]]*# ]] && continue
  [[ $line == *$'\t'* ]] || die "cases.txt: no TAB in: $line"
  name=${line%%$'\t'*}
  rest=${line#*$'\t'}
  [[ $name =~ ^[a-z0-9][a-z0-9-]*$ ]] || die "cases.txt: bad case name '$name'"
  [[ ! -e $gen/$name.cmdline ]] || die "cases.txt: duplicate case '$name'"
  mapfile -d '' args < <(python3 -c 'import shlex, sys
sys.stdout.write("".join(a + "\0" for a in shlex.split(sys.argv[1])))' "$rest")
  printf '%s %s\n' "${prefix[*]}" "$rest" > "$gen/$name.cmdline"
  if ! "${prefix[@]}" "${args[@]}" < /dev/null > "$work/$name.out" 2> "$work/$name.err"; then
    log "FAILED $name: $(grep -v '^$' "$work/$name.err" | tail -n 3)"
    failed+=("$name")
    continue
  fi
  [[ -s $work/$name.err ]] && log "$name: stderr: $(cat "$work/$name.err")"
  # split the output into its <domain> documents, each ending at its </domain>
  python3 - "$work/$name.out" "$gen" "$name" <<'EOF' || { failed+=("$name"); continue; }
import re, sys
import xml.etree.ElementTree as ET
text = open(sys.argv[1]).read()
docs = re.findall(r'^<domain\b.*?^</domain>\n', text, re.S | re.M)
rest = re.sub(r'^<domain\b.*?^</domain>\n', '', text, flags=re.S | re.M)
if not docs or rest.strip():
    sys.exit(f"{sys.argv[3]}: unexpected output: {rest.strip()[:200]!r}")
if len(docs) > 2:
    sys.exit(f"{sys.argv[3]}: {len(docs)} documents")
for d in docs:
    ET.fromstring(d)  # well-formed
names = [f"{sys.argv[3]}.xml"] if len(docs) == 1 else [f"{sys.argv[3]}.{i + 1}.xml" for i in range(len(docs))]
for n, d in zip(names, docs):
    open(f"{sys.argv[2]}/{n}", "w").write(d)
print(" ".join(names))
EOF
  n=$((n + 1))
done < "$cases_file"

((${#failed[@]} == 0)) || die "cases failed: ${failed[*]} (outputs left unchanged)"
((n > 0)) || die "no cases in $cases_file"

{
  echo "# Versions that generated this corpus (written by tools/virtinst-corpus/generate.sh)"
  for p in virtinst libvirt-daemon libvirt-daemon-driver-qemu qemu-system-x86 osinfo-db ovmf swtpm; do
    printf '%s %s\n' "$p" "$(dpkg-query -W -f='${Version}' "$p")"
  done
  printf 'debian %s\n' "$(cat /etc/debian_version)"
  if [[ -r /dev/kvm ]]; then echo "kvm usable"; else echo "kvm not usable (virt-install fell back to domain type qemu)"; fi
} > "$gen/VERSIONS"

# ---------------------------------------------------------------- 6. install the files
mkdir -p "$out"
find "$out" -maxdepth 1 -type f \( -name '*.xml' -o -name '*.cmdline' -o -name VERSIONS \) -delete
cp "$gen"/* "$out"/
log "wrote $n cases to ${out#"$top"/}"

stop_libvirtd
left=$(list_virbr)
[[ -z $left ]] || die "virbr links left: $left"
pgrep -x libvirtd >/dev/null && die "a libvirtd is still running"
log "done; libvirtd stopped"
