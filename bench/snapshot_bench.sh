#!/bin/bash
# Snapshot benchmark: skiff's snapshot verbs (internal, with and without memory)
# next to virsh's on libvirtd, on the same test guest and qcow2 disk (libvirt is
# installed with apt-get when missing; libvirtd is started by hand and stopped
# afterwards). Not part of the test suite.
# Usage: bench/snapshot_bench.sh [BUILD_DIR]
# Prints a markdown table for the "Snapshots" section of docs/performance.md.
# Environment: BENCH_NO_LIBVIRT=1, BENCH_DIR, BENCH_REPEAT (see snapshot_bench.py).
set -euo pipefail
BUILD=${1:-${SKIFF_BUILD_DIR:-build}}
exec /usr/bin/python3 "$(dirname "$0")/snapshot_bench.py" "$BUILD"
