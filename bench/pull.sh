#!/usr/bin/env bash
# Benchmark `mlops pull` against the MLflow Python client on a real local MLflow server.
#
#   bash bench/pull.sh            (from the repository root; see bench/README.md)
#
# Starts a fresh `mlflow server` (sqlite backend, proxied artifacts) on a free 127.0.0.1 port in
# a temporary state dir, registers bench-small (N small files) and bench-big (one big file) with
# bench/make_bench_models.py, then, for each model, runs these tools side by side, interleaved
# (run 1 of every tool, then run 2 of every tool, ...), each into a fresh empty directory:
#
#   mlops        $MLOPS --tracking-uri URI pull models:/NAME/1 -o DIR -q
#   mlflow-cli   mlflow artifacts download --artifact-uri models:/NAME/1 --dst-path DIR
#   python-api   python -c 'mlflow.artifacts.download_artifacts(artifact_uri=..., dst_path=DIR)'
#
# and, for bench-big only, the raw transfer of its one big file from the same server (no hash,
# no listing, no lock: the floor mlops's parallel ranges are measured against):
#
#   curl-1       curl -o DIR/big URL                     (one stream)
#   curl-4       4 x curl -r FIRST-LAST -o DIR/big.N URL (4 parallel ranges, as mlops fetches it)
#
# Wall time and peak RSS come from GNU time (`/usr/bin/time -f "%e %M"`). Nothing is dropped
# from the page cache: the server's artifact files are warm for every tool alike.
# Correctness: every run must exit 0; the first run's output of each Python tool is compared
# byte for byte with mlops's (diff -r), excluding the two files that are not server artifacts:
# mlops.lock.json (written by mlops) and registered_model_meta (written by the MLflow client for
# models:/ URIs). The sha256 and size recorded in mlops.lock.json are checked against each file.
#
# Env knobs:
#   MLOPS               mlops binary (default build/mlops, relative to the repository root)
#   BENCH_RUNS          timed runs per tool and model (default 3)
#   BENCH_SMALL_FILES   number of files of bench-small (default 500)
#   BENCH_BIG_MB        size of bench-big's file in MiB (default 1024; e.g. 64 for a quick run)
#   BENCH_MLFLOW_WORKERS  uvicorn workers of the server (default 4 = mlflow server's default)
#   BENCH_EXTRA_JOBS    extra mlops rows with other -j values, e.g. "16 32" adds mlops-j16 and
#                       mlops-j32 (default none; mlops's default is -j 8)
#   BENCH_SERVER_ARGS   extra `mlflow server` arguments, split on whitespace (default none), e.g.
#                       BENCH_SERVER_ARGS=--gunicorn-opts=--timeout=300 to serve with gunicorn
#   BENCH_TMP           parent of the temporary state dir (default ${TMPDIR:-/tmp})
#   BENCH_KEEP=1        keep the state dir (server DB, artifacts, outputs, logs) at exit
#   BENCH_OUT           also write the results (markdown) to this file
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MLOPS="${MLOPS:-build/mlops}"
if [[ "$MLOPS" != /* ]]; then
  if [[ -x "$PWD/$MLOPS" ]]; then MLOPS="$PWD/$MLOPS"; else MLOPS="$repo_root/$MLOPS"; fi
fi
RUNS="${BENCH_RUNS:-3}"
SMALL_FILES="${BENCH_SMALL_FILES:-500}"
BIG_MB="${BENCH_BIG_MB:-1024}"
WORKERS="${BENCH_MLFLOW_WORKERS:-4}"
read -r -a SERVER_ARGS <<<"${BENCH_SERVER_ARGS:-}"
HEALTH_TIMEOUT=90
TIME=/usr/bin/time

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ -x "$MLOPS" ]] || die "mlops binary not found at $MLOPS (build it: ninja -C build, or set MLOPS)"
if ! "$TIME" -f "%e %M" true 2>/dev/null; then
  die "GNU time not found at $TIME (Debian/Ubuntu: apt-get install -y time)"
fi
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"

VENV="$("$repo_root/scripts/venv.sh")"
PY="$VENV/bin/python"
MLFLOW="$VENV/bin/mlflow"

state="$(mktemp -d "${BENCH_TMP:-${TMPDIR:-/tmp}}/mlops-bench.XXXXXX")"
server_pid=""

# Stop the server by its recorded PID. It runs under setsid, so its PID is also the process
# group id of its uvicorn workers: TERM the group, wait up to 10 s, then KILL it.
stop_server() {
  [[ -n "$server_pid" ]] || return 0
  if kill -0 -- "-$server_pid" 2>/dev/null; then
    kill -TERM -- "-$server_pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 100; i++)); do
      kill -0 -- "-$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 -- "-$server_pid" 2>/dev/null; then
      log "server still running after 10 s; sending KILL to group $server_pid"
      kill -KILL -- "-$server_pid" 2>/dev/null || true
    fi
  fi
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

cleanup() {
  local rc=$?
  stop_server
  if [[ "${BENCH_KEEP:-0}" == 1 || $rc -ne 0 ]]; then
    log "state kept in $state"
  else
    rm -rf "$state"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Keep every tool away from the user's configuration and from the network beyond 127.0.0.1.
mkdir -p "$state/xdg" "$state/work" "$state/out"
export XDG_CONFIG_HOME="$state/xdg"        # no ~/.config/mlops/config.yaml for mlops
export MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true
unset MLFLOW_TRACKING_USERNAME MLFLOW_TRACKING_PASSWORD MLFLOW_TRACKING_TOKEN MLFLOW_TRACKING_URI \
  MLOPS_TRACKING_URI 2>/dev/null || true
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

# ----------------------------------------------------------------------------- server

port="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
URI="http://127.0.0.1:$port"
mkdir -p "$state/server/artifacts"
log "starting mlflow server on $URI (state $state)"
# No job control here, so the subshell is not a group leader and setsid(1) makes the server the
# leader of a new session/process group in place: $! is the server's PID and PGID.
(cd "$state/server" && exec setsid env MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false \
  "$MLFLOW" server \
  --backend-store-uri "sqlite:///$state/server/mlflow.db" \
  --artifacts-destination "$state/server/artifacts" \
  --serve-artifacts \
  --host 127.0.0.1 --port "$port" --workers "$WORKERS" ${SERVER_ARGS[@]+"${SERVER_ARGS[@]}"} \
  >"$state/server.log" 2>&1 </dev/null) &
server_pid=$!
echo "$server_pid" >"$state/server.pid"

deadline=$((SECONDS + HEALTH_TIMEOUT))
until [[ "$(curl -sS --max-time 3 "$URI/health" 2>/dev/null || true)" == OK ]]; do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    tail -n 30 "$state/server.log" >&2 || true
    die "mlflow server exited during startup"
  fi
  if ((SECONDS > deadline)); then
    tail -n 30 "$state/server.log" >&2 || true
    die "mlflow server not healthy after $HEALTH_TIMEOUT s"
  fi
  sleep 0.5
done
log "server healthy (pid $server_pid, --workers $WORKERS${SERVER_ARGS[*]+ ${SERVER_ARGS[*]}})"

# ----------------------------------------------------------------------------- models

log "registering bench-small ($SMALL_FILES files) and bench-big ($BIG_MB MiB)"
t0=$SECONDS
"$PY" "$repo_root/bench/make_bench_models.py" --tracking-uri "$URI" \
  --small-files "$SMALL_FILES" --big-mb "$BIG_MB" --out-json "$state/models.json" \
  2> >(tee "$state/make_models.log" >&2)
log "models ready in $((SECONDS - t0)) s"

# ----------------------------------------------------------------------------- runs

TOOLS=(mlops mlflow-cli python-api)
for j in ${BENCH_EXTRA_JOBS:-}; do
  [[ "$j" =~ ^[1-9][0-9]*$ ]] || die "BENCH_EXTRA_JOBS: not a number: $j"
  TOOLS+=("mlops-j$j")
done
declare -A WALLS=() RSS=()   # key "model|tool" -> space-separated values per run

# run_tool TOOL MODEL DEST: run one download under GNU time; sets LAST_WALL (s), LAST_RSS (KiB).
run_tool() {
  local tool="$1" model="$2" dest="$3" uri="models:/$2/1" tfile="$state/time.out"
  local logf
  logf="$state/logs/$model.$tool.$(date +%s%N).log"
  mkdir -p "$state/logs"
  local -a cmd
  case "$tool" in
    mlops) cmd=("$MLOPS" --tracking-uri "$URI" pull "$uri" -o "$dest" -q) ;;
    mlops-j*) cmd=("$MLOPS" --tracking-uri "$URI" pull "$uri" -o "$dest" -q -j "${tool#mlops-j}") ;;
    mlflow-cli) cmd=(env MLFLOW_TRACKING_URI="$URI" "$MLFLOW" artifacts download
      --artifact-uri "$uri" --dst-path "$dest") ;;
    python-api) cmd=(env MLFLOW_TRACKING_URI="$URI" "$PY" -c
      'import sys, mlflow; mlflow.artifacts.download_artifacts(artifact_uri=sys.argv[1], dst_path=sys.argv[2])'
      "$uri" "$dest") ;;
    curl-1) cmd=(curl -sS --fail -o "$dest/big" "$BIG_URL") ;;
    curl-4) cmd=(bash -c 'q=$(($3 / 4)); for i in 0 1 2 3; do
        last=$(((i + 1) * q - 1)); ((i == 3)) && last=$(($3 - 1))
        curl -sS --fail -r "$((i * q))-$last" -o "$2/big.$i" "$1" & done; wait' curl-4 "$BIG_URL" "$dest" "$BIG_SIZE") ;;
    *) die "unknown tool $tool" ;;
  esac
  local rc=0
  # Run from an empty directory: no mlops.yaml can be found by walking up from it.
  (cd "$state/work" && "$TIME" -f "%e %M" -o "$tfile" "${cmd[@]}" >"$logf" 2>&1) || rc=$?
  if ((rc != 0)); then
    log "FAILED ($rc): $tool on $uri; output ($logf):"
    tail -n 40 "$logf" >&2 || true
    cat "$tfile" >&2 2>/dev/null || true
    exit 1
  fi
  read -r LAST_WALL LAST_RSS < <(tail -n 1 "$tfile")
}

# check_model MODEL: compare the kept outputs of the tools and mlops's lock file.
check_model() {
  local model="$1" ref tool
  ref="$state/out/$model.mlops.keep"
  local nfiles
  nfiles="$(find "$ref" -type f ! -name mlops.lock.json | wc -l)"
  for tool in "${TOOLS[@]:1}"; do
    if diff -r -q -x mlops.lock.json -x registered_model_meta "$ref" "$state/out/$model.$tool.keep" >"$state/diff.out" 2>&1; then
      log "check $model: mlops output == $tool output ($nfiles files, byte for byte)"
    else
      log "check $model: MISMATCH between mlops and $tool output:"
      head -n 20 "$state/diff.out" >&2
      CHECK_FAILED=1
    fi
  done
  # Every file of the lock with the right size and sha256, and no file missing from the lock.
  if "$PY" - "$ref" <<'EOF' >&2
import hashlib, json, os, sys
root = sys.argv[1]
lock = json.load(open(os.path.join(root, "mlops.lock.json")))
files = lock.get("files") or []
bad = 0
for f in files:
    p = os.path.join(root, f["path"])
    h = hashlib.sha256()
    with open(p, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    if h.hexdigest() != f["sha256"] or os.path.getsize(p) != f["size"]:
        print(f"lock mismatch: {f['path']}")
        bad += 1
on_disk = {os.path.relpath(os.path.join(d, n), root)
           for d, _, ns in os.walk(root) for n in ns} - {"mlops.lock.json"}
missing = on_disk - {f["path"] for f in files}
for m in sorted(missing):
    print(f"not in lock: {m}")
print(f"lock check: {len(files)} files, {bad} bad, {len(missing)} unlisted")
sys.exit(1 if bad or missing else 0)
EOF
  then :; else CHECK_FAILED=1; fi
}

# big_url: the URL and size of bench-big's largest file on the server, from a pull's lock
# (not timed).
big_url() {
  rm -rf "$state/probe"
  "$MLOPS" --tracking-uri "$URI" pull models:/bench-big/1 -o "$state/probe" -q >/dev/null
  "$PY" - "$state/probe/mlops.lock.json" "$URI" <<'EOF'
import json, sys, urllib.parse
lock = json.load(open(sys.argv[1]))
big = max(lock["files"], key=lambda f: f["size"])
root = lock["model"]["download_uri"].split(":", 1)[1].lstrip("/")
print(sys.argv[2] + "/api/2.0/mlflow-artifacts/artifacts/" + urllib.parse.quote(root + "/" + big["path"]), big["size"])
EOF
  rm -rf "$state/probe"
}

CHECK_FAILED=0
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
read -r BIG_URL BIG_SIZE < <(big_url)
for model in bench-small bench-big; do
  MODEL_TOOLS=("${TOOLS[@]}")
  [[ "$model" == bench-big ]] && MODEL_TOOLS+=(curl-1 curl-4)
  for ((i = 1; i <= RUNS; i++)); do
    for tool in "${MODEL_TOOLS[@]}"; do
      dest="$state/out/$model.$tool.run$i"
      rm -rf "$dest"
      # mlops gets a not-yet-existing DIR (it creates it; a partial dir sits beside it); the
      # Python tools get a fresh empty DIR, as they expect an existing destination.
      [[ "$tool" == mlops* ]] || mkdir -p "$dest"
      run_tool "$tool" "$model" "$dest"
      WALLS["$model|$tool"]+="$LAST_WALL "
      RSS["$model|$tool"]+="$LAST_RSS "
      log "$model run $i/$RUNS $tool: ${LAST_WALL} s, $((LAST_RSS / 1024)) MiB peak RSS"
      if ((i == 1)); then
        mv "$dest" "$state/out/$model.$tool.keep"
      else
        rm -rf "$dest"
      fi
    done
  done
  check_model "$model"
  [[ "${BENCH_KEEP:-0}" == 1 ]] || rm -rf "$state/out/$model".*.keep
done

# ----------------------------------------------------------------------------- report

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {
  if (NR % 2) printf "%.2f", a[(NR+1)/2]; else printf "%.2f", (a[NR/2]+a[NR/2+1])/2 }'; }
maxv() { tr ' ' '\n' | grep -v '^$' | sort -g | tail -n 1; }

small_bytes="$("$PY" -c 'import json,sys; m=json.load(open(sys.argv[1]))["models"]; print(m[0].get("payload_bytes", 0))' "$state/models.json")"
{
  echo "| model | tool | median wall (s) | runs (s) | peak RSS (MiB) | time / mlops time |"
  echo "|---|---|---:|---|---:|---:|"
  for model in bench-small bench-big; do
    base="$(median <<<"${WALLS["$model|mlops"]}")"
    MODEL_TOOLS=("${TOOLS[@]}")
    [[ "$model" == bench-big ]] && MODEL_TOOLS+=(curl-1 curl-4)
    for tool in "${MODEL_TOOLS[@]}"; do
      med="$(median <<<"${WALLS["$model|$tool"]}")"
      peak="$(maxv <<<"${RSS["$model|$tool"]}")"
      ratio="$(awk -v a="$med" -v b="$base" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }')"
      runs="$(tr -s ' ' <<<"${WALLS["$model|$tool"]% }" | sed 's/ /, /g')"
      printf '| %s | %s | %s | %s | %.1f | %s |\n' "$model" "$tool" "$med" "$runs" \
        "$(awk -v k="$peak" 'BEGIN { print k / 1024 }')" "$ratio"
    done
  done
  echo
  s="$(maxv <<<"${RSS["bench-small|mlops"]}")"
  b="$(maxv <<<"${RSS["bench-big|mlops"]}")"
  printf 'mlops peak RSS: bench-small (%s files, %s bytes of payload) %.1f MiB; bench-big (%s MiB file) %.1f MiB; big/small = %.2f\n' \
    "$SMALL_FILES" "$small_bytes" "$(awk -v k="$s" 'BEGIN { print k / 1024 }')" \
    "$BIG_MB" "$(awk -v k="$b" 'BEGIN { print k / 1024 }')" "$(awk -v a="$b" -v c="$s" 'BEGIN { print a / c }')"
  echo
  echo "Load average (1/5/15 min) at the start of the timed runs: $load_start; at the end: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)."
  echo "Server: mlflow $("$PY" -c 'import mlflow; print(mlflow.__version__)') server --workers $WORKERS${SERVER_ARGS[*]+ ${SERVER_ARGS[*]}} (sqlite backend, --serve-artifacts, local artifact store); mlops: $MLOPS."
  echo "Runs per tool and model: $RUNS (interleaved). Peak RSS: the largest of the runs. Ratio: median wall time of the tool / median wall time of mlops (above 1 = mlops faster)."
  if ((CHECK_FAILED)); then
    echo "Correctness: FAILED (see the log above)."
  else
    echo "Correctness: mlops output identical (diff -r, byte for byte) to the other tools' output for both models, apart from mlops.lock.json (mlops only) and registered_model_meta (MLflow client only); the sha256 and sizes in mlops.lock.json match the files."
  fi
} >"$state/results.md"

echo
cat "$state/results.md"
if [[ -n "${BENCH_OUT:-}" ]]; then cp "$state/results.md" "$BENCH_OUT"; fi
((CHECK_FAILED == 0)) || exit 3
