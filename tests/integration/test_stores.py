"""`mlops pull` from artifact stores that MLflow does not proxy, read directly like MLflow's own
client reads them: S3 (versitygw, a real S3 gateway over a directory, behind a real MLflow
server started with --no-serve-artifacts and an s3:// artifact root; scripts/services.d/s3.sh).
The models were registered through MLflow's own client (boto3)."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import Mlops, clean_env, error_line, lock_of, tree

pytestmark = pytest.mark.skipif(
    "MLOPS_TEST_MLFLOW_S3_URI" not in __import__("conftest").SERVICES,
    reason="the s3 and mlflow_s3 services were not started (MLOPS_SERVICES)")


@pytest.fixture(scope="module")
def s3(services) -> dict:
    return {
        "uri": services["MLOPS_TEST_MLFLOW_S3_URI"],
        "env": {
            "AWS_ACCESS_KEY_ID": services["MLOPS_TEST_S3_ACCESS_KEY"],
            "AWS_SECRET_ACCESS_KEY": services["MLOPS_TEST_S3_SECRET_KEY"],
            "AWS_DEFAULT_REGION": "us-east-1",
            "MLFLOW_S3_ENDPOINT_URL": services["MLOPS_TEST_S3_ENDPOINT"],
        },
        "secret": services["MLOPS_TEST_S3_SECRET_KEY"],
        "big": json.loads(Path(services["MLOPS_TEST_S3_BIG_JSON"]).read_text()),
    }


@pytest.fixture
def mlops(mlops_bin, tmp_path, s3) -> Mlops:
    """The binary in a fresh work directory, pointed at the MLflow server with S3 artifacts."""
    work = tmp_path / "work"
    work.mkdir()
    return Mlops(mlops_bin, work, s3["uri"])


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for piece in iter(lambda: f.read(1 << 20), b""):
            h.update(piece)
    return h.hexdigest()


def mlflow_cli_download(services, s3, uri: str, dest: Path) -> None:
    """MLflow's own client (boto3) downloads the same version: the reference."""
    env = clean_env(MLFLOW_TRACKING_URI=s3["uri"], **s3["env"])
    env.pop("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR")
    env.pop("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER")
    dest.mkdir()
    r = subprocess.run([str(Path(services["MLOPS_TEST_VENV"]) / "bin" / "mlflow"), "artifacts", "download",
                        "--artifact-uri", uri, "--dst-path", str(dest)], env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr


def test_s3_pull_is_byte_identical_to_mlflow_client(mlops, services, s3, tmp_path):
    r = mlops.run("pull", "models:/files/1", "-o", "m", env=s3["env"], uri=s3["uri"])
    assert r.returncode == 0, r.stderr
    mlflow_cli_download(services, s3, "models:/files/1", tmp_path / "ref")
    ours = tree(mlops.cwd / "m")
    ref = tree(tmp_path / "ref", exclude=("registered_model_meta",))
    assert ours == ref
    lock = lock_of(mlops.cwd / "m")
    assert lock["model"]["download_uri"].startswith(f"s3://{services['MLOPS_TEST_S3_BUCKET']}/")
    text = (mlops.cwd / "m" / "mlops.lock.json").read_text()
    assert s3["secret"] not in text and s3["env"]["AWS_ACCESS_KEY_ID"] not in text
    again = mlops.run("pull", "--verify", "m", uri=None)
    assert again.returncode == 0, again.stderr


def test_s3_big_object_is_pulled_as_parallel_ranges(mlops, s3):
    big = s3["big"]
    r = mlops.run("pull", f"models:/{big['name']}/{big['version']}", "-o", "m", "-v", env=s3["env"], uri=s3["uri"])
    assert r.returncode == 0, r.stderr
    ranges = -(-big["size"] // (32 << 20))
    assert f"{ranges} ranges of 32.0 MiB, 4 at a time" in r.stderr
    assert sha256(mlops.cwd / "m" / big["path"]) == big["sha256"]
    assert s3["secret"] not in r.stderr


def test_s3_wrong_secret_is_exit_5_without_the_secret(mlops, s3):
    wrong = "wrong-secret-value-12345"
    env = {**s3["env"], "AWS_SECRET_ACCESS_KEY": wrong}
    r = mlops.run("pull", "models:/files/1", "-o", "m", "-vv", env=env, uri=s3["uri"])
    assert r.returncode == 5, r.stderr
    line = error_line(r.stderr)
    assert "access denied by S3 endpoint" in line and "AWS_ACCESS_KEY_ID" in line, line
    assert wrong not in r.stderr + r.stdout
    assert not (mlops.cwd / "m").exists()


def test_s3_profile_credentials_are_named_in_errors(mlops, s3, tmp_path):
    creds = tmp_path / "credentials"
    creds.write_text(f"[default]\naws_access_key_id = nobody\naws_secret_access_key = nothing-here-1\n\n"
                     f"[mlops]\naws_access_key_id = {s3['env']['AWS_ACCESS_KEY_ID']}\n"
                     f"aws_secret_access_key = {s3['secret']}\n")
    base = {k: v for k, v in s3["env"].items() if not k.startswith("AWS_ACCESS") and not k.startswith("AWS_SECRET")}
    base["AWS_SHARED_CREDENTIALS_FILE"] = str(creds)
    base["AWS_CONFIG_FILE"] = str(tmp_path / "no-config")
    r = mlops.run("pull", "models:/files/1", "-o", "m", env={**base, "AWS_PROFILE": "mlops"}, uri=s3["uri"])
    assert r.returncode == 0, r.stderr
    bad = mlops.run("pull", "models:/files/1", "-o", "n", env=base, uri=s3["uri"])
    assert bad.returncode == 5, bad.stderr
    assert f"AWS_PROFILE 'default' in '{creds}'" in error_line(bad.stderr)
    assert "nothing-here-1" not in bad.stderr


def test_s3_pull_resumes_after_interruption(mlops, s3):
    big = s3["big"]
    uri = f"models:/{big['name']}/{big['version']}"
    proc = mlops.popen("pull", uri, "-o", "m", env=s3["env"], uri=s3["uri"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if list(mlops.cwd.glob(".m.mlops-partial/**/*mlops-part")):
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    if proc.returncode == 0:
        pytest.skip("the pull finished before it could be interrupted")
    assert proc.returncode == 130
    assert not (mlops.cwd / "m").exists()
    r = mlops.run("pull", uri, "-o", "m", env=s3["env"], uri=s3["uri"])
    assert r.returncode == 0, r.stderr
    assert sha256(mlops.cwd / "m" / big["path"]) == big["sha256"]
