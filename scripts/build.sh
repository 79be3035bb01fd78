#!/usr/bin/env bash
# Configures (once) and builds mlops with CMake + Ninja into ${MLOPS_BUILD_DIR:-build}:
# every target, or only the targets named (scripts/build.sh mlops).
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${MLOPS_BUILD_DIR:-$repo_root/build}"
# Compiles go through ccache under ~/.cache/mlops when it is installed, shared by every
# checkout on the machine (paths are made relative to the checkout's parent directory).
launcher=()
if command -v ccache >/dev/null 2>&1; then
  export CCACHE_DIR="${CCACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops/ccache}"
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$(dirname "$repo_root")}"
  export CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-5G}"
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
if [[ ! -f "$build/build.ninja" ]]; then
  cmake -S "$repo_root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="${MLOPS_BUILD_TYPE:-RelWithDebInfo}" \
    "${launcher[@]}" ${MLOPS_CMAKE_ARGS:-} >&2
fi
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build "$build" -j "$(nproc)" "${targets[@]}" >&2
echo "$build/mlops"
