#!/bin/bash
# Clone benchmark: `skiff clone` (full and --linked) of a shut-off domain with a
# 2 GiB mixed-content qcow2 disk, next to virt-clone on libvirtd on the same disk
# (libvirt-daemon-system, libvirt-clients and virtinst are installed with apt-get
# when missing; libvirtd is started by hand and stopped afterwards; a libvirtd
# that is already running is left alone and the libvirt half is skipped). Not
# part of the test suite.
# Usage: bench/clone_bench.sh [BUILD_DIR]
# Prints a markdown table for the "Clones" section of docs/performance.md.
# Environment: BENCH_SIZE_MIB, BENCH_NO_LIBVIRT=1, BENCH_DIR (see clone_bench.py).
set -euo pipefail
BUILD=${1:-${SKIFF_BUILD_DIR:-build}}
exec /usr/bin/python3 "$(dirname "$0")/clone_bench.py" "$BUILD"
