#!/usr/bin/env bash
# The test command (README, .ci/run): installs what is needed, builds, starts the real
# servers on 127.0.0.1, runs every test through CTest, stops the servers. Exits non-zero
# on any failure. Extra arguments go to ctest (e.g. scripts/test.sh -R pull).
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

bash scripts/install-deps.sh
bash scripts/build.sh >/dev/null
build="${MLOPS_BUILD_DIR:-$repo_root/build}"

export MLOPS_SERVICES_DIR="${MLOPS_SERVICES_DIR:-$build/services}"
cleanup() { bash "$repo_root/scripts/services.sh" stop "$MLOPS_SERVICES_DIR" || true; }
trap cleanup EXIT
# A previous run killed hard may have left its servers: stop them by their recorded PIDs.
bash scripts/services.sh stop "$MLOPS_SERVICES_DIR" >/dev/null 2>&1 || true
rm -rf "$MLOPS_SERVICES_DIR"
bash scripts/services.sh start "$MLOPS_SERVICES_DIR"

cd "$build"
ctest --output-on-failure --timeout 1200 "$@"
