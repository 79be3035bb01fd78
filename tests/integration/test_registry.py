"""`mlops package --push` against real registries (Debian's docker-registry, started by
scripts/services.sh): Bearer tokens from tests/fixtures/token_issuer.py, credential helpers,
chunked and resumed uploads, fallbacks and retries (faultproxy.py in front of the real
registry), bases read from registries and mounted, and a registry killed mid-upload. Every
pushed image is checked with skopeo (and umoci where files matter)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import stat
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import error_line, free_port, tree
from test_package import base, models, run  # noqa: F401 - shared fixtures

JWT_MARK = "eyJ"  # every JWT starts with base64url('{"')


def unique(name: str) -> str:
    return f"{name}-{os.getpid()}-{time.monotonic_ns()}"


def docker_config(tmp_path: Path, content: dict) -> Path:
    d = tmp_path / f"docker-{time.monotonic_ns()}"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(content))
    return d


def auths(registry: str, user: str, password: str) -> dict:
    return {"auths": {registry: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}}}


def remote_digest(ref: str, *extra: str) -> str:
    """The digest of the manifest skopeo reads from the registry (artifacts included)."""
    r = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", *extra, f"docker://{ref}"], capture_output=True)
    assert r.returncode == 0, r.stderr
    return "sha256:" + hashlib.sha256(r.stdout).hexdigest()


def issued(services) -> dict:
    p = Path(services["MLOPS_TEST_TOKEN_STATS"])
    return json.loads(p.read_text())["issued"] if p.exists() else {}


@pytest.fixture
def token_registry(services):
    s = services
    return {"registry": s["MLOPS_TEST_REGISTRY_TOKEN"], "user": s["MLOPS_TEST_REGISTRY_TOKEN_USER"],
            "password": s["MLOPS_TEST_REGISTRY_TOKEN_PASSWORD"]}


# --------------------------------------------------------------------------- Bearer tokens


def test_token_auth_push_is_readable_and_never_prints_a_token(mlops, models, services, token_registry, tmp_path):
    reg, user, password = token_registry["registry"], token_registry["user"], token_registry["password"]
    ref = f"{reg}/models/{unique('tok')}:v1"
    before = issued(services).get(user, 0)
    cfg = docker_config(tmp_path, auths(reg, user, password))
    r = mlops.run("-vv", "package", str(models / "iris"), "--format", "artifact", "--push", ref, "--json",
                  env={"DOCKER_CONFIG": str(cfg)})
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert remote_digest(ref, f"--creds={user}:{password}") == out["digest"]
    assert issued(services).get(user, 0) > before  # the token server was really asked
    assert "Authorization: Bearer ***" in r.stderr  # -vv shows the header, redacted
    assert JWT_MARK not in r.stdout + r.stderr and password not in r.stdout + r.stderr
    # Without credentials, skopeo is refused too: the registry really checks tokens.
    anon = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{ref}"], capture_output=True, text=True)
    assert anon.returncode != 0


def test_token_auth_refusals_exit_5_and_name_the_source(mlops, models, services, token_registry, tmp_path):
    reg = token_registry["registry"]
    ref = f"{reg}/models/{unique('deny')}:v1"
    wrong = docker_config(tmp_path, auths(reg, token_registry["user"], "not-the-password-42"))
    r = mlops.run("package", str(models / "iris"), "--format", "artifact", "--push", ref, env={"DOCKER_CONFIG": str(wrong)})
    assert r.returncode == 5, r.stderr
    assert f"'{reg}'" in error_line(r.stderr) and "$DOCKER_CONFIG/config.json" in r.stderr
    assert "not-the-password-42" not in r.stdout + r.stderr
    # A reader gets a token with pull only (the issuer honours scopes): the push is refused.
    reader = docker_config(tmp_path, auths(reg, services["MLOPS_TEST_REGISTRY_TOKEN_READER_USER"],
                                           services["MLOPS_TEST_REGISTRY_TOKEN_READER_PASSWORD"]))
    r = mlops.run("package", str(models / "iris"), "--format", "artifact", "--push", ref, env={"DOCKER_CONFIG": str(reader)})
    assert r.returncode == 5, r.stderr
    assert f"'{reg}'" in error_line(r.stderr)


def test_token_that_expires_mid_push_is_renewed(mlops, models, services, fault_proxy, tmp_path):
    """Short tokens (2 s, no expires_in) and an upload slowed to ~6 s: the registry rejects the
    expired token mid-push, mlops gets a new one and carries on."""
    reg = services["MLOPS_TEST_REGISTRY_TOKEN"]
    user = services["MLOPS_TEST_REGISTRY_TOKEN_SHORT_USER"]
    password = services["MLOPS_TEST_REGISTRY_TOKEN_SHORT_PASSWORD"]
    proxy = fault_proxy("slowup:8000000", upstream=f"http://{reg}")
    target = proxy.url.removeprefix("http://")
    repo = f"models/{unique('short')}"
    cfg = docker_config(tmp_path, auths(target, user, password))
    before = issued(services).get(user, 0)
    t0 = time.monotonic()
    r = mlops.run("-v", "package", str(models / "files"), "--format", "artifact", "--chunk-size", "4M",
                  "--push", f"{target}/{repo}:v1", "--json", env={"DOCKER_CONFIG": str(cfg)})
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert took > 2 * float(services["MLOPS_TEST_REGISTRY_TOKEN_SHORT_LIFETIME"]), took
    assert issued(services).get(user, 0) - before >= 2  # renewed at least once
    assert r.stderr.count("asked for authentication") >= 2  # once at the start, again when the token died
    assert JWT_MARK not in r.stdout + r.stderr
    assert remote_digest(f"{reg}/{repo}:v1", f"--creds={user}:{password}") == json.loads(r.stdout)["digest"]
    assert proxy.stats()["patch"] >= 10


# --------------------------------------------------------------------------- credential helpers

HELPER = """#!/usr/bin/env python3
import json, os, sys
server = sys.stdin.read().strip()
with open(os.environ["HELPER_LOG"], "a") as f:
    f.write(sys.argv[1] + " " + server + "\\n")
if sys.argv[1] != "get":
    sys.exit(1)
secrets = json.load(open(os.environ["HELPER_SECRETS"]))
if server not in secrets:
    print("credentials not found in native keychain")
    sys.exit(1)
user, secret = secrets[server]
print(json.dumps({"ServerURL": server, "Username": user, "Secret": secret}))
"""


@pytest.fixture
def helper(tmp_path):
    bin_dir = tmp_path / "helper-bin"
    bin_dir.mkdir()
    exe = bin_dir / "docker-credential-test"
    exe.write_text(HELPER)
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    secrets = tmp_path / "helper-secrets.json"
    log = tmp_path / "helper.log"

    def env(cfg: Path, table: dict) -> dict:
        secrets.write_text(json.dumps(table))
        return {"DOCKER_CONFIG": str(cfg), "PATH": f"{bin_dir}:{os.environ['PATH']}",
                "HELPER_SECRETS": str(secrets), "HELPER_LOG": str(log)}

    env.log = log
    return env


def test_credential_helpers_store_helpers_and_identity_tokens(mlops, models, services, token_registry, helper, tmp_path):
    reg, user, password = token_registry["registry"], token_registry["user"], token_registry["password"]
    ref = f"{reg}/models/{unique('helper')}:v1"
    # credsStore: the helper is asked with the registry on stdin; auths has only a placeholder.
    store = docker_config(tmp_path, {"credsStore": "test", "auths": {reg: {}}})
    r = mlops.run("package", str(models / "iris"), "--format", "artifact", "--push", ref, "--json",
                  env=helper(store, {reg: [user, password]}))
    assert r.returncode == 0, r.stderr
    assert f"get {reg}" in helper.log.read_text().splitlines()
    assert remote_digest(ref, f"--creds={user}:{password}") == json.loads(r.stdout)["digest"]
    # credHelpers for this registry wins over auths; a wrong password is exit 5 naming the helper.
    named = docker_config(tmp_path, {"credHelpers": {reg: "test"}, **auths(reg, user, password)})
    r = mlops.run("-vv", "package", str(models / "iris"), "--format", "artifact", "--push", ref,
                  env=helper(named, {reg: [user, "helper-wrong-password-7"]}))
    assert r.returncode == 5, r.stderr
    assert f"'{reg}'" in error_line(r.stderr)
    assert "credential helper 'docker-credential-test'" in r.stderr
    assert "helper-wrong-password-7" not in r.stdout + r.stderr
    # "<token>" as the user: the secret is an identity token (OAuth2 refresh_token grant).
    r = mlops.run("-vv", "package", str(models / "iris"), "--format", "artifact", "--push", ref,
                  env=helper(named, {reg: ["<token>", services["MLOPS_TEST_REGISTRY_TOKEN_IDENTITY"]]}))
    assert r.returncode == 0, r.stderr
    assert services["MLOPS_TEST_REGISTRY_TOKEN_IDENTITY"] not in r.stdout + r.stderr and JWT_MARK not in r.stderr
    # An identity token straight in auths works the same way.
    ident = docker_config(tmp_path, {"auths": {reg: {"identitytoken": services["MLOPS_TEST_REGISTRY_TOKEN_IDENTITY"]}}})
    r = mlops.run("package", str(models / "iris"), "--format", "artifact", "--push", ref, env={"DOCKER_CONFIG": str(ident)})
    assert r.returncode == 0, r.stderr
    # A helper named in the config that is not installed: exit 5, and it says which.
    missing = docker_config(tmp_path, {"credsStore": "nosuchhelper"})
    r = mlops.run("package", str(models / "iris"), "--format", "artifact", "--push", ref,
                  env={"DOCKER_CONFIG": str(missing)})
    assert r.returncode == 5, r.stderr
    assert "'docker-credential-nosuchhelper' (credsStore in $DOCKER_CONFIG/config.json) is not installed" in error_line(r.stderr)


# --------------------------------------------------------------------------- uploads


def test_chunked_upload_then_monolithic_where_chunks_are_refused(mlops, models, services, fault_proxy):
    registry = services["MLOPS_TEST_REGISTRY"]
    layer_size = sum(len(b) for b in tree(models / "files").values())
    for mode, want_patches in (("passthrough", layer_size // (4 << 20)), ("refuse-patch", 0)):
        proxy = fault_proxy(mode, upstream=f"http://{registry}")
        repo = f"models/{unique('chunks')}"
        r = mlops.run("-v", "package", str(models / "files"), "--format", "artifact", "--chunk-size", "4M",
                      "--push", f"{proxy.url.removeprefix('http://')}/{repo}:v1", "--json")
        assert r.returncode == 0, (mode, r.stderr)
        stats = proxy.stats()
        if mode == "passthrough":
            assert stats["patch"] >= want_patches, stats  # streamed while built, one PATCH per chunk
            assert "streamed layer" in r.stderr
        else:
            assert stats["refused_patch"] >= 2 and stats["put"] >= 2, stats  # stream, then chunks refused: one PUT
            assert "building the layer again, into a file" in r.stderr and "in one piece" in r.stderr
        out = json.loads(r.stdout)
        assert remote_digest(f"{registry}/{repo}:v1") == out["digest"]
        raw = json.loads(run("skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{registry}/{repo}:v1").stdout)
        assert raw["layers"][0]["size"] > layer_size  # the whole tar went up


def test_chunk_cut_off_midway_resumes_from_the_registrys_range(mlops, models, services, fault_proxy):
    """The third chunk dies half sent: mlops asks the registry (GET on the upload) how much it
    holds and goes on from there, in the same run."""
    registry = services["MLOPS_TEST_REGISTRY"]
    proxy = fault_proxy("cutpatch:3", upstream=f"http://{registry}")
    repo = f"models/{unique('resume')}"
    r = mlops.run("-v", "package", str(models / "iris"), "--format", "artifact", "--compression", "none",
                  "--chunk-size", "2K", "--push", f"{proxy.url.removeprefix('http://')}/{repo}:v1", "--json")
    assert r.returncode == 0, r.stderr
    assert proxy.stats()["cut_patch"] == 2
    assert "asking the registry where to resume" in r.stderr
    assert "at byte 4096" in r.stderr  # the two chunks before the cut were kept, not sent again
    assert remote_digest(f"{registry}/{repo}:v1") == json.loads(r.stdout)["digest"]
    run("skopeo", "copy", "--src-tls-verify=false", f"docker://{registry}/{repo}:v1", f"oci:{mlops.cwd / 'back'}:t")


def test_streamed_layer_is_not_streamed_again_when_the_registry_has_it(mlops, models, services):
    """A big layer goes up while it is built; the same files again: a HEAD finds it, nothing moves."""
    ref = f"{services['MLOPS_TEST_REGISTRY']}/models/{unique('stream')}:v1"
    first = mlops.run("-v", "package", str(models / "files"), "--format", "artifact", "--push", ref, "--json")
    assert first.returncode == 0, first.stderr
    assert "streamed layer" in first.stderr
    out = json.loads(first.stdout)
    assert out["pushed"]["blobs_uploaded"] == 2
    assert remote_digest(ref) == out["digest"]
    again = mlops.run("-v", "package", str(models / "files"), "--format", "artifact", "--push", ref, "--json")
    assert again.returncode == 0, again.stderr
    assert "streamed layer" not in again.stderr and "POST" not in again.stderr
    p = json.loads(again.stdout)["pushed"]
    assert p["blobs_uploaded"] == 0 and p["uploaded_bytes"] == 0 and p["blobs_skipped"] == 2, p


def test_bad_chunk_size_is_a_usage_error(mlops, models, services):
    r = mlops.run("package", str(models / "iris"), "--format", "artifact", "--chunk-size", "12X",
                  "--push", f"{services['MLOPS_TEST_REGISTRY']}/models/x:v1")
    assert r.returncode == 2, r.stderr
    assert "invalid size '12X'" in error_line(r.stderr)


def test_rate_limit_429_honours_retry_after(mlops, models, services, fault_proxy):
    registry = services["MLOPS_TEST_REGISTRY"]
    proxy = fault_proxy("429:2", upstream=f"http://{registry}")
    repo = f"models/{unique('rate')}"
    t0 = time.monotonic()
    r = mlops.run("-v", "package", str(models / "iris"), "--format", "artifact",
                  "--push", f"{proxy.url.removeprefix('http://')}/{repo}:v1", "--json",
                  env={"MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0.01", "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0"})
    took = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert proxy.stats()["injected_429"] == 2
    assert took >= 2.0, took  # two waits of Retry-After: 1, not the 0.01 s backoff
    assert "HTTP 429, retrying in 1" in r.stderr
    assert remote_digest(f"{registry}/{repo}:v1") == json.loads(r.stdout)["digest"]


# --------------------------------------------------------------------------- bases in registries


def put_blob(registry: str, repo: str, data: bytes) -> str:
    """A monolithic upload with urllib (not mlops): POST, then PUT ?digest=."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    post = urllib.request.urlopen(urllib.request.Request(f"http://{registry}/v2/{repo}/blobs/uploads/", method="POST"))
    loc = post.headers["Location"]
    loc = loc if loc.startswith("http") else f"http://{registry}{loc}"
    urllib.request.urlopen(urllib.request.Request(f"{loc}&digest={digest}", data=data, method="PUT",
                                                  headers={"Content-Type": "application/octet-stream"}))
    return digest


def put_manifest(registry: str, repo: str, tag: str, data: bytes, media_type: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"http://{registry}/v2/{repo}/manifests/{tag}", data=data, method="PUT",
                                                  headers={"Content-Type": media_type}))


@pytest.fixture(scope="module")
def registry_base(base, services, tmp_path_factory) -> dict:
    """The busybox base pushed by skopeo: as OCI, as Docker schema 2, and as an index."""
    registry = services["MLOPS_TEST_REGISTRY"]
    name = unique("bases/busybox")
    run("skopeo", "copy", "--dest-tls-verify=false", f"oci:{base}:latest", f"docker://{registry}/{name}:oci")
    run("skopeo", "copy", "--dest-tls-verify=false", "--format", "v2s2", f"oci:{base}:latest", f"docker://{registry}/{name}:docker")
    # An index listing an arm64 image first (same layer, its own config) and the amd64 one.
    layout = tmp_path_factory.mktemp("index") / "idx"
    run("skopeo", "copy", f"oci:{base}:latest", f"oci:{layout}:latest")
    amd64 = dict(json.loads((layout / "index.json").read_text())["manifests"][0])
    amd64.pop("annotations", None)
    amd64["platform"] = {"architecture": "amd64", "os": "linux"}
    manifest = json.loads((layout / "blobs" / "sha256" / amd64["digest"][7:]).read_bytes())
    config = json.loads((layout / "blobs" / "sha256" / manifest["config"]["digest"][7:]).read_bytes())
    config["architecture"] = "arm64"
    arm_config = json.dumps(config).encode()
    arm_config_digest = put_blob(registry, name, arm_config)
    manifest["config"] = {**manifest["config"], "digest": arm_config_digest, "size": len(arm_config)}
    arm = json.dumps(manifest).encode()
    put_manifest(registry, name, "arm64", arm, manifest["mediaType"])
    arm64 = {"mediaType": manifest["mediaType"], "digest": "sha256:" + hashlib.sha256(arm).hexdigest(), "size": len(arm),
             "platform": {"architecture": "arm64", "os": "linux"}}
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [arm64, amd64]}
    put_manifest(registry, name, "index", json.dumps(index).encode(), index["mediaType"])
    base_manifest = json.loads((base / "blobs" / "sha256" / json.loads((base / "index.json").read_text())["manifests"][0]["digest"][7:]).read_text())
    return {"registry": registry, "name": name, "layer": base_manifest["layers"][0]["digest"],
            "amd64": amd64["digest"]}


def test_registry_base_is_mounted_not_downloaded_and_new_versions_upload_only_changes(mlops, models, registry_base, tmp_path):
    reg, name = registry_base["registry"], registry_base["name"]
    target = f"{reg}/models/{unique('mounted')}"
    r = mlops.run("-vv", "package", str(models / "iris"), "--format", "modelcar", "--base", f"{reg}/{name}:oci",
                  "--push", f"{target}:v3", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    p = out["pushed"]
    assert p["blobs_mounted"] == 1 and p["blobs_uploaded"] == 2, p  # base layer mounted; model layer + config
    assert f"GET http://{reg}/v2/{name}/blobs/{registry_base['layer']}" not in r.stderr  # never downloaded
    assert f"mount={registry_base['layer'].replace(':', '%3A')}" in r.stderr
    assert remote_digest(f"{target}:v3") == out["digest"]
    run("skopeo", "copy", "--src-tls-verify=false", f"docker://{target}:v3", f"oci:{tmp_path / 'back'}:t")
    run("umoci", "unpack", "--image", f"{tmp_path / 'back'}:t", str(tmp_path / "b"))
    assert tree(tmp_path / "b" / "rootfs" / "models") == tree(models / "iris")
    assert (tmp_path / "b" / "rootfs" / "bin" / "busybox").exists()
    # A new model version on the same base: only what changed goes up.
    v4 = tmp_path / "iris-v4"
    run("cp", "-r", str(models / "iris"), str(v4))
    (v4 / "mlops.lock.json").unlink()
    (v4 / "conda.yaml").write_text((v4 / "conda.yaml").read_text() + "# v4\n")
    r = mlops.run("package", str(v4), "--format", "modelcar", "--base", f"{reg}/{name}:oci", "--push", f"{target}:v4", "--json")
    assert r.returncode == 0, r.stderr
    out4 = json.loads(r.stdout)
    p4 = out4["pushed"]
    new = [l for l in out4["layers"] if not l["from_base"]]
    assert p4["blobs_uploaded"] == 2 and p4["blobs_skipped"] == 1, p4
    config_size = json.loads(run("skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{target}:v4").stdout)["config"]["size"]
    assert p4["uploaded_bytes"] == sum(l["size"] for l in new) + config_size
    assert p4["skipped_bytes"] == sum(l["size"] for l in out4["layers"] if l["from_base"])
    assert remote_digest(f"{target}:v4") == out4["digest"]


def test_registry_base_for_local_outputs_is_downloaded_and_checked(mlops, models, registry_base, tmp_path):
    reg, name = registry_base["registry"], registry_base["name"]
    for tag in ("docker", "index"):
        r = mlops.run("package", str(models / "iris"), "--format", "modelcar", "--base", f"{reg}/{name}:{tag}",
                      "--output", f"oci:out-{tag}:t", "--json")
        assert r.returncode == 0, (tag, r.stderr)
        out = mlops.cwd / f"out-{tag}"
        layer = registry_base["layer"]
        blob = out / "blobs" / "sha256" / layer[7:]
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == layer[7:]
        m = json.loads(run("skopeo", "inspect", "--raw", f"oci:{out}:t").stdout)
        assert m["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"  # Docker type converted
        if tag == "index":  # the amd64 entry was picked, not the first one
            assert m["annotations"]["org.opencontainers.image.base.digest"] == registry_base["amd64"]
        run("umoci", "unpack", "--image", f"{out}:t", str(tmp_path / f"u-{tag}"))
        assert tree(tmp_path / f"u-{tag}" / "rootfs" / "models") == tree(models / "iris")
    # docker-archive needs the base layers too.
    r = mlops.run("package", str(models / "iris"), "--format", "modelcar", "--base", f"{reg}/{name}:oci",
                  "--output", "docker-archive:b.tar:x/y:z")
    assert r.returncode == 0, r.stderr
    run("skopeo", "inspect", f"docker-archive:{mlops.cwd / 'b.tar'}")


def test_registry_base_failures_map_to_exit_codes(mlops, models, registry_base, services):
    reg, name = registry_base["registry"], registry_base["name"]
    cases = [
        (f"{reg}/{name}:nosuchtag", 4, "no manifest"),
        (f"{reg}/nosuch/repo:v1", 4, "no manifest"),
        (f"127.0.0.1:{free_port()}/bases/x:v1", 6, "cannot reach"),
        (f"{services['MLOPS_TEST_REGISTRY_TOKEN']}/bases/x:v1", 5, "cannot get a token"),
    ]
    for ref, code, why in cases:
        r = mlops.run("package", str(models / "iris"), "--format", "modelcar", "--base", ref, "--output", "oci:o",
                      env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1"})
        assert r.returncode == code, (ref, r.stderr)
        assert why in error_line(r.stderr), (ref, r.stderr)
    assert not (mlops.cwd / "o").exists()


# --------------------------------------------------------------------------- a registry that dies


class DedicatedRegistry:
    """A docker-registry of this test's own (config, storage, port), stopped by its PID."""

    def __init__(self, root: Path):
        self.root, self.port = root, free_port()
        (root / "data").mkdir(parents=True, exist_ok=True)
        (root / "config.yml").write_text(
            f"version: 0.1\nlog: {{level: warn}}\nstorage: {{filesystem: {{rootdirectory: {root / 'data'}}}}}\n"
            f"http: {{addr: 127.0.0.1:{self.port}, secret: dedicated-test-secret}}\n")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["docker-registry", "serve", str(self.root / "config.yml")],
                                     stdout=subprocess.DEVNULL, stderr=open(self.root / "log", "ab"))
        deadline = time.monotonic() + 20
        while subprocess.run(["curl", "-fs", f"http://127.0.0.1:{self.port}/v2/"], capture_output=True).returncode:
            assert self.proc.poll() is None and time.monotonic() < deadline, (self.root / "log").read_text()
            time.sleep(0.1)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def uploading(self) -> bool:
        return any(p.stat().st_size > 0 for p in (self.root / "data").rglob("_uploads/*/data"))


def test_registry_killed_mid_upload_then_rerun_completes(mlops, tmp_path):
    model = tmp_path / "big"
    (model / "data").mkdir(parents=True)
    (model / "MLmodel").write_text("flavors:\n  python_function:\n    loader_module: mlflow.pyfunc.model\n")
    with open(model / "data" / "weights.bin", "wb") as f:
        for _ in range(40):
            f.write(os.urandom(8 << 20))  # 320 MiB that does not compress
    reg = DedicatedRegistry(tmp_path / "reg")
    reg.start()
    try:
        ref = f"127.0.0.1:{reg.port}/models/big:v1"
        env = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1"}
        p = mlops.popen("package", str(model), "--format", "artifact", "--chunk-size", "8M", "--push", ref, env=env)
        deadline = time.monotonic() + 120
        while not reg.uploading():
            assert p.poll() is None, p.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        reg.kill()  # by its PID, mid-upload
        _, err = p.communicate(timeout=120)
        assert p.returncode == 6, err
        assert f"'http://127.0.0.1:{reg.port}'" in error_line(err)
        reg.start()  # the same storage, with the half upload in it
        r = mlops.run("-v", "package", str(model), "--format", "artifact", "--chunk-size", "8M", "--push", ref, "--json", env=env)
        assert r.returncode == 0, r.stderr
        # The remembered session was asked for. Killed inside a chunk, docker-registry 2.8 refuses
        # it (its stored size no longer matches the offset in the session's Location) and the
        # layer starts over; killed between two chunks, the rest is sent (see the next test).
        assert "continuing an earlier upload" in r.stderr or "upload session is gone" in r.stderr, r.stderr
        assert not list((mlops.cwd.parent / "xdg-cache" / "mlops" / "uploads").glob("*.json"))
        out = json.loads(r.stdout)
        assert remote_digest(ref) == out["digest"]
        run("skopeo", "copy", "--src-tls-verify=false", f"docker://{ref}", f"oci:{tmp_path / 'pulled'}:t")
        layer = out["layers"][0]["digest"]
        blob = tmp_path / "pulled" / "blobs" / "sha256" / layer[7:]
        h = hashlib.sha256()
        with open(blob, "rb") as f:
            while chunk := f.read(8 << 20):
                h.update(chunk)
        assert "sha256:" + h.hexdigest() == layer
    finally:
        reg.kill()


def big_model(root: Path, mib: int) -> Path:
    model = root / "big"
    (model / "data").mkdir(parents=True)
    (model / "MLmodel").write_text("flavors:\n  python_function:\n    loader_module: mlflow.pyfunc.model\n")
    with open(model / "data" / "weights.bin", "wb") as f:
        for _ in range(mib):
            f.write(os.urandom(1 << 20))  # does not compress: the layer is as big as the file
    return model


def test_registry_killed_between_chunks_then_rerun_sends_only_the_rest(mlops, tmp_path, fault_proxy):
    """The real registry is killed by its PID while faultproxy holds the 4th chunk of a streamed
    layer (holdpatch: that chunk never reaches it, the three before are stored). The rerun finds
    the session it remembered under the cache directory, asks the restarted registry how much
    it holds (GET on the session: Range) and sends only the rest; the proxy counts the PATCH
    bytes. (docker-registry 2.8 cancels a session whose stored size differs from the offset its
    Location carries, so a kill in the middle of a chunk cannot be continued by any client:
    test_registry_killed_mid_upload_then_rerun_completes covers that case, which starts over.)"""
    model = big_model(tmp_path, 48)
    reg = DedicatedRegistry(tmp_path / "reg")
    reg.start()
    proxy = fault_proxy("holdpatch:4", upstream=f"http://127.0.0.1:{reg.port}")
    held = Path(f"{proxy.stats_file}.held")
    try:
        ref = f"{proxy.url.removeprefix('http://')}/models/big:v1"
        env = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1"}
        argv = ("-v", "package", str(model), "--format", "artifact", "--chunk-size", "8M", "--push", ref, "--json")
        t0 = time.monotonic()
        p = mlops.popen(*argv, env=env)
        deadline = time.monotonic() + 120
        while not held.exists():
            assert p.poll() is None, p.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        reg.kill()  # by its PID, between two chunks of the upload
        _, err = p.communicate(timeout=120)
        assert p.returncode == 6, err
        assert time.monotonic() - t0 < 120
        reg.start()  # the same storage, with the three stored chunks in the session
        r = mlops.run(*argv, env=env)
        assert r.returncode == 0, r.stderr
        assert "continuing an earlier upload" in r.stderr and f"holds {3 * (8 << 20)} bytes" in r.stderr, r.stderr
        out = json.loads(r.stdout)
        layer_size = out["layers"][0]["size"]
        # Committed: the remembered session is gone.
        assert not list((mlops.cwd.parent / "xdg-cache" / "mlops" / "uploads").glob("*.json"))
        stats = proxy.stats()
        assert stats["held_patch"] == 1, stats
        # Three chunks in the first run, the rest in the second: the layer went up once.
        assert stats["patch_bytes"] == layer_size, (stats, layer_size)
        assert remote_digest(f"127.0.0.1:{reg.port}/models/big:v1") == out["digest"]
    finally:
        reg.kill()


# --------------------------------------------------------------------------- fault matrix
# Each fault against the real registry (faultproxy.py in front of it), reading a registry base
# into a local layout or pushing: the documented exit code, in bounded time, no partial output,
# and the same command succeeds once the fault is gone.

FAST = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "3",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0.05", "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0"}


def no_partial_output(cwd: Path) -> None:
    assert not [p.name for p in cwd.iterdir() if p.name.startswith(("o", ".o"))], list(cwd.iterdir())


@pytest.mark.parametrize("mode,code,why", [
    ("stall:100", 6, ""),                    # headers, 16 bytes, then silence: the idle timeout
    ("truncblob:100", 6, ""),                # every blob and manifest cut off half-way
    ("503:1000", 6, "HTTP 503"),             # a 5xx storm
    ("oversize:manifests", 1, "larger than 4.0 MiB"),  # a manifest bigger than the spec's limit
    ("oversize:blobs", 1, "larger than"),  # blobs longer than their descriptors say
    ("close", 6, ""),                        # reset: every connection closed without an answer
])
def test_registry_base_faults(mlops, models, registry_base, fault_proxy, mode, code, why):
    reg, name = registry_base["registry"], registry_base["name"]
    proxy = fault_proxy(mode, upstream=f"http://{reg}")
    base_ref = f"{proxy.url.removeprefix('http://')}/{name}:oci"
    t0 = time.monotonic()
    r = mlops.run("package", str(models / "iris"), "--format", "modelcar", "--base", base_ref, "--output", "oci:o", env=FAST,
                  timeout=180)
    took = time.monotonic() - t0
    assert r.returncode == code, (mode, r.stderr)
    assert why in error_line(r.stderr), (mode, r.stderr)
    assert took < 90, (mode, took)
    no_partial_output(mlops.cwd)
    # The fault gone (the same registry, straight): the same command succeeds.
    r = mlops.run("package", str(models / "iris"), "--format", "modelcar", "--base", f"{reg}/{name}:oci", "--output", "oci:o")
    assert r.returncode == 0, r.stderr
    run("skopeo", "inspect", f"oci:{mlops.cwd / 'o'}:latest")


def test_registry_base_truncated_once_is_retried(mlops, models, registry_base, fault_proxy):
    reg, name = registry_base["registry"], registry_base["name"]
    proxy = fault_proxy("truncblob:2", upstream=f"http://{reg}")
    r = mlops.run("package", str(models / "iris"), "--format", "modelcar", "--base",
                  f"{proxy.url.removeprefix('http://')}/{name}:oci", "--output", "oci:o", env=FAST)
    assert r.returncode == 0, r.stderr
    assert proxy.stats()["truncated_blob"] == 2
    run("skopeo", "inspect", f"oci:{mlops.cwd / 'o'}:latest")


def test_push_faults_exit_codes_and_rerun(mlops, models, services, fault_proxy):
    """Refused connections and a 5xx storm on push: exit 6 quickly; then the push succeeds."""
    registry = services["MLOPS_TEST_REGISTRY"]
    repo = f"models/{unique('faults')}"
    t0 = time.monotonic()
    r = mlops.run("package", str(models / "iris"), "--format", "artifact", "--push", f"127.0.0.1:{free_port()}/{repo}:v1",
                  env=FAST)
    assert r.returncode == 6 and time.monotonic() - t0 < 60, r.stderr
    proxy = fault_proxy("503:1000", upstream=f"http://{registry}")
    t0 = time.monotonic()
    r = mlops.run("package", str(models / "iris"), "--format", "artifact", "--push",
                  f"{proxy.url.removeprefix('http://')}/{repo}:v1", env=FAST)
    assert r.returncode == 6 and time.monotonic() - t0 < 60, r.stderr
    assert "HTTP 503" in error_line(r.stderr)
    r = mlops.run("package", str(models / "iris"), "--format", "artifact", "--push", f"{registry}/{repo}:v1", "--json")
    assert r.returncode == 0, r.stderr
    assert remote_digest(f"{registry}/{repo}:v1") == json.loads(r.stdout)["digest"]
