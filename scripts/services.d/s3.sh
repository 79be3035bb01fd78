# S3 artifact store: versitygw (Versity's S3 gateway, built by scripts/versitygw-build.sh into
# ~/.cache/mlops) over a POSIX directory, and an MLflow server whose artifacts live there:
# --default-artifact-root s3://mlops-artifacts/..., --no-serve-artifacts, so every client
# (MLflow's boto3 path in the fixtures, mlops in the tests) reads and writes S3 directly.
#   s3         versitygw --access K --secret S --port 127.0.0.1:PORT posix STATE/s3/data
#   mlflow_s3  mlflow server, sqlite backend, artifacts in the bucket, not proxied
# Fixtures: the bucket (created with boto3), a small model (s3-files) and a model with one
# big file (s3-big, MLOPS_S3_BIG_MB MiB, default 256) registered through MLflow's own client.
SERVICES+=(s3 mlflow_s3)

S3_ACCESS_KEY=mlops-s3-access
S3_SECRET_KEY=mlops-s3-secret-key-1
S3_BUCKET=mlops-artifacts
S3_BIG_MB="${MLOPS_S3_BIG_MB:-256}"

launch_s3() {
  local dir="$state/s3" bin
  bin="$("$repo_root/scripts/versitygw-build.sh")"
  mkdir -p "$dir/data"
  echo "$1" >"$state/s3.port"
  launch s3 "$dir" "$bin" --access "$S3_ACCESS_KEY" --secret "$S3_SECRET_KEY" --port "127.0.0.1:$1" \
    posix "$dir/data"
}

url_s3() { echo "http://127.0.0.1:$(<"$state/s3.port")"; }
# Unsigned requests are refused: 403 means it answers.
ready_s3() { wait_status s3 "$(url_s3)/" 403; }
env_s3() {
  echo "MLOPS_TEST_S3_ENDPOINT=$(url_s3)"
  echo "MLOPS_TEST_S3_ACCESS_KEY=$S3_ACCESS_KEY"
  echo "MLOPS_TEST_S3_SECRET_KEY=$S3_SECRET_KEY"
  echo "MLOPS_TEST_S3_BUCKET=$S3_BUCKET"
}

launch_mlflow_s3() {
  local dir="$state/mlflow_s3"
  mkdir -p "$dir"
  echo "$1" >"$state/mlflow_s3.port"
  launch mlflow_s3 "$dir" env MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false \
    "$VENV/bin/mlflow" server \
    --backend-store-uri "sqlite:///$dir/mlflow.db" \
    --default-artifact-root "s3://$S3_BUCKET/mlflow" \
    --no-serve-artifacts \
    --host 127.0.0.1 --port "$1" \
    --workers "$WORKERS"
}

url_mlflow_s3() { echo "http://127.0.0.1:$(<"$state/mlflow_s3.port")"; }
ready_mlflow_s3() { wait_http mlflow_s3 "$(url_mlflow_s3)/health" OK; }
env_mlflow_s3() {
  echo "MLOPS_TEST_MLFLOW_S3_URI=$(url_mlflow_s3)"
  echo "MLOPS_TEST_S3_FIXTURES_JSON=$state/fixtures-s3.json"
  echo "MLOPS_TEST_S3_BIG_JSON=$state/fixtures-s3-big.json"
}

fixtures_mlflow_s3() {
  log "mlflow_s3: creating the bucket and fixtures (files, a ${S3_BIG_MB} MiB model) through boto3"
  local -a s3env=(env -u MLFLOW_TRACKING_USERNAME -u MLFLOW_TRACKING_PASSWORD -u MLFLOW_TRACKING_TOKEN
    -u AWS_PROFILE -u AWS_SESSION_TOKEN
    AWS_ACCESS_KEY_ID="$S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3_SECRET_KEY" AWS_DEFAULT_REGION=us-east-1
    MLFLOW_S3_ENDPOINT_URL="$(url_s3)")
  "${s3env[@]}" "$PY" -c '
import sys, boto3, botocore.exceptions
s3 = boto3.client("s3", endpoint_url=sys.argv[1])
try:
    s3.create_bucket(Bucket=sys.argv[2])
except botocore.exceptions.ClientError as e:
    if e.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
        raise
' "$(url_s3)" "$S3_BUCKET" >>"$state/mlflow_s3.fixtures.log" 2>&1
  "${s3env[@]}" "$PY" "$repo_root/tests/fixtures/make_models.py" \
    --tracking-uri "$(url_mlflow_s3)" --models files --big-mb 1 \
    --out-json "$state/fixtures-s3.json" >>"$state/mlflow_s3.fixtures.log" 2>&1
  "${s3env[@]}" "$PY" "$repo_root/tests/fixtures/make_big_model.py" \
    --tracking-uri "$(url_mlflow_s3)" --name s3-big --mb "$S3_BIG_MB" \
    --out-json "$state/fixtures-s3-big.json" >>"$state/mlflow_s3.fixtures.log" 2>&1
}
