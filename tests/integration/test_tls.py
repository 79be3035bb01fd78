"""TLS verification: mlops talks HTTPS to the real MLflow server through a TLS-terminating
faultproxy (passthrough mode) with a self-signed certificate made here."""

from __future__ import annotations

import subprocess

import pytest

from conftest import error_line, lock_of


@pytest.fixture
def self_signed(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def test_untrusted_certificate_is_refused_by_default(mlops, fault_proxy, self_signed):
    proxy = fault_proxy("passthrough", tls=self_signed)
    r = mlops.run("pull", "models:/iris/1", uri=proxy.url)
    assert r.returncode == 1, r.stderr
    line = error_line(r.stderr)
    assert "TLS connection to 'https://127.0.0.1:" in line
    assert "MLFLOW_TRACKING_SERVER_CERT_PATH" in r.stderr
    assert list(mlops.cwd.iterdir()) == []


def test_ca_bundle_from_env_or_flag_is_trusted(mlops, fault_proxy, self_signed):
    cert, _ = self_signed
    proxy = fault_proxy("passthrough", tls=self_signed)
    r = mlops.run("pull", "models:/iris/1", "-o", "a", uri=proxy.url,
                  env={"MLFLOW_TRACKING_SERVER_CERT_PATH": str(cert)})
    assert r.returncode == 0, r.stderr
    assert lock_of(mlops.cwd / "a")["tracking_uri"] == proxy.url
    r = mlops.run("pull", "models:/iris/1", "-o", "b", "--ca-bundle", str(cert), uri=proxy.url)
    assert r.returncode == 0, r.stderr


def test_insecure_tls_skips_verification_with_a_warning(mlops, fault_proxy, self_signed):
    proxy = fault_proxy("passthrough", tls=self_signed)
    r = mlops.run("pull", "models:/iris/1", uri=proxy.url, env={"MLFLOW_TRACKING_INSECURE_TLS": "true"})
    assert r.returncode == 0, r.stderr
    assert "warning: TLS certificate verification is disabled" in r.stderr
