#!/usr/bin/env bash
# The test command (README, .ci/run): installs what is needed, checks format and direct
# printing, builds the main tree (warnings as errors), runs clang-tidy on the files changed
# since the tidy baseline, builds the sanitizer lanes, starts the real servers on 127.0.0.1, runs every test through CTest, stops
# the servers. Exits non-zero on any failure. Extra arguments go to ctest (e.g.
# scripts/test.sh -R pull, scripts/test.sh -L fuzz). MLOPS_LANES (default "asan tsan") picks
# the lanes to build; a lane not built shows in CTest as skipped, saying why.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

step() {  # step NAME COMMAND...: runs a build step, saying how long it took (the CI budget)
  local name="$1" start=$SECONDS
  shift
  echo "test.sh: $name..." >&2
  "$@" >/dev/null
  echo "test.sh: $name took $((SECONDS - start)) s" >&2
}
bash scripts/install-deps.sh
# Cheap checks first: format drift and direct printing (seconds).
bash scripts/format.sh --check
# The main build has warnings as errors (a clean build has none). The clang lanes get it too
# once the code merged in session 4 has been built clean there (MLOPS_LANE_WERROR=1 now).
step "main build (gcc)" env MLOPS_CMAKE_ARGS="-DMLOPS_WARNINGS_AS_ERRORS=ON ${MLOPS_CMAKE_ARGS:-}" bash scripts/build.sh
if [[ "${MLOPS_LANE_WERROR:-0}" == 1 ]]; then
  export MLOPS_CMAKE_ARGS="-DMLOPS_WARNINGS_AS_ERRORS=ON ${MLOPS_CMAKE_ARGS:-}"
fi
build="${MLOPS_BUILD_DIR:-$repo_root/build}"
# clang-tidy on what changed since the tidy baseline (.tidy-clean), clean results cached.
# Off by default until the code merged in session 4 (feedback, sign, release, stores) is tidied
# clean and the baseline blessed: every new file counts as changed, and a near-full tidy costs
# ~13 min of a fresh machine's 45-minute budget. MLOPS_TIDY=1 runs it (advisory),
# MLOPS_TIDY_ENFORCE=1 with it makes findings fail the run.
if [[ "${MLOPS_TIDY:-0}" == 1 ]]; then
  if [[ "${MLOPS_TIDY_ENFORCE:-0}" == 1 ]]; then
    step "tidy (changed files)" bash scripts/tidy.sh --changed
  else
    step "tidy (changed files, advisory)" bash scripts/tidy.sh --changed || echo "test.sh: tidy findings (advisory, see above)" >&2
  fi
fi
for lane in ${MLOPS_LANES-asan tsan}; do
  case "$lane" in
    # One clang build: the library with ASan+UBSan+LSan and fuzzer coverage, serving the unit
    # tests, the mlops binary of the integration subset and every fuzz target.
    asan) step "asan lane (clang, ASan+UBSan+LSan, fuzzers)" env MLOPS_LANE=asan MLOPS_TARGETS="unit_tests mlops fuzzers" bash scripts/build.sh ;;
    # TSan: the library and one small binary of the threaded code's unit tests.
    tsan) step "tsan lane (clang, TSan)" env MLOPS_LANE=tsan MLOPS_TARGETS=unit_tests_threaded bash scripts/build.sh ;;
    *) echo "test.sh: unknown lane '$lane' in MLOPS_LANES (asan, tsan)" >&2; exit 2 ;;
  esac
done

export MLOPS_SERVICES_DIR="${MLOPS_SERVICES_DIR:-$build/services}"
cleanup() { bash "$repo_root/scripts/services.sh" stop "$MLOPS_SERVICES_DIR" || true; }
trap cleanup EXIT
# A previous run killed hard may have left its servers: stop them by their recorded PIDs.
bash scripts/services.sh stop "$MLOPS_SERVICES_DIR" >/dev/null 2>&1 || true
rm -rf "$MLOPS_SERVICES_DIR"
bash scripts/services.sh start "$MLOPS_SERVICES_DIR"

cd "$build"
status=0
ctest --output-on-failure --timeout 1200 "$@" || status=$?
# CTest prints no output for skipped tests: show why each was skipped (pytest -rs lines and
# tests/lane.sh's reason), so that a skip is never silent.
if grep -q '^SKIPPED' Testing/Temporary/LastTest.log 2>/dev/null; then
  echo "Skipped, and why:"
  grep '^SKIPPED' Testing/Temporary/LastTest.log | sed 's/^/  /'
fi
exit "$status"
