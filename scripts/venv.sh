#!/usr/bin/env bash
# Ensure the Python virtualenv used by the integration-test fixtures and servers exists.
#
# The venv lives at ${MLOPS_CACHE:-$HOME/.cache/mlops}/venv-<12 hex of sha256(requirements.txt)>
# so that changing the pinned requirements yields a fresh venv. A venv is considered usable
# only when its `.complete` marker exists (written last); a half-built one is removed and rebuilt.
# Concurrent callers are serialised with flock on a lock file beside the venv.
#
# Output: the venv path, as the only line on stdout. Progress goes to stderr.
# Env: MLOPS_CACHE (cache root), MLOPS_PYTHON (interpreter used to create the venv, default python3).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Optional first argument: another requirements file (e.g. tests/fixtures/requirements-mlserver.txt
# for the MLServer venv of the serving smoke test); its venv is named after the file.
req="${1:-$repo_root/tests/fixtures/requirements.txt}"
kind="venv"
case "$(basename "$req")" in
  requirements.txt) ;;
  requirements-*.txt) kind="$(basename "$req" .txt)"; kind="venv-${kind#requirements-}" ;;
esac
[[ -f "$req" ]] || { echo "venv.sh: missing $req" >&2; exit 1; }

cache="${MLOPS_CACHE:-$HOME/.cache/mlops}"
hash="$(sha256sum "$req" | cut -c1-12)"
venv="$cache/$kind-$hash"
marker="$venv/.complete"
python="${MLOPS_PYTHON:-python3}"

if [[ -f "$marker" && -x "$venv/bin/python" ]]; then
  printf '%s\n' "$venv"
  exit 0
fi

mkdir -p "$cache"
exec 9>"$venv.lock"
if command -v flock >/dev/null 2>&1; then
  flock 9
fi

# Another process may have finished the build while we waited for the lock.
if [[ -f "$marker" && -x "$venv/bin/python" ]]; then
  printf '%s\n' "$venv"
  exit 0
fi

if [[ -e "$venv" ]]; then
  echo "venv.sh: removing incomplete venv $venv" >&2
  rm -rf "$venv"
fi

echo "venv.sh: creating $venv with $("$python" --version 2>&1) ($(command -v "$python"))" >&2
start=$SECONDS
"$python" -m venv "$venv" >&2
"$venv/bin/python" -m pip install --disable-pip-version-check -q --upgrade pip >&2 \
  || echo "venv.sh: warning: pip self-upgrade failed, continuing with the bundled pip" >&2
"$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$req" >&2
# Sanity check: the pieces the tests rely on import.
if [[ "$kind" == venv ]]; then
  "$venv/bin/python" -c 'import mlflow, sklearn, mlflow.server.auth' >&2
else
  "$venv/bin/python" -m pip check >&2 || echo "venv.sh: warning: pip check reports conflicts in $venv" >&2
fi
{
  echo "requirements_sha256=$(sha256sum "$req" | cut -d' ' -f1)"
  echo "python=$("$venv/bin/python" --version 2>&1)"
  echo "built_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} > "$marker.tmp"
mv "$marker.tmp" "$marker"
echo "venv.sh: venv ready in $((SECONDS - start)) s" >&2
printf '%s\n' "$venv"
