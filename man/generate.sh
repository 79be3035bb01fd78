#!/usr/bin/env bash
# Regenerates the man pages from the command table: man/generate.sh [path/to/mlops]
# (default build/mlops). tests/integration/test_help.py fails when they are out of date.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mlops="${1:-$here/../build/mlops}"
rm -f "$here"/*.[15]
for page in $("$mlops" __man --list); do
  "$mlops" __man "$page" > "$here/$page"
done
ls "$here"
