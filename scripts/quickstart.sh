#!/usr/bin/env bash
# The whole loop on a fresh Debian 12 machine, on local servers this script starts and stops:
# installs the Debian packages, builds the mlops binary (only that target), starts a throwaway
# MLflow server and Debian's docker-registry on free 127.0.0.1 ports and a local git
# repository, registers a real scikit-learn model with the MLflow Python client, then runs
# pull, validate, init, doctor, release (staging, then prod with an approval), render, rollback
# and history with mlops.
#
# It leaves nothing behind but the caches under ~/.cache/mlops that make a second run fast
# (the compiler cache, the MLflow virtualenv); everything else lives in a temporary directory
# removed on exit, including mlops' own caches (XDG_CACHE_HOME points there).
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

started=$SECONDS
step_started=$SECONDS
# step "what it does" "how long it takes": a heading, and the time the previous step took.
step() {
  local took=$((SECONDS - step_started))
  ((took > 1)) && echo "    (took ${took} s)"
  step_started=$SECONDS
  echo
  echo "==> $1${2:+  [$2]}"
}

step "installing the Debian packages (scripts/install-deps.sh)" "a few minutes the first time, seconds after"
bash scripts/install-deps.sh >/dev/null
step "building the mlops binary (only the mlops target)" \
  "10-15 min on 2 cores the first time; ccache in ~/.cache/mlops makes a rebuild take seconds"
mlops="$(bash scripts/build.sh mlops)"
step "preparing the MLflow virtualenv (scripts/venv.sh)" "2-3 min the first time (pip), cached in ~/.cache/mlops"
venv="$(bash scripts/venv.sh)"

work="$(mktemp -d /tmp/mlops-quickstart.XXXXXX)"
mkdir -p "$work/home"
export XDG_CACHE_HOME="$work/cache" XDG_CONFIG_HOME="$work/config"
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || continue
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { "$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # wait_http URL PID LOG
  for _ in $(seq 240); do
    curl -fsS "$1" >/dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || { cat "$3"; exit 1; }
    sleep 0.5
  done
  echo "quickstart: $1 did not answer in 2 minutes" >&2; cat "$3"; exit 1
}

port="$(free_port)"
step "starting a throwaway MLflow server on 127.0.0.1:$port" "10-30 s"
(cd "$work" && HOME="$work/home" exec setsid "$venv/bin/mlflow" server --backend-store-uri "sqlite:///$work/mlflow.db" \
  --artifacts-destination "$work/artifacts" --serve-artifacts --host 127.0.0.1 --port "$port" \
  >"$work/mlflow.log" 2>&1) &
pids+=($!)
export MLFLOW_TRACKING_URI="http://127.0.0.1:$port"
wait_http "$MLFLOW_TRACKING_URI/health" "${pids[-1]}" "$work/mlflow.log"

registry="127.0.0.1:$(free_port)"
step "starting Debian's docker-registry on $registry (where the image will go)" "a second"
mkdir -p "$work/registry"
cat >"$work/registry/config.yml" <<EOF
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $work/registry/data}}
http: {addr: $registry, secret: quickstart}
EOF
(exec setsid docker-registry serve "$work/registry/config.yml" >"$work/registry.log" 2>&1) &
pids+=($!)
wait_http "http://$registry/v2/" "${pids[-1]}" "$work/registry.log"

step "registering a scikit-learn model 'iris' with the MLflow client (3 versions; @champion=2, @challenger=3)" "20-40 s"
HOME="$work/home" "$venv/bin/python" tests/fixtures/make_models.py --tracking-uri "$MLFLOW_TRACKING_URI" --models iris \
  >/dev/null 2>"$work/make_models.log" || { cat "$work/make_models.log"; exit 1; }
grep '^make_models:' "$work/make_models.log"

cd "$work"
step "mlops models list: what the registry holds"
"$mlops" models list
step "mlops pull models:/iris@champion: every file downloaded in parallel, sizes and sha256 checked"
"$mlops" pull models:/iris@champion
step "mlops pull --verify iris-v2: re-hashes the directory against its lock file (exit 3 on any change)"
"$mlops" pull --verify iris-v2
step "iris-v2/mlops.lock.json: the provenance pull recorded (server, version, run, sha256 per file)"
cat iris-v2/mlops.lock.json
echo

step "mlops validate iris-v2: format, interface, environment and metric gates (JUnit report for CI)"
printf 'gates:\n  metrics:\n    thresholds: ["accuracy >= 0.8"]\n' >gates.yaml
"$mlops" validate iris-v2 --policy gates.yaml --junit report.xml
git init -q --bare "$work/manifests.git"
HOME="$work/home" "$venv/bin/python" "$repo_root/tests/fixtures/make_base_image.py" "$work/busybox" >/dev/null
step "mlops init: a commented mlops.yaml for the project (registry, GitOps repository, base image, policies)"
echo "(the base is a tiny busybox image made locally; no Docker daemon is involved anywhere)"
"$mlops" init --name iris --target kserve --registry "$registry" --gitops "file://$work/manifests.git" \
  --base "oci:$work/busybox:latest"
grep -v '^ *#' mlops.yaml | grep -v '^$'
step "mlops doctor: the config, MLflow, the registry (a push is allowed) and the GitOps repository, checked"
"$mlops" doctor

step "mlops release models:/iris@champion --env staging: pull, validate (recorded), package and push, render, promote" \
  "seconds"
"$mlops" --json release models:/iris@champion --env staging --actor quickstart -m "first deployment" >release-v2.json
"$venv/bin/python" -m json.tool release-v2.json
image_v2="$("$venv/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["image"])' release-v2.json)"
curl -fsS -o /dev/null -w "the registry serves $image_v2: HTTP %{http_code}\n" \
  -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$registry/v2/models/iris/manifests/${image_v2#*@}"
step "mlops release again: every step is reused (pulled files, recorded validation, pushed blobs, the commit)"
"$mlops" release models:/iris@champion --env staging --actor quickstart
step "mlops render --env prod: the KServe InferenceService for that modelcar, validated (what a release commits)"
"$mlops" render --env prod --model-uri "oci://$image_v2"

step "mlops release models:/iris@challenger --env staging: version 3 (its own image) replaces version 2"
"$mlops" release models:/iris@challenger --env staging --actor quickstart -m "challenger"
step "mlops release --env prod is refused until someone approves (prod: 1 approval, staging first, a pinned image)"
"$mlops" release models:/iris@challenger --env prod --actor quickstart || echo "(exit $?: refused, as the policy says)"
step "mlops approve iris 3 --env prod, then the release to prod goes through"
"$mlops" approve iris 3 --env prod --actor reviewer --comment "metrics reviewed"
"$mlops" release models:/iris@challenger --env prod --actor quickstart -m "weekly retrain"
step "mlops rollback iris --env staging: back to version 2, its manifests restored byte for byte"
"$mlops" rollback iris --env staging --actor quickstart --reason "quickstart: showing a rollback"
step "mlops history iris: who did what, from the GitOps repository"
"$mlops" history iris
step "git log of the manifests repository (one commit per promotion and rollback)"
git --git-dir "$work/manifests.git" log --stat --format='%h %s%n%b' main
step "done in $((SECONDS - started)) s: pulled, verified, validated, released to staging and prod (packaged, pushed, rendered, promoted) and rolled back a real MLflow model"
echo "Next: scripts/install.sh (binary, man pages, completions), then 'mlops help' and 'man mlops'."
