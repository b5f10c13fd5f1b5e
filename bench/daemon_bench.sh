#!/bin/bash
# Daemon and CLI benchmark: skiffd + skiff next to libvirtd + virsh on this machine.
# With 100 defined domains: `list --all` and `dominfo` latency (median of N runs),
# the clients' start-up alone, the API's requests per second, and the daemons' RSS
# (skiffd also with 5 running domains: the test guest under TCG when run as root
# with QEMU and the guest built, else fake ones).
# Installs libvirt-daemon-system, starts libvirtd by hand and stops it afterwards.
# Usage: bench/daemon_bench.sh [BUILD_DIR]
# Prints a markdown table for the "Daemon and CLI" section of docs/performance.md.
# Environment: BENCH_RUNS, BENCH_FAKE=1, BENCH_GUEST=DIR, BENCH_NO_LIBVIRT=1 (see
# daemon_bench.py).
set -euo pipefail
BUILD=${1:-${SKIFF_BUILD_DIR:-build}}
exec /usr/bin/python3 "$(dirname "$0")/daemon_bench.py" "$BUILD"
