#!/bin/bash
# Storage volume benchmark: vol-clone, vol-upload and vol-download of a mixed
# 1.5 GiB raw image (random data, written zeroes, holes) through skiffd + skiff,
# next to `cp --sparse=always` and next to libvirtd + virsh (libvirt-daemon-system
# and libvirt-clients are installed with apt-get when missing; libvirtd is started
# by hand and stopped afterwards; a libvirtd that is already running is left alone
# and the libvirt half is skipped). Not part of the test suite.
# Usage: bench/storage_bench.sh [BUILD_DIR]
# Prints a markdown table for the "Storage volumes" section of docs/performance.md.
# Environment: BENCH_SIZE_MIB, BENCH_NO_LIBVIRT=1, BENCH_DIR (see storage_bench.py).
set -euo pipefail
BUILD=${1:-${SKIFF_BUILD_DIR:-build}}
exec /usr/bin/python3 "$(dirname "$0")/storage_bench.py" "$BUILD"
