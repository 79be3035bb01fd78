"""mlops promote / rollback / history / approve against the real servers: the MLflow tracking
server from scripts/services.sh (plain and basic-auth), and a real git server (git's own
http-backend behind lighttpd, Basic auth). The results are read with the git command-line client
and the MLflow Python client, never with mlops' own code. faultproxy.py (fault injection in front
of the real MLflow server) is the only stand-in, used once to fail the alias step."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import jsonschema
import pytest
import yaml
from mlflow import MlflowClient

from conftest import REPO, error_line


def schema(name: str) -> dict:
    return json.loads((REPO / "schemas" / name).read_text())

DIGEST = "sha256:" + "ab" * 32
IMAGE = f"registry.example/iris@{DIGEST}"
IMAGE2 = "registry.example/iris@sha256:" + "cd" * 32


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


class Project:
    """A registered model with fresh versions, a bare repository on the git server and a
    project directory whose mlops.yaml points at both."""

    def __init__(self, services: dict, tmp: Path, tracking_uri: str, source_model: str = "iris",
                 versions: int = 2, admin: tuple[str, str] | None = None, name: str | None = None):
        self.services = services
        self.tmp = tmp
        self.uri = tracking_uri
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self.name = name or f"promo-{uuid.uuid4().hex[:8]}"
        if name is None:
            src = self.client.get_model_version(source_model, "1")
            self.client.create_registered_model(self.name)
            # MLflow 3.x: a logged-model source needs its model id.
            model_id = src.source.rsplit("/", 1)[-1] if src.source.startswith("models:/m-") else None
            for _ in range(versions):
                self.client.create_model_version(self.name, src.source, run_id=src.run_id, model_id=model_id)
        self.repo_name = f"{self.name}-{uuid.uuid4().hex[:6]}.git"
        self.bare = Path(services["MLOPS_TEST_GIT_ROOT"]) / self.repo_name
        git("init", "-q", "--bare", str(self.bare))
        self.url = f"{services['MLOPS_TEST_GIT_HTTP']}/{self.repo_name}"
        self.dir = tmp / "project"
        self.dir.mkdir()
        self.write_config()

    def write_config(self, url: str | None = None, environments: str | None = None) -> None:
        envs = environments or """\
  dev: {}
  staging:
    requires: {validation: true}
  prod:
    requires: {validation: true, approvals: 1, previous: staging, image: true}
"""
        (self.dir / "mlops.yaml").write_text(f"""\
gitops:
  url: {url or self.url}
  branch: main
  path: "clusters/{{env}}/{{model}}"
environments:
{envs}deploy:
  name: iris
  target: k8s
  namespace: models
  image: {IMAGE}
  environments:
    prod: {{namespace: models-prod}}
""")
        if url is None or "@" not in url:
            jsonschema.validate(yaml.safe_load((self.dir / "mlops.yaml").read_text()), schema("mlops.schema.json"))

    def env(self, **extra: str) -> dict[str, str]:
        e = {
            "MLOPS_GIT_USERNAME": self.services["MLOPS_TEST_GIT_USER"],
            "MLOPS_GIT_PASSWORD": self.services["MLOPS_TEST_GIT_PASSWORD"],
            "XDG_CACHE_HOME": str(self.tmp / "cache"),
        }
        e.update(extra)
        return e

    def clone(self) -> Path:
        """A fresh clone of the branch with the git CLI (reads the server, not our cache)."""
        dest = self.tmp / f"clone-{uuid.uuid4().hex[:6]}"
        user, pw = self.services["MLOPS_TEST_GIT_USER"], self.services["MLOPS_TEST_GIT_PASSWORD"]
        authed = self.url.replace("http://", f"http://{user}:{pw}@")
        git("clone", "-q", "-b", "main", authed, str(dest))
        return dest

    def commits(self) -> list[str]:
        """Commit ids on the server's main branch, newest first ([] while it does not exist)."""
        out = subprocess.run(["git", "--git-dir", str(self.bare), "rev-list", "main"], capture_output=True, text=True)
        return out.stdout.split() if out.returncode == 0 else []

    def trailers(self, commit: str) -> dict[str, list[str]]:
        text = git("--git-dir", str(self.bare), "log", "-1", "--format=%(trailers:only,unfold)", commit)
        out: dict[str, list[str]] = {}
        for line in text.splitlines():
            if ": " in line:
                k, v = line.split(": ", 1)
                out.setdefault(k, []).append(v)
        return out

    def alias(self, alias: str) -> str | None:
        try:
            return self.client.get_model_version_by_alias(self.name, alias).version
        except Exception:  # noqa: BLE001 - no such alias
            return None

    def tags(self, version: str) -> dict[str, str]:
        return self.client.get_model_version(self.name, version).tags


@pytest.fixture
def project(services, tmp_path, mlflow_uri) -> Project:
    return Project(services, tmp_path, mlflow_uri)


def run(mlops, project: Project, *args: str, **env: str):
    mlops.cwd = project.dir
    return mlops.run(*args, env=project.env(**env))


def validate(mlops, project: Project, version: str) -> None:
    r = run(mlops, project, "validate", f"models:/{project.name}/{version}", "--record")
    assert r.returncode == 0, r.stderr
    assert project.tags(version)["mlops.validation.status"] == "passed"


def test_promote_through_environments_rollback_and_history(mlops, project):
    p = project
    # prod before staging: refused by policy, nothing in git, no alias.
    validate(mlops, p, "1")
    r = run(mlops, p, "promote", p.name, "1", "--env", "prod", "--image", IMAGE, "--actor", "alice")
    assert r.returncode == 3, r.stderr
    assert "previous" in error_line(r.stderr) and "'staging'" in error_line(r.stderr)
    assert "FAIL  approvals" in r.stdout
    assert p.commits() == [] and p.alias("prod") is None

    # staging without a recorded validation of version 2: refused.
    r = run(mlops, p, "promote", p.name, "2", "--env", "staging", "--actor", "alice")
    assert r.returncode == 3
    assert "validation" in error_line(r.stderr) and "--record" in error_line(r.stderr)
    assert p.commits() == []

    # version 1 to staging.
    r = run(mlops, p, "promote", p.name, "1", "--env", "staging", "--actor", "alice", "-m", "first")
    assert r.returncode == 0, r.stderr
    commits = p.commits()
    assert len(commits) == 1
    t = p.trailers(commits[0])
    assert t["Model"] == [p.name] and t["Version"] == ["1"] and t["Environment"] == ["staging"]
    assert t["Promoted-By"] == ["alice"] and t["Previous-Version"] == ["none"] and t["Action"] == ["promote"]
    clone = p.clone()
    files = sorted(f.name for f in (clone / "clusters" / "staging" / p.name).iterdir())
    assert files == ["deployment-iris.yaml", "kustomization.yaml", "poddisruptionbudget-iris.yaml", "service-iris.yaml"]
    assert git("log", "-1", "--format=%an", cwd=clone).strip() == "alice"
    assert p.alias("staging") == "1"
    tag = json.loads(p.tags("1")["mlops.promotion.staging"])
    assert tag["status"] == "done" and tag["commit"] == commits[0] and tag["by"] == "alice"

    # prod: staging is done, but no approval yet.
    r = run(mlops, p, "promote", p.name, "1", "--env", "prod", "--image", IMAGE, "--actor", "alice")
    assert r.returncode == 3 and "approvals" in error_line(r.stderr)
    # alice's own approval does not count for alice.
    assert run(mlops, p, "approve", p.name, "1", "--env", "prod", "--actor", "alice").returncode == 0
    r = run(mlops, p, "promote", p.name, "1", "--env", "prod", "--image", IMAGE, "--actor", "alice")
    assert r.returncode == 3 and "self-approval does not count: alice" in r.stdout
    r = run(mlops, p, "approve", p.name, "1", "--env", "prod", "--actor", "bob", "--comment", "looks good")
    assert r.returncode == 0, r.stderr
    approval = json.loads(p.tags("1")["mlops.approval.prod.bob"])
    assert approval["by"] == "bob" and approval["comment"] == "looks good"
    r = run(mlops, p, "promote", p.name, "1", "--env", "prod", "--image", IMAGE, "--actor", "alice")
    assert r.returncode == 0, r.stderr
    head = p.commits()[0]
    t = p.trailers(head)
    assert t["Environment"] == ["prod"] and t["Approved-By"] == ["bob"]
    assert t["Image-Digest"] == [DIGEST] and t["Image"] == [IMAGE]
    assert p.alias("prod") == "1"
    assert p.tags("1")["mlops.image"] == IMAGE
    deployment = (p.clone() / "clusters" / "prod" / p.name / "deployment-iris.yaml").read_text()
    assert IMAGE in deployment and "models-prod" in deployment

    # The same promotion again is a no-op.
    r = run(mlops, p, "promote", p.name, "1", "--env", "prod", "--image", IMAGE, "--actor", "alice")
    assert r.returncode == 0 and "already promoted" in r.stdout
    assert p.commits()[0] == head

    # Version 2 to staging with another image, then roll back.
    validate(mlops, p, "2")
    r = run(mlops, p, "--json", "promote", p.name, "2", "--env", "staging", "--image", IMAGE2, "--actor", "carol")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    jsonschema.validate(out, schema("output.promote.schema.json"))
    assert out["committed"] and out["alias_moved"] and out["previous_version"] == "1" and out["commit"] == p.commits()[0]
    v2_commit = p.commits()[0]
    assert p.trailers(v2_commit)["Previous-Version"] == ["1"] and p.alias("staging") == "2"
    r = run(mlops, p, "rollback", p.name, "--env", "staging", "--actor", "dave", "--reason", "latency doubled")
    assert r.returncode == 0, r.stderr
    rb = p.commits()[0]
    t = p.trailers(rb)
    assert t["Action"] == ["rollback"] and t["Version"] == ["1"] and t["Previous-Version"] == ["2"]
    assert t["Reason"] == ["latency doubled"] and t["Promoted-By"] == ["dave"]
    # The manifests are version 1's, byte for byte; history was not rewritten.
    v1_commit = p.commits()[-1]
    assert git("--git-dir", str(p.bare), "diff", v1_commit, rb, "--", f"clusters/staging/{p.name}") == ""
    assert v2_commit in p.commits()
    assert p.alias("staging") == "1"
    assert json.loads(p.tags("2")["mlops.rollback.staging"])["reason"] == "latency doubled"
    # Nothing earlier to go back to now (version 2 was rolled back out).
    r = run(mlops, p, "rollback", p.name, "--env", "staging", "--actor", "dave")
    assert r.returncode == 4, r.stderr
    # And a rolled-back version does not count as having been in staging.
    r = run(mlops, p, "approve", p.name, "2", "--env", "prod", "--actor", "bob")
    r = run(mlops, p, "promote", p.name, "2", "--env", "prod", "--image", IMAGE2, "--actor", "alice")
    assert r.returncode == 3 and "rolled back out of 'staging'" in error_line(r.stderr)

    # history: every record, newest first, with actors, approvers and commits.
    r = run(mlops, p, "--json", "history", p.name)
    assert r.returncode == 0, r.stderr
    h = json.loads(r.stdout)
    jsonschema.validate(h, schema("output.history.schema.json"))
    got = [(x["environment"], x["action"], x["from_version"], x["to_version"], x["by"]) for x in h["records"]]
    assert got == [
        ("staging", "rollback", "2", "1", "dave"),
        ("staging", "promote", "1", "2", "carol"),
        ("prod", "promote", "", "1", "alice"),
        ("staging", "promote", "", "1", "alice"),
    ]
    assert [x["commit"] for x in h["records"]] == p.commits()
    assert h["records"][2]["approvers"] == ["bob"] and h["records"][2]["image_digest"] == DIGEST
    assert h["environments"]["staging"] == {"git_version": "1", "alias_version": "1", "consistent": True}
    assert h["mismatches"] == []
    r = run(mlops, p, "history", p.name, "--env", "prod")
    assert r.returncode == 0 and "alice" in r.stdout and "staging" not in r.stdout


def test_dry_run_changes_nothing(mlops, project):
    p = project
    r = run(mlops, p, "--json", "promote", p.name, "1", "--env", "dev", "--actor", "alice", "--dry-run")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    jsonschema.validate(out, schema("output.promote.schema.json"))
    assert not out["committed"] and f"+++ b/clusters/dev/{p.name}/deployment-iris.yaml" in out["diff"]
    r = run(mlops, p, "promote", p.name, "1", "--env", "dev", "--actor", "alice", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert f"+++ b/clusters/dev/{p.name}/deployment-iris.yaml" in r.stdout
    assert any(line.startswith("+kind:") and "Deployment" in line for line in r.stdout.splitlines())
    assert "nothing changed" in r.stdout
    assert p.commits() == [] and p.alias("dev") is None
    assert "mlops.promotion.dev" not in p.tags("1")
    # A dry run that a check refuses exits 3 and changes nothing either.
    r = run(mlops, p, "promote", p.name, "1", "--env", "prod", "--actor", "alice", "--dry-run")
    assert r.returncode == 3
    assert p.commits() == []


def test_racing_promotions_both_land(mlops, project, mlops_bin):
    p = project
    mlops.cwd = p.dir
    procs = [mlops.popen("promote", p.name, v, "--env", "dev", "--actor", f"racer{v}", env=p.env()) for v in ("1", "2")]
    outs = [proc.communicate(timeout=120) for proc in procs]
    for proc, (out, err) in zip(procs, outs):
        assert proc.returncode == 0, err
    commits = p.commits()
    assert len(commits) == 2, "a commit was lost"
    versions = [p.trailers(c)["Version"][0] for c in commits]
    assert sorted(versions) == ["1", "2"]
    # The later commit names the earlier version as its previous one, and the alias
    # follows the repository's order.
    assert p.trailers(commits[0])["Previous-Version"] == [versions[1]]
    assert p.alias("dev") == versions[0]
    r = run(mlops, p, "--json", "history", p.name)
    assert json.loads(r.stdout)["mismatches"] == []


def test_push_refused_by_hook_leaves_alias_untouched(mlops, project):
    p = project
    hook = p.bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'manifests are frozen' >&2\nexit 1\n")
    hook.chmod(0o755)
    r = run(mlops, p, "promote", p.name, "1", "--env", "dev", "--actor", "alice")
    assert r.returncode == 1, r.stderr
    line = error_line(r.stderr)
    assert "refused" in line and "refs/heads/main" in line
    assert p.commits() == [] and p.alias("dev") is None
    hook.unlink()
    r = run(mlops, p, "promote", p.name, "1", "--env", "dev", "--actor", "alice")
    assert r.returncode == 0, r.stderr
    assert p.alias("dev") == "1" and len(p.commits()) == 1


def test_rerun_after_alias_failure_reconciles(mlops, project, fault_proxy):
    p = project
    proxy = fault_proxy("fail:/registered-models/alias", upstream=p.uri)
    r = run(mlops, p, "--tracking-uri", proxy.url, "promote", p.name, "1", "--env", "dev", "--actor", "alice",
            MLFLOW_HTTP_REQUEST_MAX_RETRIES="0")
    assert r.returncode == 6, r.stderr
    assert "alias" in error_line(r.stderr)
    # Pushed but the alias did not move: history says so.
    assert len(p.commits()) == 1 and p.alias("dev") is None
    r = run(mlops, p, "history", p.name)
    assert r.returncode == 0
    assert "alias @dev points at nothing but the repository deploys version 1" in r.stderr
    assert "tag mlops.promotion.dev of version 1 says 'pending'" in r.stderr
    assert json.loads(p.tags("1")["mlops.promotion.dev"])["status"] == "pending"
    # The rerun completes it without a second commit.
    r = run(mlops, p, "promote", p.name, "1", "--env", "dev", "--actor", "alice")
    assert r.returncode == 0, r.stderr
    assert "already in git" in r.stdout
    assert len(p.commits()) == 1 and p.alias("dev") == "1"
    assert json.loads(p.tags("1")["mlops.promotion.dev"])["status"] == "done"
    assert json.loads(run(mlops, p, "--json", "history", p.name).stdout)["mismatches"] == []


def test_git_credentials_refused_names_source_and_hides_secret(mlops, project):
    p = project
    secret = "wrong-git-password-77"
    r = run(mlops, p, "promote", p.name, "1", "--env", "dev", "--actor", "alice", MLOPS_GIT_PASSWORD=secret)
    assert r.returncode == 5
    line = error_line(r.stderr)
    assert "authentication failed" in line and "MLOPS_GIT_PASSWORD" in line
    assert secret not in r.stderr + r.stdout
    assert p.commits() == [] and p.alias("dev") is None


def test_file_url_and_bad_configuration(mlops, project, tmp_path):
    p = project
    local = tmp_path / "local.git"
    git("init", "-q", "--bare", str(local))
    p.write_config(url=f"file://{local}")
    r = run(mlops, p, "promote", p.name, "1", "--env", "dev", "--actor", "alice")
    assert r.returncode == 0, r.stderr
    assert len(git("--git-dir", str(local), "rev-list", "main").split()) == 1
    # Unknown environment, credentials in the URL, no gitops section.
    r = run(mlops, p, "promote", p.name, "1", "--env", "qa", "--actor", "alice")
    assert r.returncode == 2 and "unknown environment 'qa'" in error_line(r.stderr)
    p.write_config(url="https://user:hunter2-secret@git.example/m.git")
    r = run(mlops, p, "promote", p.name, "1", "--env", "dev", "--actor", "alice")
    assert r.returncode == 2 and "gitops.url" in error_line(r.stderr) and "hunter2" not in r.stderr
    (p.dir / "mlops.yaml").write_text("deploy: {name: iris, target: k8s, image: x}\n")
    r = run(mlops, p, "history", p.name)
    assert r.returncode == 2 and "gitops.url" in error_line(r.stderr)
    # No repository at the URL, unknown model: not found.
    p.write_config(url=f"file://{tmp_path}/missing.git")
    r = run(mlops, p, "history", p.name)
    assert r.returncode == 4 and "no repository there" in error_line(r.stderr)
    p.write_config(url=f"file://{local}")
    r = run(mlops, p, "promote", "no-such-model-xyz", "1", "--env", "dev", "--actor", "alice")
    assert r.returncode == 4, r.stderr


def test_permissions_come_from_mlflow(mlops, services, tmp_path):
    """On the basic-auth server: READ is refused before git changes; EDIT promotes, and the
    MLflow user is the identity recorded."""
    uri = services["MLOPS_TEST_MLFLOW_AUTH_URI"]
    admin = (services["MLOPS_TEST_AUTH_ADMIN_USER"], services["MLOPS_TEST_AUTH_ADMIN_PASSWORD"])
    import os
    os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = admin
    try:
        p = Project(services, tmp_path, uri, name="iris")
    finally:
        del os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"]
    p.write_config(environments="  staging: {}\n")

    def as_user(user_key: str, pw_key: str, *args: str):
        mlops.cwd = p.dir
        return mlops.run(*args, uri=uri, env=p.env(MLFLOW_TRACKING_USERNAME=services[user_key],
                                                   MLFLOW_TRACKING_PASSWORD=services[pw_key]))

    r = as_user("MLOPS_TEST_AUTH_READER_USER", "MLOPS_TEST_AUTH_READER_PASSWORD", "promote", "iris", "1", "--env", "staging")
    assert r.returncode == 5, r.stderr
    line = error_line(r.stderr)
    assert "permission denied" in line and "'reader' needs EDIT on 'iris'" in line
    assert services["MLOPS_TEST_AUTH_READER_PASSWORD"] not in r.stderr + r.stdout
    assert p.commits() == []
    r = as_user("MLOPS_TEST_AUTH_READER_USER", "MLOPS_TEST_AUTH_READER_PASSWORD", "approve", "iris", "1", "--env", "staging")
    assert r.returncode == 5
    # --actor cannot stand in for someone else when MLflow knows who this is.
    r = as_user("MLOPS_TEST_AUTH_EDITOR_USER", "MLOPS_TEST_AUTH_EDITOR_PASSWORD", "promote", "iris", "1", "--env", "staging",
                "--actor", "admin")
    assert r.returncode == 2 and "--actor" in error_line(r.stderr)
    r = as_user("MLOPS_TEST_AUTH_EDITOR_USER", "MLOPS_TEST_AUTH_EDITOR_PASSWORD", "promote", "iris", "1", "--env", "staging")
    assert r.returncode == 0, r.stderr
    head = p.commits()[0]
    assert p.trailers(head)["Promoted-By"] == [services["MLOPS_TEST_AUTH_EDITOR_USER"]]
    admin_client = p.client
    import mlflow  # noqa: F401 - credentials for the admin client come from the environment
    os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = admin
    try:
        assert admin_client.get_model_version_by_alias("iris", "staging").version == "1"
        tag = json.loads(admin_client.get_model_version("iris", "1").tags["mlops.promotion.staging"])
    finally:
        del os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"]
    assert tag["by"] == services["MLOPS_TEST_AUTH_EDITOR_USER"] and tag["commit"] == head


@pytest.fixture
def sshd(tmp_path):
    """A real OpenSSH server (Debian's sshd) on a free 127.0.0.1 port, for git over SSH:
    key-only login, its own host key; stopped by the PID recorded here."""
    from conftest import free_port
    import os
    import time
    d = tmp_path / "sshd"
    d.mkdir()
    for key in ("host", "user", "stranger"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / key)], check=True)
    (d / "authorized_keys").write_text((d / "user.pub").read_text())
    port = free_port()
    (d / "sshd_config").write_text(f"""\
Port {port}
ListenAddress 127.0.0.1
HostKey {d / 'host'}
AuthorizedKeysFile {d / 'authorized_keys'}
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
PidFile none
""")
    os.makedirs("/run/sshd", exist_ok=True)  # privilege separation directory
    log = open(d / "log", "w")
    proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(d / "sshd_config")], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 15
        while "Server listening" not in (d / "log").read_text():
            assert proc.poll() is None and time.monotonic() < deadline, (d / "log").read_text()
            time.sleep(0.05)
        home = d / "home"
        (home / ".ssh").mkdir(parents=True)
        host_key = " ".join((d / "host.pub").read_text().split()[:2])
        known = f"[127.0.0.1]:{port} {host_key}\n"
        user = subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout.strip()
        yield {"port": port, "dir": d, "home": home, "known_hosts": known, "user": user}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_promote_over_ssh(mlops, project, sshd, tmp_path):
    """git over SSH through libgit2's SSH support: a key from MLOPS_GIT_SSH_KEY, the host key
    checked against ~/.ssh/known_hosts."""
    p = project
    repo = tmp_path / "ssh-manifests.git"
    git("init", "-q", "--bare", str(repo))
    p.write_config(url=f"ssh://{sshd['user']}@127.0.0.1:{sshd['port']}{repo}")
    env = {"HOME": str(sshd["home"]), "MLOPS_GIT_SSH_KEY": str(sshd["dir"] / "user"),
           "MLOPS_GIT_PASSWORD": "", "MLOPS_GIT_USERNAME": ""}
    # Unknown host key: refused, and nothing pushed.
    r = run(mlops, p, "promote", p.name, "1", "--env", "dev", "--actor", "alice", **env)
    assert r.returncode == 1, r.stderr
    assert "SSH host key" in error_line(r.stderr) and "known_hosts" in error_line(r.stderr)
    (sshd["home"] / ".ssh" / "known_hosts").write_text(sshd["known_hosts"])
    # A key the server does not accept: exit 5, naming the key file.
    r = run(mlops, p, "promote", p.name, "1", "--env", "dev", "--actor", "alice",
            **{**env, "MLOPS_GIT_SSH_KEY": str(sshd["dir"] / "stranger")})
    assert r.returncode == 5, r.stderr
    assert "authentication failed" in error_line(r.stderr) and "stranger" in error_line(r.stderr)
    assert subprocess.run(["git", "--git-dir", str(repo), "rev-parse", "--verify", "main"], capture_output=True).returncode != 0
    # The right key: promoted, read back with the git CLI.
    r = run(mlops, p, "promote", p.name, "1", "--env", "dev", "--actor", "alice", **env)
    assert r.returncode == 0, r.stderr
    log = git("--git-dir", str(repo), "log", "--format=%an|%s", "main").strip()
    assert log == f"alice|promote {p.name} version 1 to dev"
    assert p.alias("dev") == "1"
