#!/usr/bin/env bash
# Configures (once) and builds mlops with CMake + Ninja into ${MLOPS_BUILD_DIR:-build}.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${MLOPS_BUILD_DIR:-$repo_root/build}"
if [[ ! -f "$build/build.ninja" ]]; then
  cmake -S "$repo_root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="${MLOPS_BUILD_TYPE:-RelWithDebInfo}" >&2
fi
cmake --build "$build" -j "$(nproc)" >&2
echo "$build/mlops"
