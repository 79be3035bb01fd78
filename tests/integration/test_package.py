"""`mlops package` into OCI layouts, checked by tools we did not write: skopeo and umoci
(Debian), and chroot into the unpacked modelcar. The base image is made here from Debian's
busybox-static (tests/fixtures/make_base_image.py): no network."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from conftest import REPO, error_line, tree

FIXTURES = REPO / "tests" / "fixtures"


def run(*cmd: str, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(list(cmd), capture_output=True, text=True, **kw)
    assert r.returncode == 0, (cmd, r.stdout, r.stderr)
    return r


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("base") / "busybox"
    run(sys.executable, str(FIXTURES / "make_base_image.py"), str(d), "--tag", "latest")
    return d


@pytest.fixture(scope="module")
def models(mlops_bin, mlflow_uri, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("models")
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "MLFLOW_TRACKING_URI": mlflow_uri}
    for uri, name in (("models:/iris/3", "iris"), ("models:/files/1", "files")):
        run(mlops_bin, "pull", uri, "-o", str(root / name), "-q", env=env)
    return root


def manifest_of(layout: Path, tag: str) -> dict:
    return json.loads(run("skopeo", "inspect", "--raw", f"oci:{layout}:{tag}").stdout)


def layer_files(layout: Path, digest: str) -> dict[str, bytes]:
    blob = layout / "blobs" / "sha256" / digest.split(":", 1)[1]
    out = {}
    with tarfile.open(blob) as tar:
        for m in tar.getmembers():
            assert m.uid == 0 and m.gid == 0 and m.uname == "" and m.gname == "", m.name
            if m.isfile():
                out[m.name] = tar.extractfile(m).read()
    return out


def package_schema() -> dict:
    return json.loads((REPO / "schemas" / "output.package.schema.json").read_text())


def test_artifact_is_readable_by_skopeo_and_holds_the_files(mlops, models):
    import jsonschema
    r = mlops.run("package", str(models / "files"), "--format", "artifact", "--output", "oci:art:v1", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    jsonschema.validate(out, package_schema())
    m = manifest_of(mlops.cwd / "art", "v1")
    assert m["artifactType"] == "application/vnd.mlops.mlflow.model.v1"
    assert m["config"]["mediaType"] == "application/vnd.oci.empty.v1+json" and m["config"]["size"] == 2
    assert m["annotations"]["io.mlflow.model.name"] == "files"
    assert m["annotations"]["io.mlops.lock.digest"].startswith("sha256:")
    blob = (mlops.cwd / "art" / "blobs" / "sha256" / out["digest"][7:]).read_bytes()
    assert out["digest"] == "sha256:" + hashlib.sha256(blob).hexdigest()
    files = layer_files(mlops.cwd / "art", m["layers"][0]["digest"])
    assert files == tree(models / "files")  # spaces, non-ASCII, empty and 50 MB files, nested folders
    # The random 50 MB file does not compress: auto stores it as-is.
    assert m["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar"
    run("skopeo", "copy", f"oci:{mlops.cwd / 'art'}:v1", f"oci:{mlops.cwd / 'copy'}:v1")


def test_modelcar_unpacks_with_umoci_and_runs_under_chroot(mlops, models, base):
    r = mlops.run("package", str(models / "iris"), "--format", "modelcar", "--base", f"oci:{base}:latest",
                  "--output", "oci:car:iris-v3")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("oci:car:iris-v3@sha256:")
    info = json.loads(run("skopeo", "inspect", f"oci:{mlops.cwd / 'car'}:iris-v3").stdout)
    assert info["Labels"]["io.mlflow.model.version"] == "3"
    assert info["Env"] == ["PATH=/bin"]  # inherited from the base
    m = manifest_of(mlops.cwd / "car", "iris-v3")
    base_manifest = manifest_of(base, "latest")
    assert m["layers"][0] == base_manifest["layers"][0]  # base layer reused as is
    assert m["annotations"]["org.opencontainers.image.base.digest"].startswith("sha256:")
    bundle = mlops.cwd / "bundle"
    run("umoci", "unpack", "--image", f"{mlops.cwd / 'car'}:iris-v3", str(bundle))
    assert tree(bundle / "rootfs" / "models") == tree(models / "iris")
    if os.geteuid() == 0:
        ls = run("chroot", str(bundle / "rootfs"), "/bin/sh", "-c", "ls /models")
        assert "MLmodel" in ls.stdout.split()
    else:
        pytest.skip("chroot needs root: the files were checked, the shell was not run")


def test_docker_archive_is_loadable_by_skopeo(mlops, models, base):
    r = mlops.run("package", str(models / "iris"), "--format", "modelcar", "--base", f"oci:{base}:latest",
                  "--output", "docker-archive:iris.tar:registry.local/iris:v3")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("docker-archive:iris.tar:registry.local/iris:v3@sha256:")
    archive = mlops.cwd / "iris.tar"
    assert oct(archive.stat().st_mode & 0o777) == "0o644"
    info = json.loads(run("skopeo", "inspect", f"docker-archive:{archive}").stdout)
    assert info["Labels"]["io.mlflow.model.name"] == "iris"
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    assert manifest[0]["RepoTags"] == ["registry.local/iris:v3"]
    run("skopeo", "copy", f"docker-archive:{archive}", f"oci:{mlops.cwd / 'fromtar'}:t")
    run("umoci", "unpack", "--image", f"{mlops.cwd / 'fromtar'}:t", str(mlops.cwd / "tb"))
    assert tree(mlops.cwd / "tb" / "rootfs" / "models") == tree(models / "iris")
    assert not [p.name for p in mlops.cwd.iterdir() if p.name.startswith(".")]


def test_serving_image_carries_mlserver_settings(mlops, models, base):
    r = mlops.run("package", str(models / "iris"), "--base", f"oci:{base}:latest", "--output", "oci:img:v3")
    assert r.returncode == 0, r.stderr
    bundle = mlops.cwd / "b"
    run("umoci", "unpack", "--image", f"{mlops.cwd / 'img'}:v3", str(bundle))
    settings = json.loads((bundle / "rootfs" / "mnt" / "models" / "model-settings.json").read_text())
    assert settings["implementation"] == "mlserver_mlflow.MLflowRuntime"
    assert settings["parameters"]["uri"] == "/mnt/models"
    assert (bundle / "rootfs" / "mnt" / "models" / "MLmodel").read_bytes() == (models / "iris" / "MLmodel").read_bytes()


def test_same_model_same_digest_anywhere(mlops, models, base, tmp_path):
    """Two copies of the model, packaged a while apart in other directories: one digest."""
    a, b = tmp_path / "a" / "iris", tmp_path / "b" / "iris"
    shutil.copytree(models / "iris", a)
    time.sleep(1.1)
    shutil.copytree(models / "iris", b)
    os.utime(b / "MLmodel", (0, 0))  # file times must not matter
    digests = []
    for src, out in ((a, "o1"), (b, "o2")):
        r = mlops.run("package", str(src), "--format", "modelcar", "--base", f"oci:{base}:latest",
                      "--output", f"oci:{out}:t", "--json")
        assert r.returncode == 0, r.stderr
        digests.append(json.loads(r.stdout)["digest"])
    assert digests[0] == digests[1]
    r = mlops.run("package", str(a), "--format", "modelcar", "--base", f"oci:{base}:latest", "--output", "oci:o3:t",
                  "--json", env={"SOURCE_DATE_EPOCH": "0"})
    assert json.loads(r.stdout)["digest"] != digests[0]


def test_compression_choices(mlops, models):
    for comp, media in (("gzip", "tar+gzip"), ("zstd", "tar+zstd"), ("none", "tar")):
        r = mlops.run("package", str(models / "iris"), "--format", "artifact", "--compression", comp,
                      "--output", f"oci:c-{comp}:t")
        assert r.returncode == 0, r.stderr
        assert manifest_of(mlops.cwd / f"c-{comp}", "t")["layers"][0]["mediaType"].endswith(media)
    # gzip of the same files is still a valid, reproducible stream.
    run("skopeo", "copy", f"oci:{mlops.cwd / 'c-gzip'}:t", f"oci:{mlops.cwd / 'c-copy'}:t")


def test_zstd_layers_are_read_by_skopeo_and_the_zstd_tool_and_reproducible(mlops, models, base):
    digests = []
    for out in ("z1", "z2"):
        r = mlops.run("package", str(models / "files"), "--format", "modelcar", "--base", f"oci:{base}:latest",
                      "--compression", "zstd", "--output", f"oci:{out}:t", "--json")
        assert r.returncode == 0, r.stderr
        digests.append(json.loads(r.stdout)["digest"])
    assert digests[0] == digests[1]
    layout = mlops.cwd / "z1"
    m = manifest_of(layout, "t")  # skopeo inspect --raw
    layer = m["layers"][-1]
    assert layer["mediaType"] == "application/vnd.oci.image.layer.v1.tar+zstd"
    assert m["layers"][0] == manifest_of(base, "latest")["layers"][0]  # the base layer is kept as it is
    blob = layout / "blobs" / "sha256" / layer["digest"][7:]
    assert layer["digest"] == "sha256:" + hashlib.sha256(blob.read_bytes()).hexdigest()
    # The zstd tool (which checks the frame's checksum) gives the tar whose sha256 is the diff_id.
    tar_bytes = subprocess.run(["zstd", "-d", "-c", "-q", str(blob)], capture_output=True, check=True).stdout
    config = json.loads((layout / "blobs" / "sha256" / m["config"]["digest"][7:]).read_bytes())
    assert config["rootfs"]["diff_ids"][-1] == "sha256:" + hashlib.sha256(tar_bytes).hexdigest()
    files = {}
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        for member in tar.getmembers():
            assert member.uid == 0 and member.gid == 0 and member.uname == "" and member.gname == "", member.name
            if member.isfile():
                files[member.name.removeprefix("models/")] = tar.extractfile(member).read()
    assert files == tree(models / "files")
    # umoci 0.4.7 (Debian 12) refuses tar+zstd layers ("blob is not correct mediatype"), so skopeo
    # (containers/image's zstd decoder) recompresses the image to gzip and umoci unpacks that copy.
    run("skopeo", "copy", "--dest-compress", "--dest-compress-format", "gzip", f"oci:{layout}:t",
        f"oci:{mlops.cwd / 'z-gzip'}:t")
    run("umoci", "unpack", "--image", f"{mlops.cwd / 'z-gzip'}:t", str(mlops.cwd / "zb"))
    assert tree(mlops.cwd / "zb" / "rootfs" / "models") == tree(models / "files")


def test_failures_leave_no_layout(mlops, models, base, tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "weights.bin").write_bytes(b"x")
    cases = [
        (["package", str(plain), "--format", "artifact", "--output", "oci:o1"], 1, "no MLmodel"),
        (["package", str(models / "iris"), "--format", "modelcar", "--base", f"oci:{tmp_path}/nobase", "--output", "oci:o2"], 4, "not an OCI image layout"),
        (["package", str(models / "iris"), "--format", "modelcar", "--base", f"oci:{base}:nosuchtag", "--output", "oci:o3"], 4, "no image tagged 'nosuchtag'"),
        (["package", str(models / "iris"), "--format", "modelcar", "--output", "oci:o4"], 2, "need --base"),
        (["package", str(models / "iris"), "--format", "tarball", "--output", "oci:o5"], 2, "tarball"),
    ]
    for argv, code, why in cases:
        r = mlops.run(*argv)
        assert r.returncode == code, (argv, r.stderr)
        assert why in r.stderr, (argv, r.stderr)
    assert not [p for p in mlops.cwd.iterdir() if p.name.startswith(("o", ".o"))], list(mlops.cwd.iterdir())


def test_escaping_symlink_and_changed_files_are_refused(mlops, models, tmp_path):
    m = tmp_path / "m"
    shutil.copytree(models / "iris", m)
    lock = (m / "mlops.lock.json").read_bytes()
    (m / "mlops.lock.json").unlink()  # a plain model directory: links are judged by where they point
    (m / "inside").symlink_to("MLmodel")
    (m / "escape").symlink_to("/etc/passwd")
    r = mlops.run("package", str(m), "--format", "artifact", "--output", "oci:x")
    assert r.returncode == 1
    assert "symbolic link 'escape' points outside the model directory" in error_line(r.stderr)
    (m / "escape").unlink()
    r = mlops.run("package", str(m), "--format", "artifact", "--output", "oci:ok", "--json")
    assert r.returncode == 0, r.stderr  # a link that stays inside is kept as a link
    (m / "inside").unlink()
    (m / "mlops.lock.json").write_bytes(lock)
    (m / "conda.yaml").write_text("changed: true\n")
    r = mlops.run("package", str(m), "--format", "artifact", "--output", "oci:x")
    assert r.returncode == 3
    assert "no longer matches its lock file" in error_line(r.stderr)
    assert not (mlops.cwd / "x").exists()


# --------------------------------------------------------------------------- registry push
# Debian's docker-registry, started by scripts/services.sh: one open, one with htpasswd auth.


def docker_config(tmp_path: Path, registry: str, user: str, password: str) -> Path:
    import base64
    d = tmp_path / "docker"
    d.mkdir(exist_ok=True)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (d / "config.json").write_text(json.dumps({"auths": {registry: {"auth": auth}}}))
    return d


def test_push_to_a_registry_then_push_again_uploads_nothing(mlops, models, base, services):
    registry = services["MLOPS_TEST_REGISTRY"]
    ref = f"{registry}/models/iris-{os.getpid()}-{time.monotonic_ns()}:v3"  # a repository of its own
    r = mlops.run("package", str(models / "iris"), "--format", "modelcar", "--base", f"oci:{base}:latest",
                  "--output", "oci:local:v3", "--push", ref, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    import jsonschema
    jsonschema.validate(out, package_schema())
    assert out["pushed"]["reference"] == f"{ref}@{out['digest']}"
    assert out["pushed"]["blobs_uploaded"] == 3 and out["pushed"]["blobs_skipped"] == 0
    remote = json.loads(run("skopeo", "inspect", "--tls-verify=false", f"docker://{ref}").stdout)
    assert remote["Digest"] == out["digest"]  # the registry holds exactly the bytes we built
    assert remote["Labels"]["io.mlflow.model.version"] == "3"
    # The same model again: every blob is already there, only the manifest travels.
    again = mlops.run("package", str(models / "iris"), "--format", "modelcar", "--base", f"oci:{base}:latest",
                      "--push", ref, "--json")
    assert again.returncode == 0, again.stderr
    p = json.loads(again.stdout)["pushed"]
    assert p["blobs_uploaded"] == 0 and p["uploaded_bytes"] == 0 and p["blobs_skipped"] == 3
    run("skopeo", "copy", "--src-tls-verify=false", f"docker://{ref}", f"oci:{mlops.cwd / 'pulledback'}:t")
    run("umoci", "unpack", "--image", f"{mlops.cwd / 'pulledback'}:t", str(mlops.cwd / "pb"))
    assert tree(mlops.cwd / "pb" / "rootfs" / "models") == tree(models / "iris")


def test_push_with_basic_auth_over_tls_from_docker_config(mlops, models, services, tmp_path):
    """The htpasswd registry speaks TLS with a CA made for the test: untrusted by default."""
    registry = services["MLOPS_TEST_REGISTRY_AUTH"]
    ca = services["MLOPS_TEST_REGISTRY_AUTH_CA"]
    user, password = services["MLOPS_TEST_REGISTRY_USER"], services["MLOPS_TEST_REGISTRY_PASSWORD"]
    ref = f"{registry}/models/files:v1"
    untrusted = mlops.run("package", str(models / "iris"), "--format", "artifact", "--push", ref)
    assert untrusted.returncode == 1, untrusted.stderr
    assert f"TLS connection to 'https://{registry}'" in error_line(untrusted.stderr)
    assert "--ca-bundle" in untrusted.stderr
    none = mlops.run("--ca-bundle", ca, "package", str(models / "iris"), "--format", "artifact", "--push", ref)
    assert none.returncode == 5
    assert f"'{registry}'" in error_line(none.stderr) and "no credentials" in none.stderr
    wrong = docker_config(tmp_path, registry, user, "not-the-password-123")
    r = mlops.run("-vv", "--ca-bundle", ca, "package", str(models / "iris"), "--format", "artifact", "--push", ref,
                  env={"DOCKER_CONFIG": str(wrong)})
    assert r.returncode == 5, r.stderr
    assert "$DOCKER_CONFIG/config.json" in r.stderr  # names the credential source it tried
    assert "not-the-password-123" not in r.stdout + r.stderr
    good = docker_config(tmp_path, registry, user, password)
    r = mlops.run("-vv", "--ca-bundle", ca, "package", str(models / "iris"), "--format", "artifact", "--push", ref,
                  env={"DOCKER_CONFIG": str(good)})
    assert r.returncode == 0, r.stderr
    assert password not in r.stdout + r.stderr
    creds = f"--creds={user}:{password}"
    raw = json.loads(run("skopeo", "inspect", "--raw", "--tls-verify=false", creds, f"docker://{ref}").stdout)
    assert raw["artifactType"] == "application/vnd.mlops.mlflow.model.v1"


def test_push_refuses_bad_references_before_working(mlops, models):
    for ref, why in (("iris:v3", "no registry host"), ("127.0.0.1:5000/Models/Iris", "lowercase")):
        r = mlops.run("package", str(models / "iris"), "--format", "artifact", "--push", ref)
        assert r.returncode == 2, (ref, r.stderr)
        assert why in error_line(r.stderr)


def test_disk_full_while_writing_a_layout_leaves_nothing(mlops, models, base, tmp_path):
    """A real full disk: a 1 MiB tmpfs mounted in a mount namespace of the mlops process alone
    (unshare -m), so the mount disappears with it. The model is bigger than the disk."""
    model = tmp_path / "big-model"
    shutil.copytree(models / "iris", model)
    (model / "weights.bin").write_bytes(os.urandom(3 << 20))
    (model / "mlops.lock.json").unlink()  # the lock would not match the added file
    disk = tmp_path / "disk"
    disk.mkdir()
    env = mlops.env(None, "default")
    script = ('mount -t tmpfs -o size=1m tmpfs "$1" && mkdir "$1/keep" && echo old > "$1/keep/file" && '
              'shift && "$@"; rc=$?; ls -A "$DISK"; exit $rc')
    r = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", str(disk), mlops.binary, "package", str(model),
                        "--format", "modelcar", "--base", f"oci:{base}:latest", "--compression", "none",
                        "--output", f"oci:{disk}/out:v1"], cwd=mlops.cwd, env={**env, "DISK": str(disk)},
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    line = error_line(r.stderr)
    assert "No space left on device" in line or "no space" in line.lower(), line
    # Only what was there before: no half-written layout, no temporary directory.
    assert r.stdout.split() == ["keep"], r.stdout


def test_package_section_sets_image_config_and_templates_override(mlops, models, base, tmp_path):
    """package: in mlops.yaml extends the base's config (Env added/replaced, Entrypoint, Cmd,
    Labels) and sets defaults that flags beat; --templates overrides model-settings.json."""
    import jsonschema
    import yaml
    base_cfg = json.loads(run("skopeo", "inspect", "--config", f"oci:{base}:latest").stdout)["config"]
    (mlops.cwd / "mlops.yaml").write_text("""\
package:
  format: image
  model_path: /opt/model
  implementation: mlserver_sklearn.SKLearnModel
  env: {MLSERVER_HTTP_PORT: "8080", PATH: /opt/bin:/bin}
  entrypoint: [mlserver, start]
  cmd: [/opt/model]
  labels: {team: fraud}
""")
    jsonschema.validate(yaml.safe_load((mlops.cwd / "mlops.yaml").read_text()),
                        json.loads((REPO / "schemas" / "mlops.schema.json").read_text()))
    r = mlops.run("package", str(models / "iris"), "--base", f"oci:{base}:latest", "--output", "oci:cfg:v1")
    assert r.returncode == 0, r.stderr
    cfg = json.loads(run("skopeo", "inspect", "--config", f"oci:{mlops.cwd / 'cfg'}:v1").stdout)["config"]
    assert "MLSERVER_HTTP_PORT=8080" in cfg["Env"] and "PATH=/opt/bin:/bin" in cfg["Env"]
    assert sum(e.startswith("PATH=") for e in cfg["Env"]) == 1
    assert len(cfg["Env"]) == len(base_cfg.get("Env") or []) + (1 if any(e.startswith("PATH=") for e in base_cfg.get("Env") or []) else 2)
    assert cfg["Entrypoint"] == ["mlserver", "start"] and cfg["Cmd"] == ["/opt/model"]
    assert cfg["Labels"]["team"] == "fraud" and cfg["Labels"]["io.mlflow.model.name"] == "iris"
    bundle = mlops.cwd / "b1"
    run("umoci", "unpack", "--image", f"{mlops.cwd / 'cfg'}:v1", str(bundle))
    settings = json.loads((bundle / "rootfs" / "opt" / "model" / "model-settings.json").read_text())
    assert settings == {"implementation": "mlserver_sklearn.SKLearnModel", "name": "iris", "parameters": {"uri": "/opt/model"}}

    # A flag beats the file; a user template replaces the built-in one.
    tpl = tmp_path / "tpl" / "package"
    tpl.mkdir(parents=True)
    (tpl / "model-settings.json.mustache").write_text('{"name": {{name}}, "implementation": {{implementation}}, '
                                                       '"parameters": {"uri": {{uri}}, "version": "v1"}}\n')
    r = mlops.run("package", str(models / "iris"), "--base", f"oci:{base}:latest", "--model-path", "/srv/m",
                  "--templates", str(tmp_path / "tpl"), "--output", "oci:cfg2:v1")
    assert r.returncode == 0, r.stderr
    bundle2 = mlops.cwd / "b2"
    run("umoci", "unpack", "--image", f"{mlops.cwd / 'cfg2'}:v1", str(bundle2))
    settings = json.loads((bundle2 / "rootfs" / "srv" / "m" / "model-settings.json").read_text())
    assert settings["parameters"] == {"uri": "/srv/m", "version": "v1"}

    # A template that does not render JSON, and bad config values: exit 2, nothing written.
    (tpl / "model-settings.json.mustache").write_text("name: {{name}}\n")
    r = mlops.run("package", str(models / "iris"), "--base", f"oci:{base}:latest", "--templates", str(tmp_path / "tpl"),
                  "--output", "oci:cfg3:v1")
    assert r.returncode == 2 and "did not render JSON" in error_line(r.stderr)
    for bad, key in [("package: {env: {'1BAD': x}}\n", "package.env.1BAD"), ("package: {entrypnt: [x]}\n", "package.entrypnt"),
                     ("package: {model_path: rel}\n", "package.model_path")]:
        (mlops.cwd / "mlops.yaml").write_text(bad)
        r = mlops.run("package", str(models / "iris"), "--base", f"oci:{base}:latest", "--output", "oci:cfg4:v1")
        assert r.returncode == 2 and key in error_line(r.stderr), r.stderr
    assert not (mlops.cwd / "cfg3").exists() and not (mlops.cwd / "cfg4").exists()


# --------------------------------------------------------------------------- hostile trees and bases


def nobody_tree(src: Path) -> Path:
    """A copy of `src` in a fresh directory that user 65534 owns and can reach."""
    import tempfile
    root = Path(tempfile.mkdtemp(prefix="mlops-nobody-"))
    root.chmod(0o755)
    shutil.copytree(src, root / "m", symlinks=True)
    for p in [root, *root.rglob("*")]:
        os.lchown(p, 65534, 65534)
    return root


def as_nobody(mlops, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Runs mlops as user 65534 (setpriv, util-linux): root reads what chmod 000 forbids."""
    env = mlops.env(None, None)
    env.update({"HOME": str(cwd), "XDG_CACHE_HOME": str(cwd / ".cache"), "XDG_CONFIG_HOME": str(cwd / ".config")})
    return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", mlops.binary, *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_a_subdirectory_that_cannot_be_read_fails_package_and_verify(mlops, models):
    """A directory the user cannot read used to end the walk: package exited 0 with every file
    after it missing from the layer, and pull --verify said the tree matched its lock file."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run mlops as another user (setpriv); as that user chmod 000 is tested directly")
    root = nobody_tree(models / "files")
    try:
        m = root / "m"
        (m / "a-locked").mkdir()
        (m / "a-locked" / "secret.bin").write_bytes(b"x")
        os.lchown(m / "a-locked", 65534, 65534)
        os.lchown(m / "a-locked" / "secret.bin", 65534, 65534)
        (m / "a-locked").chmod(0)
        r = as_nobody(mlops, "pull", "--verify", str(m), cwd=root)
        assert r.returncode == 1, r.stderr + r.stdout
        assert "a-locked" in error_line(r.stderr) and "Permission denied" in error_line(r.stderr)
        assert "matches" not in r.stdout
        r = as_nobody(mlops, "validate", str(m), cwd=root)
        assert r.returncode == 1, r.stderr + r.stdout
        assert "a-locked" in error_line(r.stderr) and "Permission denied" in error_line(r.stderr)
        (m / "mlops.lock.json").unlink()  # a plain model directory: only the walk sees the problem
        r = as_nobody(mlops, "package", str(m), "--format", "artifact", "--output", f"oci:{root / 'out'}", cwd=root)
        assert r.returncode == 1, r.stderr
        assert f"cannot read '{m / 'a-locked'}': Permission denied" in error_line(r.stderr)
        assert not [p.name for p in root.iterdir() if "out" in p.name]  # no layout, no temporary
    finally:
        (root / "m" / "a-locked").chmod(0o755)
        shutil.rmtree(root, ignore_errors=True)


def test_one_rule_for_file_names_and_links_in_validate_and_package(mlops, models, tmp_path):
    """A name that is not UTF-8 passed validate and failed package with libarchive's message;
    an MLmodel linked to a file outside the model passed validate and failed package."""
    m = tmp_path / "m"
    shutil.copytree(models / "iris", m)
    (m / "mlops.lock.json").unlink()
    bad = os.fsencode(m) + b"/caf\xe9.bin"
    with open(bad, "wb") as f:
        f.write(b"latin-1 name")
    for argv, code in ((["validate", str(m)], 3), (["package", str(m), "--format", "artifact", "--output", "oci:x"], 1)):
        r = mlops.run(*argv)
        assert r.returncode == code, (argv, r.stdout, r.stderr)
        assert "file name 'caf\\xe9.bin' is not valid UTF-8" in r.stdout + r.stderr, (argv, r.stdout, r.stderr)
        assert "Pathname" not in r.stderr  # libarchive's text
    os.unlink(bad)
    outside = tmp_path / "elsewhere-MLmodel"
    shutil.copy(m / "MLmodel", outside)
    (m / "MLmodel").unlink()
    (m / "MLmodel").symlink_to(outside)
    for argv, code in ((["validate", str(m)], 3), (["package", str(m), "--format", "artifact", "--output", "oci:x"], 1)):
        r = mlops.run(*argv)
        assert r.returncode == code, (argv, r.stdout, r.stderr)
        assert "symbolic link 'MLmodel' points outside the model directory" in r.stdout + r.stderr, (argv, r.stdout)
    assert not (mlops.cwd / "x").exists()


def damaged_base(base: Path, tmp_path: Path, name: str) -> tuple[Path, dict, Path]:
    """A copy of the base layout, its manifest and the path of its first layer blob."""
    copy = tmp_path / name
    shutil.copytree(base, copy)
    index = json.loads((copy / "index.json").read_text())
    manifest = json.loads((copy / "blobs" / "sha256" / index["manifests"][0]["digest"][7:]).read_text())
    return copy, manifest, copy / "blobs" / "sha256" / manifest["layers"][0]["digest"][7:]


def retag(copy: Path, manifest: dict) -> None:
    """Stores `manifest` as a new blob and points the layout's only tag at it."""
    data = json.dumps(manifest).encode()
    digest = hashlib.sha256(data).hexdigest()
    (copy / "blobs" / "sha256" / digest).write_bytes(data)
    index = json.loads((copy / "index.json").read_text())
    index["manifests"][0].update({"digest": "sha256:" + digest, "size": len(data)})
    (copy / "index.json").write_text(json.dumps(index))


def test_damaged_base_blobs_are_refused_while_copied(mlops, models, base, tmp_path):
    """Base blobs used to be hard-linked or copied unchecked: a flipped byte went into the output
    under a digest it no longer had, a link to a system file was copied, 10^15 bytes accepted."""
    flipped, _, layer = damaged_base(base, tmp_path, "flipped")
    data = bytearray(layer.read_bytes())
    data[len(data) // 2] ^= 0xFF
    layer.unlink()  # the original is hard-linked from the fixture
    layer.write_bytes(bytes(data))
    linked, _, layer = damaged_base(base, tmp_path, "linked")
    layer.unlink()
    layer.symlink_to("/etc/passwd")
    huge, manifest, _ = damaged_base(base, tmp_path, "huge")
    manifest["layers"][0]["size"] = 10**15
    retag(huge, manifest)
    retagged, manifest, _ = damaged_base(base, tmp_path, "retagged")
    manifest["annotations"] = {"x": "y"}
    retag(retagged, manifest)
    cases = [(flipped, "does not match its digest"), (linked, "is not a regular file"), (huge, "more than the limit")]
    for layout, why in cases:
        r = mlops.run("package", str(models / "iris"), "--format", "modelcar", "--base", f"oci:{layout}", "--output", "oci:o")
        assert r.returncode == 1, (layout.name, r.stderr)
        assert why in error_line(r.stderr), (layout.name, r.stderr)
        assert not [p for p in mlops.cwd.iterdir() if p.name.startswith(("o", ".o"))]
    r = mlops.run("package", str(models / "iris"), "--format", "modelcar", "--base", f"oci:{retagged}", "--output", "oci:o")
    assert r.returncode == 0, r.stderr  # a re-tagged but intact base is fine
    run("skopeo", "inspect", f"oci:{mlops.cwd / 'o'}:latest")


def test_huge_image_references_are_refused_not_a_crash(mlops, models, base):
    """A 50,000-character reference overflowed the stack in std::regex (SIGSEGV)."""
    huge = "127.0.0.1:5000/" + "a" * 50000
    for argv in (["package", str(models / "iris"), "--format", "artifact", "--push", huge],
                 ["package", str(models / "iris"), "--format", "modelcar", "--base", huge, "--output", "oci:o"],
                 ["render", "--image", huge + "@sha256:" + "0" * 64]):
        (mlops.cwd / "mlops.yaml").write_text("deploy:\n  name: iris\n  target: kserve\n  image: i:1\n")
        r = mlops.run(*argv, timeout=60)
        assert r.returncode == 2, (argv[:3], r.returncode, r.stderr[-300:])
        if argv[0] == "package":
            assert len(r.stderr) < 2000  # the reference is not echoed whole
