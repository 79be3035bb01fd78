#!/usr/bin/env bash
# Runs one integration suite (tests/integration/test_SUITE.py) with the test virtualenv
# against the servers scripts/services.sh started (MLOPS_SERVICES_DIR). Fails, never
# skips, when the servers are not there. Extra arguments go to pytest (e.g. -k name).
# Exit status: pytest's, except 77 when every test that ran passed but some were skipped:
# CTest (SKIP_RETURN_CODE 77) then reports the suite as skipped, not "Passed", and the
# output ends with each skipped test and its reason (pytest -rs).
set -euo pipefail
suite="$1"
shift
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${MLOPS_SERVICES_DIR:?start the servers first: scripts/services.sh start}"
env_file="$MLOPS_SERVICES_DIR/services.env"
[[ -f "$env_file" ]] || { echo "no $env_file: start the servers with scripts/services.sh start" >&2; exit 1; }
python="$(grep '^MLOPS_TEST_PYTHON=' "$env_file" | cut -d= -f2- | tr -d "'\"")"
cd "$here"
log="$(mktemp "${TMPDIR:-/tmp}/mlops-it-$suite.XXXXXX")"
trap 'rm -f "$log"' EXIT
status=0
"$python" -m pytest -q -rs -p no:cacheprovider "test_${suite}.py" "$@" 2>&1 | tee "$log" || status=${PIPESTATUS[0]}
summary="$(tail -n 1 "$log")"
if ((status == 0)) && [[ $summary =~ ([0-9]+)\ skipped ]]; then
  echo "integration $suite: ${BASH_REMATCH[1]} tests SKIPPED (reasons above); reported to CTest as skipped"
  exit 77
fi
exit "$status"
