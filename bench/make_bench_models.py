#!/usr/bin/env python3
"""Register the two models used by bench/pull.sh on a real MLflow tracking server.

    make_bench_models.py --tracking-uri http://127.0.0.1:PORT [--small-files 500] [--big-mb 1024]
                         [--seed 1] [--out-json FILE]

Run it with the python of the cached venv (scripts/venv.sh, MLflow 3.x). Creates, with
``mlflow.pyfunc.log_model(name=..., python_model=..., artifacts=..., registered_model_name=...)``:

* ``bench-small``: a pyfunc model whose ``artifacts/files/`` directory holds --small-files random
  files of 1-8 KiB each, spread over a few nested subfolders.
* ``bench-big``: a pyfunc model whose ``artifacts/blob/`` holds one random file of --big-mb MiB,
  written in 8 MiB chunks from os.urandom (never held in memory as a whole).

Both are logged in one run each of the experiment ``mlops-bench`` and registered as version 1 of a
new registered model. A registered model that already exists is left alone (a fresh tracking
server is expected; bench/pull.sh always starts one). The JSON summary (stdout, or --out-json)
lists per model the version, its source and the number and total size of the generated files.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import tempfile
import time
import warnings
from pathlib import Path

# The fixture scripts' helpers (quiet_mlflow) serve the benchmark too.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "fixtures"))
from make_models import quiet_mlflow, wait_ready  # noqa: E402

EXPERIMENT = "mlops-bench"
SMALL_NAME = "bench-small"
BIG_NAME = "bench-big"
SMALL_DIRS = ["", "layer0", "layer0/shard_a", "layer0/shard_b", "layer1", "layer1/deep/er", "meta"]
CHUNK = 8 << 20


def log(msg: str) -> None:
    print(f"make_bench_models: {msg}", file=sys.stderr, flush=True)




def write_small_files(root: str, count: int, seed: int) -> tuple[int, int]:
    """count random files of 1..8 KiB under root (layout and sizes are reproducible from seed)."""
    rng = random.Random(seed)
    total = 0
    for i in range(count):
        sub = SMALL_DIRS[i % len(SMALL_DIRS)]
        size = rng.randint(1024, 8192)
        path = os.path.join(root, sub, f"part-{i:05d}.bin")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(os.urandom(size))
        total += size
    return count, total


def write_big_file(root: str, mib: int) -> tuple[int, int]:
    os.makedirs(root, exist_ok=True)
    remaining = mib << 20
    with open(os.path.join(root, "weights.bin"), "wb") as f:
        while remaining > 0:
            n = min(CHUNK, remaining)
            f.write(os.urandom(n))
            remaining -= n
    return 1, mib << 20


def model_exists(client, name: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
        return True
    except MlflowException as e:
        if "RESOURCE_DOES_NOT_EXIST" in str(e.error_code):
            return False
        raise


def register(client, name: str, fill, pins: list[str]) -> dict:
    """Generate the artifact directory with fill(dir) -> (files, bytes), log and register it."""
    import mlflow
    import mlflow.pyfunc

    class BenchModel(mlflow.pyfunc.PythonModel):
        """Trivial model: returns its input; the artifacts are only there to be downloaded."""

        def predict(self, context, model_input, params=None):
            return model_input

    if model_exists(client, name):
        log(f"{name}: already registered, leaving it alone")
        mv = sorted(client.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version))[0]
        return {"name": name, "version": mv.version, "source": mv.source, "created": False}

    with tempfile.TemporaryDirectory(prefix=f"{name}-") as tmp:
        art = os.path.join(tmp, "payload")
        t0 = time.monotonic()
        nfiles, nbytes = fill(art)
        log(f"{name}: generated {nfiles} file(s), {nbytes} bytes in {time.monotonic() - t0:.1f} s")
        t0 = time.monotonic()
        with mlflow.start_run(run_name=name):
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=BenchModel(),
                artifacts={"payload": art},
                registered_model_name=name,
                pip_requirements=pins,  # explicit: skips requirement inference
            )
        log(f"{name}: logged and registered in {time.monotonic() - t0:.1f} s")
    version = str(info.registered_model_version)
    mv = wait_ready(client, name, version, timeout=120.0)
    return {
        "name": name,
        "version": mv.version,
        "source": mv.source,
        "created": True,
        "payload_files": nfiles,
        "payload_bytes": nbytes,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracking-uri", required=True)
    ap.add_argument("--small-files", type=int, default=500)
    ap.add_argument("--big-mb", type=int, default=1024, help="size of bench-big's file in MiB")
    ap.add_argument("--seed", type=int, default=1, help="seed of the small files' layout/sizes")
    ap.add_argument("--out-json", help="write the summary here instead of stdout")
    args = ap.parse_args()
    if args.small_files < 1 or args.big_mb < 1:
        ap.error("--small-files and --big-mb must be >= 1")

    quiet_mlflow()
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(args.tracking_uri)
    mlflow.set_experiment(EXPERIMENT)
    client = MlflowClient()
    pins = [f"mlflow=={mlflow.__version__}"]

    summary = {
        "tracking_uri": args.tracking_uri,
        "mlflow_version": mlflow.__version__,
        "models": [
            register(client, SMALL_NAME,
                     lambda d: write_small_files(d, args.small_files, args.seed), pins),
            register(client, BIG_NAME, lambda d: write_big_file(d, args.big_mb), pins),
        ],
    }
    text = json.dumps(summary, indent=2) + "\n"
    if args.out_json:
        with open(args.out_json, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
