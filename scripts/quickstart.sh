#!/usr/bin/env bash
# End to end on local defaults: installs, builds, starts a throwaway MLflow server on
# 127.0.0.1, registers a small real scikit-learn model with the MLflow Python client,
# and pulls it with mlops. Everything it starts is stopped on exit.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

bash scripts/install-deps.sh
mlops="$(bash scripts/build.sh)"
venv="$(bash scripts/venv.sh)"

work="$(mktemp -d /tmp/mlops-quickstart.XXXXXX)"
pid=""
cleanup() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

port="$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
echo "==> starting a throwaway MLflow server on 127.0.0.1:$port ($work)"
(cd "$work" && exec setsid "$venv/bin/mlflow" server --backend-store-uri "sqlite:///$work/mlflow.db" \
  --artifacts-destination "$work/artifacts" --serve-artifacts --host 127.0.0.1 --port "$port" \
  >"$work/server.log" 2>&1) &
pid=$!
export MLFLOW_TRACKING_URI="http://127.0.0.1:$port"
for _ in $(seq 180); do
  curl -fsS "$MLFLOW_TRACKING_URI/health" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/server.log"; exit 1; }
  sleep 0.5
done

echo "==> registering a scikit-learn model 'iris' (3 versions, aliases champion/challenger)"
"$venv/bin/python" tests/fixtures/make_models.py --tracking-uri "$MLFLOW_TRACKING_URI" --models iris >/dev/null

echo "==> mlops models list"
"$mlops" models list
echo "==> mlops pull models:/iris@champion"
cd "$work"
"$mlops" pull models:/iris@champion
echo "==> mlops pull --verify iris-v2"
"$mlops" pull --verify iris-v2
echo "==> provenance (iris-v2/mlops.lock.json)"
head -n 20 iris-v2/mlops.lock.json
echo "==> mlops validate iris-v2 (interface, environment and metric gates)"
printf 'gates:\n  metrics:\n    thresholds: ["accuracy >= 0.8"]\n' > gates.yaml
"$mlops" validate iris-v2 --policy gates.yaml --junit report.xml
echo "==> mlops package iris-v2 --format artifact --output oci:iris-oci:v2 (reproducible OCI artifact)"
"$mlops" package iris-v2 --format artifact --output oci:iris-oci:v2
digest="$("$mlops" --json package iris-v2 --format artifact --output oci:iris-oci:v2 | "$venv/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["digest"])')"
echo "==> mlops validate models:/iris@champion --record (the verdict becomes version tags)"
"$mlops" validate models:/iris@champion --policy gates.yaml --record >/dev/null
echo "==> mlops promote iris @champion --env staging (a GitOps commit in a local repository + alias @staging)"
git init -q --bare "$work/manifests.git"
cat > mlops.yaml <<EOF
gitops: {url: "file://$work/manifests.git", branch: main, path: "clusters/{env}/{model}"}
environments:
  staging: {requires: {validation: true}}
  prod: {requires: {validation: true, approvals: 1, previous: staging, image: true}}
deploy: {name: iris, target: k8s, namespace: models}
EOF
export XDG_CACHE_HOME="$work/cache"
"$mlops" promote iris @champion --env staging --image "registry.local/iris@$digest" --actor quickstart
echo "==> mlops history iris"
"$mlops" history iris
echo "==> git log of the manifests repository"
git --git-dir "$work/manifests.git" log --stat main | head -n 30
echo "==> done: mlops pulled, verified, validated, packaged and promoted a real MLflow model"
