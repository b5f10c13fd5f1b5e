#!/usr/bin/env bash
# Style and static checks (issue 13, item 9):
#  - clang-format (.clang-format: Google base, 100 columns) over every C++ file of
#    the tree: the tree is formatted, so any difference is a new finding;
#  - clang-tidy (.clang-tidy: a short, agreed check list) over the C++ files changed
#    since the commit named in .ci/lint-base (the tree was clean at that commit);
#    a session that lands moves .ci/lint-base to its final commit.
# Usage: tools/lint.sh [--fix] [BUILD_DIR]   (BUILD_DIR holds compile_commands.json;
#        default build). Exits non-zero on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
fix=0
if [[ ${1:-} == --fix ]]; then fix=1; shift; fi
build=${1:-build}
status=0

mapfile -t all < <(git ls-files '*.cc' '*.h' | grep -v '^tests/golden/')
echo "== clang-format (${#all[@]} files)"
if ((fix)); then
  clang-format -i "${all[@]}"
else
  bad=()
  for f in "${all[@]}"; do
    if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then bad+=("$f"); fi
  done
  if ((${#bad[@]})); then
    printf 'lint: not formatted (run tools/lint.sh --fix): %s\n' "${bad[@]}" >&2
    status=1
  fi
fi

base=$(cat .ci/lint-base 2>/dev/null || true)
if [[ -z $base ]] || ! git cat-file -e "$base^{commit}" 2>/dev/null; then
  echo "lint: .ci/lint-base names no commit of this history ('$base')" >&2
  exit 1
fi
# Sources only (headers are checked through the sources that include them); the
# files must be in the compilation database.
mapfile -t changed < <(git diff --name-only --diff-filter=AMR "$base" HEAD -- '*.cc' |
                       grep -v '^tests/golden/' || true)
tidy=()
for f in "${changed[@]}"; do
  if grep -q "\"file\": \"$PWD/$f\"" "$build/compile_commands.json"; then tidy+=("$f"); fi
done
echo "== clang-tidy (${#tidy[@]} files changed since ${base:0:10})"
if ((${#tidy[@]})); then
  # GCC-only warning flags in the database are unknown to clang.
  if ! printf '%s\n' "${tidy[@]}" |
       xargs -P "$(nproc)" -n 4 clang-tidy -p "$build" --quiet \
         --extra-arg=-Wno-unknown-warning-option 2>/dev/null; then
    echo "lint: clang-tidy found problems (above)" >&2
    status=1
  fi
fi
exit $status
