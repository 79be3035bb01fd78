#!/usr/bin/env bash
# Runs one integration suite (tests/integration/test_SUITE.py) with the test virtualenv
# against the servers scripts/services.sh started (MLOPS_SERVICES_DIR). Fails, never
# skips, when the servers are not there.
set -euo pipefail
suite="$1"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${MLOPS_SERVICES_DIR:?start the servers first: scripts/services.sh start}"
env_file="$MLOPS_SERVICES_DIR/services.env"
[[ -f "$env_file" ]] || { echo "no $env_file: start the servers with scripts/services.sh start" >&2; exit 1; }
python="$(grep '^MLOPS_TEST_PYTHON=' "$env_file" | cut -d= -f2- | tr -d "'\"")"
cd "$here"
exec "$python" -m pytest -q -p no:cacheprovider "test_${suite}.py"
