#!/usr/bin/env bash
# Runs one libFuzzer target: replays every input of tests/fuzz/corpus/TARGET (seeds and
# regression inputs of crashes found before), then fuzzes for SECONDS more.
#   run.sh TARGET SECONDS          CI: new inputs go to a temporary directory, then are dropped
#   run.sh TARGET SECONDS --save   campaigns (scripts/fuzz.sh): inputs that add coverage are
#                                  merged into the corpus, a crash is copied in as a regression input
# Exits non-zero on a crash, a leak, a sanitizer report, a timeout (-timeout per input) or an
# out-of-memory; the input is saved under $MLOPS_FUZZ_ARTIFACTS (default build/fuzz-artifacts).
set -euo pipefail
target="$1" seconds="${2:-15}" save="${3:-}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$here/../.." && pwd)"
bin_dir="${MLOPS_FUZZ_BIN_DIR:-$repo_root/build/lanes/asan/tests/fuzz}"
bin="$bin_dir/fuzz_$target"
corpus="$here/corpus/$target"
artifacts="${MLOPS_FUZZ_ARTIFACTS:-$repo_root/build/fuzz-artifacts}/$target"
[[ -x "$bin" ]] || { echo "run.sh: no $bin: build the asan lane (scripts/fuzz.sh builds it)" >&2; exit 2; }
[[ -d "$corpus" ]] || { echo "run.sh: no corpus $corpus" >&2; exit 2; }
mkdir -p "$artifacts"
work="$(mktemp -d "${TMPDIR:-/tmp}/mlops-fuzz-$target.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir "$work/new"
opts=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536
      -artifact_prefix="$artifacts/" -print_final_stats=1)
[[ -f "$here/dict/$target.dict" ]] && opts+=(-dict="$here/dict/$target.dict")
# CI fuzzes from a fixed seed, so a rerun on the same code explores the same inputs (a finding
# reproduces); campaigns (--save) draw a new seed each time to explore further.
[[ $save == --save ]] || opts+=(-seed="${MLOPS_FUZZ_SEED:-1}")
# libFuzzer's own messages say how many inputs it replayed (INITED ... corp: N) and what it found.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
# Reports name functions and lines: every sanitizer looks for llvm-symbolizer on PATH.
[[ -d /usr/lib/llvm-16/bin ]] && export PATH="/usr/lib/llvm-16/bin:$PATH"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
echo "fuzz $target: replaying $(find "$corpus" -type f | wc -l) corpus inputs, then fuzzing ${seconds}s"
status=0
"$bin" "${opts[@]}" "$work/new" "$corpus" || status=$?
if [[ $save == --save ]]; then
  # Keep only what adds coverage, and every crash as a regression input named by its hash.
  "$bin" -merge=1 "$corpus" "$work/new" >/dev/null 2>&1 || true
  for f in "$artifacts"/crash-* "$artifacts"/leak-* "$artifacts"/timeout-* "$artifacts"/oom-*; do
    [[ -f "$f" ]] && cp -n "$f" "$corpus/regression-$(basename "$f")"
  done
fi
if ((status != 0)); then
  # Never 77 (libFuzzer's default error exit code): CTest would read it as "skipped".
  echo "fuzz $target: FAILED (libFuzzer exit $status); the input is in $artifacts/" >&2
  echo "  reproduce: $bin $artifacts/<file>; once fixed, keep it: cp $artifacts/<file> $corpus/regression-<what>" >&2
fi
exit $((status == 0 ? 0 : 1))
