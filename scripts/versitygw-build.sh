#!/usr/bin/env bash
# Ensure the versitygw binary (Versity's S3 gateway over a POSIX directory) used by the S3 store
# tests (scripts/services.d/s3.sh, tests/integration/test_stores.py) exists:
# `go install github.com/versity/versitygw/cmd/versitygw@v1.8.0` into
# ${MLOPS_CACHE:-$HOME/.cache/mlops}/versitygw-1.8.0/bin/versitygw, built once and reused.
#
# The directory counts as usable only when its `.complete` marker exists (written last); a
# half-built one is removed and rebuilt. Concurrent callers are serialised with flock on a lock
# file beside it. The Go module and build caches live inside the directory (GOMODCACHE,
# GOCACHE) and are removed after a successful build (only the binary is kept).
#
# Output: the path of the binary, as the only line on stdout. Progress goes to stderr.
# Env: MLOPS_CACHE (cache root), GOPROXY as configured on the machine.
set -euo pipefail

version="1.8.0"
cache="${MLOPS_CACHE:-$HOME/.cache/mlops}"
dir="$cache/versitygw-$version"
bin="$dir/bin/versitygw"
marker="$dir/.complete"

if [[ -f "$marker" && -x "$bin" ]]; then
  printf '%s\n' "$bin"
  exit 0
fi

PATH="$PATH:/usr/local/go/bin" # where the Go tarball installs, when PATH lacks it
command -v go >/dev/null 2>&1 || { echo "versitygw-build.sh: 'go' not found" >&2; exit 1; }

mkdir -p "$cache"
exec 9>"$dir.lock"
if command -v flock >/dev/null 2>&1; then
  flock 9
fi
if [[ -f "$marker" && -x "$bin" ]]; then
  printf '%s\n' "$bin"
  exit 0
fi
if [[ -e "$dir" ]]; then
  echo "versitygw-build.sh: removing incomplete $dir" >&2
  chmod -R u+w "$dir" 2>/dev/null || true
  rm -rf "$dir"
fi

echo "versitygw-build.sh: building versitygw v$version into $dir ($(go version))" >&2
start=$SECONDS
mkdir -p "$dir/bin"
GOBIN="$dir/bin" GOMODCACHE="$dir/gomod" GOCACHE="$dir/gocache" GOFLAGS=-mod=mod GOTOOLCHAIN=local \
  CGO_ENABLED=0 go install "github.com/versity/versitygw/cmd/versitygw@v$version" >&2
"$bin" --version >/dev/null 2>&1 || "$bin" --help >/dev/null 2>&1 ||
  { echo "versitygw-build.sh: built binary does not run" >&2; exit 1; }
chmod -R u+w "$dir/gomod" 2>/dev/null || true
rm -rf "$dir/gomod" "$dir/gocache"
{
  echo "versitygw_version=$version"
  echo "go=$(go version)"
  echo "built_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "build_seconds=$((SECONDS - start))"
} >"$marker.tmp"
mv "$marker.tmp" "$marker"
echo "versitygw-build.sh: versitygw ready in $((SECONDS - start)) s" >&2
printf '%s\n' "$bin"
