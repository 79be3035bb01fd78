"""`mlops pull` against the real MLflow tracking server (scripts/services.sh)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import jsonschema
import pytest

from conftest import REPO, clean_env, error_line, free_port, lock_of, tree

LOCK_SCHEMA = json.loads((REPO / "schemas" / "mlops.lock.schema.json").read_text())


def python_client_download(services, uri: str, dest: Path, env: dict | None = None) -> None:
    """Downloads with the MLflow Python client, the reference we must match byte for byte."""
    e = clean_env(MLFLOW_TRACKING_URI=services["MLOPS_TEST_MLFLOW_URI"])
    # The Python client reads these as integers; ours accept fractions.
    e.pop("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", None)
    e.pop("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", None)
    if env:
        e.update(env)
    code = "import mlflow, sys; mlflow.artifacts.download_artifacts(artifact_uri=sys.argv[1], dst_path=sys.argv[2])"
    r = subprocess.run([services["MLOPS_TEST_PYTHON"], "-c", code, uri, str(dest)], env=e,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("uri,version,alias,stage", [
    ("models:/iris/1", "1", None, None),
    ("models:/iris@champion", "2", "champion", None),
    ("models:/iris@challenger", "3", "challenger", None),
    ("models:/iris/Production", "1", None, "Production"),
    ("models:/iris/production", "1", None, "Production"),
    ("models:/iris/latest", "3", None, None),
])
def test_every_uri_form_resolves_and_records_provenance(mlops, mlflow_uri, uri, version, alias, stage):
    r = mlops.run("pull", uri)
    assert r.returncode == 0, r.stderr
    d = mlops.cwd / f"iris-v{version}"
    assert f"pulled iris version {version} into 'iris-v{version}'" in r.stdout
    lock = lock_of(d)
    jsonschema.validate(lock, LOCK_SCHEMA)
    assert lock["tracking_uri"] == mlflow_uri
    assert lock["model"]["name"] == "iris"
    assert lock["model"]["version"] == version
    assert lock["model"]["requested_uri"] == uri
    assert lock["model"]["alias"] == alias
    assert lock["model"]["stage"] == stage
    assert lock["model"]["run_id"]
    assert lock["model"]["download_uri"].startswith("mlflow-artifacts:/")
    assert lock["model"]["creation_timestamp"] > 1_600_000_000_000
    paths = [f["path"] for f in lock["files"]]
    assert "MLmodel" in paths and paths == sorted(paths)
    for f in lock["files"]:
        data = (d / f["path"]).read_bytes()
        assert len(data) == f["size"]
        assert hashlib.sha256(data).hexdigest() == f["sha256"]
    # No partial directory is left behind.
    assert not list(mlops.cwd.glob(".*mlops-partial"))


def test_files_identical_to_python_client(mlops, services, tmp_path):
    """Nested folders, spaces, non-ASCII names, an empty file and a 50 MB file."""
    r = mlops.run("pull", "models:/files/1", "-o", "mine", "-j", "4")
    assert r.returncode == 0, r.stderr
    ref = tmp_path / "reference"
    ref.mkdir()
    python_client_download(services, "models:/files/1", ref)
    mine = tree(mlops.cwd / "mine")
    # The Python client writes registered_model_meta itself; it is not an artifact.
    theirs = tree(ref, exclude=("registered_model_meta",))
    assert sorted(mine) == sorted(theirs)
    assert mine == theirs
    names = set(mine)
    assert any("ünïcødé" in n and " " in n for n in names), names
    assert any(len(mine[n]) == 0 for n in names), "fixture should have an empty file"
    assert max(len(b) for b in mine.values()) >= 50 * 1024 * 1024
    assert any(n.count("/") >= 4 for n in names), "fixture should have nested folders"
    lock = lock_of(mlops.cwd / "mine")
    assert lock["file_count"] == len(mine)
    assert lock["total_size"] == sum(len(b) for b in mine.values())


def test_legacy_runs_source_version(mlops, services, tmp_path):
    """A version registered from runs:/RUN/model (MLflow 2.x style) is pulled through the run."""
    r = mlops.run("pull", "models:/legacy/1", "--json")
    assert r.returncode == 0, r.stderr
    lock = json.loads(r.stdout)
    assert lock["model"]["source"].startswith("runs:/") or "artifacts" in lock["model"]["source"]
    ref = tmp_path / "ref"
    ref.mkdir()
    python_client_download(services, "models:/legacy/1", ref)
    assert tree(mlops.cwd / "legacy-v1") == tree(ref, exclude=("registered_model_meta",))


def test_json_output_is_the_lock_file(mlops):
    r = mlops.run("pull", "models:/iris/2", "--json", "-o", "m")
    assert r.returncode == 0, r.stderr
    printed = json.loads(r.stdout)
    assert printed == lock_of(mlops.cwd / "m")
    jsonschema.validate(printed, LOCK_SCHEMA)


def test_second_pull_is_a_verified_no_op_and_a_new_version_replaces(mlops):
    assert mlops.run("pull", "models:/iris/1", "-o", "m").returncode == 0
    before = lock_of(mlops.cwd / "m")
    r = mlops.run("pull", "models:/iris/1", "-o", "m")
    assert r.returncode == 0, r.stderr
    assert "is up to date" in r.stdout
    assert lock_of(mlops.cwd / "m")["files"] == before["files"]
    # Another version of the same model replaces the directory, with its own bytes:
    # same path and size in version 1 is not the same file in version 3.
    r = mlops.run("pull", "models:/iris/3", "-o", "m")
    assert r.returncode == 0, r.stderr
    assert "0 reused" in r.stdout, r.stdout
    assert lock_of(mlops.cwd / "m")["model"]["version"] == "3"
    assert mlops.run("pull", "models:/iris/3", "-o", "fresh").returncode == 0
    assert tree(mlops.cwd / "m") == tree(mlops.cwd / "fresh")
    assert [f["sha256"] for f in lock_of(mlops.cwd / "m")["files"]] == [f["sha256"] for f in lock_of(mlops.cwd / "fresh")["files"]]
    assert not list(mlops.cwd.glob(".*mlops-partial"))


def test_verify_catches_modified_missing_and_extra_files(mlops):
    assert mlops.run("pull", "models:/iris/2", "-o", "m").returncode == 0
    ok = mlops.run("pull", "--verify", "m")
    assert ok.returncode == 0, ok.stderr
    assert "matches its lock file" in ok.stdout
    d = mlops.cwd / "m"
    (d / "MLmodel").write_text((d / "MLmodel").read_text() + "\n# changed\n")
    (d / "conda.yaml").unlink()
    (d / "stray.txt").write_text("x")
    r = mlops.run("pull", "--verify", "m")
    assert r.returncode == 3
    assert "modified:   MLmodel" in r.stdout
    assert "missing:    conda.yaml" in r.stdout
    assert "unexpected: stray.txt" in r.stdout
    assert "differs from its lock file: 1 modified, 1 missing, 1 unexpected" in error_line(r.stderr)
    j = mlops.run("pull", "--verify", "-o", "m", "--json")
    assert j.returncode == 3
    report = json.loads(j.stdout)
    assert report["ok"] is False and report["modified"] == ["MLmodel"]
    jsonschema.validate(report, json.loads((REPO / "schemas" / "output.verify.schema.json").read_text()))
    # A re-pull restores the recorded bytes (and drops the stray file).
    r = mlops.run("pull", "models:/iris/2", "-o", "m")
    assert r.returncode == 0, r.stderr
    assert mlops.run("pull", "--verify", "m").returncode == 0


def test_verify_without_lock_file(mlops):
    (mlops.cwd / "plain").mkdir()
    r = mlops.run("pull", "--verify", "plain")
    assert r.returncode == 4
    assert "no mlops.lock.json" in error_line(r.stderr)


def test_resume_after_killed_pull(mlops, fault_proxy):
    """SIGKILL in the middle of a slow pull, then the same pull reuses verified files."""
    proxy = fault_proxy("slow:2000000")  # 2 MB/s for artifact bodies: the 50 MB file takes ~25 s
    p = mlops.popen("pull", "models:/files/1", "-o", "m", "-j", "2", uri=proxy.url)
    partial = mlops.cwd / ".m.mlops-partial"
    journal = partial / ".mlops\\journal"
    deadline = time.monotonic() + 60
    # Wait until some files are verified and recorded, while the big one is still running.
    while time.monotonic() < deadline:
        if journal.exists() and len(journal.read_text().splitlines()) >= 4:
            break
        assert p.poll() is None, p.communicate()
        time.sleep(0.1)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert not (mlops.cwd / "m").exists(), "an interrupted pull must leave no half model"
    assert partial.is_dir()
    recorded = len(journal.read_text().splitlines()) - 1
    assert recorded >= 3
    r = mlops.run("pull", "models:/files/1", "-o", "m")
    assert r.returncode == 0, r.stderr
    m = re.search(r"\((\d+) downloaded, (\d+) reused\)", r.stdout)
    assert m, r.stdout
    assert int(m.group(2)) >= recorded
    assert mlops.run("pull", "--verify", "m").returncode == 0
    assert not partial.exists()


def test_interrupt_with_ctrl_c_exits_130_and_keeps_partial(mlops, fault_proxy):
    proxy = fault_proxy("slow:2000000")
    p = mlops.popen("pull", "models:/files/1", "-o", "m", uri=proxy.url)
    partial = mlops.cwd / ".m.mlops-partial"
    deadline = time.monotonic() + 60
    while not (partial / ".mlops\\journal").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (partial / ".mlops\\journal").exists(), "the pull never started writing"
    time.sleep(0.5)
    assert p.poll() is None, "the slowed pull finished before it could be interrupted"
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 130, err
    assert "interrupted" in err
    assert not (mlops.cwd / "m").exists()


def test_unknown_model_version_and_alias_are_not_found(mlops):
    cases = [
        ("models:/no-such-model/1", "model 'no-such-model' not found"),
        ("models:/iris/999", "version '999' of model 'iris' not found"),
        ("models:/iris@nope", "alias 'nope' not found for model 'iris'"),
        ("models:/iris/Staging", "no version of model 'iris' is in stage 'Staging'"),
    ]
    for uri, why in cases:
        r = mlops.run("pull", uri)
        assert r.returncode == 4, (uri, r.stderr)
        line = error_line(r.stderr)
        assert line.startswith(f"mlops: error: cannot pull '{uri}': ")
        assert why in line, line
        assert r.stdout == ""
    assert [p.name for p in mlops.cwd.iterdir()] == []


def test_bad_uri_is_a_usage_error(mlops):
    r = mlops.run("pull", "iris/1")
    assert r.returncode == 2
    assert "invalid model URI 'iris/1'" in error_line(r.stderr)


def test_server_not_running_fails_after_bounded_retries(mlops):
    port = free_port()
    start = time.monotonic()
    r = mlops.run("pull", "models:/iris/1", uri=f"http://127.0.0.1:{port}",
                  env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3"})
    elapsed = time.monotonic() - start
    assert r.returncode == 6, r.stderr
    line = error_line(r.stderr)
    assert f"cannot reach 'http://127.0.0.1:{port}'" in line
    assert "connection refused" in line
    assert "(after 4 attempts)" in line
    assert elapsed < 60
    assert list(mlops.cwd.iterdir()) == []


def test_no_tracking_server_configured(mlops):
    r = mlops.run("pull", "models:/iris/1", uri=None)
    assert r.returncode == 2
    assert "no MLflow tracking server configured" in error_line(r.stderr)
    assert "MLFLOW_TRACKING_URI" in r.stderr


def test_503_then_success(mlops, fault_proxy):
    proxy = fault_proxy("503:3")
    r = mlops.run("pull", "models:/iris/1", "-v", uri=proxy.url)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("HTTP 503, retrying") == 3
    assert proxy.stats()["injected_503"] == 3


def test_503_forever_is_unavailable(mlops, fault_proxy):
    proxy = fault_proxy("503:1000")
    r = mlops.run("pull", "models:/iris/1", uri=proxy.url, env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2"})
    assert r.returncode == 6, r.stderr
    assert "HTTP 503" in error_line(r.stderr)
    assert proxy.stats()["injected_503"] == 3


def test_truncated_body_is_detected_and_retried(mlops, fault_proxy):
    proxy = fault_proxy("truncate:2")
    r = mlops.run("pull", "models:/files/1", "-o", "m", "-v", uri=proxy.url)
    assert r.returncode == 0, r.stderr
    assert proxy.stats()["truncated"] == 2
    assert mlops.run("pull", "--verify", "m").returncode == 0
    big = max((mlops.cwd / "m").rglob("*.bin"), key=lambda p: p.stat().st_size)
    assert big.stat().st_size >= 50 * 1024 * 1024


def test_connection_closed_every_time_is_unavailable(mlops, fault_proxy):
    proxy = fault_proxy("close")
    r = mlops.run("pull", "models:/iris/1", uri=proxy.url, env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1"})
    assert r.returncode == 6, r.stderr
    assert "(after 2 attempts)" in error_line(r.stderr)


def test_remote_path_escaping_the_directory_is_refused(mlops, fault_proxy, tmp_path):
    proxy = fault_proxy("evil:../../escaped.txt")
    r = mlops.run("pull", "models:/iris/1", "-o", "m", uri=proxy.url)
    assert r.returncode == 1, r.stderr
    assert "refusing remote path '../../escaped.txt'" in error_line(r.stderr)
    assert not (mlops.cwd / "m").exists()
    assert not list(tmp_path.rglob("escaped.txt"))


def test_non_empty_output_dir_is_refused_and_untouched(mlops):
    d = mlops.cwd / "busy"
    d.mkdir()
    (d / "notes.txt").write_text("keep me")
    r = mlops.run("pull", "models:/iris/1", "-o", "busy")
    assert r.returncode == 1
    assert "is not empty and holds no pull of model 'iris'" in error_line(r.stderr)
    assert "--force" in r.stderr
    assert [p.name for p in d.iterdir()] == ["notes.txt"]
    assert not list(mlops.cwd.glob(".*mlops-partial"))
    # --force replaces it.
    r = mlops.run("pull", "models:/iris/1", "-o", "busy", "--force")
    assert r.returncode == 0, r.stderr
    assert not (d / "notes.txt").exists()
    assert (d / "MLmodel").exists()


def test_output_path_that_is_a_file(mlops):
    (mlops.cwd / "afile").write_text("x")
    r = mlops.run("pull", "models:/iris/1", "-o", "afile")
    assert r.returncode == 1
    assert "exists and is not a directory" in error_line(r.stderr)
    assert (mlops.cwd / "afile").read_text() == "x"


def test_unwritable_output_dir(mlops):
    # Root ignores permission bits, so use a place no one can write: /proc.
    r = mlops.run("pull", "models:/iris/1", "-o", "/proc/mlops-test/model")
    assert r.returncode == 1, r.stderr
    assert "cannot create directory '/proc/mlops-test'" in error_line(r.stderr)
    if os.geteuid() != 0:
        ro = mlops.cwd / "ro"
        ro.mkdir(mode=0o555)
        r = mlops.run("pull", "models:/iris/1", "-o", "ro/model")
        assert r.returncode == 1
        assert "cannot write to directory" in error_line(r.stderr)


def test_two_pulls_into_the_same_directory_conflict(mlops, fault_proxy):
    proxy = fault_proxy("slow:2000000")
    p = mlops.popen("pull", "models:/files/1", "-o", "m", uri=proxy.url)
    journal = mlops.cwd / ".m.mlops-partial" / ".mlops\\journal"
    deadline = time.monotonic() + 30
    while not journal.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert journal.exists(), "the first pull never started writing"
    r = mlops.run("pull", "models:/files/1", "-o", "m")
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert r.returncode == 7, r.stderr
    assert "another mlops pull is writing" in error_line(r.stderr)
