#!/usr/bin/env bash
# Formats every C++ source of the project with the pinned clang-format (Debian's
# clang-format-16, the same LLVM 16 as the sanitizer lanes) and the rules in .clang-format.
#
#   scripts/format.sh            rewrite files in place
#   scripts/format.sh --check    change nothing; list the files that differ and exit 1 (CI)
#   scripts/format.sh FILE...    only these files (either mode)
# --check also fails when product code (cli/, lib/) prints other than through Output
# (cli/output.hpp): std::cout, std::cerr, std::clog or the C stdio printers, outside the
# files of k_output_impl below.
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
  mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.cpp' '*.hpp' '*.h' '*.cc' | grep -v '^third_party/' || true)
fi
((${#files[@]})) || exit 0
# The files allowed to write to the standard streams: Output's implementation.
k_output_impl=(cli/output.cpp)

# Product lines that print directly ("file:line: text"), comments and string literals aside.
direct_prints() {
  local allow
  allow="$(printf '%s\n' "${k_output_impl[@]}")"
  git ls-files --cached --others --exclude-standard -- 'cli/*.cpp' 'cli/*.hpp' 'lib/*.cpp' 'lib/*.hpp' | grep -vxF "$allow" | while read -r f; do
    [[ -f "$f" ]] || continue
    sed -e 's://.*$::' -e 's/"\([^"\\]\|\\.\)*"/""/g' "$f" |
      grep -nE 'std::(cout|cerr|clog)\b|(^|[^[:alnum:]_])(printf|fprintf|vprintf|vfprintf|puts|fputs|putchar|perror)[[:space:]]*\(|\b(stdout|stderr)\b' |
      cut -d: -f1 | while read -r n; do printf '%s:%s: %s\n' "$f" "$n" "$(sed -n "${n}s/^ *//p" "$f")"; done || true
  done
}

if ((check)); then
  mapfile -t prints < <(direct_prints)
  if ((${#prints[@]})); then
    echo "format.sh: ${#prints[@]} line(s) print directly; print through Output (cli/output.hpp) instead:" >&2
    printf '  %s\n' "${prints[@]}" >&2
    exit 1
  fi
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
