#!/usr/bin/env bash
# Ensure the cosign binary used by the signing integration tests (tests/integration/test_sign.py)
# exists: `go install github.com/sigstore/cosign/v2/cmd/cosign@v2.6.5` into
# ${MLOPS_CACHE:-$HOME/.cache/mlops}/cosign-2.6.5/bin/cosign, built once and reused.
#
# The directory counts as usable only when its `.complete` marker exists (written last); a
# half-built one is removed and rebuilt. Concurrent callers are serialised with flock on a lock
# file beside it. The Go module and build caches live inside the directory (GOMODCACHE,
# GOCACHE) so the build does not depend on or pollute the user's Go caches; they are removed
# after a successful build (only the binary is kept).
#
# Output: the path of the cosign binary, as the only line on stdout. Progress goes to stderr.
# Env: MLOPS_CACHE (cache root), GOPROXY as configured on the machine.
set -euo pipefail

version="2.6.5"
cache="${MLOPS_CACHE:-$HOME/.cache/mlops}"
dir="$cache/cosign-$version"
bin="$dir/bin/cosign"
marker="$dir/.complete"

if [[ -f "$marker" && -x "$bin" ]]; then
  printf '%s\n' "$bin"
  exit 0
fi

PATH="$PATH:/usr/local/go/bin" # where the Go tarball installs, when PATH lacks it
command -v go >/dev/null 2>&1 || { echo "cosign-build.sh: 'go' not found (Go >= 1.24 is needed)" >&2; exit 1; }

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
  echo "cosign-build.sh: removing incomplete $dir" >&2
  chmod -R u+w "$dir" 2>/dev/null || true
  rm -rf "$dir"
fi

echo "cosign-build.sh: building cosign v$version into $dir ($(go version))" >&2
start=$SECONDS
mkdir -p "$dir/bin"
GOBIN="$dir/bin" GOMODCACHE="$dir/gomod" GOCACHE="$dir/gocache" GOFLAGS=-mod=mod GOTOOLCHAIN=local \
  CGO_ENABLED=0 go install "github.com/sigstore/cosign/v2/cmd/cosign@v$version" >&2
"$bin" version >/dev/null 2>&1 || { echo "cosign-build.sh: built binary does not run" >&2; exit 1; }
chmod -R u+w "$dir/gomod" 2>/dev/null || true
rm -rf "$dir/gomod" "$dir/gocache"
{
  echo "cosign_version=$version"
  echo "go=$(go version)"
  echo "built_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "build_seconds=$((SECONDS - start))"
} > "$marker.tmp"
mv "$marker.tmp" "$marker"
echo "cosign-build.sh: cosign ready in $((SECONDS - start)) s" >&2
printf '%s\n' "$bin"
