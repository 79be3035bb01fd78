"""Pulling from the real MLflow server running the basic-auth app."""

from __future__ import annotations

import base64
import json

import pytest

from conftest import error_line, lock_of


@pytest.fixture
def auth(services):
    return {
        "uri": services["MLOPS_TEST_MLFLOW_AUTH_URI"],
        "reader": (services["MLOPS_TEST_AUTH_READER_USER"], services["MLOPS_TEST_AUTH_READER_PASSWORD"]),
        "noperm": (services["MLOPS_TEST_AUTH_NOPERM_USER"], services["MLOPS_TEST_AUTH_NOPERM_PASSWORD"]),
    }


def creds(user: str, password: str) -> dict[str, str]:
    return {"MLFLOW_TRACKING_USERNAME": user, "MLFLOW_TRACKING_PASSWORD": password}


def assert_no_secret(text: str, user: str, password: str) -> None:
    assert password not in text
    assert base64.b64encode(f"{user}:{password}".encode()).decode() not in text


def test_missing_credentials_is_an_auth_error(mlops, auth):
    r = mlops.run("pull", "models:/iris/1", uri=auth["uri"])
    assert r.returncode == 5, r.stderr
    assert "authentication failed (HTTP 401)" in error_line(r.stderr)
    assert "MLFLOW_TRACKING_USERNAME" in r.stderr
    assert list(mlops.cwd.iterdir()) == []


def test_wrong_password_is_an_auth_error_and_never_printed(mlops, auth):
    user, _ = auth["reader"]
    r = mlops.run("-vv", "pull", "models:/iris/1", uri=auth["uri"], env=creds(user, "wrong-password-123"))
    assert r.returncode == 5, r.stderr
    assert "authentication failed (HTTP 401)" in error_line(r.stderr)
    assert_no_secret(r.stdout + r.stderr, user, "wrong-password-123")


def test_reader_can_pull_and_secrets_stay_out_of_output_and_files(mlops, auth):
    user, password = auth["reader"]
    r = mlops.run("-vv", "pull", "models:/iris/1", "--json", uri=auth["uri"], env=creds(user, password))
    assert r.returncode == 0, r.stderr
    assert "Authorization: Basic ***" in r.stderr or "authorization" not in r.stderr.lower()
    assert_no_secret(r.stdout + r.stderr, user, password)
    lock_text = (mlops.cwd / "iris-v1" / "mlops.lock.json").read_text()
    assert_no_secret(lock_text, user, password)
    assert json.loads(r.stdout)["tracking_uri"] == auth["uri"]


def test_credentials_in_the_tracking_uri_are_used_and_redacted(mlops, auth):
    user, password = auth["reader"]
    uri = auth["uri"].replace("http://", f"http://{user}:{password}@")
    r = mlops.run("-v", "pull", "models:/iris/1", "-o", "m", uri=uri)
    assert r.returncode == 0, r.stderr
    assert_no_secret(r.stdout + r.stderr, user, password)
    assert lock_of(mlops.cwd / "m")["tracking_uri"] == auth["uri"]


def test_user_without_permission_is_denied(mlops, auth):
    user, password = auth["noperm"]
    r = mlops.run("pull", "models:/iris/1", uri=auth["uri"], env=creds(user, password))
    assert r.returncode == 5, r.stderr
    assert "permission denied (HTTP 403)" in error_line(r.stderr)
    assert_no_secret(r.stdout + r.stderr, user, password)


def test_models_list_needs_credentials_too(mlops, auth):
    r = mlops.run("models", "list", uri=auth["uri"])
    assert r.returncode == 5
    user, password = auth["reader"]
    ok = mlops.run("models", "list", uri=auth["uri"], env=creds(user, password))
    assert ok.returncode == 0, ok.stderr
    assert "iris" in ok.stdout
