# Services of the feedback tests (tests/integration/test_feedback.py):
#   seldon_a, seldon_b  the real Seldon Core v1 Python wrapper (PyPI seldon-core 1.18.2, its own
#                       venv from tests/fixtures/requirements-seldon.txt) serving the model class
#                       tests/fixtures/seldon/AbModel.py as the A/B pair of SeldonDeployment
#                       'iris-ab': predictors 'a' and 'b', the predictor names render gives
#                       deploy.variants (predictor_name label)
#   prometheus          Debian's prometheus 2.42, scrape_interval 1s, scraping both wrappers'
#                       metrics ports plus whatever target files the tests write into
#                       STATE/prometheus/targets/*.json (file_sd)
# Each wrapper runs one gunicorn worker (MLOPS_SELDON_WORKERS) so its counters are one series.

SERVICES+=(seldon_a seldon_b prometheus)

SELDON_DEPLOYMENT=iris-ab
SELDON_NAMESPACE=feedback
SELDON_WORKERS="${MLOPS_SELDON_WORKERS:-1}"

seldon_venv() { "$repo_root/scripts/venv.sh" "$repo_root/tests/fixtures/requirements-seldon.txt"; }

seldon_wrapper() { # seldon_wrapper NAME PREDICTOR HTTP_PORT
  local name="$1" predictor="$2" port="$3" dir="$state/$1" venv grpc metrics
  venv="$(seldon_venv)"
  read -r grpc metrics <<<"$(free_ports 2)"
  mkdir -p "$dir"
  echo "$port" >"$state/$name.port"
  echo "$metrics" >"$dir/metrics.port"
  launch "$name" "$dir" env PYTHONPATH="$repo_root/tests/fixtures/seldon" \
    SELDON_DEPLOYMENT_ID="$SELDON_DEPLOYMENT" PREDICTIVE_UNIT_ID=classifier PREDICTOR_ID="$predictor" \
    PREDICTIVE_UNIT_IMAGE="mlops-test/ab-model:$predictor" PREDICTOR_LABELS="{\"version\":\"$predictor\"}" \
    "$venv/bin/seldon-core-microservice" AbModel --service-type MODEL --workers "$SELDON_WORKERS" \
    --http-port "$port" --grpc-port "$grpc" --metrics-port "$metrics" --log-level WARNING
}

launch_seldon_a() { seldon_wrapper seldon_a a "$1"; }
launch_seldon_b() { seldon_wrapper seldon_b b "$1"; }
url_seldon_a() { echo "http://127.0.0.1:$(<"$state/seldon_a.port")"; }
url_seldon_b() { echo "http://127.0.0.1:$(<"$state/seldon_b.port")"; }
ready_seldon_a() { wait_status seldon_a "$(url_seldon_a)/health/ping" 200; }
ready_seldon_b() { wait_status seldon_b "$(url_seldon_b)/health/ping" 200; }
env_seldon_a() {
  echo "MLOPS_TEST_SELDON_A=$(url_seldon_a)"
  echo "MLOPS_TEST_SELDON_A_METRICS=127.0.0.1:$(<"$state/seldon_a/metrics.port")"
  echo "MLOPS_TEST_SELDON_DEPLOYMENT=$SELDON_DEPLOYMENT"
  echo "MLOPS_TEST_SELDON_NAMESPACE=$SELDON_NAMESPACE"
}
env_seldon_b() {
  echo "MLOPS_TEST_SELDON_B=$(url_seldon_b)"
  echo "MLOPS_TEST_SELDON_B_METRICS=127.0.0.1:$(<"$state/seldon_b/metrics.port")"
}

launch_prometheus() {
  local port="$1" dir="$state/prometheus" svc
  mkdir -p "$dir/targets" "$dir/data"
  echo "$port" >"$state/prometheus.port"
  # The wrappers' metrics ports, labelled like the PodMonitor's targets in a cluster.
  {
    echo "["
    local first=1
    for svc in seldon_a seldon_b; do
      [[ -f "$state/$svc/metrics.port" ]] || continue
      ((first)) || echo ","
      first=0
      printf '{"targets": ["127.0.0.1:%s"], "labels": {"namespace": "%s", "pod": "%s"}}\n' \
        "$(<"$state/$svc/metrics.port")" "$SELDON_NAMESPACE" "$svc"
    done
    echo "]"
  } >"$dir/targets/seldon.json.tmp"
  mv "$dir/targets/seldon.json.tmp" "$dir/targets/seldon.json"
  cat >"$dir/prometheus.yml" <<EOF2
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: mlops-test
    file_sd_configs:
      - files: ["$dir/targets/*.json"]
        refresh_interval: 1s
EOF2
  launch prometheus "$dir" prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
    --web.listen-address="127.0.0.1:$port" --storage.tsdb.retention.time=1d --log.level=warn
}

url_prometheus() { echo "http://127.0.0.1:$(<"$state/prometheus.port")"; }
ready_prometheus() { wait_status prometheus "$(url_prometheus)/-/ready" 200; }
env_prometheus() {
  echo "MLOPS_TEST_PROMETHEUS=$(url_prometheus)"
  echo "MLOPS_TEST_PROMETHEUS_TARGETS=$state/prometheus/targets"
}
