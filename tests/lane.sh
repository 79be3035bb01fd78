#!/usr/bin/env bash
# Runs a test of a sanitizer lane: `lane.sh BINARY [COMMAND...]` runs COMMAND (default: the
# binary itself) when BINARY was built, and otherwise exits 77, which CTest reports as
# skipped, with the reason on the test's output.
set -euo pipefail
binary="$1"
shift
if [[ ! -x "$binary" ]]; then
  echo "SKIPPED: $binary is not built (build the lane: MLOPS_LANE=asan or tsan scripts/build.sh)"
  exit 77
fi
# Every sanitizer finding fails the test: ASan and LSan exit non-zero by default; UBSan
# is built with -fno-sanitize-recover; TSan is told to exit non-zero on a report.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1}"
# Reports name functions and lines: every sanitizer looks for llvm-symbolizer on PATH.
[[ -d /usr/lib/llvm-16/bin ]] && export PATH="/usr/lib/llvm-16/bin:$PATH"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=0:exitcode=66:second_deadlock_stack=1}"
if (($# == 0)); then exec "$binary"; fi
exec "$@"
