#!/bin/bash
# Daemon and CLI benchmark: skiffd + skiff next to libvirtd + virsh on this machine.
# With 100 defined domains: `list --all` and `dominfo` latency (median of N runs),
# the API's requests per second, and the daemons' RSS (skiffd also with 5 running).
# Installs libvirt-daemon-system, starts libvirtd by hand and stops it afterwards.
# Usage: bench/daemon_bench.sh [BUILD_DIR]   (prints a markdown table)
set -euo pipefail
BUILD=${1:-${SKIFF_BUILD_DIR:-build}}
exec /usr/bin/python3 "$(dirname "$0")/daemon_bench.py" "$BUILD"
