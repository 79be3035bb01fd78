#!/usr/bin/env bash
# bench/package.sh: `mlops package` against the floor and the peers on the same model, in one run.
#   build:  floor `tar -cf - DIR | openssl dgst -sha256`, `umoci insert`, `mlops package --output oci:`
#           (auto compression), BENCH_RUNS times each, interleaved, every run with the model's files
#           in the page cache (read just before) and its output directory fresh; median reported.
#   gzip:   `mlops package --compression gzip` (parallel gzip) against `tar | gzip -1 | sha256`
#           (one core) and MLOPS_BEFORE's gzip, once each, when BENCH_GZIP=1, on the model above
#           (random: mlops stores its blocks) and on a model of BENCH_TEXT_MB (128) MiB JSON lines;
#           with them `--compression zstd` against `tar | zstd -3 -T0 | sha256` (every core).
#   push:   raw monolithic PUT of the layer with curl, `skopeo copy oci: docker://`, `mlops package --push`
# to a fresh local Debian docker-registry, BENCH_RUNS times interleaved (raw, skopeo, mlops,
# mlops+output, raw, ...), each mlops run to a new repository with an empty layer cache; median,
# every run and the ratio to the raw PUT's median. Wall time and peak RSS from GNU time.
# Knobs: MLOPS (binary, default build/mlops), MLOPS_BEFORE (another binary, timed beside it),
# BENCH_BIG_MB (default 1024), BENCH_SMALL (200), BENCH_RUNS (5), BENCH_GZIP (0), BENCH_TEXT_MB (128),
# BENCH_PUSH (1).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mlops="$(realpath "${MLOPS:-$repo/build/mlops}")"
before="${MLOPS_BEFORE:+$(realpath "$MLOPS_BEFORE")}"
big_mb="${BENCH_BIG_MB:-1024}"
small="${BENCH_SMALL:-200}"
runs="${BENCH_RUNS:-5}"
work="$(mktemp -d "${TMPDIR:-/tmp}/mlops-bench-package.XXXXXX")"
reg_pid=""
cleanup() {
  if [[ -n "$reg_pid" ]] && kill -0 "$reg_pid" 2>/dev/null; then kill "$reg_pid"; wait "$reg_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

echo "bench: making a model of ${big_mb} MiB random float data + ${small} JSON files" >&2
mkdir -p model/data
head -c "$((big_mb * 1024 * 1024))" /dev/urandom >model/data/weights.bin
for i in $(seq "$small"); do printf '{"id": %d, "name": "item-%d", "values": [1.5, 2.5, 3.5]}\n' "$i" "$i" >"model/data/meta-$i.json"; done
printf 'flavors:\n  python_function:\n    loader_module: mlflow.pyfunc.model\n' >model/MLmodel
python3 "$repo/tests/fixtures/make_base_image.py" base --tag latest >/dev/null
sync

t() { # t LABEL CMD...: prints "LABEL wall_s peak_rss_mib cpu_s" (cpu = user + system)
  local label="$1"
  shift
  /usr/bin/time -f "%e %M %U %S" -o time.out "$@" >/dev/null 2>err.out || { cat err.out >&2; exit 1; }
  read -r wall rss user sys <time.out
  printf '%s %s %s %.2f\n' "$label" "$wall" "$((rss / 1024))" "$(bc <<<"$user + $sys")"
}
fresh() { # the same start for every tool: model in the page cache, no output of an earlier run
  rm -rf out out-before umoci-layout gz.out
  cp -r base umoci-layout
  cat model/MLmodel model/data/* >/dev/null
  if [[ -d text ]]; then cat text/* >/dev/null; fi
  sync
}

declare -A walls cpus rss_max
order=(floor umoci-insert mlops-package)
if [[ -n "$before" ]]; then order+=(mlops-before); fi
for run in $(seq "$runs"); do
  echo "bench: build run $run of $runs (load $(cut -d' ' -f1 /proc/loadavg))" >&2
  for label in "${order[@]}"; do
    fresh
    case "$label" in
    floor) r="$(t floor bash -c 'tar -cf - model | openssl dgst -sha256')" ;;
    umoci-insert) r="$(t umoci-insert umoci insert --image umoci-layout:latest --tag ins model /models)" ;;
    mlops-package) r="$(t mlops-package "$mlops" package model --format modelcar --base oci:base:latest --output oci:out:t)" ;;
    mlops-before) r="$(t mlops-before "$before" package model --format modelcar --base oci:base:latest --output oci:out-before:t)" ;;
    esac
    read -r _ wall rss cpu <<<"$r"
    walls[$label]+="$wall "
    cpus[$label]+="$cpu "
    if ((rss > ${rss_max[$label]:-0})); then rss_max[$label]=$rss; fi
  done
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
floor_med="$(median "${walls[floor]}")"
umoci_med="$(median "${walls[umoci-insert]}")"
floor_cpu="$(median "${cpus[floor]}")"
echo "| tool | median wall (s) | runs (s) | / floor | / umoci insert | median CPU (s) | CPU / floor | peak RSS (MiB) |"
echo "|---|---:|---|---:|---:|---:|---:|---:|"
for label in "${order[@]}"; do
  m="$(median "${walls[$label]}")"
  c="$(median "${cpus[$label]}")"
  printf '| %s | %s | %s | %.2fx | %.2fx | %s | %.2fx | %s |\n' "$label" "$m" "$(sed 's/ $//; s/ /, /g' <<<"${walls[$label]}")" \
    "$(bc -l <<<"$m / $floor_med")" "$(bc -l <<<"$m / $umoci_med")" "$c" "$(bc -l <<<"$c / $floor_cpu")" "${rss_max[$label]}"
done
echo
echo "Model: ${big_mb} MiB random + ${small} JSON files; $(nproc) CPUs; load after the build runs $(cut -d' ' -f1-3 /proc/loadavg)."

gzip_rows() { # gzip_rows DIR: gzip -1 on one core, mlops gzip, zstd -3 on every core, mlops zstd, MLOPS_BEFORE gzip, on the model in DIR
  local dir="$1" rows=()
  fresh
  rows+=("$(t "gzip-1-one-core" bash -c "tar -cf - $dir | gzip -1 | openssl dgst -sha256")")
  fresh
  rows+=("$(t mlops-gzip "$mlops" package "$dir" --format modelcar --base oci:base:latest --compression gzip --output oci:out:t)")
  fresh
  rows+=("$(t "zstd-3-all-cores" bash -c "tar -cf - $dir | zstd -3 -T0 -q -c | openssl dgst -sha256")")
  fresh
  rows+=("$(t mlops-zstd "$mlops" package "$dir" --format modelcar --base oci:base:latest --compression zstd --output oci:out:t)")
  if [[ -n "$before" ]]; then
    fresh
    rows+=("$(t mlops-before-gzip "$before" package "$dir" --format modelcar --base oci:base:latest --compression gzip --output oci:out-before:t)")
  fi
  for r in "${rows[@]}"; do read -r label wall rss cpu <<<"$r"; echo "| $dir | $label | $wall | $cpu | $rss |"; done
}
if [[ "${BENCH_GZIP:-0}" == 1 ]]; then
  text_mb="${BENCH_TEXT_MB:-128}"
  echo "bench: making a model of ${text_mb} MiB JSON lines for gzip" >&2
  mkdir -p text
  cp model/MLmodel text/
  python3 -c 'import json, random, sys
r = random.Random(5)
with open("text/tokenizer.json", "w") as f:
    while f.tell() < int(sys.argv[1]) << 20:
        f.write(json.dumps({"id": r.randrange(10**6), "tok": "".join(r.choice("abcdefghijklmnop") for _ in range(8)), "score": r.random()}) + "\n")' "$text_mb"
  echo
  echo "| model | gzip | wall (s) | CPU (s) | peak RSS (MiB) |"
  echo "|---|---|---:|---:|---:|"
  gzip_rows model
  gzip_rows text
fi
[[ "${BENCH_PUSH:-1}" == 1 ]] || exit 0
fresh
"$mlops" package model --format modelcar --base oci:base:latest --output oci:out:t >/dev/null
results=()

# A fresh registry for the push figures.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
mkdir -p reg
printf 'version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: %s/reg}}\nhttp: {addr: 127.0.0.1:%s}\n' "$work" "$port" >reg.yml
docker-registry serve reg.yml >reg.log 2>&1 &
reg_pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done

layer="$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(max(m["layers"], key=lambda l: l["size"])["digest"])' \
  "out/blobs/sha256/$(python3 -c 'import json; print(json.load(open("out/index.json"))["manifests"][0]["digest"][7:])')")"
blob="out/blobs/sha256/${layer#sha256:}"
raw_put() {
  local loc
  loc="$(curl -fsS -D - -o /dev/null -X POST "http://127.0.0.1:$port/v2/raw/blobs/uploads/" | tr -d '\r' | awk 'tolower($1)=="location:"{print $2}')"
  [[ "$loc" == http* ]] || loc="http://127.0.0.1:$port$loc"
  curl -fsS -o /dev/null -T "$blob" -H 'Content-Type: application/octet-stream' "$loc&digest=$layer"
}
export -f raw_put
export port blob layer
declare -A push_walls=() push_rss=()
for run in $(seq "$runs"); do
  for label in raw-put skopeo-copy mlops-package-push mlops-package-push-output; do
    rm -rf out2
    # skopeo once: as root its blob-info cache (/var/lib/containers/cache) mounts the layer
    # from its first repository in every later run.
    [[ "$label" == skopeo-copy && "$run" -gt 1 ]] && continue
    case "$label" in
      raw-put) r="$(t "$label" bash -c raw_put)" ;;
      skopeo-copy) r="$(t "$label" skopeo copy --dest-tls-verify=false oci:out:t "docker://127.0.0.1:$port/skopeo$run:t")" ;;
      mlops-package-push) r="$(XDG_CACHE_HOME="$work/cache-$run-a" t "$label" "$mlops" package model --format modelcar \
        --base oci:base:latest --push "127.0.0.1:$port/mlops$run:t")" ;;
      mlops-package-push-output) r="$(XDG_CACHE_HOME="$work/cache-$run-b" t "$label" "$mlops" package model --format modelcar \
        --base oci:base:latest --output oci:out2:t --push "127.0.0.1:$port/mlopsout$run:t")" ;;
    esac
    read -r _ wall peak _ <<<"$r"
    push_walls[$label]+="$wall "
    (( peak > ${push_rss[$label]:-0} )) && push_rss[$label]=$peak
  done
done
raw_median="$(median "${push_walls[raw-put]}")"

echo
echo "| push | median wall (s) | runs (s) | x raw PUT | peak RSS (MiB) |"
echo "|---|---:|---|---:|---:|"
for label in raw-put skopeo-copy mlops-package-push mlops-package-push-output; do
  m="$(median "${push_walls[$label]}")"
  printf '| %s | %s | %s | %.2f | %s |\n' "$label" "$m" "${push_walls[$label]% }" "$(awk -v a="$m" -v b="$raw_median" 'BEGIN {print a / b}')" "${push_rss[$label]}"
done
echo
echo "Model: ${big_mb} MiB random + ${small} JSON files; $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg); $runs push runs."
