#!/usr/bin/env bash
# run-fuzz.sh FUZZER SEED_DIR SECONDS: runs a libFuzzer target on a copy of its
# seed corpus for a bounded time. Fails when the fuzzer finds a crash, a leak or
# a timeout, and prints the reproducer's path.
set -euo pipefail
fuzzer=$1 seeds=$2 secs=$3
[[ -x $fuzzer ]] || { echo "fuzzer $fuzzer not built" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$work/artifacts"
[[ -d $seeds ]] && cp -r "$seeds"/. "$work/corpus/" 2>/dev/null || true
# The fuzzer's failure must not end the script (set -e) before its reproducer is kept.
status=0
"$fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=1048576 \
  -artifact_prefix="$work/artifacts/" -print_final_stats=1 "$work/corpus" >"$work/log" 2>&1 ||
  status=$?
tail -25 "$work/log"
if ls "$work/artifacts"/* >/dev/null 2>&1; then
  mkdir -p /tmp/skiff-fuzz-artifacts
  cp "$work/artifacts"/* /tmp/skiff-fuzz-artifacts/
  echo "fuzz: reproducer(s) copied to /tmp/skiff-fuzz-artifacts" >&2
fi
exit "$status"
