"""mlops init, doctor and release against the real servers of scripts/services.sh: the MLflow
tracking server, Debian's docker-registry and the git server (git http-backend behind lighttpd).
Results are read with other clients (the MLflow Python client, the registry's HTTP API with
urllib, the git command line), never with mlops' own code. A service that is "down" is a closed
port on 127.0.0.1 (a port that was free when the test picked it), which is what a stopped server
looks like to a client; no stand-in server is used."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import jsonschema
import pytest
import yaml
from mlflow import MlflowClient

from conftest import REPO, error_line, free_port

FIXTURES = REPO / "tests" / "fixtures"


def schema(name: str) -> dict:
    return json.loads((REPO / "schemas" / name).read_text())


def git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("base") / "busybox"
    subprocess.run([sys.executable, str(FIXTURES / "make_base_image.py"), str(d), "--tag", "latest"], check=True,
                   capture_output=True)
    return d


class Release:
    """A fresh registered model (versions of the fixture 'iris'), a bare repository on the git
    server, a repository on the registry and a project directory whose mlops.yaml names them."""

    def __init__(self, services: dict, mlops, base: Path, versions: int = 1):
        self.services = services
        self.mlops = mlops
        self.uri = services["MLOPS_TEST_MLFLOW_URI"]
        self.client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        self.name = f"rel-{uuid.uuid4().hex[:8]}"
        src = self.client.get_model_version("iris", "1")
        model_id = src.source.rsplit("/", 1)[-1] if src.source.startswith("models:/m-") else None
        self.client.create_registered_model(self.name)
        for _ in range(versions):
            self.client.create_model_version(self.name, src.source, run_id=src.run_id, model_id=model_id)
        self.bare = Path(services["MLOPS_TEST_GIT_ROOT"]) / f"{self.name}.git"
        git("init", "-q", "--bare", str(self.bare))
        self.git_url = f"{services['MLOPS_TEST_GIT_HTTP']}/{self.name}.git"
        self.registry = services["MLOPS_TEST_REGISTRY"]
        self.repo = f"{self.registry}/models/{self.name}"
        self.base = base
        self.write()

    def write(self, registry: str | None = None, git_url: str | None = None, extra: str = "") -> None:
        reg = registry or self.repo
        (self.mlops.cwd / "mlops.yaml").write_text(f"""\
package:
  format: modelcar
  base: "oci:{self.base}:latest"
deploy:
  name: {self.name}
  target: kserve
  namespace: models
  environments:
    prod: {{namespace: models-prod}}
gitops:
  url: {git_url or self.git_url}
  branch: main
  path: "clusters/{{env}}/{{model}}"
environments:
  dev:
    registry: {reg}
  staging:
    registry: {reg}
    requires: {{validation: true}}
  prod:
    registry: {reg}
    requires: {{validation: true, approvals: 1, previous: staging, image: true}}
{extra}""")
        jsonschema.validate(yaml.safe_load((self.mlops.cwd / "mlops.yaml").read_text()), schema("mlops.schema.json"))

    def env(self, **extra: str) -> dict[str, str]:
        e = {"MLOPS_GIT_USERNAME": self.services["MLOPS_TEST_GIT_USER"],
             "MLOPS_GIT_PASSWORD": self.services["MLOPS_TEST_GIT_PASSWORD"], "MLOPS_ACTOR": "ci"}
        e.update(extra)
        return e

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        return self.mlops.run(*args, env=self.env(**env), timeout=600)

    def release(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        return self.run("--json", "release", *args, **env)

    def commits(self) -> list[str]:
        out = subprocess.run(["git", "--git-dir", str(self.bare), "rev-list", "main"], capture_output=True, text=True)
        return out.stdout.split() if out.returncode == 0 else []

    def show(self, commit: str, path: str) -> str:
        return git("--git-dir", str(self.bare), "show", f"{commit}:{path}")

    def alias(self, alias: str) -> str | None:
        try:
            return self.client.get_model_version_by_alias(self.name, alias).version
        except Exception:  # noqa: BLE001 - no such alias
            return None

    def tags(self, version: str) -> dict[str, str]:
        return self.client.get_model_version(self.name, version).tags

    def manifest(self, reference: str) -> tuple[int, dict | None]:
        req = urllib.request.Request(f"http://{self.registry}/v2/models/{self.name}/manifests/{reference}",
                                     headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, None


@pytest.fixture
def rel(services, mlops, base) -> Release:
    return Release(services, mlops, base)


def closed_port() -> int:
    return free_port()


# --------------------------------------------------------------------------- init


def test_init_writes_a_commented_project_that_loads_and_never_overwrites(mlops, services):
    r = mlops.run("init", "--name", "iris", "--target", "kserve", "--registry", services["MLOPS_TEST_REGISTRY"],
                  "--gitops", "https://git.example/platform/manifests.git", "--base", "registry.example/busybox:1.36")
    assert r.returncode == 0, r.stderr
    f = mlops.cwd / "mlops.yaml"
    text = f.read_text()
    assert text.count("\n#") >= 5, "the file explains itself"
    data = yaml.safe_load(text)
    jsonschema.validate(data, schema("mlops.schema.json"))
    assert data["environments"]["prod"]["registry"] == services["MLOPS_TEST_REGISTRY"] + "/models/iris"
    assert data["deploy"] == {**data["deploy"], "name": "iris", "target": "kserve"}
    assert data["package"]["base"] == "registry.example/busybox:1.36"
    assert data["gitops"]["url"] == "https://git.example/platform/manifests.git"
    # Every command reads it: render with an image, and doctor's config check.
    rendered = mlops.run("render", "--env", "staging", "--model-uri", "oci://registry.example/iris@sha256:" + "a" * 64)
    assert rendered.returncode == 0, rendered.stderr
    assert "namespace: \"models-staging\"" in rendered.stdout or "models-staging" in rendered.stdout

    again = mlops.run("init", "--name", "other")
    assert again.returncode == 7
    assert error_line(again.stderr) == "mlops: error: cannot write 'mlops.yaml': it exists"
    assert "--force" in again.stderr
    assert f.read_text() == text
    forced = mlops.run("init", "--name", "other", "--target", "k8s", "--force")
    assert forced.returncode == 0, forced.stderr
    data = yaml.safe_load(f.read_text())
    assert data["deploy"]["name"] == "other" and data["package"]["format"] == "image"
    assert "registry" not in data["environments"]["prod"], "no --registry: a commented example"
    assert [p.name for p in mlops.cwd.iterdir() if p.name.startswith(".mlops")] == [], "no temporary file left"


def test_init_asks_nothing_when_stdin_is_not_a_terminal(mlops):
    p = subprocess.run([mlops.binary, "init"], cwd=mlops.cwd, env=mlops.env(None, None), stdin=subprocess.PIPE,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    data = yaml.safe_load((mlops.cwd / "mlops.yaml").read_text())
    assert data["deploy"]["name"] == "work"  # the directory's name
    jsonschema.validate(data, schema("mlops.schema.json"))


def test_init_refuses_values_the_loader_refuses_and_writes_nothing(mlops):
    r = mlops.run("init", "--gitops", "https://user:secret@git.example/m.git")
    assert r.returncode == 2
    assert "gitops.url" in error_line(r.stderr) and "secret" not in r.stderr
    assert "mlops.yaml:" in r.stderr and ".init-" not in r.stderr, "the error names the file asked for"
    r = mlops.run("init", "--target", "helm")
    assert r.returncode == 2 and "invalid --target 'helm'" in r.stderr
    assert list(mlops.cwd.iterdir()) == []


def test_init_works_next_to_a_broken_project_file(mlops):
    (mlops.cwd / "mlops.yaml").write_text("deploy: [broken\n")
    r = mlops.run("init", "--force")
    assert r.returncode == 0, r.stderr


def test_render_without_a_project_hints_at_init(mlops):
    r = mlops.run("render", "--env", "staging")
    assert r.returncode == 2
    assert "mlops init" in r.stderr


# --------------------------------------------------------------------------- doctor


def doctor(rel: Release, *args: str, **env: str) -> tuple[subprocess.CompletedProcess, dict[str, dict]]:
    r = rel.run("--json", "doctor", *args, **env)
    out = json.loads(r.stdout)
    jsonschema.validate(out, schema("output.doctor.schema.json"))
    return r, {c["name"]: c for c in out["checks"]}


def test_doctor_passes_with_every_server_up(rel):
    r, checks = doctor(rel)
    assert r.returncode == 0, (r.stderr, checks)
    assert [c for c in checks.values() if c["status"] == "fail"] == []
    assert checks["mlflow"]["status"] == "pass" and "MLflow 3." in checks["mlflow"]["detail"]
    assert checks["model"]["status"] == "pass" and rel.name in checks["model"]["detail"]
    assert checks["clock"]["status"] == "pass"
    for env in ("dev", "staging", "prod"):
        assert checks[f"registry {env}"]["status"] == "pass", checks[f"registry {env}"]
        assert "accepts a push" in checks[f"registry {env}"]["detail"]
    assert checks["gitops"]["status"] == "pass" and "push allowed" in checks["gitops"]["detail"]
    assert "MLOPS_GIT_PASSWORD" in checks["gitops"]["detail"], "names where the credentials came from"
    # The push check leaves nothing in the registry.
    assert rel.manifest("latest")[0] == 404
    text = rel.run("doctor", "--env", "prod")
    assert text.returncode == 0, text.stderr
    assert "PASS  registry prod" in text.stdout and "registry dev" not in text.stdout


def test_doctor_with_each_service_down_in_turn(rel):
    # MLflow down: its checks fail or skip, the rest still run.
    r, checks = doctor(rel, MLFLOW_TRACKING_URI=f"http://127.0.0.1:{closed_port()}")
    assert r.returncode == 3
    assert checks["mlflow"]["status"] == "fail" and "connection refused" in checks["mlflow"]["detail"]
    assert checks["mlflow"]["hint"]
    assert checks["mlflow-auth"]["status"] == "skip" and checks["model"]["status"] == "skip"
    assert checks["gitops"]["status"] == "pass" and checks["registry staging"]["status"] == "pass"
    assert error_line(r.stderr) == "mlops: error: doctor found 1 problem"
    # The registry down.
    rel.write(registry=f"127.0.0.1:{closed_port()}/models/x")
    r, checks = doctor(rel)
    assert r.returncode == 3
    assert checks["registry staging"]["status"] == "fail"
    assert "connection refused" in checks["registry staging"]["detail"]
    assert checks["mlflow"]["status"] == "pass" and checks["gitops"]["status"] == "pass"
    # The git server down.
    rel.write(git_url=f"http://127.0.0.1:{closed_port()}/git/x.git")
    r, checks = doctor(rel)
    assert r.returncode == 3
    assert checks["gitops"]["status"] == "fail" and checks["registry staging"]["status"] == "pass"
    # Wrong git credentials: reachable, refused.
    rel.write()
    r, checks = doctor(rel, MLOPS_GIT_PASSWORD="wrong")
    assert r.returncode == 3 and checks["gitops"]["status"] == "fail"
    assert "wrong" not in r.stdout + r.stderr


def test_doctor_reports_a_missing_or_broken_config(mlops):
    r = mlops.run("--json", "doctor")
    assert r.returncode == 3
    checks = {c["name"]: c for c in json.loads(r.stdout)["checks"]}
    assert checks["config"]["status"] == "fail" and "mlops init" in checks["config"]["hint"]
    assert checks["mlflow"]["status"] == "pass", "the environment still names the server"
    (mlops.cwd / "mlops.yaml").write_text("environments:\n  prod: {requires: {approvals: many}}\n")
    r = mlops.run("doctor")
    assert r.returncode == 3
    assert "FAIL  config" in r.stdout and "mlops.yaml:2" in r.stdout and "environments.prod.requires.approvals" in r.stdout


# --------------------------------------------------------------------------- release


def steps(out: dict) -> dict[str, str]:
    return {s["name"]: s["status"] for s in out["steps"]}


def test_release_to_staging_then_a_rerun_reuses_every_step(rel):
    r = rel.release(f"models:/{rel.name}/1", "--env", "staging", "-m", "first release")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    jsonschema.validate(out, schema("output.release.schema.json"))
    assert (out["model"], out["version"], out["environment"]) == (rel.name, "1", "staging")
    assert steps(out) == {"pull": "done", "validate": "done", "package": "done", "render": "done", "promote": "done"}
    assert all(s["seconds"] >= 0 for s in out["steps"])
    assert "format" in out["gates_passed"] and "interface" in out["gates_passed"]
    assert out["bytes_uploaded"] > 0 and out["committed"] and out["alias_moved"]
    # The registry serves the image under vVERSION and by digest.
    digest = out["image"].split("@", 1)[1]
    assert out["image"] == f"{rel.repo}@{digest}"
    status, manifest = rel.manifest("v1")
    assert status == 200 and manifest["layers"]
    assert rel.manifest(digest)[0] == 200
    # The repository deploys exactly that modelcar; the alias and the tags follow.
    commits = rel.commits()
    assert len(commits) == 1 and commits[0] == out["commit"]
    isvc = "".join(rel.show(commits[0], f"clusters/staging/{rel.name}/{f[2:]}") for f in out["manifests_changed"]
                   if "kustomization" not in f)
    assert f"oci://{out['image']}" in isvc
    assert rel.alias("staging") == "1"
    tags = rel.tags("1")
    assert tags["mlops.validation.status"] == "passed" and tags["mlops.image"] == out["image"]

    again = rel.release(f"models:/{rel.name}/1", "--env", "staging")
    assert again.returncode == 0, again.stderr
    out2 = json.loads(again.stdout)
    assert steps(out2) == {"pull": "reused", "validate": "reused", "package": "reused", "render": "done",
                           "promote": "reused"}
    assert out2["image"] == out["image"], "the same model and base give the same digest"
    assert out2["bytes_uploaded"] == 0 and out2["bytes_reused"] > 0
    assert out2["manifests_changed"] == [] and not out2["committed"]
    assert rel.commits() == commits

    text = rel.run("release", f"models:/{rel.name}/1", "--env", "staging")
    assert text.returncode == 0, text.stderr
    assert f"released {rel.name} version 1 to staging" in text.stdout
    for word in ("gates passed", "image", "bytes", "manifests changed", "commit", "alias"):
        assert word in text.stdout
    assert "pull      reused" in text.stderr


def test_release_to_prod_needs_the_approval_then_ships(rel):
    assert rel.release(f"models:/{rel.name}/1", "--env", "staging").returncode == 0
    refused = rel.release(f"models:/{rel.name}/1", "--env", "prod")
    assert refused.returncode == 3
    line = error_line(refused.stderr)
    assert line.startswith("mlops: error: release step 'promote': the policy of 'prod' refuses") and "approvals" in line
    assert rel.alias("prod") is None and len(rel.commits()) == 1
    approve = rel.run("approve", rel.name, "1", "--env", "prod", "--actor", "reviewer")
    assert approve.returncode == 0, approve.stderr
    r = rel.release(f"models:/{rel.name}@staging", "--env", "prod", "-m", "to prod")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert steps(out)["validate"] == "reused" and steps(out)["package"] == "reused"
    assert rel.alias("prod") == "1" and len(rel.commits()) == 2
    assert all(c["ok"] for c in out["checks"]) and {c["name"] for c in out["checks"]} >= {"approvals", "previous"}


def test_dry_run_records_pushes_and_commits_nothing(rel):
    r = rel.release(f"models:/{rel.name}/1", "--env", "staging", "--dry-run")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["dry_run"] and set(steps(out).values()) <= {"done", "dry-run"}
    assert out["image"].startswith(rel.repo + "@sha256:") and out["diff"]
    assert "mlops.validation.status" not in rel.tags("1")
    assert rel.manifest("v1")[0] == 404
    assert rel.commits() == [] and rel.alias("staging") is None
    # The real release builds the same image.
    real = rel.release(f"models:/{rel.name}/1", "--env", "staging")
    assert real.returncode == 0, real.stderr
    assert json.loads(real.stdout)["image"] == out["image"]


def test_skip_validate_is_refused_where_the_policy_requires_validation(rel):
    r = rel.release(f"models:/{rel.name}/1", "--env", "staging", "--skip-validate")
    assert r.returncode == 2
    assert error_line(r.stderr) == ("mlops: error: --skip-validate is refused: the policy of 'staging' requires "
                                    "validation")
    ok = rel.release(f"models:/{rel.name}/1", "--env", "dev", "--skip-validate")
    assert ok.returncode == 0, ok.stderr
    out = json.loads(ok.stdout)
    assert steps(out)["validate"] == "skipped" and out["gates_passed"] == []


def test_a_failing_gate_stops_the_release_before_anything_is_pushed(rel):
    rel.write(extra='gates:\n  metrics:\n    thresholds: ["accuracy >= 2"]\n')
    r = rel.release(f"models:/{rel.name}/1", "--env", "dev")
    assert r.returncode == 3
    assert error_line(r.stderr).startswith("mlops: error: release step 'validate': validation of ")
    assert r.stdout == ""
    assert rel.manifest("v1")[0] == 404 and rel.commits() == []
    assert rel.tags("1")["mlops.validation.status"] == "failed", "the verdict is recorded"


def test_a_registry_that_is_down_stops_the_release_and_a_rerun_resumes(rel):
    rel.write(registry=f"127.0.0.1:{closed_port()}/models/{rel.name}")
    r = rel.release(f"models:/{rel.name}/1", "--env", "staging")
    assert r.returncode == 6, r.stderr
    assert error_line(r.stderr).startswith("mlops: error: release step 'package': ")
    assert "connection refused" in r.stderr
    assert rel.commits() == [] and rel.alias("staging") is None
    assert rel.tags("1")["mlops.validation.status"] == "passed"
    rel.write()
    again = rel.release(f"models:/{rel.name}/1", "--env", "staging")
    assert again.returncode == 0, again.stderr
    out = json.loads(again.stdout)
    assert steps(out)["pull"] == "reused" and steps(out)["validate"] == "reused"
    assert steps(out)["package"] == "done" and out["committed"]


def test_release_refuses_an_environment_it_cannot_ship_to(rel):
    r = rel.release(f"models:/{rel.name}/1", "--env", "qa")
    assert r.returncode == 2 and "no environments.qa" in error_line(r.stderr)
    (rel.mlops.cwd / "mlops.yaml").write_text((rel.mlops.cwd / "mlops.yaml").read_text().replace(
        "  dev:\n    registry: " + rel.repo + "\n", "  dev: {}\n"))
    r = rel.release(f"models:/{rel.name}/1", "--env", "dev")
    assert r.returncode == 2 and "environments.dev.registry is not set" in error_line(r.stderr)
    assert not (rel.mlops.cwd.parent / "xdg-cache" / "mlops" / "models").exists(), "refused before any step"
