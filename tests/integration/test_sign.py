"""mlops image keygen / sign / verify, package --push --sign and promote's signature policy,
against Debian's docker-registry (registry_plain from scripts/services.sh) and the real cosign
(v2.6.5, built once by scripts/cosign-build.sh into ~/.cache/mlops). Both directions of
interoperability: what mlops signs and attests cosign verifies, what cosign signs and attests
mlops verifies, and each tampering is refused by both tools. Registry contents are read and
rewritten with plain HTTP requests (the distribution API), never with mlops' own code."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO, error_line
from test_package import models  # noqa: F401 - shared fixture
from test_promote import Project, run as run_in_project

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
COSIGN_PASSWORD = "cosign-test-password-1"


@pytest.fixture(scope="module")
def registry(services) -> str:
    reg = services.get("MLOPS_TEST_REGISTRY")
    if not reg:
        pytest.skip("registry_plain was not started (MLOPS_SERVICES)")
    return reg


@pytest.fixture(scope="module")
def cosign() -> str:
    """The real cosign: $MLOPS_COSIGN, else built (once, cached) by scripts/cosign-build.sh."""
    path = os.environ.get("MLOPS_COSIGN")
    if not path:
        r = subprocess.run(["bash", str(REPO / "scripts" / "cosign-build.sh")], capture_output=True, text=True,
                           timeout=1800)
        assert r.returncode == 0, r.stderr[-4000:]
        path = r.stdout.strip()
    assert os.access(path, os.X_OK), path
    return path


def cosign_run(cosign: str, *args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd), "COSIGN_PASSWORD": COSIGN_PASSWORD,
           "COSIGN_YES": "true", "TUF_ROOT": str(cwd / ".sigstore")}
    r = subprocess.run([cosign, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    if check:
        assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r


def unique(name: str) -> str:
    return f"{name}-{os.getpid()}-{time.monotonic_ns()}"


# --------------------------------------------------------------------------- the distribution API


def http(method: str, url: str, data: bytes | None = None, headers: dict | None = None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def get_manifest(registry: str, repo: str, ref: str) -> tuple[dict, str] | None:
    status, _, body = http("GET", f"http://{registry}/v2/{repo}/manifests/{ref}",
                           headers={"Accept": OCI_MANIFEST + ", application/vnd.docker.distribution.manifest.v2+json"})
    if status == 404:
        return None
    assert status == 200, body
    return json.loads(body), "sha256:" + hashlib.sha256(body).hexdigest()


def get_blob(registry: str, repo: str, digest: str) -> bytes:
    status, _, body = http("GET", f"http://{registry}/v2/{repo}/blobs/{digest}")
    assert status == 200
    return body


def put_blob(registry: str, repo: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    status, headers, _ = http("POST", f"http://{registry}/v2/{repo}/blobs/uploads/", data=b"")
    assert status == 202
    loc = headers["Location"]
    loc = loc if loc.startswith("http") else f"http://{registry}{loc}"
    sep = "&" if "?" in loc else "?"
    status, _, body = http("PUT", f"{loc}{sep}digest={digest}", data=data,
                           headers={"Content-Type": "application/octet-stream"})
    assert status == 201, body
    return digest


def put_manifest(registry: str, repo: str, ref: str, manifest: dict) -> str:
    data = json.dumps(manifest).encode()
    status, _, body = http("PUT", f"http://{registry}/v2/{repo}/manifests/{ref}", data=data,
                           headers={"Content-Type": manifest.get("mediaType", OCI_MANIFEST)})
    assert status == 201, body
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sig_tag(digest: str, suffix: str = "sig") -> str:
    return digest.replace(":", "-") + "." + suffix


# --------------------------------------------------------------------------- keys and images


@pytest.fixture(scope="module")
def keys(mlops_bin, tmp_path_factory, cosign) -> dict[str, Path]:
    """One pair made by mlops (PKCS#8 PEM), the same key imported into cosign's format, and
    an unrelated second pair."""
    d = tmp_path_factory.mktemp("keys")
    env = {"PATH": os.environ["PATH"], "HOME": str(d)}
    for prefix in ("ci", "other"):
        r = subprocess.run([mlops_bin, "image", "keygen", "--output", prefix], cwd=d, env=env, capture_output=True,
                           text=True)
        assert r.returncode == 0, r.stderr
    assert (d / "ci.key").stat().st_mode & 0o077 == 0  # the private key is its owner's only
    cosign_run(cosign, "import-key-pair", "--key", "ci.key", "--output-key-prefix", "imported", cwd=d)
    # cosign's public half of the imported key is the same key mlops wrote.
    assert (d / "imported.pub").read_text().strip() == (d / "ci.pub").read_text().strip()
    return {"dir": d, "key": d / "ci.key", "pub": d / "ci.pub", "cosign_key": d / "imported.key",
            "other_pub": d / "other.pub", "other_key": d / "other.key"}


def push(mlops, models, registry: str, repo: str, tag: str = "v1", *extra: str) -> str:
    """Packages the pulled iris version 3 as an artifact and pushes it; returns its digest."""
    r = mlops.run("package", str(models / "iris"), "--format", "artifact", "--push", f"{registry}/{repo}:{tag}",
                  "--json", *extra)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["digest"]


def lock_digest(models) -> str:
    return json.loads((models / "iris" / "mlops.lock.json").read_text())["digest"]


def predicate(version: str, digest: str) -> dict:
    """A SLSA v1 predicate as another builder would write it, naming an iris version."""
    return {"buildDefinition": {"buildType": "https://example.com/ci/v1", "externalParameters": {},
                                "resolvedDependencies": [{"uri": f"models:/iris/{version}",
                                                          "digest": {"sha256": digest.split(":", 1)[1]}}]},
            "runDetails": {"builder": {"id": "https://example.com/ci"}}}


def cosign_verify(cosign, keys, ref: str, *extra: str, attestation: bool = False) -> subprocess.CompletedProcess:
    what = ["verify-attestation", "--type", "slsaprovenance1"] if attestation else ["verify"]
    return cosign_run(cosign, *what, "--key", str(keys["pub"]), "--insecure-ignore-tlog", "--allow-insecure-registry",
                      *extra, ref, cwd=keys["dir"], check=False)


def rego(tmp: Path, version: str) -> Path:
    p = tmp / f"policy-{version}.rego"
    p.write_text(f"""package signature

allow {{
  input.predicate.buildDefinition.resolvedDependencies[_].uri == "models:/iris/{version}"
}}
""")
    return p


# --------------------------------------------------------------------------- mlops signs, cosign verifies


def test_mlops_signs_and_attests_cosign_verifies(mlops, models, registry, keys, cosign):
    repo = unique("sign/mlops")
    digest = push(mlops, models, registry, repo, "v1", "--sign", str(keys["key"]))
    ref = f"{registry}/{repo}@{digest}"
    sig = get_manifest(registry, repo, sig_tag(digest))
    assert sig is not None
    layer = sig[0]["layers"][0]
    assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    payload = json.loads(get_blob(registry, repo, layer["digest"]))
    assert payload["critical"]["image"]["docker-manifest-digest"] == digest
    assert base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"])

    r = cosign_verify(cosign, keys, ref)
    assert r.returncode == 0, r.stderr
    r = cosign_verify(cosign, keys, ref, attestation=True)
    assert r.returncode == 0, r.stderr
    envelope = json.loads(r.stdout.splitlines()[0])
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    assert statement["subject"][0]["digest"]["sha256"] == digest.split(":", 1)[1]
    deps = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    model = next(d for d in deps if d["uri"].startswith("models:/"))
    assert model["uri"] == "models:/iris/3"
    assert "sha256:" + model["digest"]["sha256"] == lock_digest(models)
    assert any(d["uri"].startswith("runs:/") for d in deps)
    assert statement["predicate"]["runDetails"]["builder"]["version"]["mlops"].startswith("mlops ")
    # A rego policy on the provenance: cosign accepts version 3, refuses version 2.
    assert cosign_verify(cosign, keys, ref, "--policy", str(rego(keys["dir"], "3")), attestation=True).returncode == 0
    assert cosign_verify(cosign, keys, ref, "--policy", str(rego(keys["dir"], "2")), attestation=True).returncode != 0

    # mlops verifies its own, by tag too, and the provenance against the MLflow version.
    r = mlops.run("image", "verify", f"{registry}/{repo}:v1", "--key", str(keys["pub"]), "--model",
                  "models:/iris/3", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["image"] == ref and out["provenance"]["model"] == "models:/iris/3"
    assert out["provenance"]["lock_digest"] == lock_digest(models)


def test_signing_again_appends_nothing_and_keeps_other_signatures(mlops, models, registry, keys, cosign):
    repo = unique("sign/again")
    digest = push(mlops, models, registry, repo)
    ref = f"{registry}/{repo}@{digest}"
    cosign_run(cosign, "sign", "--key", str(keys["cosign_key"]), "--tlog-upload=false", "--allow-insecure-registry",
               ref, cwd=keys["dir"])
    r = mlops.run("image", "sign", ref, "--key", str(keys["other_key"]))
    assert r.returncode == 0, r.stderr
    r = mlops.run("image", "sign", ref, "--key", str(keys["other_key"]), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["already_signed"] is True
    sig = get_manifest(registry, repo, sig_tag(digest))
    assert len(sig[0]["layers"]) == 2  # cosign's and mlops' (once)
    # cosign's signature still verifies after mlops rewrote the manifest, and mlops' does too.
    assert cosign_verify(cosign, keys, ref).returncode == 0
    r = mlops.run("image", "verify", ref, "--key", str(keys["other_pub"]))
    assert r.returncode == 0, r.stderr


# --------------------------------------------------------------------------- cosign signs, mlops verifies


def test_cosign_signs_and_attests_mlops_verifies(mlops, models, registry, keys, cosign, tmp_path):
    repo = unique("sign/cosign")
    digest = push(mlops, models, registry, repo)
    ref = f"{registry}/{repo}@{digest}"
    r = mlops.run("image", "verify", ref, "--key", str(keys["pub"]))
    assert r.returncode == 3 and "not signed" in error_line(r.stderr)
    cosign_run(cosign, "sign", "--key", str(keys["cosign_key"]), "--tlog-upload=false", "--allow-insecure-registry",
               ref, cwd=keys["dir"])
    r = mlops.run("image", "verify", ref, "--key", str(keys["pub"]))
    assert r.returncode == 0, r.stderr
    # Without an attestation, requiring provenance says so.
    r = mlops.run("image", "verify", ref, "--key", str(keys["pub"]), "--provenance")
    assert r.returncode == 3 and "no provenance" in error_line(r.stderr)
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps(predicate("3", lock_digest(models))))
    cosign_run(cosign, "attest", "--type", "slsaprovenance1", "--predicate", str(pred), "--key",
               str(keys["cosign_key"]), "--tlog-upload=false", "--allow-insecure-registry", ref, cwd=keys["dir"])
    r = mlops.run("image", "verify", ref, "--key", str(keys["pub"]), "--model", "models:/iris/3", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["provenance"]["model"] == "models:/iris/3"


# --------------------------------------------------------------------------- refusals, by both tools


def test_tampered_payload_is_refused_by_both(mlops, models, registry, keys, cosign):
    repo = unique("sign/tamper")
    digest = push(mlops, models, registry, repo, "v1", "--sign", str(keys["key"]))
    ref = f"{registry}/{repo}@{digest}"
    manifest, _ = get_manifest(registry, repo, sig_tag(digest))
    layer = manifest["layers"][0]
    payload = json.loads(get_blob(registry, repo, layer["digest"]))
    payload["optional"] = {"note": "changed after signing"}  # still names the right digest
    data = json.dumps(payload).encode()
    layer["digest"], layer["size"] = put_blob(registry, repo, data), len(data)
    put_manifest(registry, repo, sig_tag(digest), manifest)
    r = mlops.run("image", "verify", ref, "--key", str(keys["pub"]))
    assert r.returncode == 3, r.stderr
    assert "no signature by the key" in error_line(r.stderr) and "other bytes" in r.stderr
    assert cosign_verify(cosign, keys, ref).returncode != 0


def test_wrong_key_is_refused_by_both(mlops, models, registry, keys, cosign):
    repo = unique("sign/wrongkey")
    digest = push(mlops, models, registry, repo, "v1", "--sign", str(keys["key"]))
    ref = f"{registry}/{repo}@{digest}"
    r = mlops.run("image", "verify", ref, "--key", str(keys["other_pub"]))
    assert r.returncode == 3 and "another key" in r.stderr
    r = cosign_run(cosign, "verify", "--key", str(keys["other_pub"]), "--insecure-ignore-tlog",
                   "--allow-insecure-registry", ref, cwd=keys["dir"], check=False)
    assert r.returncode != 0
    # A private key where the public one belongs is a usage error.
    r = mlops.run("image", "verify", ref, "--key", str(keys["key"]))
    assert r.returncode == 2 and "private key" in error_line(r.stderr)


def test_retagged_image_is_refused_by_both(mlops, models, registry, keys, cosign, tmp_path):
    """An image signed as A; the tag moved to another digest B, and A's signature copied to
    B's signature tag: the payload names A, so neither tool accepts it for B."""
    repo = unique("sign/retag")
    a = push(mlops, models, registry, repo, "v1", "--sign", str(keys["key"]))
    b = push(mlops, models, registry, repo, "v1", "--compression", "zstd")  # same tag, other digest
    assert a != b
    r = mlops.run("image", "verify", f"{registry}/{repo}:v1", "--key", str(keys["pub"]))
    assert r.returncode == 3 and "not signed" in error_line(r.stderr)
    manifest, _ = get_manifest(registry, repo, sig_tag(a))
    put_manifest(registry, repo, sig_tag(b), manifest)
    r = mlops.run("image", "verify", f"{registry}/{repo}:v1", "--key", str(keys["pub"]))
    assert r.returncode == 3 and f"for another image ({a})" in r.stderr
    assert cosign_verify(cosign, keys, f"{registry}/{repo}@{b}").returncode != 0
    assert cosign_verify(cosign, keys, f"{registry}/{repo}@{a}").returncode == 0


def test_provenance_of_another_version_is_refused_by_both(mlops, models, registry, keys, cosign, tmp_path):
    repo = unique("sign/otherversion")
    digest = push(mlops, models, registry, repo)
    ref = f"{registry}/{repo}@{digest}"
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps(predicate("2", lock_digest(models))))
    cosign_run(cosign, "sign", "--key", str(keys["cosign_key"]), "--tlog-upload=false", "--allow-insecure-registry",
               ref, cwd=keys["dir"])
    cosign_run(cosign, "attest", "--type", "slsaprovenance1", "--predicate", str(pred), "--key",
               str(keys["cosign_key"]), "--tlog-upload=false", "--allow-insecure-registry", ref, cwd=keys["dir"])
    r = mlops.run("image", "verify", ref, "--key", str(keys["pub"]), "--model", "models:/iris/3")
    assert r.returncode == 3
    assert "the provenance names 'models:/iris/2', not 'models:/iris/3'" in error_line(r.stderr)
    assert cosign_verify(cosign, keys, ref, "--policy", str(rego(tmp_path, "3")), attestation=True).returncode != 0
    # Provenance of the right version but other bytes (lock digest) is refused too.
    repo2 = unique("sign/otherbytes")
    digest2 = push(mlops, models, registry, repo2)
    ref2 = f"{registry}/{repo2}@{digest2}"
    pred.write_text(json.dumps(predicate("3", "sha256:" + "0" * 64)))
    cosign_run(cosign, "sign", "--key", str(keys["cosign_key"]), "--tlog-upload=false", "--allow-insecure-registry",
               ref2, cwd=keys["dir"])
    cosign_run(cosign, "attest", "--type", "slsaprovenance1", "--predicate", str(pred), "--key",
               str(keys["cosign_key"]), "--tlog-upload=false", "--allow-insecure-registry", ref2, cwd=keys["dir"])
    r = mlops.run("image", "verify", ref2, "--key", str(keys["pub"]), "--model", "models:/iris/3")
    assert r.returncode == 3 and "lock digest" in error_line(r.stderr)


def test_missing_image_exit_4_and_unpinned_sign_exit_2(mlops, registry, keys):
    r = mlops.run("image", "verify", f"{registry}/{unique('sign/none')}:v1", "--key", str(keys["pub"]))
    assert r.returncode == 4, r.stderr
    r = mlops.run("image", "sign", f"{registry}/sign/x:v1", "--key", str(keys["key"]))
    assert r.returncode == 2 and "not pinned by digest" in error_line(r.stderr)


def test_encrypted_key_needs_its_passphrase(mlops, models, registry):
    r = mlops.run("image", "keygen", "--output", "enc", env={"MLOPS_SIGNING_PASSWORD": "pass-phrase-1"})
    assert r.returncode == 0, r.stderr
    assert "ENCRYPTED PRIVATE KEY" in (mlops.cwd / "enc.key").read_text()
    repo = unique("sign/enc")
    digest = push(mlops, models, registry, repo)
    ref = f"{registry}/{repo}@{digest}"
    r = mlops.run("image", "sign", ref, "--key", "enc.key")
    assert r.returncode == 2 and "MLOPS_SIGNING_PASSWORD" in r.stderr
    r = mlops.run("image", "sign", ref, "--key", "enc.key", env={"MLOPS_SIGNING_PASSWORD": "wrong"})
    assert r.returncode == 2 and "wrong passphrase" in error_line(r.stderr)
    assert "pass-phrase-1" not in r.stderr
    r = mlops.run("image", "sign", ref, "--key", "enc.key", env={"MLOPS_SIGNING_PASSWORD": "pass-phrase-1"})
    assert r.returncode == 0, r.stderr
    assert mlops.run("image", "verify", ref, "--key", "enc.pub").returncode == 0


# --------------------------------------------------------------------------- promote's signature policy


def test_promote_requires_a_signed_image_with_provenance(mlops, registry, keys, services, tmp_path, mlflow_uri):
    if "MLOPS_TEST_GIT_HTTP" not in services:
        pytest.skip("git_http was not started (MLOPS_SERVICES)")
    project = Project(services, tmp_path, mlflow_uri)
    project.write_config(environments=f"""\
  prod:
    requires: {{signature: {{key: {keys['pub']}}}, provenance: true}}
""")
    repo = unique("sign/promo")
    # Version 1 packaged from MLflow and signed; version 2 pushed unsigned.
    mlops.cwd = project.dir
    signed = mlops.run("package", f"models:/{project.name}/1", "--format", "artifact", "--push",
                       f"{registry}/{repo}:1", "--sign", str(keys["key"]), "--json", env=project.env())
    assert signed.returncode == 0, signed.stderr
    d1 = json.loads(signed.stdout)["digest"]
    unsigned = mlops.run("package", f"models:/{project.name}/2", "--format", "artifact", "--push",
                         f"{registry}/{repo}:2", "--json", env=project.env())
    assert unsigned.returncode == 0, unsigned.stderr
    d2 = json.loads(unsigned.stdout)["digest"]

    r = run_in_project(mlops, project, "promote", project.name, "2", "--env", "prod", "--image",
                       f"{registry}/{repo}@{d2}", "--actor", "ci")
    assert r.returncode == 3, r.stderr
    assert "signature" in error_line(r.stderr) and "not signed" in r.stderr
    assert project.commits() == []  # refused before git was touched
    # Version 1's signed image with version 2: the provenance names another version.
    r = run_in_project(mlops, project, "promote", project.name, "2", "--env", "prod", "--image",
                       f"{registry}/{repo}@{d1}", "--actor", "ci")
    assert r.returncode == 3 and f"models:/{project.name}/1" in error_line(r.stderr)
    assert project.commits() == []
    # A missing image is exit 4.
    r = run_in_project(mlops, project, "promote", project.name, "1", "--env", "prod", "--image",
                       f"{registry}/{repo}@sha256:{'0' * 64}", "--actor", "ci")
    assert r.returncode == 4, r.stderr
    assert project.commits() == []

    r = run_in_project(mlops, project, "promote", project.name, "1", "--env", "prod", "--image",
                       f"{registry}/{repo}@{d1}", "--actor", "ci")
    assert r.returncode == 0, r.stderr
    commits = project.commits()
    assert len(commits) == 1
    trailers = project.trailers(commits[0])
    fingerprint = json.loads(mlops.run("image", "verify", f"{registry}/{repo}@{d1}", "--key", str(keys["pub"]),
                                       "--json").stdout)["signer"]
    assert trailers["Image-Signed-By"] == ["key " + fingerprint[:23]]
    assert trailers["Image-Digest"] == [d1]
