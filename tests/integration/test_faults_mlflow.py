"""Fault matrix for MLflow: `mlops pull` against the real MLflow server with faults injected.

Every fault but the first and the last is played by faultproxy.py in front of the real server
(a fault injector, not a stand-in: it forwards everything else unchanged). The last one kills
and restarts a real, private MLflow server. Each case checks the same invariants: the
documented exit code, bounded time, no partial output in the destination, and a rerun against
the healthy server that completes (resuming what was verified) and verifies.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import clean_env, error_line, free_port, tree

MODEL = "models:/files/1"  # nested folders, an empty file and a big one


def rerun_resumes(mlops, dest: str = "m") -> re.Match:
    """The same pull against the healthy server completes and verifies."""
    r = mlops.run("pull", MODEL, "-o", dest)
    assert r.returncode == 0, r.stderr
    m = re.search(r"\((\d+) downloaded, (\d+) reused\)", r.stdout)
    assert m, r.stdout
    assert mlops.run("pull", "--verify", dest).returncode == 0
    assert not list(mlops.cwd.glob(".*mlops-partial"))
    return m


def check(mlops, r, code: int, elapsed: float, bound: float, dest: str = "m") -> None:
    assert r.returncode == code, r.stderr
    assert elapsed < bound, elapsed
    if code != 0:
        assert not (mlops.cwd / dest).exists(), "a failed pull must leave no output"
        assert r.stderr.count("mlops: error:") == 1, r.stderr
    else:
        assert mlops.run("pull", "--verify", dest).returncode == 0
    assert not [p for p in mlops.cwd.iterdir() if p.name not in (dest, f".{dest}.mlops-partial")]


def timed(mlops, *args, **kw):
    start = time.monotonic()
    r = mlops.run(*args, **kw)
    return r, time.monotonic() - start


def test_connection_refused(mlops):
    port = free_port()
    r, elapsed = timed(mlops, "pull", MODEL, "-o", "m", uri=f"http://127.0.0.1:{port}",
                       env={"MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0.5"})
    check(mlops, r, 6, elapsed, 6)
    assert "connection refused" in error_line(r.stderr)
    rerun_resumes(mlops)


@pytest.mark.parametrize("mode,counter,injected", [
    ("reset:2", "reset", 2),             # half a body, then a TCP reset
    ("429:3:1", "injected_429", 3),      # rate limited, Retry-After: 1
    ("truncate:3", "truncated", 3),      # Content-Length promised, connection closed at half
])
def test_transient_fault_is_retried_to_success(mlops, fault_proxy, mode, counter, injected):
    proxy = fault_proxy(mode)
    r, elapsed = timed(mlops, "pull", MODEL, "-o", "m", uri=proxy.url)
    check(mlops, r, 0, elapsed, 120)
    assert proxy.stats()[counter] == injected


def test_stall(mlops, fault_proxy):
    proxy = fault_proxy("trickle:4")
    r, elapsed = timed(mlops, "pull", MODEL, "-o", "m", "-j", "2", uri=proxy.url, timeout=120,
                       env={"MLFLOW_HTTP_REQUEST_TIMEOUT": "3", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1"})
    check(mlops, r, 6, elapsed, 40)
    assert "timed out" in error_line(r.stderr)
    rerun_resumes(mlops)


def test_5xx_storm(mlops, fault_proxy):
    proxy = fault_proxy("5xx:100000")
    r, elapsed = timed(mlops, "pull", MODEL, "-o", "m", uri=proxy.url)
    check(mlops, r, 6, elapsed, 60)
    assert re.search(r"HTTP 50[0234]", error_line(r.stderr)), r.stderr
    rerun_resumes(mlops)


def test_5xx_storm_during_downloads_then_rerun_resumes(mlops, fault_proxy):
    """Every other file is verified, then the last one only ever gets 503: the rerun
    downloads that one alone (-j 1 downloads largest first, so the empty file comes last)."""
    proxy = fault_proxy("fail:/empty.txt")
    r, elapsed = timed(mlops, "pull", MODEL, "-o", "m", "-j", "1", uri=proxy.url,
                       env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2"})
    check(mlops, r, 6, elapsed, 60)
    assert re.search(r"cannot download '[^']*data/empty.txt': server unavailable \(HTTP 503\)", error_line(r.stderr))
    m = rerun_resumes(mlops)
    assert (int(m.group(1)), int(m.group(2)) > 1) == (1, True), m.group(0)


def test_oversized_body(mlops, fault_proxy):
    proxy = fault_proxy("endless")
    r, elapsed = timed(mlops, "pull", MODEL, "-o", "m", uri=proxy.url, timeout=120)
    check(mlops, r, 1, elapsed, 60)
    assert "bytes expected" in error_line(r.stderr)
    assert "retrying" not in r.stderr
    rerun_resumes(mlops)


# ---------------------------------------------------------------------------------------------
# The real MLflow server killed and restarted in the middle of a pull.

class PrivateMlflow:
    """A real MLflow server of our own (own port, store and artifact dir), stopped by its PID."""

    def __init__(self, services: dict, state: Path):
        self.services, self.state = services, state
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        (state / "artifacts").mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        mlflow = str(Path(self.services["MLOPS_TEST_PYTHON"]).parent / "mlflow")
        env = clean_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
        log = open(self.state / "server.log", "ab")
        self.proc = subprocess.Popen(
            [mlflow, "server", "--backend-store-uri", f"sqlite:///{self.state}/mlflow.db",
             "--artifacts-destination", str(self.state / "artifacts"), "--serve-artifacts",
             "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"],
            env=env, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.state / "server.log").read_text()[-3000:]
            r = subprocess.run(["curl", "-sf", "--max-time", "2", f"{self.url}/health"], capture_output=True)
            if r.returncode == 0:
                return
            time.sleep(0.3)
        raise AssertionError("private MLflow server did not start")

    def kill(self) -> None:
        """SIGKILL to the server's process group (it was started in its own session)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def private_mlflow(services, tmp_path):
    server = PrivateMlflow(services, tmp_path / "private-mlflow")
    yield server
    server.kill()


def register(services, uri: str, name: str, files: dict[str, bytes], tmp: Path) -> str:
    from test_pull import make_model
    return make_model({**services, "MLOPS_TEST_MLFLOW_URI": uri}, name, files, tmp)


def test_server_killed_and_restarted_mid_pull(mlops, fault_proxy, services, private_mlflow, tmp_path):
    private_mlflow.start()
    files = {f"small/{i}.txt": f"file {i}\n".encode() for i in range(6)}
    files["big.bin"] = os.urandom(24 * 1024 * 1024)
    version = register(services, private_mlflow.url, "restarted", files, tmp_path)
    uri = f"models:/restarted/{version}"
    # 2 MB/s through the proxy: the big file takes ~12 s, the small ones are done at once.
    proxy = fault_proxy("slow:2000000", upstream=private_mlflow.url)
    start = time.monotonic()
    p = mlops.popen("pull", uri, "-o", "m", "-j", "3", uri=proxy.url, env={"MLFLOW_HTTP_REQUEST_TIMEOUT": "10"})
    journal = mlops.cwd / ".m.mlops-partial" / ".mlops\\journal"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (journal.exists() and len(journal.read_text().splitlines()) >= 4):
        assert p.poll() is None, p.communicate()
        time.sleep(0.1)
    private_mlflow.kill()
    out, err = p.communicate(timeout=120)
    elapsed = time.monotonic() - start
    assert p.returncode == 6, err
    assert elapsed < 90, elapsed
    assert not (mlops.cwd / "m").exists()
    assert err.count("mlops: error:") == 1, err
    private_mlflow.start()
    r = mlops.run("pull", uri, "-o", "m", uri=private_mlflow.url)
    assert r.returncode == 0, r.stderr
    m = re.search(r"\((\d+) downloaded, (\d+) reused\)", r.stdout)
    assert m and int(m.group(2)) >= 3, r.stdout
    assert tree(mlops.cwd / "m") == files
    assert mlops.run("pull", "--verify", "m").returncode == 0
