#!/usr/bin/env bash
# Installs everything Skiff needs to build, run and test, from Debian's packages.
# Idempotent: packages already present are left alone; safe to run on every CI run.
set -euo pipefail

PKGS=(
  # toolchain
  build-essential cmake pkg-config git clang libclang-rt-14-dev clang-format clang-tidy
  # libraries (DESIGN.md)
  libboost-dev libboost-system-dev libpugixml-dev nlohmann-json3-dev libcli11-dev
  libfmt-dev libspdlog-dev libnl-route-3-dev libnftables-dev liburing-dev
  zlib1g-dev libzstd-dev libisofs-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # run time
  qemu-system-x86 qemu-utils dnsmasq-base nftables iproute2
  # UEFI firmware (<os firmware="efi">) and the TPM emulator (<tpm> backend emulator)
  ovmf swtpm
  # test guest and tests
  busybox-static cpio xz-utils zstd kmod e2fsprogs xfsprogs python3 python3-pytest python3-cryptography
  # the AppArmor profile for QEMU is compiled by its parser (tests/interop)
  apparmor
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The user every QEMU runs as (skiffd --qemu-user): no login, no home, no
# capabilities; in group kvm for /dev/kvm. skiffd hands QEMU its files as open
# fds, so this user needs no right to any disk image or directory.
if ! getent passwd skiff-qemu >/dev/null; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: need root to create the user skiff-qemu" >&2
    exit 1
  fi
  getent group kvm >/dev/null || groupadd --system kvm
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
    --user-group --groups kvm skiff-qemu
  echo "install-deps: created the user skiff-qemu"
fi
echo "install-deps: all dependencies present"
