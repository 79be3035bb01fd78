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


# ---------------------------------------------------------------------------------------------
# Hostile answers. faultproxy's rewrite mode forwards to the real MLflow server and changes one
# field of its JSON answer: a stand-in for a hostile or broken server (only that field is made up).

def rewrite(fault_proxy, endpoint: str, key: str, value) -> object:
    text = value if isinstance(value, str) and value.startswith("@") else json.dumps(value)
    return fault_proxy(f"rewrite:{endpoint}:{key}={text}")


def assert_said_once(r, *parts: str) -> str:
    """Exit 1, one error line naming every part, no retries."""
    assert r.returncode == 1, r.stderr
    line = error_line(r.stderr)
    for p in parts:
        assert p in line, line
    assert r.stderr.count("mlops: error:") == 1, r.stderr
    assert "retrying" not in r.stderr, r.stderr
    assert "json.exception" not in r.stderr
    return line


@pytest.mark.parametrize("endpoint,uri", [
    ("/model-versions/get", "models:/iris/1"),
    ("/registered-models/alias", "models:/iris@champion"),
])
def test_version_string_from_server_cannot_escape_the_working_directory(mlops, fault_proxy, tmp_path, endpoint, uri):
    proxy = rewrite(fault_proxy, endpoint, "model_version.version", "x/../../../../../outside/PWNED")
    deep = mlops.cwd / "a" / "b" / "c"
    deep.mkdir(parents=True)
    r = subprocess.run([mlops.binary, "pull", uri], cwd=deep, env=mlops.env(None, proxy.url),
                       capture_output=True, text=True, timeout=120)
    line = assert_said_once(r, f"malformed answer from '{proxy.url}", "'model_version.version'",
                            "'x/../../../../../outside/PWNED'", "expected a decimal version number")
    assert not list(tmp_path.rglob("*PWNED*")) and not list(Path("/").glob("outside")), line
    assert list(deep.iterdir()) == []


@pytest.mark.parametrize("key,value,expected", [
    ("model_version.version", "2", "'model_version.version' is '2', expected '1'"),
    ("model_version.name", "evil", "'model_version.name' is 'evil', expected 'iris'"),
])
def test_answer_for_another_version_or_model_is_refused(mlops, fault_proxy, key, value, expected):
    proxy = rewrite(fault_proxy, "/model-versions/get", key, value)
    r = mlops.run("pull", "models:/iris/1", uri=proxy.url)
    assert_said_once(r, f"malformed answer from '{proxy.url}'", expected)
    assert list(mlops.cwd.iterdir()) == []


@pytest.mark.parametrize("value,why", [
    (-5, "'files[0].file_size' is -5, expected 0 to"),
    ("12abc", "'files[0].file_size' is '12abc', expected an integer"),
    (1e300, "'files[0].file_size' is a fraction, expected an integer"),
    (18446744073709551611, "'files[0].file_size' is out of range"),
])
def test_bad_listed_size_is_a_protocol_error_said_once(mlops, fault_proxy, value, why):
    proxy = rewrite(fault_proxy, "/mlflow-artifacts/artifacts", "files.0.file_size", value)
    r = mlops.run("pull", "models:/iris/1", "-o", "m", uri=proxy.url)
    assert_said_once(r, "malformed answer from", "/api/2.0/mlflow-artifacts/artifacts'", why)
    assert not (mlops.cwd / "m").exists()


def test_files_that_is_not_a_list_is_a_protocol_error(mlops, fault_proxy):
    proxy = rewrite(fault_proxy, "/mlflow-artifacts/artifacts", "files", {"MLmodel": {"file_size": 10}})
    r = mlops.run("pull", "models:/iris/1", "-o", "m", uri=proxy.url)
    assert_said_once(r, "'files' is an object, expected an array")


@pytest.mark.parametrize("endpoint,key", [
    ("/model-versions/get", "model_version.description"),
    ("/mlflow-artifacts/artifacts", "files+"),
])
def test_json_nested_100k_deep_is_refused_not_a_crash(mlops, fault_proxy, tmp_path, endpoint, key):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    proxy = rewrite(fault_proxy, endpoint, key, f"@{deep}")
    r = mlops.run("pull", "models:/iris/1", "-o", "m", uri=proxy.url)
    assert_said_once(r, "is nested deeper than 256 levels")


def test_status_message_escape_sequences_are_not_printed(mlops, fault_proxy, tmp_path):
    evil = "\x1b]0;pwned\x07\x1b[31mred\x9b2J\r\nmlops: error: fake"
    doc = tmp_path / "v.json"
    doc.write_text(json.dumps({"name": "iris", "version": "1", "status": "FAILED_REGISTRATION",
                               "status_message": evil}))
    proxy = rewrite(fault_proxy, "/model-versions/get", "model_version", f"@{doc}")
    r = mlops.run("pull", "models:/iris/1", uri=proxy.url)
    assert r.returncode == 1, r.stderr
    assert "\x1b" not in r.stderr and "\x07" not in r.stderr and "\x9b" not in r.stderr and "\r" not in r.stderr
    line = error_line(r.stderr)
    assert "is FAILED_REGISTRATION: \\x1b]0;pwned\\x07\\x1b[31mred\\u009b2J\\x0d\\x0amlops: error: fake" in line, line


def test_listing_that_always_goes_deeper_stops_at_the_depth_limit(mlops, fault_proxy):
    proxy = rewrite(fault_proxy, "/mlflow-artifacts/artifacts", "files+", {"path": "d", "is_dir": True})
    start = time.monotonic()
    r = mlops.run("pull", "models:/iris/1", "-o", "m", uri=proxy.url, timeout=120)
    assert_said_once(r, "is nested deeper than 64 directories", f"'{proxy.url}'")
    assert time.monotonic() - start < 60
    assert not (mlops.cwd / "m").exists()


def test_listing_with_too_many_entries_is_refused(mlops, fault_proxy, tmp_path):
    many = tmp_path / "many.json"
    many.write_text(json.dumps([{"path": f"f{i}", "is_dir": False, "file_size": 1} for i in range(100_001)]))
    proxy = rewrite(fault_proxy, "/mlflow-artifacts/artifacts", "files", f"@{many}")
    r = mlops.run("pull", "models:/iris/1", "-o", "m", uri=proxy.url, timeout=120)
    assert_said_once(r, "has more than 100000 entries")


def test_body_longer_than_listed_is_aborted_at_once(mlops, fault_proxy):
    """The server streams zeros after the real bytes: stopped at the listed size, not retried."""
    proxy = fault_proxy("endless")
    start = time.monotonic()
    r = mlops.run("pull", "models:/iris/1", "-o", "m", "-j", "1", uri=proxy.url, timeout=120)
    assert_said_once(r, "is larger than the", "bytes expected")
    assert time.monotonic() - start < 30
    assert not (mlops.cwd / "m").exists()
    partial = mlops.cwd / ".m.mlops-partial"
    assert sum(p.stat().st_size for p in partial.rglob("*") if p.is_file()) < 10 * 1024 * 1024
    assert proxy.stats()["endless"] == 1


def test_trickling_body_times_out(mlops, fault_proxy):
    """4 bytes/s is a stall with MLFLOW_HTTP_REQUEST_TIMEOUT=3 (it used to run forever)."""
    proxy = fault_proxy("trickle:4")
    start = time.monotonic()
    r = mlops.run("pull", "models:/iris/1", "-o", "m", uri=proxy.url, timeout=90,
                  env={"MLFLOW_HTTP_REQUEST_TIMEOUT": "3", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1"})
    elapsed = time.monotonic() - start
    assert r.returncode == 6, r.stderr
    assert "timed out" in error_line(r.stderr)
    assert elapsed < 30, elapsed
    assert not (mlops.cwd / "m").exists()


def test_huge_retry_after_is_capped_and_said(mlops, fault_proxy):
    proxy = fault_proxy("429:1:100000")
    start = time.monotonic()
    r = mlops.run("pull", "models:/iris/1", "-o", "m", uri=proxy.url, timeout=120)
    elapsed = time.monotonic() - start
    assert r.returncode == 0, r.stderr
    assert "warning: waiting 30 s before retrying" in r.stderr and "capped at 30 s" in r.stderr, r.stderr
    assert elapsed < 50, elapsed


def test_refused_connection_fails_within_seconds(mlops):
    port = free_port()
    start = time.monotonic()
    # The default backoff (0.5 s doubling, 5 retries) took 17 s here.
    r = mlops.run("pull", "models:/iris/1", uri=f"http://127.0.0.1:{port}",
                  env={"MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0.5", "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5"})
    elapsed = time.monotonic() - start
    assert r.returncode == 6, r.stderr
    assert "connection refused" in error_line(r.stderr)
    assert "MLFLOW_TRACKING_URI" in r.stderr
    assert elapsed < 5, elapsed


def make_model(services, name: str, files: dict[str, bytes], tmp: Path) -> str:
    """Registers a real version of `name` in the real MLflow server whose artifacts are `files`."""
    src = tmp / f"src-{name}"
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    code = r"""
import sys
import mlflow
from mlflow import MlflowClient
name, src = sys.argv[1], sys.argv[2]
mlflow.set_experiment("mlops-hostile")
with mlflow.start_run() as run:
    mlflow.log_artifacts(src, "m")
    source = run.info.artifact_uri + "/m"
c = MlflowClient()
try:
    c.create_registered_model(name)
except Exception:
    pass
print(c.create_model_version(name, source, run_id=run.info.run_id).version)
"""
    env = clean_env(MLFLOW_TRACKING_URI=services["MLOPS_TEST_MLFLOW_URI"])
    env.pop("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", None)  # the Python client wants integers
    env.pop("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", None)
    r = subprocess.run([services["MLOPS_TEST_PYTHON"], "-c", code, name, str(src)],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().splitlines()[-1]


def test_listed_file_named_like_a_temporary_file_is_kept(mlops, services, tmp_path):
    """A listing with both 'w' and 'w.mlops-part' (and '.mlops-journal') lost a file, exit 0."""
    name = f"collide-{os.getpid()}-{time.monotonic_ns()}"
    files = {"MLmodel": b"flavors: {}\n", "w": b"first\n", "w.mlops-part": b"second file\n",
             ".mlops-journal": b"not our journal\n"}
    version = make_model(services, name, files, tmp_path)
    r = mlops.run("pull", f"models:/{name}/{version}", "-o", "m")
    assert r.returncode == 0, r.stderr
    assert tree(mlops.cwd / "m") == files
    assert mlops.run("pull", "--verify", "m").returncode == 0


# --------------------------------------------------------------------------- parallel ranges

RANGED_MB = int(os.environ.get("MLOPS_RANGED_MB", "256"))


@pytest.fixture(scope="session")
def ranged_model(services) -> dict:
    """A model with one file of MLOPS_RANGED_MB (default 256) MiB, registered for these tests
    only (tests/fixtures/make_big_model.py; reused while the server runs)."""
    out = Path(services["MLOPS_SERVICES_DIR"]) / f"fixtures-ranged-{RANGED_MB}.json"
    if not out.exists():
        env = clean_env()
        env.pop("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR")  # the Python client reads integers
        env.pop("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER")
        r = subprocess.run([services["MLOPS_TEST_PYTHON"], str(REPO / "tests" / "fixtures" / "make_big_model.py"),
                            "--tracking-uri", services["MLOPS_TEST_MLFLOW_URI"], "--name", f"ranged-{RANGED_MB}",
                            "--mb", str(RANGED_MB), "--out-json", str(out)],
                           env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
    return json.loads(out.read_text())


def pull_ranged(mlops, url: str, info: dict) -> subprocess.CompletedProcess:
    return mlops.run("pull", f"models:/{info['name']}/{info['version']}", "-o", "m", "-v", uri=url)


def check_ranged_file(mlops, info: dict) -> None:
    f = mlops.cwd / "m" / info["path"]
    assert f.stat().st_size == info["size"]
    h = hashlib.sha256()
    with f.open("rb") as fh:
        for piece in iter(lambda: fh.read(1 << 20), b""):
            h.update(piece)
    assert h.hexdigest() == info["sha256"]
    locked = {e["path"]: e for e in lock_of(mlops.cwd / "m")["files"]}
    assert locked[info["path"]]["sha256"] == info["sha256"]


def test_big_file_is_pulled_as_parallel_ranges_and_verified(mlops, fault_proxy, ranged_model):
    """The proxy only counts: every request reaches the real server, which answers Range with 206."""
    p = fault_proxy("passthrough")
    r = pull_ranged(mlops, p.url, ranged_model)
    assert r.returncode == 0, r.stderr
    check_ranged_file(mlops, ranged_model)
    stats = p.stats()
    ranges = -(-ranged_model["size"] // (32 << 20))
    assert stats["range_requests"] == ranges, stats
    assert stats["partial_206"] == ranges, stats
    assert f"{ranges} ranges of 32.0 MiB, 4 at a time" in r.stderr


def test_server_ignoring_range_is_read_in_one_stream(mlops, fault_proxy, ranged_model):
    """faultproxy --mode norange drops the Range header: the real server answers 200 with the
    whole file, which is then taken from that one stream."""
    p = fault_proxy("norange")
    r = pull_ranged(mlops, p.url, ranged_model)
    assert r.returncode == 0, r.stderr
    check_ranged_file(mlops, ranged_model)
    stats = p.stats()
    assert stats["range_requests"] == 1 and stats["partial_206"] == 0, stats
    assert "no ranges: HTTP 200 to a range request, one stream" in r.stderr


def test_cut_ranges_are_fetched_again(mlops, fault_proxy, ranged_model):
    """faultproxy --mode truncate:2 cuts the first two artifact bodies (ranges here) in half."""
    p = fault_proxy("truncate:2")
    r = pull_ranged(mlops, p.url, ranged_model)
    assert r.returncode == 0, r.stderr
    check_ranged_file(mlops, ranged_model)
    stats = p.stats()
    ranges = -(-ranged_model["size"] // (32 << 20))
    assert stats["truncated"] == 2, stats
    assert stats["range_requests"] >= ranges + 1, stats


def test_interrupted_ranged_pull_resumes_and_verifies(mlops, fault_proxy, ranged_model):
    """Ctrl-C while the ranges run leaves no model; the same pull run again completes it."""
    p = fault_proxy("slow:20000000")
    proc = mlops.popen("pull", f"models:/{ranged_model['name']}/{ranged_model['version']}", "-o", "m", uri=p.url)
    deadline = time.monotonic() + 60
    part = None
    while time.monotonic() < deadline and part is None:
        hits = list(mlops.cwd.glob(".m.mlops-partial/**/weights.bin*"))
        part = hits[0] if hits and hits[0].stat().st_size > (40 << 20) else None
        time.sleep(0.1)
    assert part is not None, "the ranged download never started"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert not (mlops.cwd / "m").exists()
    p.stop()
    r = pull_ranged(mlops, mlops.uri, ranged_model)
    assert r.returncode == 0, r.stderr
    check_ranged_file(mlops, ranged_model)
