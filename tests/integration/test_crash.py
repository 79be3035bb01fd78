"""Crash consistency: `mlops pull`, `package` (OCI layout and docker-archive) and `promote` are
killed with SIGKILL at seeded random points against the real servers, and after every kill:

- the destination holds the old complete state or the new complete state, never a half
  (pull: no directory or one that `mlops pull --verify` accepts; package: the old tags and the
  new one, if there, read by skopeo and umoci; promote: the commit landed or it did not);
- a rerun converges to exactly what an uninterrupted run produces (the same lock digest, the
  same image digest, the same git tree, one commit per promotion, git and the alias agree).

Kill points are drawn uniformly from the measured duration of one uninterrupted run. CI runs
MLOPS_CRASH_ROUNDS (default 8) rounds per command; scripts/crash.sh runs more. The seed is
printed (and given in every failure) so a failing round reproduces with MLOPS_CRASH_SEED."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import time
import zlib
from pathlib import Path

import pytest

from conftest import lock_of
from test_package import base, manifest_of, models  # noqa: F401 - module fixtures reused
from test_promote import Project, git, run

ROUNDS = int(os.environ.get("MLOPS_CRASH_ROUNDS") or "8")
SEED = int(os.environ.get("MLOPS_CRASH_SEED") or time.time_ns() % 1_000_000_007)


@pytest.fixture
def rng(request) -> random.Random:
    """A generator per test, derived from SEED and the test's name (reproducible alone)."""
    print(f"crash seed {SEED}: rerun with MLOPS_CRASH_SEED={SEED} MLOPS_CRASH_ROUNDS={ROUNDS}")
    return random.Random(SEED ^ zlib.crc32(request.node.name.encode()))


def kill_after(mlops, delay: float, *args: str, env: dict | None = None) -> int | None:
    """Starts mlops and SIGKILLs it after `delay` seconds; returns its exit code when it
    finished first, else None."""
    proc = mlops.popen(*args, env=env)
    try:
        proc.communicate(timeout=delay)
        return proc.returncode
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        return None


def measured(fn) -> float:
    start = time.monotonic()
    fn()
    return time.monotonic() - start


def ok(r: subprocess.CompletedProcess, where: str) -> subprocess.CompletedProcess:
    assert r.returncode == 0, f"{where}: exit {r.returncode}: {r.stderr}"
    return r


def tool(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), capture_output=True, text=True)


# ----------------------------------------------------------------------------- pull


def test_pull_killed_at_random_points(mlops, rng):
    """Even rounds: a fresh pull of a 50 MB model. Odd rounds: version 2 pulled over a complete
    version 1 (the replacement must not leave a mix)."""
    cwd = mlops.cwd
    ok(mlops.run("pull", "models:/iris/1", "-o", "old"), "reference pull of iris 1")
    want: dict[str, str] = {}
    took: dict[str, float] = {}
    for uri, ref in (("models:/files/1", "ref-files"), ("models:/iris/2", "ref-iris2")):
        took[uri] = measured(lambda: ok(mlops.run("pull", uri, "-o", ref), f"reference pull of {uri}"))
        want[uri] = lock_of(cwd / ref)["digest"]
    old_digest = lock_of(cwd / "old")["digest"]
    for i in range(ROUNDS):
        uri = "models:/files/1" if i % 2 == 0 else "models:/iris/2"
        dest = cwd / f"m{i}"
        allowed = {want[uri]}
        if i % 2:
            shutil.copytree(cwd / "old", dest)
            allowed.add(old_digest)
        delay = rng.uniform(0, took[uri] * 1.2)
        where = f"seed {SEED} round {i} ({uri}, killed after {delay:.3f} s)"
        kill_after(mlops, delay, "pull", uri, "-o", dest.name)
        if dest.exists():
            ok(mlops.run("pull", "--verify", dest.name), where + ": the destination is not complete")
            assert lock_of(dest)["digest"] in allowed, where
        ok(mlops.run("pull", uri, "-o", dest.name), where + ": the rerun")
        assert lock_of(dest)["digest"] == want[uri], where
        ok(mlops.run("pull", "--verify", dest.name), where)
        left = [p.name for p in cwd.iterdir() if p.name.endswith((".mlops-partial", ".mlops-old"))]
        assert not left, (where, left)


# ----------------------------------------------------------------------------- package


def oci_readable(layout: Path, tag: str, where: str) -> str:
    """The manifest digest of `tag`, after skopeo and umoci both read the image."""
    r = tool("skopeo", "inspect", f"oci:{layout}:{tag}")
    assert r.returncode == 0, f"{where}: skopeo cannot read oci:{layout}:{tag}: {r.stderr}"
    r = tool("umoci", "stat", "--image", f"{layout}:{tag}")
    assert r.returncode == 0, f"{where}: umoci cannot read {layout}:{tag}: {r.stderr}"
    return json.loads(tool("skopeo", "inspect", f"oci:{layout}:{tag}").stdout)["Digest"]


def tags_of(layout: Path) -> set[str]:
    index = json.loads((layout / "index.json").read_text())
    return {m.get("annotations", {}).get("org.opencontainers.image.ref.name", "") for m in index["manifests"]}


def test_package_to_oci_layout_killed_at_random_points(mlops, models, base, rng):  # noqa: F811
    """Each round adds a tag to a layout that already holds a complete image: after the kill,
    the old tag reads as before, the new one is absent or complete; the rerun gives the
    uninterrupted run's digest."""
    cwd = mlops.cwd
    argv = ["package", str(models / "files"), "--format", "modelcar", "--base", f"oci:{base}:latest"]
    took = measured(lambda: ok(mlops.run(*argv, "--output", "oci:ref:new"), "reference package"))
    want = oci_readable(cwd / "ref", "new", "reference")
    layout = cwd / "out"
    ok(mlops.run("package", str(models / "iris"), "--format", "modelcar", "--base", f"oci:{base}:latest",
                 "--output", "oci:out:old"), "old image")
    old = oci_readable(layout, "old", "old image")
    for i in range(ROUNDS):
        tag = f"new{i}"
        delay = rng.uniform(0, took * 1.2)
        where = f"seed {SEED} round {i} (killed after {delay:.3f} s)"
        kill_after(mlops, delay, *argv, "--output", f"oci:out:{tag}")
        assert oci_readable(layout, "old", where) == old, where
        if tag in tags_of(layout):
            assert oci_readable(layout, tag, where) == want, where
        ok(mlops.run(*argv, "--output", f"oci:out:{tag}"), where + ": the rerun")
        assert oci_readable(layout, tag, where) == want, where
    # Nothing of the killed runs is left beside the layout.
    assert sorted(p.name for p in cwd.iterdir() if not p.name.startswith(".xdg")) == ["out", "ref"], list(cwd.iterdir())


def test_package_to_docker_archive_killed_at_random_points(mlops, models, base, rng):  # noqa: F811
    cwd = mlops.cwd
    argv = ["package", str(models / "files"), "--format", "modelcar", "--base", f"oci:{base}:latest"]
    ref = "docker-archive:ref.tar:registry.local/files:v1"
    took = measured(lambda: ok(mlops.run(*argv, "--output", ref), "reference package"))
    want = json.loads(tool("skopeo", "inspect", f"docker-archive:{cwd / 'ref.tar'}").stdout)["Digest"]
    for i in range(ROUNDS):
        archive = cwd / f"img{i}.tar"
        delay = rng.uniform(0, took * 1.2)
        where = f"seed {SEED} round {i} (killed after {delay:.3f} s)"
        kill_after(mlops, delay, *argv, "--output", f"docker-archive:{archive.name}:registry.local/files:v1")
        if archive.exists():
            r = tool("skopeo", "inspect", f"docker-archive:{archive}")
            assert r.returncode == 0, f"{where}: a half archive: {r.stderr}"
            assert json.loads(r.stdout)["Digest"] == want, where
        ok(mlops.run(*argv, "--output", f"docker-archive:{archive.name}:registry.local/files:v1"), where + ": the rerun")
        r = tool("skopeo", "inspect", f"docker-archive:{archive}")
        assert r.returncode == 0 and json.loads(r.stdout)["Digest"] == want, (where, r.stderr)
    # Nothing of the killed runs is left: each rerun cleared what its killed run left.
    left = sorted(p.name for p in cwd.iterdir() if not p.name.startswith(".xdg"))
    assert left == sorted(["ref.tar"] + [f"img{i}.tar" for i in range(ROUNDS)]), left


def test_docker_archive_temporary_of_a_killed_run_is_cleaned_by_the_rerun(mlops, models, base):  # noqa: F811
    """Killed while the archive itself is being written: the rerun leaves nothing but the archive."""
    cwd = mlops.cwd
    argv = ["package", str(models / "files"), "--format", "modelcar", "--base", f"oci:{base}:latest",
            "--output", "docker-archive:img.tar:registry.local/files:v1"]
    proc = mlops.popen(*argv)
    deadline = time.monotonic() + 120
    while not list(cwd.glob(".img.tar.mlops-tmp/.layer-*")):
        assert proc.poll() is None and time.monotonic() < deadline, "the archive was never being written"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert not (cwd / "img.tar").exists()
    ok(mlops.run(*argv), "the rerun")
    left = sorted(p.name for p in cwd.iterdir() if not p.name.startswith(".xdg"))
    assert left == ["img.tar"], left


# ----------------------------------------------------------------------------- promote


def manifests_tree(p: Project, commit: str, env: str) -> str:
    return git("--git-dir", str(p.bare), "rev-parse", f"{commit}:clusters/{env}/{p.name}").strip()


def test_promote_killed_at_random_points(mlops, services, tmp_path, mlflow_uri, rng):
    """Rounds promote versions 1 and 2 in turn to one environment. After each kill the commit
    is there or not; the rerun lands exactly one commit per round, whose tree is the one an
    uninterrupted promotion of that version gave, and the alias agrees with git."""
    p = Project(services, tmp_path, mlflow_uri)
    want = {}
    took = 0.0
    for v in ("1", "2"):  # uninterrupted: the reference trees and the duration
        took = max(took, measured(lambda: ok(run(mlops, p, "promote", p.name, v, "--env", "dev", "--actor", "alice"),
                                             f"reference promote of {v}")))
        want[v] = manifests_tree(p, p.commits()[0], "dev")
    for i in range(ROUNDS):
        v, other = ("1", "2") if i % 2 == 0 else ("2", "1")
        delay = rng.uniform(0, took * 1.2)
        where = f"seed {SEED} round {i} (version {v}, killed after {delay:.3f} s)"
        before = len(p.commits())
        mlops.cwd = p.dir
        kill_after(mlops, delay, "promote", p.name, v, "--env", "dev", "--actor", "alice", env=p.env())
        after = len(p.commits())
        assert after in (before, before + 1), f"{where}: {after - before} commits"
        ok(run(mlops, p, "promote", p.name, v, "--env", "dev", "--actor", "alice"), where + ": the rerun")
        commits = p.commits()
        assert len(commits) == 2 + i + 1, f"{where}: expected exactly one commit per round"
        head = p.trailers(commits[0])
        assert head["Version"] == [v] and head["Previous-Version"] == [other], (where, head)
        assert manifests_tree(p, commits[0], "dev") == want[v], where
        assert p.alias("dev") == v, where
        h = run(mlops, p, "--json", "history", p.name, "--env", "dev")
        assert h.returncode == 0 and json.loads(h.stdout)["mismatches"] == [], (where, h.stdout, h.stderr)
