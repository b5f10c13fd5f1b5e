#!/usr/bin/env bash
# Runs every test: installs dependencies, builds Skiff (warnings fatal), lints it
# (tools/lint.sh), the sanitizer build (ASan + UBSan) and the fuzzers, builds the test guest, then
# runs the unit and golden tests under the sanitizers and finally the whole
# suite (unit, golden, interop, integration, fuzz) with CTest.
# Usage: scripts/test.sh            (as root; CI runs exactly this)
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
jobs=$(nproc)

bash scripts/install-deps.sh

echo "== build (warnings are errors)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSKIFF_WERROR=ON \
  -DSKIFF_FUZZ_BUILD_DIR="$src/build-fuzz" >/dev/null
cmake --build build -j"$jobs"
cmake --build build --target guest

echo "== lint (clang-format on the tree, clang-tidy on files changed since .ci/lint-base)"
bash tools/lint.sh build

echo "== sanitizer build (ASan + UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSKIFF_SANITIZE=ON -DSKIFF_WERROR=ON >/dev/null
cmake --build build-asan -j"$jobs" --target unit_tests

echo "== fuzz build (clang, libFuzzer)"
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSKIFF_FUZZ=ON \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
cmake --build build-fuzz -j"$jobs" --target fuzzers

echo "== unit tests under ASan + UBSan"
(cd build-asan && ctest -L unit --output-on-failure -j"$jobs")

echo "== all tests"
cd build
ctest --output-on-failure -j"$jobs"
