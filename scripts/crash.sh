#!/usr/bin/env bash
# Crash-consistency campaign: runs tests/integration/test_crash.py with more rounds than CI.
#
#   scripts/crash.sh [ROUNDS] [SEED]
#
# ROUNDS (default 50) rounds per command (pull, package to an OCI layout and to a
# docker-archive, promote), each killing mlops with SIGKILL at a random point drawn from the
# measured duration of an uninterrupted run, then checking the destination and the rerun.
# SEED (default: random) is printed first; the same ROUNDS and SEED replay the same kill points
# (up to the machine's timing). Uses the servers of MLOPS_SERVICES_DIR when set, else starts
# its own (scripts/services.sh) in a temporary directory and stops them at the end.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds="${1:-50}"
seed="${2:-$(( (RANDOM << 15 | RANDOM) ))}"
[[ "$rounds" =~ ^[0-9]+$ && "$seed" =~ ^[0-9]+$ ]] || { echo "usage: $0 [ROUNDS] [SEED]" >&2; exit 2; }
echo "crash.sh: $rounds rounds per command, seed $seed (replay: $0 $rounds $seed)" >&2

bin="${MLOPS_BIN:-$("$repo_root/scripts/build.sh")}"
[[ -x "$bin" ]] || bin="$repo_root/build/cli/mlops"
own_services=""
if [[ -z "${MLOPS_SERVICES_DIR:-}" ]]; then
  MLOPS_SERVICES_DIR="$(mktemp -d /tmp/mlops-crash.XXXXXX)"
  own_services="$MLOPS_SERVICES_DIR"
  trap 'bash "$repo_root/scripts/services.sh" stop "$own_services"' EXIT
  bash "$repo_root/scripts/services.sh" start "$own_services"
fi
export MLOPS_SERVICES_DIR MLOPS_BIN="$bin" MLOPS_CRASH_ROUNDS="$rounds" MLOPS_CRASH_SEED="$seed"
python="$(grep '^MLOPS_TEST_PYTHON=' "$MLOPS_SERVICES_DIR/services.env" | cut -d= -f2- | tr -d "'\"")"
cd "$repo_root/tests/integration"
"$python" -m pytest -q -p no:cacheprovider -rfEx test_crash.py || {
  echo "crash.sh: FAILED with seed $seed (replay: $0 $rounds $seed)" >&2
  exit 1
}
echo "crash.sh: all rounds consistent (seed $seed)" >&2
