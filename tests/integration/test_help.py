"""What a newcomer meets: help, version, man pages, shell completion and installation,
driving the real binary and the real shells (bash with bash-completion, zsh, fish).

Shells are driven through their own completion hooks (bash: the completion function with
COMP_WORDS; fish: `complete -C`) and zsh, which has no such hook outside an editor, through
tmux (`send-keys` Tab, `capture-pane`)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO, error_line, free_port

COMMANDS = ("init", "release", "pull", "models", "validate", "package", "render", "promote", "rollback", "history",
            "approve", "doctor", "help", "version")
LIBRARIES = ("libcurl", "OpenSSL", "libgit2", "libarchive", "yaml-cpp", "libyaml", "zlib", "libzstd",
             "nlohmann_json", "CLI11")


# --------------------------------------------------------------------------- help


def test_help_takes_a_command_path(mlops):
    h = mlops.run("help", "models", "list")
    assert h.returncode == 0, h.stderr
    assert h.stdout == mlops.run("models", "list", "--help").stdout
    assert h.stdout.startswith("usage: mlops models list") and "--filter EXPR" in h.stdout
    assert mlops.run("help", "models").stdout == mlops.run("models", "--help").stdout
    bad = mlops.run("help", "models", "lsit")
    assert bad.returncode == 2
    assert error_line(bad.stderr) == "mlops: error: 'lsit' is not a subcommand of 'mlops models'"
    assert "did you mean 'list'?" in bad.stderr
    assert mlops.run("help", "pull", "extra").returncode == 2


def option_rows(text: str, section: str) -> list[str]:
    """The lines of one section ("options:") of a help text."""
    lines = text.split(f"\n{section}\n", 1)[1].split("\n\n", 1)[0].splitlines()
    return [l for l in lines if l.strip()]


@pytest.mark.parametrize("cmd", COMMANDS)
def test_help_layout(mlops, cmd):
    text = mlops.run("help", cmd).stdout
    assert "Excludes" not in text and "REQUIRED" not in text and "TEXT" not in text.split("options:")[0]
    assert ":{" not in text, "choices belong in the description, not glued to the value name"
    for section in ("arguments:", "options:"):
        if f"\n{section}\n" not in text:
            continue
        rows = option_rows(text, section)
        # Every description starts in the same column (continuation lines too).
        starts = {len(m.group(1)) for r in rows if (m := re.match(r"^(  \S.*?\s{2,}|\s{4,})\S", r))}
        assert len(starts) == 1, (section, rows)
        if section == "arguments:":
            names = [r.split()[0] for r in rows if not r.startswith("    ")]
            assert all(n == n.upper() for n in names), names
    if "\nexamples:\n" in text and "\noptions:\n" in text:
        assert text.index("examples:") < text.index("options:"), "examples lead"
    assert len(text.splitlines()) <= 60, f"'mlops help {cmd}' is {len(text.splitlines())} lines"


def test_help_render_leads_with_examples(mlops):
    text = mlops.run("help", "render").stdout
    assert text.index("examples:") < 10 * 80
    assert "mlops render --env prod -o deploy/prod" in text
    assert "man mlops-render" in text


def test_top_help_columns_align(mlops):
    text = mlops.run("--help").stdout
    rows = option_rows(text, "global options (before or after the command):")
    assert any(r.lstrip().startswith("--output FORMAT ") for r in rows), rows
    starts = {len(m.group(1)) for r in rows if (m := re.match(r"^(  \S.*?\s{2,})\S", r))}
    assert len(starts) == 1, rows


def test_bare_mlops_is_a_usage_error(mlops):
    r = mlops.run()
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.startswith("usage: mlops ") and len(r.stderr.splitlines()) <= 6
    assert "mlops help" in r.stderr


# --------------------------------------------------------------------------- version


def pkg_version(module: str) -> str:
    return subprocess.run(["pkg-config", "--modversion", module], capture_output=True, text=True).stdout.strip()


def test_version_lists_the_libraries(mlops):
    r = mlops.run("version")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert re.fullmatch(r"mlops \d+\.\d+\.\d+", lines[0])
    shown = dict(l.split(None, 1) for l in lines[1:])
    assert tuple(shown) == LIBRARIES
    j = json.loads(mlops.run("version", "--json").stdout)
    assert j["version"] == lines[0].split()[1]
    assert j["libraries"] == shown
    # The runtime calls report what Debian installed (pkg-config knows the same versions).
    for lib, module in (("libcurl", "libcurl"), ("libgit2", "libgit2"), ("libarchive", "libarchive"),
                        ("libzstd", "libzstd"), ("libyaml", "yaml-0.1"), ("yaml-cpp", "yaml-cpp")):
        want = pkg_version(module)
        if want:
            assert shown[lib] == want, (lib, shown[lib], want)
    assert all(re.match(r"\d+\.\d+", v) for v in shown.values()), shown
    assert mlops.run("--version").stdout == lines[0] + "\n"


# --------------------------------------------------------------------------- man pages


def test_man_pages_are_generated_and_in_sync(mlops):
    names = mlops.run("__man", "--list").stdout.split()
    assert names[0] == "mlops.1" and "mlops.yaml.5" in names
    assert {f"mlops-{c}.1" for c in COMMANDS} <= set(names)
    on_disk = sorted(p.name for p in (REPO / "man").iterdir() if re.search(r"\.\d$", p.name))
    assert on_disk == sorted(names), "run: man/generate.sh build/mlops"
    for name in names:
        assert (REPO / "man" / name).read_text() == mlops.run("__man", name).stdout, f"{name}: run man/generate.sh"
    assert mlops.run("__man", "mlops-nope.1").returncode == 2


def test_man_pages_render_without_warnings():
    for page in sorted((REPO / "man").glob("*.[15]")):
        r = subprocess.run(["man", "--warnings", "-l", "-P", "cat", str(page)], capture_output=True, text=True,
                           env={"MANWIDTH": "80", "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
        assert r.returncode == 0, (page.name, r.stderr)
        assert r.stderr == "", (page.name, r.stderr)
        assert r.stdout.strip(), page.name


def test_man_mlops_describes_the_whole_tool(mlops):
    text = subprocess.run(["man", "-l", "-P", "cat", str(REPO / "man" / "mlops.1")], capture_output=True,
                          text=True, env={"MANWIDTH": "200", "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}).stdout
    description = text.split("DESCRIPTION", 1)[1].split("COMMANDS", 1)[0]
    for word in ("pull", "validate", "package", "render", "promote", "rollback", "history"):
        assert word in description, word
    status = text.split("EXIT STATUS", 1)[1].split("ENVIRONMENT", 1)[0]
    codes = [int(c) for c in re.findall(r"^\s{7}(\d+)\s{2,}\S", status, re.M)]
    assert codes == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 130], codes
    for c in COMMANDS:
        assert f"mlops-{c}(1)" in text
    assert "mlops.yaml(5)" in text
    yaml5 = subprocess.run(["man", "-l", "-P", "cat", str(REPO / "man" / "mlops.yaml.5")], capture_output=True,
                           text=True, env={"MANWIDTH": "200", "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}).stdout
    for key in ("mlflow", "gates", "package", "deploy", "environments", "gitops"):
        assert re.search(rf"^\s+{key}\s", yaml5, re.M), key


# --------------------------------------------------------------------------- completion (the binary)


PROJECT = """\
deploy: {name: iris, target: k8s, environments: {dev: {replicas: 1}, qa: {replicas: 1}}}
environments:
  staging: {requires: {validation: true}}
  prod: {requires: {validation: true}}
"""


def cands(mlops, *words: str) -> list[str]:
    r = mlops.run("__complete", *words)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    return r.stdout.split()


def test_complete_option_values(mlops):
    (mlops.cwd / "mlops.yaml").write_text(PROJECT)
    assert sorted(cands(mlops, "render", "--target", "")) == ["k8s", "kserve", "seldon-v1", "seldon-v2"]
    assert sorted(cands(mlops, "render", "--target", "se")) == ["seldon-v1", "seldon-v2"]
    assert cands(mlops, "package", ".", "--format", "") == ["image", "modelcar", "artifact"]
    assert cands(mlops, "package", "--compression", "z") == ["zstd"]
    assert cands(mlops, "--output", "") == ["text", "json"]
    assert sorted(cands(mlops, "render", "--target=k")) == ["--target=k8s", "--target=kserve"]
    assert cands(mlops, "promote", "iris", "3", "--env", "") == ["dev", "prod", "qa", "staging"]
    assert cands(mlops, "--config", "mlops.yaml", "rollback", "iris", "--env", "p") == ["prod"]
    assert cands(mlops, "pull", "-o", "") == [":dirs"]
    assert cands(mlops, "validate", "x", "--policy", "") == [":files"]
    assert cands(mlops, "promote", "iris", "3", "-m", "") == []  # free text: no file names
    assert cands(mlops, "help", "mo") == ["models"]
    assert cands(mlops, "help", "models", "") == ["list", "show"]
    assert "--filter" in cands(mlops, "models", "list", "--")
    assert cands(mlops, "pull", "") == ["models:/", ":dirs"]
    (mlops.cwd / "mlops.yaml").write_text("deploy: [broken\n")
    assert cands(mlops, "render", "--env", "") == []


def test_complete_model_names_from_mlflow(mlops):
    """Model names come from the real tracking server; a server that is not there (a closed
    port) gives no names and no error, so TAB never prints or hangs."""
    assert "models:/iris" in cands(mlops, "pull", "models:/ir")
    assert all(c.startswith("models:/ir") for c in cands(mlops, "validate", "models:/ir"))
    assert "iris" in cands(mlops, "promote", "ir") and "iris" in cands(mlops, "history", "")
    assert cands(mlops, "promote", "iris", "") == []  # the version: free text
    r = mlops.run("__complete", "pull", "models:/", uri=f"http://127.0.0.1:{free_port()}")
    assert r.returncode == 0 and r.stdout == "" and r.stderr == ""


def test_every_enumerated_option_completes_its_values(mlops_bin, tmp_path):
    """Walks the command table (through help) and asks for the values of every option
    whose value is a fixed set: none may fall back to file names."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    for cmd in COMMANDS:
        text = subprocess.run([mlops_bin, "help", cmd], capture_output=True, text=True, env=env).stdout
        for opt, value in re.findall(r"^  (?:-\w, )?(--[\w-]+) ([A-Z_]+)\s", text, re.M):
            out = subprocess.run([mlops_bin, "__complete", cmd, opt, ""], capture_output=True, text=True, env=env,
                                 cwd=tmp_path).stdout.split()
            if value in ("FORMAT", "C", "TARGET"):
                assert out and ":files" not in out, (cmd, opt, out)


# --------------------------------------------------------------------------- completion (the shells)


def shell_env(bindir: Path, home: Path, xdg_data: Path | None = None) -> dict[str, str]:
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(home), "TERM": "xterm", "LANG": "C.UTF-8"}
    if xdg_data:
        env["XDG_DATA_DIRS"] = f"{xdg_data}:/usr/share"
    return env


@pytest.fixture
def bindir(mlops_bin, tmp_path) -> Path:
    d = tmp_path / "bin"
    d.mkdir()
    (d / "mlops").symlink_to(mlops_bin)
    return d


def bash_complete(line: str, env: dict[str, str], cwd: Path, script: Path | None = None) -> list[str]:
    """COMPREPLY for `line` (the cursor at its end), through bash-completion's own
    loader unless `script` names the completion file to source."""
    load = f"source {script}" if script else "__load_completion mlops"
    prog = f"""
source /usr/share/bash-completion/bash_completion
{load} || exit 3
COMP_LINE={_sq(line)}; COMP_POINT=${{#COMP_LINE}}
_split() {{ COMP_WORDS=(); local w; read -ra COMP_WORDS <<< "$COMP_LINE"; }}
_split; [[ "$COMP_LINE" == *' ' ]] && COMP_WORDS+=('')
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
spec=$(complete -p mlops) || exit 4
fn=${{spec#*-F }}; fn=${{fn%% *}}
$fn mlops "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", prog], capture_output=True, text=True, env=env,
                       cwd=cwd, timeout=60)
    assert r.returncode == 0, (line, r.returncode, r.stderr)
    return [l for l in r.stdout.splitlines() if l]


def _sq(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


def fish_complete(line: str, env: dict[str, str], cwd: Path, script: Path | None = None) -> list[str]:
    load = f"source {script}; " if script else ""
    r = subprocess.run(["fish", "-c", f"{load}complete -C {_sq(line)}"], capture_output=True,
                       text=True, env=env, cwd=cwd, timeout=60)
    assert r.returncode == 0, r.stderr
    return [l.split("\t")[0] for l in r.stdout.splitlines() if l]


def zsh_complete(line: str, env: dict[str, str], cwd: Path, fpath: Path, tmp: Path) -> str:
    """The zsh command line after typing `line` and Tab, in a real zsh under tmux."""
    if not shutil.which("tmux"):
        pytest.fail("tmux is needed to drive zsh (apt-get install tmux)")
    sock = str(tmp / f"tmux-{time.monotonic_ns()}")
    zdot = tmp / f"zdot-{time.monotonic_ns()}"
    zdot.mkdir()
    (zdot / ".zshrc").write_text(f"fpath=({fpath} $fpath)\nautoload -Uz compinit && compinit -u -D\n"
                                 "zstyle ':completion:*' list-prompt ''\nPS1='%% '\n")
    env = {**env, "ZDOTDIR": str(zdot)}
    tmux = ["tmux", "-S", sock, "-f", "/dev/null"]
    subprocess.run([*tmux, "new-session", "-d", "-x", "200", "-y", "30", "-c", str(cwd), "zsh", "-i"], env=env,
                   check=True)
    try:
        deadline = time.monotonic() + 30
        while "%" not in _pane(tmux) and time.monotonic() < deadline:
            time.sleep(0.1)
        subprocess.run([*tmux, "send-keys", "-l", line], check=True)
        subprocess.run([*tmux, "send-keys", "Tab"], check=True)
        text, last = "", None
        while time.monotonic() < deadline:  # wait until the screen stops changing
            time.sleep(0.5)
            text = _pane(tmux)
            if text == last and line.strip() in text:
                break
            last = text
        return text
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)


def _pane(tmux: list[str]) -> str:
    return subprocess.run([*tmux, "capture-pane", "-p"], capture_output=True, text=True).stdout


SHELL_CASES = [  # (typed, the one completion expected, other candidates that must be there)
    ("mlops ren", "render", ()),
    ("mlops render --tar", "--target", ()),
    ("mlops render --target kse", "kserve", ()),
    ("mlops package . --format mod", "modelcar", ()),
    ("mlops package . --compression zs", "zstd", ()),
    ("mlops promote iris 3 --env st", "staging", ()),
    ("mlops help models l", "list", ()),
]


@pytest.mark.parametrize("script", [None, "repo"], ids=["bash-completion-loader", "sourced"])
def test_bash_completes_commands_options_and_values(mlops, bindir, tmp_path, script):
    (mlops.cwd / "mlops.yaml").write_text(PROJECT)
    xdg = tmp_path / "share"
    (xdg / "bash-completion" / "completions").mkdir(parents=True)
    shutil.copy(REPO / "completions" / "mlops.bash", xdg / "bash-completion" / "completions" / "mlops")
    env = shell_env(bindir, tmp_path, xdg)
    src = REPO / "completions" / "mlops.bash" if script else None
    for typed, want, _ in SHELL_CASES:
        assert bash_complete(typed, env, mlops.cwd, src) == [want], typed
    assert sorted(bash_complete("mlops render --target ", env, mlops.cwd, src)) == ["k8s", "kserve", "seldon-v1",
                                                                                  "seldon-v2"]
    # Option values never fall back to file names.
    (mlops.cwd / "kfile").write_text("")
    assert sorted(bash_complete("mlops render --target k", env, mlops.cwd, src)) == ["k8s", "kserve"]
    assert bash_complete("mlops promote iris 3 -m k", env, mlops.cwd, src) == []
    # Paths where a path belongs.
    (mlops.cwd / "model-dir").mkdir()
    assert bash_complete("mlops pull -o mod", env, mlops.cwd, src) == ["model-dir"]
    assert bash_complete("mlops validate x --policy kf", env, mlops.cwd, src) == ["kfile"]


def test_bash_completion_without_mlops_on_path(mlops, mlops_bin, tmp_path):
    """The typed command is the one asked (./build/mlops works before installing)."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    link = mlops.cwd / "mlops"
    link.symlink_to(mlops_bin)
    prog = f"""
source /usr/share/bash-completion/bash_completion
source {REPO / 'completions' / 'mlops.bash'}
COMP_WORDS=(./mlops ren); COMP_CWORD=1
_mlops ./mlops ren ./mlops
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    r = subprocess.run(["bash", "--norc", "-c", prog], capture_output=True, text=True, env=env, cwd=mlops.cwd)
    assert r.stdout.split() == ["render"], r.stderr


def test_fish_completes_commands_options_and_values(mlops, bindir, tmp_path):
    if not shutil.which("fish"):
        pytest.fail("fish is needed (apt-get install fish)")
    (mlops.cwd / "mlops.yaml").write_text(PROJECT)
    xdg = tmp_path / "share"
    (xdg / "fish" / "vendor_completions.d").mkdir(parents=True)
    shutil.copy(REPO / "completions" / "mlops.fish", xdg / "fish" / "vendor_completions.d" / "mlops.fish")
    env = shell_env(bindir, tmp_path, xdg)
    for typed, want, _ in SHELL_CASES:
        assert fish_complete(typed, env, mlops.cwd) == [want], typed
    (mlops.cwd / "kfile").write_text("")
    assert sorted(fish_complete("mlops render --target k", env, mlops.cwd)) == ["k8s", "kserve"]
    (mlops.cwd / "model-dir").mkdir()
    assert fish_complete("mlops pull -o mod", env, mlops.cwd) == ["model-dir/"]


def test_zsh_completes_commands_options_and_values(mlops, bindir, tmp_path):
    if not shutil.which("zsh"):
        pytest.fail("zsh is needed (apt-get install zsh)")
    (mlops.cwd / "mlops.yaml").write_text(PROJECT)
    fpath = tmp_path / "zfuncs"
    fpath.mkdir()
    shutil.copy(REPO / "completions" / "_mlops", fpath / "_mlops")
    env = shell_env(bindir, tmp_path)
    for typed, want, _ in SHELL_CASES:
        screen = zsh_complete(typed, env, mlops.cwd, fpath, tmp_path)
        assert screen.splitlines()[0].rstrip() == f"% {typed[:typed.rfind(' ')]} {want}", (typed, screen)
    screen = zsh_complete("mlops render --target ", env, mlops.cwd, fpath, tmp_path)
    for t in ("seldon-v1", "seldon-v2", "kserve", "k8s"):
        assert t in screen, screen


# --------------------------------------------------------------------------- install


def build_dir(mlops_bin: str) -> Path:
    d = Path(mlops_bin).resolve().parent
    while not (d / "CMakeCache.txt").exists():
        assert d != d.parent, "no CMake build directory above MLOPS_BIN"
        d = d.parent
    return d


def test_cmake_install_puts_everything_in_the_standard_places(mlops_bin, tmp_path):
    prefix = tmp_path / "prefix"
    r = subprocess.run(["cmake", "--install", str(build_dir(mlops_bin)), "--prefix", str(prefix)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    files = {str(p.relative_to(prefix)) for p in prefix.rglob("*") if p.is_file()}
    want = {"bin/mlops", "share/man/man1/mlops.1", "share/man/man5/mlops.yaml.5",
            "share/bash-completion/completions/mlops", "share/zsh/site-functions/_mlops",
            "share/fish/vendor_completions.d/mlops.fish"} | {f"share/man/man1/mlops-{c}.1" for c in COMMANDS}
    assert want <= files, sorted(want - files)
    # Right after installing: man finds the pages and bash-completion loads the completion.
    env = {"PATH": f"{prefix / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "MANPATH": str(prefix / "share/man"),
           "XDG_DATA_DIRS": f"{prefix / 'share'}:/usr/share", "MANWIDTH": "80"}
    man = subprocess.run(["man", "-P", "cat", "mlops-render"], capture_output=True, text=True, env=env)
    assert man.returncode == 0 and "mlops render" in man.stdout, man.stderr
    assert bash_complete("mlops render --target kse", env, tmp_path) == ["kserve"]
    assert fish_complete("mlops ren", env, tmp_path) == ["render"]


def test_install_script(mlops_bin, tmp_path):
    """scripts/install.sh installs the build it finds (or builds the mlops target) under --prefix."""
    prefix = tmp_path / "p"
    env = {**os.environ, "MLOPS_BUILD_DIR": str(build_dir(mlops_bin))}
    r = subprocess.run(["bash", str(REPO / "scripts" / "install.sh"), "--prefix", str(prefix)], capture_output=True,
                       text=True, env=env, timeout=1200)
    assert r.returncode == 0, r.stderr
    assert (prefix / "bin" / "mlops").exists() and (prefix / "share/man/man5/mlops.yaml.5").exists()
    out = subprocess.run([str(prefix / "bin" / "mlops"), "version"], capture_output=True, text=True).stdout
    assert out.startswith("mlops ")
    assert "mlops" in r.stdout and str(prefix) in r.stdout
