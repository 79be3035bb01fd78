#!/usr/bin/env bash
# Installs every Debian package mlops needs to build, test and benchmark on Debian 12.
# Idempotent and non-interactive; skips apt entirely when everything is already installed.
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build pkg-config git ccache
  # sanitizer and fuzzing lanes (scripts/test.sh): clang with libFuzzer and the sanitizer
  # runtimes, llvm-symbolizer for readable reports
  clang-16 libclang-rt-16-dev llvm-16
  # format and lint, pinned to the same LLVM 16 (scripts/format.sh, scripts/tidy.sh); jq reads
  # the build's compile_commands.json for tidy.sh
  clang-format-16 clang-tidy-16 jq
  # libraries (see README: why each)
  libcli11-dev libcurl4-openssl-dev libssl-dev libyaml-cpp-dev libyaml-dev nlohmann-json3-dev
  libgit2-dev libarchive-dev libzstd-dev doctest-dev
  # tests and benchmarks: Python virtualenv for the MLflow test server, GNU time, man
  python3 python3-venv curl ca-certificates time man-db openssl procps util-linux
  # package tests: tools we did not write read what mlops writes; busybox for a base image
  skopeo umoci busybox-static zstd
  # completion tests drive the real shells (tests/integration/test_help.py)
  bash-completion zsh fish tmux
  # registry tests: Debian's docker-registry (distribution) and htpasswd
  docker-registry apache2-utils
  # promote tests: real git servers (git http-backend behind lighttpd; git over sshd)
  lighttpd openssh-server
  # feedback tests: Debian's Prometheus scraping the real model servers (promtool comes with it)
  prometheus
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
# The servers among these packages (lighttpd, sshd, docker-registry) are only ever started by
# the tests, on 127.0.0.1 ports of their own: keep the packages from starting system services
# (policy-rc.d exit 101 = "not allowed"), unless the machine already has a policy.
policy=/usr/sbin/policy-rc.d
added_policy=0
if [[ ! -e "$policy" ]]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod 755 "$policy"
  added_policy=1
fi
remove_policy() { if ((added_policy)); then "${sudo[@]}" rm -f "$policy"; fi; }
trap remove_policy EXIT
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
