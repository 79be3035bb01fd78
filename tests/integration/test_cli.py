"""The dispatcher, models commands, configuration and docs, as a user runs them."""

from __future__ import annotations

import json
import subprocess

import jsonschema
import pytest

from conftest import REPO, error_line


def schema(name: str) -> dict:
    return json.loads((REPO / "schemas" / name).read_text())


def test_typo_suggests_the_command(mlops):
    r = mlops.run("pul", "models:/iris/1")
    assert r.returncode == 2
    assert error_line(r.stderr) == "mlops: error: 'pul' is not an mlops command"
    assert "hint: did you mean 'pull'?" in r.stderr
    r = mlops.run("modles", "list")
    assert "did you mean 'models'?" in r.stderr


def test_unknown_option_is_a_usage_error(mlops):
    r = mlops.run("pull", "--frobnicate", "models:/iris/1")
    assert r.returncode == 2
    assert error_line(r.stderr).startswith("mlops: error: ")
    r = mlops.run("pull", "-j", "0", "models:/iris/1")
    assert r.returncode == 2


def test_help_and_version(mlops):
    top = mlops.run("--help")
    assert top.returncode == 0
    for cmd in ("pull", "models", "help", "version"):
        assert f"\n  {cmd} " in top.stdout
    assert "__complete" not in top.stdout
    h = mlops.run("help", "pull")
    assert h.returncode == 0
    assert "--verify" in h.stdout and "--jobs" in h.stdout and "models:/NAME@ALIAS" in h.stdout
    assert mlops.run("pull", "--help").stdout.startswith(h.stdout.splitlines()[0])
    bad = mlops.run("help", "pulll")
    assert bad.returncode == 2 and "did you mean 'pull'?" in bad.stderr
    v = mlops.run("--version")
    assert v.returncode == 0 and v.stdout.startswith("mlops ")
    assert json.loads(mlops.run("version", "--json").stdout)["version"]


def test_global_options_after_the_command(mlops, mlflow_uri):
    r = mlops.run("models", "list", "--tracking-uri", mlflow_uri, "--output", "json", uri=None)
    assert r.returncode == 0, r.stderr
    assert {m["name"] for m in json.loads(r.stdout)["models"]} >= {"iris", "files", "legacy"}


def test_models_list_and_show(mlops):
    r = mlops.run("models", "list")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["NAME", "LATEST", "ALIASES", "UPDATED"]
    iris = next(l for l in lines if l.startswith("iris "))
    assert "challenger=3" in iris and "champion=2" in iris
    j = json.loads(mlops.run("models", "list", "--json", "--filter", "name LIKE 'ir%'").stdout)
    jsonschema.validate(j, schema("output.models-list.schema.json"))
    assert [m["name"] for m in j["models"]] == ["iris"]
    assert j["models"][0]["latest_version"] == "3"

    s = mlops.run("models", "show", "iris")
    assert s.returncode == 0, s.stderr
    rows = [l.split() for l in s.stdout.splitlines() if l[:1].isdigit()]
    assert [r[0] for r in rows] == ["3", "2", "1"]
    assert rows[2][2] == "Production"
    assert rows[1][3] == "champion"
    sj = json.loads(mlops.run("models", "show", "iris", "--json").stdout)
    jsonschema.validate(sj, schema("output.models-show.schema.json"))
    assert sj["aliases"] == {"champion": "2", "challenger": "3"}

    missing = mlops.run("models", "show", "nope")
    assert missing.returncode == 4
    assert "cannot get model 'nope'" in error_line(missing.stderr)


def test_project_file_is_found_by_walking_up(mlops, mlflow_uri):
    (mlops.cwd / "mlops.yaml").write_text(f"mlflow:\n  tracking_uri: {mlflow_uri}\n")
    sub = mlops.cwd / "a" / "b"
    sub.mkdir(parents=True)
    mlops.cwd = sub
    r = mlops.run("-v", "models", "list", uri=None)
    assert r.returncode == 0, r.stderr
    assert "mlops.yaml:2" in r.stderr  # -v says where the setting came from


def test_bad_project_file_names_file_line_and_key(mlops):
    (mlops.cwd / "mlops.yaml").write_text("mlflow:\n  tracking_uri: http://127.0.0.1:1\n  max_retries: many\n")
    r = mlops.run("models", "list", uri=None)
    assert r.returncode == 2
    line = error_line(r.stderr)
    assert "mlops.yaml:3" in line and "'mlflow.max_retries'" in line
    (mlops.cwd / "mlops.yaml").write_text("mlfow:\n  tracking_uri: x\n")
    r = mlops.run("models", "list", uri=None)
    assert "unknown key 'mlfow'" in error_line(r.stderr)
    assert "did you mean 'mlflow'?" in r.stderr


def test_env_beats_project_file_and_flag_beats_env(mlops, mlflow_uri):
    (mlops.cwd / "mlops.yaml").write_text("mlflow:\n  tracking_uri: http://127.0.0.1:1\n")
    assert mlops.run("models", "list", uri=mlflow_uri).returncode == 0
    r = mlops.run("models", "list", "--tracking-uri", mlflow_uri, uri="http://127.0.0.1:1")
    assert r.returncode == 0, r.stderr


def test_no_color_and_no_progress_when_not_a_tty(mlops):
    r = mlops.run("pull", "models:/iris/1")
    assert "\x1b[" not in r.stderr + r.stdout
    r = mlops.run("pull", "models:/iris/1", "-q")
    assert r.returncode == 0 and r.stdout == ""


def test_progress_bar_on_a_tty(mlops_bin, mlflow_uri, tmp_path):
    """Runs mlops under a pseudo-terminal: the bar shows bytes, rate, ETA and files."""
    import os
    import pty
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(tmp_path)
        os.environ["MLFLOW_TRACKING_URI"] = mlflow_uri
        os.execv(mlops_bin, [mlops_bin, "pull", "models:/files/1", "-j", "1"])
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    text = out.decode("utf-8", "replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "files v1 [" in text and "/s" in text and "ETA" in text and "files" in text


def test_completion_candidates_come_from_the_binary(mlops):
    assert mlops.run("__complete", "pu").stdout.split() == ["pull"]
    assert "--verify" in mlops.run("__complete", "pull", "--v").stdout.split()
    assert set(mlops.run("__complete", "models", "").stdout.split()) == {"list", "show"}
    assert "--tracking-uri" in mlops.run("__complete", "--tr").stdout.split()
    for f in ("mlops.bash", "_mlops", "mlops.fish"):
        assert "__complete" in (REPO / "completions" / f).read_text()
    bash = subprocess.run(["bash", "-n", str(REPO / "completions" / "mlops.bash")], capture_output=True)
    assert bash.returncode == 0, bash.stderr


def test_man_page_is_generated_from_the_command_table(mlops):
    generated = mlops.run("__man").stdout
    assert (REPO / "man" / "mlops.1").read_text() == generated, "run: build/mlops __man > man/mlops.1"
    pages = generated + "".join(mlops.run("__man", f"mlops-{c}.1").stdout for c in ("pull", "models"))  # test_help.py: all
    for word in ("mlops pull", "mlops models", "\\-\\-verify", "EXIT STATUS", "MLFLOW_TRACKING_URI"):
        assert word in pages
    r = subprocess.run(["man", "-l", "-P", "cat", str(REPO / "man" / "mlops.1")], capture_output=True, text=True,
                       env={"MANWIDTH": "100", "PATH": "/usr/bin:/bin"})
    if r.returncode == 0:
        assert "pull" in r.stdout


@pytest.mark.parametrize("value", [".inf", "1e30", ".nan"])
def test_non_finite_or_huge_timeout_in_mlops_yaml_is_exit_2(mlops, value):
    """Accepted before, then converted to an integer (undefined behaviour); now exit 2 with file, line and key."""
    (mlops.cwd / "mlops.yaml").write_text(f"mlflow:\n  tracking_uri: http://127.0.0.1:1\n  timeout: {value}\n")
    r = mlops.run("models", "list", uri=None, timeout=60)
    assert r.returncode == 2, r.stderr
    assert f"'{mlops.cwd}/mlops.yaml:3': key 'mlflow.timeout'" in error_line(r.stderr)


@pytest.mark.parametrize("value", ["nan", "inf", "1e30"])
def test_non_finite_request_timeout_variable_is_exit_2(mlops, value):
    r = mlops.run("models", "list", env={"MLFLOW_HTTP_REQUEST_TIMEOUT": value}, uri="http://127.0.0.1:1", timeout=60)
    assert r.returncode == 2, r.stderr
    assert "invalid environment variable 'MLFLOW_HTTP_REQUEST_TIMEOUT'" in error_line(r.stderr)


def test_project_file_rules_repeated_key_second_document_utf8(mlops):
    p = mlops.cwd / "mlops.yaml"
    p.write_text("mlflow:\n  tracking_uri: http://127.0.0.1:1\n  tracking_uri: http://127.0.0.1:2\n")
    r = mlops.run("models", "list", uri=None)
    assert r.returncode == 2
    assert error_line(r.stderr) == f"mlops: error: invalid config '{p}:3': key 'mlflow.tracking_uri' is repeated"
    p.write_text("mlflow: {tracking_uri: 'http://127.0.0.1:1'}\n---\nmlflow: {tracking_uri: 'http://127.0.0.1:2'}\n")
    r = mlops.run("models", "list", uri=None)
    assert r.returncode == 2
    assert error_line(r.stderr) == f"mlops: error: invalid config '{p}:3': a second YAML document; the file must hold one"
    p.write_bytes(b"mlflow:\n  workspace: caf\xe9\n")  # Latin-1, not UTF-8: only a warning before
    r = mlops.run("models", "list", uri=None)
    assert r.returncode == 2
    assert error_line(r.stderr) == f"mlops: error: invalid config '{p}:2': not valid UTF-8 (byte 25)"


def test_config_link_loops_are_named(mlops):
    """`filesystem error: status: Too many levels of symbolic links` is library text; now a named error, exit 2."""
    (mlops.cwd / "loop.yaml").symlink_to("loop.yaml")
    r = mlops.run("--config", "loop.yaml", "models", "list", uri=None)
    assert r.returncode == 2, r.stderr
    assert error_line(r.stderr) == "mlops: error: cannot read config file 'loop.yaml': too many levels of symbolic links"
    sub = mlops.cwd / "a"
    sub.mkdir()
    (mlops.cwd / "mlops.yaml").symlink_to("mlops.yaml")
    mlops.cwd = sub
    r = mlops.run("models", "list", uri=None)
    assert r.returncode == 2, r.stderr
    assert "filesystem error" not in r.stderr
    assert error_line(r.stderr) == (f"mlops: error: cannot read config '{sub.parent}/mlops.yaml': "
                                    "too many levels of symbolic links")
