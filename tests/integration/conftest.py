"""Shared fixtures for the integration tests.

They drive the real `mlops` binary (MLOPS_BIN) against the real MLflow servers that
scripts/services.sh started (MLOPS_SERVICES_DIR/services.env). Nothing here imitates
MLflow; faultproxy.py only injects faults in front of the real server.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def _load_services_env() -> dict[str, str]:
    state = os.environ.get("MLOPS_SERVICES_DIR")
    if not state:
        raise RuntimeError("MLOPS_SERVICES_DIR is not set: start the servers with scripts/services.sh start")
    env_file = Path(state) / "services.env"
    values: dict[str, str] = {}
    for line in env_file.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        values[key] = value.strip().strip("'\"")
    return values


SERVICES = _load_services_env()


@pytest.fixture(scope="session")
def services() -> dict[str, str]:
    return SERVICES


@pytest.fixture(scope="session")
def mlops_bin() -> str:
    path = os.environ.get("MLOPS_BIN", str(REPO / "build" / "mlops"))
    assert os.access(path, os.X_OK), f"mlops binary not found at {path}"
    return path


@pytest.fixture(scope="session")
def mlflow_uri(services) -> str:
    return services["MLOPS_TEST_MLFLOW_URI"]


@pytest.fixture(scope="session")
def fixtures_info(services) -> dict:
    return json.loads(Path(services["MLOPS_TEST_FIXTURES_JSON"]).read_text())


def clean_env(**extra: str) -> dict[str, str]:
    """The test process environment without any MLflow or mlops settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLOPS_")) and k != "NO_COLOR"}
    env["HOME"] = os.environ.get("HOME", "/root")
    # Keep retries short so failure paths finish quickly; they stay bounded and real.
    env.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0.05")
    env.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0.05")
    env.update(extra)
    return env


class Mlops:
    """Runs the mlops binary in a working directory with a clean environment."""

    def __init__(self, binary: str, cwd: Path, uri: str | None):
        self.binary = binary
        self.cwd = cwd
        self.uri = uri

    def env(self, env: dict[str, str] | None, uri: str | None) -> dict[str, str]:
        e = clean_env()
        target = self.uri if uri == "default" else uri
        if target:
            e["MLFLOW_TRACKING_URI"] = target
        if env:
            e.update(env)
        e.setdefault("XDG_CONFIG_HOME", str(self.cwd / ".xdg"))
        e.setdefault("XDG_CACHE_HOME", str(self.cwd.parent / "xdg-cache"))  # per test, outside the work dir
        return e

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 300,
            uri: str | None = "default") -> subprocess.CompletedProcess:
        e = self.env(env, uri)
        return subprocess.run([self.binary, *args], cwd=self.cwd, env=e, capture_output=True, text=True,
                              timeout=timeout)

    def popen(self, *args: str, env: dict[str, str] | None = None, uri: str | None = "default") -> subprocess.Popen:
        e = self.env(env, uri)
        return subprocess.Popen([self.binary, *args], cwd=self.cwd, env=e, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)


@pytest.fixture
def mlops(mlops_bin, tmp_path, mlflow_uri) -> Mlops:
    work = tmp_path / "work"
    work.mkdir()
    return Mlops(mlops_bin, work, mlflow_uri)


class FaultProxy:
    """Starts faultproxy.py in front of a real server; stopped by its PID."""

    def __init__(self, upstream: str, mode: str, tmp: Path, tls: tuple[Path, Path] | None = None):
        self.port_file = tmp / f"proxy-{os.getpid()}-{time.monotonic_ns()}.port"
        self.stats_file = self.port_file.with_suffix(".stats")
        cmd = [sys.executable, str(HERE / "faultproxy.py"), "--upstream", upstream, "--port", "0",
               "--port-file", str(self.port_file), "--mode", mode, "--stats-file", str(self.stats_file)]
        if tls:
            cmd += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 15
        while not self.port_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("faultproxy did not start: " + (self.proc.stderr.read() if self.proc.stderr else ""))
            time.sleep(0.05)
        self.port = int(self.port_file.read_text().strip())
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"

    def stats(self) -> dict:
        self.stop()
        return json.loads(self.stats_file.read_text()) if self.stats_file.exists() else {}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def fault_proxy(tmp_path, mlflow_uri):
    proxies: list[FaultProxy] = []

    def start(mode: str, upstream: str | None = None, tls: tuple[Path, Path] | None = None) -> FaultProxy:
        p = FaultProxy(upstream or mlflow_uri, mode, tmp_path, tls)
        proxies.append(p)
        return p

    yield start
    for p in proxies:
        p.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lock_of(directory: Path) -> dict:
    return json.loads((directory / "mlops.lock.json").read_text())


def tree(directory: Path, exclude: tuple[str, ...] = ("mlops.lock.json",)) -> dict[str, bytes]:
    """Every regular file below `directory` by relative path, with its bytes."""
    out = {}
    for p in sorted(directory.rglob("*")):
        if p.is_file():
            rel = p.relative_to(directory).as_posix()
            if rel not in exclude:
                out[rel] = p.read_bytes()
    return out


def error_line(stderr: str) -> str:
    lines = [l for l in stderr.splitlines() if l.startswith("mlops: error: ")]
    assert len(lines) == 1, f"expected one error line, got: {stderr!r}"
    return lines[0]
