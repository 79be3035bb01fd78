#!/usr/bin/env bash
# Configures (once) and builds mlops with CMake + Ninja into ${MLOPS_BUILD_DIR:-build}.
#   MLOPS_LANE=asan   clang-16 build with ASan+UBSan+LSan and the libFuzzer targets, into BUILD/lanes/asan
#   MLOPS_LANE=tsan   clang-16 build with TSan (the threaded code's unit tests), into BUILD/lanes/tsan
#   MLOPS_TARGETS     targets to build, as are the arguments (default: all of the tree)
#   MLOPS_CMAKE_ARGS  extra cmake arguments (e.g. -DMLOPS_WARNINGS_AS_ERRORS=ON), applied to an
#                     existing build tree too
# Prints the build directory's mlops path on stdout.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${MLOPS_BUILD_DIR:-$repo_root/build}"
lane="${MLOPS_LANE:-}"
# Compiles go through ccache under ~/.cache/mlops when it is installed, shared by every
# checkout on the machine (paths are made relative to the checkout's parent directory).
launcher=()
if command -v ccache >/dev/null 2>&1; then
  export CCACHE_DIR="${CCACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops/ccache}"
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$(dirname "$repo_root")}"
  export CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-5G}"
  # The settings go into the launcher itself, so a later plain `cmake --build` (or ninja)
  # in this build directory shares the same cache.
  cc="env;CCACHE_DIR=$CCACHE_DIR;CCACHE_BASEDIR=$CCACHE_BASEDIR;CCACHE_NOHASHDIR=1;CCACHE_MAXSIZE=$CCACHE_MAXSIZE;ccache"
  launcher=("-DCMAKE_CXX_COMPILER_LAUNCHER=$cc" "-DCMAKE_C_COMPILER_LAUNCHER=$cc")
fi
config=(-DCMAKE_BUILD_TYPE="${MLOPS_BUILD_TYPE:-RelWithDebInfo}")
case "$lane" in
  "") ;;
  asan|tsan)
    build="$build/lanes/$lane"
    export CC="${MLOPS_LANE_CC:-clang-16}" CXX="${MLOPS_LANE_CXX:-clang++-16}"
    # No build-type flags: StandardSettings.cmake gives the lanes -O1 and line tables.
    config=(-DCMAKE_BUILD_TYPE=Sanitize)
    if [[ $lane == asan ]]; then config+=(-DMLOPS_SANITIZE=address -DMLOPS_FUZZ=ON); else config+=(-DMLOPS_SANITIZE=thread); fi
    ;;
  *) echo "build.sh: MLOPS_LANE must be asan or tsan, not '$lane'" >&2; exit 2 ;;
esac
if [[ ! -f "$build/build.ninja" ]]; then
  # shellcheck disable=SC2086  # MLOPS_CMAKE_ARGS is a list of words
  cmake -S "$repo_root" -B "$build" -G Ninja "${config[@]}" "${launcher[@]}" ${MLOPS_CMAKE_ARGS:-} >&2
elif [[ -n "${MLOPS_CMAKE_ARGS:-}" ]]; then
  # An existing tree takes the settings too (scripts/test.sh: -DMLOPS_WARNINGS_AS_ERRORS=ON).
  # shellcheck disable=SC2086
  cmake "$build" ${MLOPS_CMAKE_ARGS} >&2
fi
targets=()
for t in ${MLOPS_TARGETS:-} "$@"; do targets+=(--target "$t"); done
cmake --build "$build" -j "$(nproc)" "${targets[@]}" >&2
echo "$build/mlops"
