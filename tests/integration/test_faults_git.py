"""The fault matrix for the GitOps remote: promote and rollback against the real git server
(git's http-backend behind lighttpd, from scripts/services.sh) and file:// remotes, with faults
injected by faultproxy.py in front of the real server (the only stand-in: it forwards every
request to lighttpd and makes up nothing but the fault itself; once, in front of the real MLflow
server, to fail the alias step) or by killing a private instance of the same lighttpd +
http-backend set-up by its PID.

Every case checks the same invariants: the documented exit code (DESIGN.md), bounded time, no
partial output (nothing pushed, or the whole commit), and that a rerun against the healthy server
converges: exactly one commit per promotion, and git and the alias @ENV agree."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import error_line, free_port
from test_promote import Project, git, run

# Short retries, so the failure paths finish quickly; still real retries.
FAST = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0.05"}
UPLOAD_REFS = "info/refs?service=git-upload-pack"


@pytest.fixture
def project(services, tmp_path, mlflow_uri) -> Project:
    return Project(services, tmp_path, mlflow_uri)


def via(p: Project, base: str) -> None:
    """Points the project's gitops.url at the same repository through `base` (http://host:port)."""
    p.write_config(url=f"{base}/git/{p.repo_name}")


def git_base(p: Project) -> str:
    """http://host:port of the shared git server (its URLs are BASE/git/REPO)."""
    return p.services["MLOPS_TEST_GIT_HTTP"].rsplit("/git", 1)[0]


def timed(mlops, p: Project, *args: str, **env: str):
    start = time.monotonic()
    r = run(mlops, p, *args, **env)
    return r, time.monotonic() - start


def promote(mlops, p: Project, version: str = "1", env: str = "dev", **extra: str):
    return timed(mlops, p, "promote", p.name, version, "--env", env, "--actor", "alice", **extra)


def assert_untouched(p: Project, env: str = "dev", commits: int = 0) -> None:
    assert len(p.commits()) == commits, "a failed promotion must push nothing"
    if commits == 0:
        assert p.alias(env) is None


def assert_converges(mlops, p: Project, version: str = "1", env: str = "dev") -> None:
    """Against the real server: the rerun succeeds, one commit holds the promotion, the alias
    agrees with git and history sees no mismatch."""
    p.write_config()
    r, _ = promote(mlops, p, version, env)
    assert r.returncode == 0, r.stderr
    mine = [c for c in p.commits() if p.trailers(c).get("Version") == [version]
            and p.trailers(c).get("Environment") == [env]]
    assert len(mine) == 1, f"expected one commit promoting version {version} to {env}, got {len(mine)}"
    assert p.alias(env) == version
    h = run(mlops, p, "--json", "history", p.name)
    assert h.returncode == 0, h.stderr
    assert json.loads(h.stdout)["mismatches"] == []


def test_connection_refused_exits_6_quickly_then_rerun_converges(mlops, project):
    p = project
    via(p, f"http://127.0.0.1:{free_port()}")
    r, took = promote(mlops, p, **FAST)
    assert r.returncode == 6, r.stderr
    line = error_line(r.stderr)
    assert "cannot reach the gitops repository" in line and "refused" in line.lower()
    assert took < 30
    assert_untouched(p)
    assert_converges(mlops, p)


@pytest.mark.parametrize("mode", ["resetbody", "cutbody", "close"])
def test_reset_or_truncated_refs_exit_6_and_push_nothing(mlops, project, fault_proxy, mode):
    """The refs advertisement cut (FIN), reset (RST) mid-body, or every connection closed."""
    p = project
    proxy = fault_proxy(mode if mode == "close" else f"{mode}:{UPLOAD_REFS}", upstream=git_base(p))
    via(p, proxy.url)
    r, took = promote(mlops, p, **FAST)
    assert r.returncode == 6, r.stderr
    assert "cannot reach the gitops repository" in error_line(r.stderr) or "cannot fetch" in error_line(r.stderr)
    assert took < 60
    assert_untouched(p)
    stats = proxy.stats()
    # Retried: the first attempt and MLFLOW_HTTP_REQUEST_MAX_RETRIES=2 more.
    assert stats.get("body_faults", 0) + stats.get("closed", 0) >= 3, stats
    assert_converges(mlops, p)


def test_push_answer_lost_after_the_server_took_it_converges_without_duplicate(mlops, project, fault_proxy):
    """The server applies the push but its answer is cut: the retry finds the commit there and
    nothing is pushed twice; the alias follows."""
    p = project
    proxy = fault_proxy("cutbody:git-receive-pack", upstream=git_base(p))
    via(p, proxy.url)
    r, took = promote(mlops, p, **FAST)
    assert took < 60
    assert r.returncode in (0, 6), r.stderr
    assert len(p.commits()) == 1, "the push reached the server once"
    if r.returncode == 0:
        assert p.alias("dev") == "1"
    assert_converges(mlops, p)


def test_stalled_server_gives_up_in_bounded_time(mlops, project, fault_proxy):
    """Half the refs, then silence: MLFLOW_HTTP_REQUEST_TIMEOUT (seconds without progress)
    bounds every read of the git transport too."""
    p = project
    proxy = fault_proxy(f"stallbody:{UPLOAD_REFS}", upstream=git_base(p))
    via(p, proxy.url)
    r, took = promote(mlops, p, MLFLOW_HTTP_REQUEST_TIMEOUT="2", **FAST)
    assert r.returncode == 6, r.stderr
    assert "nothing moved for 2 s" in error_line(r.stderr)
    assert took < 40, f"took {took:.1f} s"
    assert_untouched(p)
    assert_converges(mlops, p)


def test_ctrl_c_while_the_git_server_stalls_exits_130(mlops, project, fault_proxy):
    """SIGINT while waiting on a silent git server: exit 130 at once, as everywhere else (not a
    network error after the wait), nothing pushed."""
    p = project
    proxy = fault_proxy(f"stallbody:{UPLOAD_REFS}", upstream=git_base(p))
    via(p, proxy.url)
    mlops.cwd = p.dir
    proc = mlops.popen("promote", p.name, "1", "--env", "dev", "--actor", "alice", env=p.env())
    time.sleep(3)  # past the MLflow steps, well into the stall (the idle timeout is 120 s)
    assert proc.poll() is None, proc.communicate()
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert time.monotonic() - start < 10
    assert_untouched(p)


def test_rate_limited_429_honours_retry_after_and_succeeds(mlops, project, fault_proxy):
    p = project
    proxy = fault_proxy("429:2", upstream=git_base(p))
    via(p, proxy.url)
    r, took = promote(mlops, p, MLFLOW_HTTP_REQUEST_MAX_RETRIES="3", MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR="0.01")
    assert r.returncode == 0, r.stderr
    # Two waits of Retry-After: 1 s each, where the backoff alone would wait 0.03 s.
    assert took >= 1.8 and proxy.stats()["injected_429"] == 2
    assert len(p.commits()) == 1 and p.alias("dev") == "1"


def test_5xx_storm_exits_6_after_retries(mlops, project, fault_proxy):
    p = project
    proxy = fault_proxy("503:100000", upstream=git_base(p))
    via(p, proxy.url)
    r, took = promote(mlops, p, **FAST)
    assert r.returncode == 6, r.stderr
    assert "503" in error_line(r.stderr)
    assert took < 30
    assert proxy.stats()["injected_503"] == 3  # the first attempt and 2 retries
    assert_untouched(p)
    assert_converges(mlops, p)


def test_endless_refs_advertisement_is_refused_at_its_limit(mlops, project, fault_proxy):
    """A server whose refs never end: refused once past the limit (exit 1, a protocol error,
    not retried), memory and time bounded."""
    p = project
    assert promote(mlops, p, "1")[0].returncode == 0  # a branch to advertise
    proxy = fault_proxy(f"hugerefs:{UPLOAD_REFS}", upstream=git_base(p))
    via(p, proxy.url)
    r, took = promote(mlops, p, "2", **FAST)
    assert r.returncode == 1, r.stderr
    assert "larger than 16 MiB" in error_line(r.stderr)
    assert took < 60
    stats = proxy.stats()
    assert stats["body_faults"] == 1, stats  # not retried
    assert_untouched(p, commits=1)
    assert p.alias("dev") == "1"
    assert_converges(mlops, p, "2")


class PrivateGitServer:
    """A second instance of the real git server of scripts/services.sh (lighttpd + git
    http-backend, same config, same repositories) on its own port, so this test can kill and
    restart it without disturbing the shared one. Stopped by its recorded PID (its own process
    group, so the CGI children go with it)."""

    def __init__(self, services: dict, tmp: Path):
        state = Path(os.environ["MLOPS_SERVICES_DIR"]) / "git_http"
        self.port = free_port()
        conf = (state / "lighttpd.conf").read_text()
        conf = conf.replace(f"server.port = {self._port_of(conf)}", f"server.port = {self.port}")
        conf = conf.replace(f'server.errorlog = "{state}/error.log"', f'server.errorlog = "{tmp}/git-error.log"')
        self.conf = tmp / "lighttpd.conf"
        self.conf.write_text(conf)
        self.log = tmp / "git-server.log"
        self.proc: subprocess.Popen | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    @staticmethod
    def _port_of(conf: str) -> str:
        return next(l.split("=", 1)[1].strip() for l in conf.splitlines() if l.startswith("server.port"))

    def start(self) -> None:
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(["lighttpd", "-D", "-f", str(self.conf)], stdout=log, stderr=log,
                                         start_new_session=True)
        deadline = time.monotonic() + 15
        import socket
        while True:
            assert self.proc.poll() is None and time.monotonic() < deadline, self.log.read_text()
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the group this test started, by its PID
            self.proc.wait()


@pytest.fixture
def private_git(services, tmp_path):
    server = PrivateGitServer(services, tmp_path)
    server.start()
    yield server
    server.kill()


def test_git_server_killed_mid_push_and_restarted(mlops, project, private_git, tmp_path):
    """The server is killed while it runs the push (inside a pre-receive hook, before the ref
    moves) and comes back a moment later: the promotion retries across the outage, lands once,
    and the alias follows."""
    p = project
    marker = tmp_path / "hook-running"
    hook = p.bare / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\nsleep 30\n")
    hook.chmod(0o755)
    via(p, private_git.url)
    mlops.cwd = p.dir
    proc = mlops.popen("promote", p.name, "1", "--env", "dev", "--actor", "alice",
                       env=p.env(MLFLOW_HTTP_REQUEST_MAX_RETRIES="6", MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR="0.5"))
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        private_git.kill()
        hook.unlink()
        assert p.commits() == [], "the hook was killed before the ref moved"
        time.sleep(1.0)
        private_git.start()
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert len(p.commits()) == 1 and p.alias("dev") == "1"
    assert_converges(mlops, p)


def test_rollback_whose_answer_was_lost_is_completed_by_running_it_again(mlops, project, fault_proxy):
    """A rollback that reached git but not MLflow (the alias endpoint fails: exit 6, the alias
    still on the newer version), as after a crash between the two: running the same rollback
    again completes that one; it does not refuse (exit 4) nor roll back a further step."""
    p = project
    assert promote(mlops, p, "1")[0].returncode == 0
    assert promote(mlops, p, "2")[0].returncode == 0
    proxy = fault_proxy("fail:/registered-models/alias", upstream=p.uri)
    r, took = timed(mlops, p, "--tracking-uri", proxy.url, "rollback", p.name, "--env", "dev", "--actor", "alice",
                    "--reason", "faults", MLFLOW_HTTP_REQUEST_MAX_RETRIES="0")
    assert r.returncode == 6, r.stderr
    commits = p.commits()
    assert len(commits) == 3 and p.trailers(commits[0])["Action"] == ["rollback"]
    assert p.alias("dev") == "2"
    r = run(mlops, p, "rollback", p.name, "--env", "dev", "--actor", "alice", "--reason", "faults")
    assert r.returncode == 0, r.stderr
    assert "already holds version 1" in r.stdout
    assert len(p.commits()) == 3 and p.alias("dev") == "1"
    assert json.loads(p.tags("2")["mlops.rollback.dev"])["status"] == "done"
    assert json.loads(run(mlops, p, "--json", "history", p.name).stdout)["mismatches"] == []
    # Now complete, the same command goes back a step as usual: there is nothing before 1.
    r = run(mlops, p, "rollback", p.name, "--env", "dev", "--actor", "alice")
    assert r.returncode == 4, r.stderr


def test_file_remote_with_a_stale_ref_lock(mlops, project, tmp_path):
    """file:// remote whose branch ref is locked (a git process died holding main.lock): a
    clear failure that names the lock, nothing half-written, and a rerun after the lock is
    gone converges."""
    p = project
    local = tmp_path / "local.git"
    git("init", "-q", "--bare", str(local))
    p.write_config(url=f"file://{local}")
    assert promote(mlops, p, "1")[0].returncode == 0
    lock = local / "refs" / "heads" / "main.lock"
    lock.write_text("")
    r, took = promote(mlops, p, "2", **FAST)
    assert r.returncode == 7, r.stderr  # a conflict with another writer, retried first
    assert "main.lock" in error_line(r.stderr) and "remove the .lock file" in r.stderr
    assert took < 30
    assert len(git("--git-dir", str(local), "rev-list", "main").split()) == 1
    assert p.alias("dev") == "1"
    lock.unlink()
    r, _ = promote(mlops, p, "2")
    assert r.returncode == 0, r.stderr
    assert len(git("--git-dir", str(local), "rev-list", "main").split()) == 2 and p.alias("dev") == "2"
