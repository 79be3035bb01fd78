#!/usr/bin/env bash
# Long fuzzing campaigns: scripts/fuzz.sh [TARGET] [SECONDS] builds the fuzzers (the asan lane)
# and fuzzes TARGET (default: every target, one after the other) for SECONDS each (default 600),
# merging inputs that add coverage into tests/fuzz/corpus/TARGET and copying every crash there
# as a regression input (commit both, with the fix). The targets: tests/fuzz/targets.cmake.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${1:-all}" seconds="${2:-600}"
MLOPS_LANE=asan MLOPS_TARGETS=fuzzers bash "$repo_root/scripts/build.sh" >/dev/null
build="${MLOPS_BUILD_DIR:-$repo_root/build}"
export MLOPS_FUZZ_BIN_DIR="$build/lanes/asan/tests/fuzz"
if [[ $target == all ]]; then
  mapfile -t targets < <(sed -n '/^set(MLOPS_FUZZ_TARGETS/,/)/p' "$repo_root/tests/fuzz/targets.cmake" |
                           tr ' ()' '\n\n\n' | grep -v -e '^set$' -e '^MLOPS_FUZZ_TARGETS$' -e '^$')
else
  targets=("$target")
fi
failed=()
for t in "${targets[@]}"; do
  bash "$repo_root/tests/fuzz/run.sh" "$t" "$seconds" --save || failed+=("$t")
done
if ((${#failed[@]})); then
  echo "fuzz.sh: crashes in: ${failed[*]} (regression inputs added to tests/fuzz/corpus/)" >&2
  exit 1
fi
echo "fuzz.sh: ${#targets[@]} targets, ${seconds}s each, no crash" >&2
