#!/usr/bin/env bash
# Runs the pinned clang-tidy (Debian's clang-tidy-16, the LLVM of clang-format-16 and the
# sanitizer lanes) with the checks of .clang-tidy over the project's translation units
# (cli/, lib/, tests/ in BUILD/compile_commands.json; headers of those folders are checked
# as they are included). Exits 1 when any file has a finding, 2 when it cannot run.
#
#   scripts/tidy.sh              every file
#   scripts/tidy.sh --changed    the files changed since the tidy baseline: what CI runs
#   scripts/tidy.sh --bless      every file; when all are clean, moves the baseline (commit .tidy-clean)
#   scripts/tidy.sh FILE...      only these files (.cpp files of the build)
#
# The baseline is the last commit that touched .tidy-clean: the tree was tidied clean there
# (--bless rewrites the file; commit it). --changed tidies each translation unit that differs
# from the baseline (committed or not) or includes a project header that does; everything
# when .clang-tidy or this script changed since, when the baseline is unknown (no such commit
# or a shallow clone). A full tidy costs ~25 min of CPU (~13 min on 2 cores), more than the CI
# budget allows on a fresh machine; the diff since the baseline stays small when the
# baseline is moved now and then.
#
# Known clean: each file tidied without a finding leaves an empty marker in
# ${MLOPS_TIDY_CACHE:-~/.cache/mlops/tidy}, named by the sha256 of everything its result
# depends on: the clang-tidy version, .clang-tidy, this script, the compile command (paths
# relative to the checkout, so checkouts share it), the file, and every project header it
# includes (from the build's dependency records, after a build; before one, every project
# header). A file whose marker exists is not tidied again, in any mode.
#
# MLOPS_BUILD_DIR (default build) must hold a configured build (scripts/build.sh); tidy
# reads its compile_commands.json. MLOPS_CLANG_TIDY picks the binary, MLOPS_TIDY_JOBS
# the parallelism (default nproc).
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
tool="${MLOPS_CLANG_TIDY:-clang-tidy-16}"
build="${MLOPS_BUILD_DIR:-$repo_root/build}"
cache="${MLOPS_TIDY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops/tidy}"
jobs="${MLOPS_TIDY_JOBS:-$(nproc)}"
command -v "$tool" >/dev/null || { echo "tidy.sh: $tool not found (scripts/install-deps.sh installs it)" >&2; exit 2; }
command -v jq >/dev/null || { echo "tidy.sh: jq not found (scripts/install-deps.sh installs it)" >&2; exit 2; }
db="$build/compile_commands.json"
if [[ ! -f "$db" ]]; then
  echo "tidy.sh: no $db; configure the build first (scripts/build.sh)" >&2
  exit 2
fi

mode=all
case "${1:-}" in
  --changed) mode=changed; shift ;;
  --bless) mode=bless; shift ;;
esac
baseline_file=.tidy-clean

# file <TAB> command of every project translation unit in the build, sorted.
mapfile -t units < <(jq -r --arg root "$repo_root/" '.[] | select(.file | startswith($root))
    | (.file | ltrimstr($root)) as $f | select($f | test("^(cli|lib|tests)/"))
    | [$f, (.command // (.arguments | join(" ")))] | @tsv' "$db" | sort -u)
declare -A command_of
# A file compiled into two targets (tests/unit's main.cpp) is tidied once, with its first command.
for u in "${units[@]}"; do
  f="${u%%$'\t'*}"
  [[ -n "${command_of[$f]:-}" ]] || command_of["$f"]="${u#*$'\t'}"
done

if (($#)); then
  files=()
  for f in "$@"; do
    f="$(realpath --relative-to="$repo_root" "$f")"
    [[ -n "${command_of[$f]:-}" ]] || { echo "tidy.sh: $f is not a translation unit of $db" >&2; exit 2; }
    files+=("$f")
  done
else
  mapfile -t files < <(printf '%s\n' "${!command_of[@]}" | sort)
fi

# The part of the key every file shares.
common="$(
  "$tool" --version | grep -i version
  sha256sum .clang-tidy scripts/tidy.sh
)"
all_headers=""
# Project headers the object of `file` depends on, from ninja's records ("" when not built).
included_headers() {
  local object
  object="$(sed -nE 's/.* -o ([^ ]+).*/\1/p' <<<"${command_of[$1]}")"
  [[ -n "$object" ]] || return 0
  ninja -C "$build" -t deps "$object" 2>/dev/null | sed -nE "s|^ +||p" |
    while read -r dep; do
      case "$dep" in
        /*) ;;
        *) dep="$(realpath -m "$build/$dep")" ;;
      esac
      [[ "$dep" == "$repo_root/"* && "$dep" != "$repo_root/${build#"$repo_root/"}/"* ]] && echo "${dep#"$repo_root/"}"
    done | sort -u
}
key_of() {
  local f="$1" headers
  headers="$(included_headers "$f")"
  if [[ -z "$headers" ]]; then
    # Not built yet: every project header, so a header change is never missed.
    [[ -n "$all_headers" ]] || all_headers="$(git ls-files -- 'cli/*.hpp' 'lib/*.hpp' 'tests/*.hpp' 'lib/*.h')"
    headers="$all_headers"
  fi
  {
    echo "$common"
    echo "${command_of[$f]//$repo_root/.}"
    sha256sum "$f"
    # shellcheck disable=SC2086  # one header path per word
    [[ -z "$headers" ]] || sha256sum $headers
  } | sha256sum | cut -c1-64
}

# --changed: the paths that differ from the baseline, one per line, or "*" for all of them.
changed_since_baseline() {
  local base
  base="$(git log -1 --format=%H -- "$baseline_file" 2>/dev/null || true)"
  if [[ -z "$base" || "$(git rev-parse --is-shallow-repository)" == true ]]; then
    echo "tidy.sh: no tidy baseline in this clone (a commit touching $baseline_file, full history): tidying every file" >&2
    echo "*"
    return
  fi
  local paths
  paths="$(
    git diff --name-only "$base" --
    git ls-files --others --exclude-standard
  )"
  if grep -qxE '\.clang-tidy|scripts/tidy\.sh' <<<"$paths"; then echo "*"; else echo "$paths"; fi
}
if [[ $mode == changed ]]; then
  changed_paths="$(changed_since_baseline | sort -u)"
  if [[ "$changed_paths" != "*" ]]; then
    declare -A is_changed
    while read -r p; do [[ -n "$p" ]] && is_changed["$p"]=1; done <<<"$changed_paths"
    picked=()
    for f in "${files[@]}"; do
      hit="${is_changed[$f]:-}"
      if [[ -z "$hit" ]]; then
        headers="$(included_headers "$f")"
        [[ -n "$headers" ]] || headers="$(git ls-files -- 'cli/*.hpp' 'lib/*.hpp' 'tests/*.hpp' 'lib/*.h')"
        while read -r h; do [[ -n "${is_changed[$h]:-}" ]] && hit=1 && break; done <<<"$headers"
      fi
      [[ -z "$hit" ]] || picked+=("$f")
    done
    echo "tidy.sh: ${#picked[@]} of ${#files[@]} files differ from the tidy baseline $(git log -1 --format=%h -- "$baseline_file") or include a header that does" >&2
    files=("${picked[@]}")
  fi
fi

mkdir -p "$cache"
todo=()
keys=()
for f in "${files[@]}"; do
  k="$(key_of "$f")"
  [[ -e "$cache/$k" ]] && continue
  todo+=("$f")
  keys+=("$k")
done
bless() {
  if [[ $mode == bless ]]; then
    printf '%s\n' "The tree was tidied clean here (scripts/tidy.sh --bless, $("$tool" --version | grep -io 'version [0-9.]*')):" \
      "scripts/tidy.sh --changed tidies what changed since the last commit touching this file." >"$baseline_file"
    echo "tidy.sh: every file clean; commit $baseline_file to move the tidy baseline here" >&2
  fi
}
if ((${#todo[@]} == 0)); then
  echo "tidy.sh: ${#files[@]} files, all known clean" >&2
  bless
  exit 0
fi

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
echo "tidy.sh: tidying ${#todo[@]} of ${#files[@]} files with $tool, $jobs at a time..." >&2
start=$SECONDS
# Each worker gets the file, its key and its content hash when the key was made: a file
# edited while tidy runs is reported on but not marked clean under the key of its old content.
for i in "${!todo[@]}"; do printf '%s\0%s\0%s\0' "${todo[$i]}" "${keys[$i]}" "$(sha256sum <"${todo[$i]}")"; done |
  xargs -0 -n 3 -P "$jobs" bash -c '
    f="$1" k="$2" sum="$3" log="'"$out"'/$2.log"
    if "'"$tool"'" -p "'"$build"'" --quiet --header-filter="^'"$repo_root"'/(cli|lib|tests)/" "$f" >"$log" 2>&1 &&
       ! grep -qE "(warning|error):" "$log"; then
      [[ "$(sha256sum <"$f")" != "$sum" ]] || touch "'"$cache"'/$k"
      rm -f "$log"
    else
      echo "$f" >"$log.name"
    fi' _
bad=0
for name in "$out"/*.name; do
  [[ -e "$name" ]] || continue
  bad=$((bad + 1))
  # The findings, without clang-tidy's "N warnings generated" noise.
  grep -vE '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$|^Suppressed [0-9]+ warnings|^Use -header-filter' \
    "${name%.name}" >&2 || true
done
echo "tidy.sh: ${#todo[@]} files tidied in $((SECONDS - start)) s ($((${#files[@]} - ${#todo[@]})) known clean), $bad with findings" >&2
((bad == 0)) || exit 1
bless
