#!/usr/bin/env bash
# bench/package.sh: `mlops package` against the floor and the peers on the same model, in one run.
#   build:  floor `tar -cf - DIR | openssl dgst -sha256`, `umoci insert`, `mlops package --output oci:`
#   push:   raw monolithic PUT of the layer with curl, `skopeo copy oci: docker://`, `mlops package --push`
# to a fresh local Debian docker-registry. Wall time and peak RSS from GNU time. The push rows
# run BENCH_RUNS times, interleaved (raw, skopeo, mlops, mlops+output, raw, ...), each mlops run
# to a new repository with an empty layer cache; the table shows the median, every run, and the
# ratio to the raw PUT's median.
# Knobs: MLOPS (binary, default build/mlops), BENCH_BIG_MB (default 1024), BENCH_SMALL (200),
# BENCH_RUNS (3).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mlops="$(realpath "${MLOPS:-$repo/build/mlops}")"
big_mb="${BENCH_BIG_MB:-1024}"
small="${BENCH_SMALL:-200}"
runs="${BENCH_RUNS:-3}"
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

t() { # t LABEL CMD...: prints "LABEL wall_s peak_rss_mib"
  local label="$1"
  shift
  /usr/bin/time -f "%e %M" -o time.out "$@" >/dev/null 2>err.out || { cat err.out >&2; exit 1; }
  read -r wall rss <time.out
  printf '%s %s %s\n' "$label" "$wall" "$((rss / 1024))"
}

results=()
results+=("$(t floor bash -c 'tar -cf - model | openssl dgst -sha256')")
cp -r base umoci-layout
results+=("$(t umoci-insert umoci insert --image umoci-layout:latest --tag ins model /models)")
results+=("$(t mlops-package "$mlops" package model --format modelcar --base oci:base:latest --output oci:out:t)")

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
declare -A walls=() rss=()
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
    read -r _ wall peak <<<"$r"
    walls[$label]+="$wall "
    (( peak > ${rss[$label]:-0} )) && rss[$label]=$peak
  done
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
raw_median="$(median "${walls[raw-put]}")"

echo "| step | tool | wall (s) | peak RSS (MiB) |"
echo "|---|---|---:|---:|"
for r in "${results[@]}"; do
  read -r label wall peak <<<"$r"
  echo "| build | $label | $wall | $peak |"
done
echo
echo "| push | median wall (s) | runs (s) | x raw PUT | peak RSS (MiB) |"
echo "|---|---:|---|---:|---:|"
for label in raw-put skopeo-copy mlops-package-push mlops-package-push-output; do
  m="$(median "${walls[$label]}")"
  printf '| %s | %s | %s | %.2f | %s |\n' "$label" "$m" "${walls[$label]% }" "$(awk -v a="$m" -v b="$raw_median" 'BEGIN {print a / b}')" "${rss[$label]}"
done
echo
echo "Model: ${big_mb} MiB random + ${small} JSON files; $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg); $runs push runs."
