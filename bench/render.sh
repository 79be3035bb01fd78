#!/usr/bin/env bash
# bench/render.sh: `mlops render` process time.
#   single: one model (the full spec: monitoring, alerts, dashboard, access, detectors or
#           explainer where the target has them) for every target, best of BENCH_RUNS runs;
#           target < 20 ms of process time (user + sys) each.
#   batch:  BENCH_MODELS (default 1000) projects rendered in one `mlops render --batch LIST -o DIR`
#           run (every document validated, then written); target < 2 s.
#   loop:   the same models as one process each (for comparison; a GitOps repo's naive loop).
# Process time and peak RSS from GNU time. Knobs: MLOPS (binary, default build/mlops),
# BENCH_MODELS, BENCH_RUNS (default 5), BENCH_LOOP (1: also run the loop, default 1).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mlops="$(realpath "${MLOPS:-$repo/build/mlops}")"
models="${BENCH_MODELS:-1000}"
runs="${BENCH_RUNS:-5}"
loop="${BENCH_LOOP:-1}"
work="$(mktemp -d "${TMPDIR:-/tmp}/mlops-bench-render.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cd "$work"

digest="sha256:$(printf '%064d' 0)"
spec() { # spec NAME TARGET: a full deploy spec for one model
  local name="$1" target="$2" extra=""
  case "$target" in
    seldon-v1) extra="  protocol: seldon
  explainer: {type: AnchorTabular, model_uri: 's3://bucket/$name/explainer'}
  ingress: {type: istio, gateway: istio-system/models, host: models.example.com}
  detectors: [{type: drift, artifact: detectors/drift}]" ;;
    kserve) extra="  kserve: {mode: standard, version: '0.20'}
  detectors: [{type: drift, artifact: detectors/drift}]
  variants:
    - {name: champion, traffic: 90}
    - {name: challenger, traffic: 10, model_uri: 's3://bucket/$name/2'}" ;;
    seldon-v2) extra="  detectors: [{type: drift, artifact: detectors/drift}, {type: outlier, artifact: detectors/od}]" ;;
    k8s) extra="  image: registry.example/$name@$digest" ;;
  esac
  cat <<YAML
deploy:
  name: $name
  target: $target
  namespace: models
  replicas: {min: 2, max: 6}
  resources: {requests: {cpu: 500m, memory: 1Gi}, limits: {memory: 2Gi}}
$( [[ "$target" == k8s ]] || echo "  model_uri: s3://bucket/$name/1" )
  monitoring: true
  alerts: {error_rate_percent: 2, latency_p95_ms: 800}
  dashboard: true
  access: {readers: {groups: [data-science]}, editors: {users: [ci@example.com]}}
$extra
YAML
}

t() { # t CMD...: prints "process_s wall_s peak_rss_mib"
  /usr/bin/time -f "%U %S %e %M" -o time.out "$@" >/dev/null 2>err.out || { cat err.out >&2; exit 1; }
  read -r user sys wall rss <time.out
  printf '%s %s %s\n' "$(echo "$user + $sys" | bc)" "$wall" "$((rss / 1024))"
}

best() { # best N CMD...: the run with the least process time of N
  local n="$1" b="" line
  shift
  for _ in $(seq "$n"); do
    line="$(t "$@")"
    if [[ -z "$b" ]] || (( $(echo "${line%% *} < ${b%% *}" | bc) )); then b="$line"; fi
  done
  echo "$b"
}

echo "# mlops $("$mlops" --version 2>/dev/null | head -1), $(nproc) cores, $(date -u +%Y-%m-%d)"
echo "# what                           process_s wall_s peak_rss_mib"
for target in k8s kserve seldon-v1 seldon-v2; do
  mkdir -p "single-$target"
  spec iris "$target" >"single-$target/mlops.yaml"
  (cd "single-$target" && "$mlops" render -o out >/dev/null 2>&1) || { echo "render failed for $target" >&2; exit 1; }
  printf '%-32s %s\n' "single $target" "$(cd "single-$target" && best "$runs" "$mlops" render -o out)"
done

targets=(k8s kserve seldon-v1 seldon-v2)
: >list.txt
for i in $(seq "$models"); do
  d="m/model-$i"
  mkdir -p "$d"
  spec "model-$i" "${targets[$((i % 4))]}" >"$d/mlops.yaml"
  echo "$d" >>list.txt
done
printf '%-32s %s\n' "batch $models models" "$(best 3 "$mlops" render --batch list.txt -o batch-out)"
docs="$(find batch-out -name '*.yaml' ! -name kustomization.yaml | wc -l)"
echo "# batch wrote $docs manifests for $models models"
if [[ "$loop" == 1 ]]; then
  printf '%-32s %s\n' "loop $models processes" "$(t bash -c 'while read -r d; do (cd "$d" && "$0" render -o out >/dev/null); done <list.txt' "$mlops")"
fi
