#!/usr/bin/env bash
# Formats every C++ source of the project with the pinned clang-format (Debian's
# clang-format-16, the same LLVM 16 as the sanitizer lanes) and the rules in .clang-format.
#
#   scripts/format.sh            rewrite files in place
#   scripts/format.sh --check    change nothing; list the files that differ and exit 1 (CI)
#   scripts/format.sh FILE...    only these files (either mode)
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
tool="${MLOPS_CLANG_FORMAT:-clang-format-16}"
command -v "$tool" >/dev/null || { echo "format.sh: $tool not found (scripts/install-deps.sh installs it)" >&2; exit 2; }
check=0
if [[ "${1:-}" == --check ]]; then check=1; shift; fi
if (($#)); then
  files=("$@")
else
  mapfile -t files < <(git ls-files -- '*.cpp' '*.hpp' '*.h' '*.cc' | grep -v '^third_party/' || true)
fi
((${#files[@]})) || exit 0
if ((check)); then
  bad=()
  for f in "${files[@]}"; do
    [[ -f "$f" ]] || continue
    "$tool" --style=file "$f" | cmp -s - "$f" || bad+=("$f")
  done
  if ((${#bad[@]})); then
    echo "format.sh: ${#bad[@]} file(s) differ from .clang-format ($tool); run scripts/format.sh:" >&2
    printf '  %s\n' "${bad[@]}" >&2
    exit 1
  fi
  echo "format.sh: ${#files[@]} files match .clang-format ($tool)" >&2
else
  "$tool" --style=file -i "${files[@]}"
fi
