#!/usr/bin/env bash
# Installs every Debian package mlops needs to build, test and benchmark on Debian 12.
# Idempotent and non-interactive; skips apt entirely when everything is already installed.
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config git
  # libraries (see README: why each)
  libcli11-dev libcurl4-openssl-dev libssl-dev libyaml-cpp-dev libyaml-dev nlohmann-json3-dev
  libgit2-dev libarchive-dev doctest-dev
  # tests and benchmarks: Python virtualenv for the MLflow test server, GNU time, man
  python3 python3-venv curl ca-certificates time man-db openssl procps util-linux
  # package tests: tools we did not write read what mlops writes; busybox for a base image
  skopeo umoci busybox-static
  # registry tests: Debian's docker-registry (distribution) and htpasswd
  docker-registry apache2-utils
  # promote tests: a real git server (git http-backend behind lighttpd)
  lighttpd
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present" >&2
  exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
