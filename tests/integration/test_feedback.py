"""mlops feedback status / check against a real Prometheus (Debian 2.42) scraping the real
Seldon Core v1 Python wrapper (seldon-core 1.18.2) as an A/B pair (services feedback.sh).

Known traffic and feedback (reward 1, reward 0 and none) go to the real wrappers; every number
`status` prints is checked against that truth. Only the Go executor's request counters and
latency histogram (not on PyPI, cannot run here) come from exposition.py with scripted counts.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from conftest import HERE, SERVICES, Mlops

pytestmark = pytest.mark.skipif(
    not all(k in SERVICES for k in ("MLOPS_TEST_PROMETHEUS", "MLOPS_TEST_SELDON_A", "MLOPS_TEST_SELDON_B")),
    reason="services prometheus, seldon_a and seldon_b not started (MLOPS_SERVICES)")

DEPLOYMENT = SERVICES.get("MLOPS_TEST_SELDON_DEPLOYMENT", "iris-ab")
NAMESPACE = SERVICES.get("MLOPS_TEST_SELDON_NAMESPACE", "feedback")
PROM = SERVICES.get("MLOPS_TEST_PROMETHEUS", "")
IMAGE = "registry.example/iris@sha256:" + "a" * 64

PROJECT = f"""\
deploy:
  name: {DEPLOYMENT}
  target: seldon-v1
  namespace: {NAMESPACE}
  image: {IMAGE}
  protocol: seldon
  variants:
    - {{name: a, traffic: 50}}
    - {{name: b, traffic: 50}}
environments:
  prod:
    prometheus: {{url: "{PROM}"}}
"""

# The truth sent in the window, per predictor.
PREDICT_OK = {"a": 30, "b": 10}
PREDICT_FAIL = {"a": 3, "b": 0}
REWARDS = {"a": [1] * 6 + [0] * 3 + [None], "b": [1] * 2 + [0] * 6}
# Scripted executor histogram in the window (cumulative per le), a: 20 fast, 10 medium, 3 slow.
LE = ["0.01", "0.05", "0.1", "0.5", "+Inf"]
BUCKETS = {"a": [0, 20, 30, 33, 33], "b": [0, 10, 10, 10, 10]}
WARMUP = 2


def post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        return {"http_status": e.code}


def predict(base: str, x: float) -> dict:
    return post(base + "/api/v1.0/predictions", {"data": {"ndarray": [[x, 1]]}})


def feedback(base: str, reward) -> dict:
    body = {"request": {"data": {"ndarray": [[1, 1]]}}, "response": {"data": {"ndarray": [[1, 1]]}}}
    if reward is not None:
        body["reward"] = reward
    return post(base + "/api/v1.0/feedback", body)


def prom_value(query: str) -> dict[str, float]:
    url = PROM + "/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=10) as r:
        data = json.loads(r.read())["data"]["result"]
    return {s["metric"].get("predictor_name", ""): float(s["value"][1]) for s in data}


def wait_for(query: str, expected: dict[str, float], timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = prom_value(query)
        if all(abs(got.get(k, -1) - v) < 1e-9 for k, v in expected.items()):
            return
        time.sleep(0.3)
    raise AssertionError(f"prometheus never showed {expected} for {query}: {prom_value(query)}")


def exposition(pred: dict[str, int], fail: dict[str, int], fb: dict[str, int], buckets: dict[str, list[int]]) -> str:
    name = "seldon_api_executor_server_requests_seconds"
    lines = [f"# TYPE {name} histogram"]
    for p in ("a", "b"):
        base = f'deployment_name="{DEPLOYMENT}",predictor_name="{p}",predictor_version="{p}",method="post"'
        for le, n in zip(LE, buckets[p]):
            lines.append(f'{name}_bucket{{{base},service="predictions",code="200",le="{le}"}} {n}')
        lines.append(f'{name}_count{{{base},service="predictions",code="200"}} {pred[p]}')
        lines.append(f'{name}_count{{{base},service="predictions",code="500"}} {fail[p]}')
        lines.append(f'{name}_count{{{base},service="feedback",code="200"}} {fb[p]}')
    return "\n".join(lines) + "\n"


class Executor:
    """exposition.py, registered with Prometheus through a file_sd target file; stopped by PID."""

    def __init__(self, tmp: Path):
        self.file = tmp / "executor.prom"
        port_file = tmp / "executor.port"
        self.proc = subprocess.Popen([sys.executable, str(HERE / "exposition.py"), str(self.file), str(port_file)])
        deadline = time.monotonic() + 15
        while not port_file.exists() or not port_file.read_text():
            assert self.proc.poll() is None and time.monotonic() < deadline, "exposition.py did not start"
            time.sleep(0.05)
        self.target = Path(SERVICES["MLOPS_TEST_PROMETHEUS_TARGETS"]) / f"executor-{os.getpid()}.json"
        tmp_target = self.target.with_suffix(".tmp")
        tmp_target.write_text(json.dumps([{"targets": [f"127.0.0.1:{port_file.read_text()}"],
                                           "labels": {"namespace": NAMESPACE, "pod": "executor"}}]))
        tmp_target.rename(self.target)

    def write(self, text: str) -> None:
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.rename(self.file)

    def stop(self) -> None:
        self.target.unlink(missing_ok=True)
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def traffic(tmp_path_factory):
    """Warm-up (so every counter exists before the window), then the known traffic; returns
    the time the window starts."""
    tmp = tmp_path_factory.mktemp("feedback")
    a, b = SERVICES["MLOPS_TEST_SELDON_A"], SERVICES["MLOPS_TEST_SELDON_B"]
    urls = {"a": a, "b": b}
    base_reward = prom_value(f'sum by (predictor_name) (seldon_api_model_feedback_reward_total{{deployment_name="{DEPLOYMENT}"}})')
    base_calls = prom_value(f'sum by (predictor_name) (mlops_test_calls_total{{deployment_name="{DEPLOYMENT}",method="feedback"}})')
    for p, url in urls.items():
        for _ in range(WARMUP):
            assert "data" in predict(url, 1)
            assert "data" in feedback(url, 1)
    executor = Executor(tmp)
    zero = {"a": 0, "b": 0}
    executor.write(exposition(zero, zero, zero, {"a": [0] * 5, "b": [0] * 5}))
    reward_q = f'sum by (predictor_name) (seldon_api_model_feedback_reward_total{{deployment_name="{DEPLOYMENT}"}})'
    calls_q = f'sum by (predictor_name) (mlops_test_calls_total{{deployment_name="{DEPLOYMENT}",method="feedback"}})'
    exec_q = f'sum by (predictor_name) (seldon_api_executor_server_requests_seconds_count{{deployment_name="{DEPLOYMENT}"}})'
    warm_reward = {p: base_reward.get(p, 0) + WARMUP for p in urls}
    warm_calls = {p: base_calls.get(p, 0) + WARMUP for p in urls}
    wait_for(reward_q, warm_reward)
    wait_for(calls_q, warm_calls)
    wait_for(exec_q, zero)
    time.sleep(3)  # a few more scrapes of the warm state: the window's start samples
    t0 = time.time()
    for p, url in urls.items():
        for _ in range(PREDICT_OK[p]):
            assert "data" in predict(url, 1)
        for _ in range(PREDICT_FAIL[p]):
            assert "data" not in predict(url, -1)
        for r in REWARDS[p]:
            assert "data" in feedback(url, r)
    fb = {p: len(REWARDS[p]) for p in urls}
    executor.write(exposition(PREDICT_OK, PREDICT_FAIL, fb, BUCKETS))
    wait_for(reward_q, {p: warm_reward[p] + sum(r or 0 for r in REWARDS[p]) for p in urls})
    wait_for(calls_q, {p: warm_calls[p] + fb[p] for p in urls})
    wait_for(exec_q, {p: PREDICT_OK[p] + PREDICT_FAIL[p] + fb[p] for p in urls})
    time.sleep(1.5)
    yield t0
    executor.stop()


def window(t0: float) -> str:
    """A window reaching back to just before the traffic started (and after the warm-up)."""
    return f"{math.ceil(time.time() - t0 + 1)}s"


@pytest.fixture
def project(mlops_bin, tmp_path):
    """The mlops binary in a project deploying the A/B pair (no MLflow needed)."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "mlops.yaml").write_text(PROJECT)
    return Mlops(mlops_bin, work, None)


def quantile(q: float, buckets: list[int]) -> float:
    """histogram_quantile's linear interpolation within the bucket holding rank q * count."""
    total = buckets[-1]
    rank = q * total
    lower, below = 0.0, 0
    for le, n in zip(LE[:-1], buckets[:-1]):
        if n >= rank:
            return lower + (float(le) - lower) * (rank - below) / (n - below)
        lower, below = float(le), n
    return lower


def status_json(project, t0, *extra):
    w = window(t0)
    r = project.run("feedback", "status", DEPLOYMENT, "--env", "prod", "--window", w, "--json", *extra)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout), float(w[:-1]), r.stderr


def test_status_numbers_match_the_truth(project, traffic):
    doc, w, stderr = status_json(project, traffic)
    assert doc["target"] == "seldon-v1" and doc["mean_only"] is False
    rows = {v["variant"]: v for v in doc["variants"]}
    assert sorted(rows) == ["a", "b"]
    for p, v in rows.items():
        total = PREDICT_OK[p] + PREDICT_FAIL[p]
        assert v["requests"] == total
        assert v["errors"] == PREDICT_FAIL[p]
        assert v["error_rate"] == pytest.approx(PREDICT_FAIL[p] / total)
        assert v["rate_per_s"] == pytest.approx(total / w)
        for q, key in ((0.5, "p50"), (0.95, "p95"), (0.99, "p99")):
            assert v["latency_s"][key] == pytest.approx(quantile(q, BUCKETS[p])), (p, key)
        assert v["feedback"] == len(REWARDS[p])
        # The wrapper skipped reward 0 and no reward: its own count is the biased one.
        assert v["rewarded"] == sum(1 for r in REWARDS[p] if r)
        assert v["reward_sum"] == sum(r or 0 for r in REWARDS[p])
        assert v["mean_reward"] == pytest.approx(sum(r or 0 for r in REWARDS[p]) / len(REWARDS[p]))
        assert v["mean_reward_biased"] is False
    assert "biased" not in stderr


def test_status_table(project, traffic):
    r = project.run("feedback", "status", DEPLOYMENT, "--env", "prod", "--window", window(traffic))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"feedback of '{DEPLOYMENT}' in env 'prod' (seldon-v1) over ")
    assert lines[1].split() == ["VARIANT", "REQUESTS", "RATE/S", "ERRORS", "ERROR_RATE", "P50", "P95", "P99",
                                "FEEDBACK", "MEAN_REWARD"]
    a = lines[2].split()
    assert a[0] == "a" and a[1] == "33" and a[3] == "3" and a[4] == "0.0909" and a[8] == "10" and a[9] == "0.6000"
    b = lines[3].split()
    assert b[0] == "b" and b[1] == "10" and b[3] == "0" and b[8] == "8" and b[9] == "0.2500"


def test_model_feedback_counter_is_a_true_denominator(project, traffic):
    """The model's own counter of every feedback (from the real wrapper) gives the same mean."""
    doc, _, _ = status_json(project, traffic, "--feedback-counter", 'mlops_test_calls_total{method="feedback"}')
    rows = {v["variant"]: v for v in doc["variants"]}
    assert rows["a"]["feedback"] == 10 and rows["a"]["mean_reward"] == pytest.approx(0.6)
    assert rows["b"]["feedback"] == 8 and rows["b"]["mean_reward"] == pytest.approx(0.25)


def test_without_a_count_of_every_feedback_the_mean_is_marked_biased(project, traffic):
    doc, _, stderr = status_json(project, traffic, "--feedback-counter", "mlops_test_no_such_counter_total")
    rows = {v["variant"]: v for v in doc["variants"]}
    # reward_total / feedback_total of the wrapper: 6/6 and 2/2, where the truth is 0.6 and 0.25.
    assert rows["a"]["mean_reward"] == 1.0 and rows["a"]["mean_reward_biased"] is True
    assert rows["b"]["mean_reward"] == 1.0 and rows["b"]["mean_reward_biased"] is True
    assert "mlops: warning: the mean reward is biased upward" in stderr


def check(project, t0, *args):
    return project.run("feedback", "check", DEPLOYMENT, "--env", "prod", "--window", window(t0), *args)


def test_check_exit_codes(project, traffic):
    r = check(project, traffic, "--fail-if", "reward < 0.1", "--fail-if", "error_rate > 50%")
    assert r.returncode == 0, r.stderr
    r = check(project, traffic, "--fail-if", "reward < 0.5", "--fail-if", "error_rate > 5%")
    assert r.returncode == 3, r.stderr
    assert "b: reward < 0.5 (reward 0.2500)" in r.stderr and "a: error_rate > 5% (error_rate 0.0909)" in r.stderr
    assert "a: reward < 0.5" not in r.stderr
    r = check(project, traffic, "--variant", "a", "--fail-if", "reward < 0.5", "--fail-if", "p95 > 250ms")
    assert r.returncode == 3 and "a: p95 > 250ms" in r.stderr and "b:" not in r.stderr


def test_check_malformed_condition_names_the_column(project, traffic):
    r = check(project, traffic, "--fail-if", "reward <> 0.8")
    assert r.returncode == 2
    assert r.stderr.startswith("mlops: error: invalid --fail-if 'reward <> 0.8': column 9: expected a number")
    r = check(project, traffic, "--fail-if", "rewards < 0.8")
    assert r.returncode == 2 and "column 1: unknown metric 'rewards'" in r.stderr


def test_no_data_is_exit_4_never_3(project, traffic):
    (project.cwd / "mlops.yaml").write_text(PROJECT.replace(f"name: {DEPLOYMENT}", "name: idle-model"))
    r = project.run("feedback", "status", "idle-model", "--env", "prod", "--window", "1h")
    assert r.returncode == 4
    assert r.stderr.startswith("mlops: error: no data for 'idle-model' in env 'prod' over 3600s")
    r = project.run("feedback", "check", "idle-model", "--env", "prod", "--fail-if", "reward < 0.8")
    assert r.returncode == 4


def test_prometheus_down_is_exit_6(project, traffic):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    r = project.run("feedback", "check", DEPLOYMENT, "--env", "prod", "--prometheus", f"http://127.0.0.1:{port}",
                    "--fail-if", "reward < 0.8")
    assert r.returncode == 6, r.stderr
    assert f"cannot reach 'http://127.0.0.1:{port}" in r.stderr


def test_no_prometheus_configured_is_usage(project):
    (project.cwd / "mlops.yaml").write_text(PROJECT.split("environments:")[0])
    r = project.run("feedback", "status", DEPLOYMENT)
    assert r.returncode == 2 and "no Prometheus URL" in r.stderr
