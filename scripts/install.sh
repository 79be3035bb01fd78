#!/usr/bin/env bash
# Installs mlops: the binary, its man pages (mlops(1), mlops-COMMAND(1), mlops.yaml(5)) and
# bash, zsh and fish completions, into PREFIX (default /usr/local), building the mlops target
# first when needed (only that target: a few minutes on 2 cores the first time).
#
#   scripts/install.sh                     # into /usr/local (as root)
#   scripts/install.sh --prefix ~/.local   # for one user: add ~/.local/bin to PATH
#
# Completion then works in a new shell: bash (with the bash-completion package) loads
# PREFIX/share/bash-completion/completions/mlops, zsh reads PREFIX/share/zsh/site-functions
# (in zsh's fpath for /usr/local), fish reads PREFIX/share/fish/vendor_completions.d (for
# /usr/local, add /usr/local/share to XDG_DATA_DIRS, or use --prefix /usr).
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix=/usr/local
while [[ $# -gt 0 ]]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --prefix=*) prefix="${1#*=}"; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
build="${MLOPS_BUILD_DIR:-$repo_root/build}"
echo "==> building the mlops target in $build (minutes the first time, seconds after)"
MLOPS_BUILD_DIR="$build" bash "$repo_root/scripts/build.sh" mlops >/dev/null
echo "==> installing into $prefix"
cmake --install "$build" --prefix "$prefix"
echo "==> installed $prefix/bin/mlops ($("$prefix/bin/mlops" --version))"
case ":$PATH:" in
  *":$prefix/bin:"*) ;;
  *) echo "note: $prefix/bin is not on PATH; add it: export PATH=\"$prefix/bin:\$PATH\"" ;;
esac
echo "try: mlops help; man mlops; mlops <Tab><Tab> in a new shell"
