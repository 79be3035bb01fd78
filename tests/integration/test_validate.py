"""`mlops validate` on the real MLflow models of tests/fixtures/make_validate_models.py.

Every gate is shown passing and failing on a real model: the v-* fixtures each carry one defect
(see MLOPS_TEST_VALIDATE_FIXTURES_JSON for the list). Policies are written per test; the test
commands of the `tests` gate are tests/fixtures/validate/*.sh.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import textwrap
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jsonschema
import pytest
import yaml

from conftest import REPO, Mlops, clean_env, error_line, lock_of

ASSETS = REPO / "tests" / "fixtures" / "validate"
SCHEMA_FILE = REPO / "schemas" / "output.validate.schema.json"
GATE_ORDER = ("format", "interface", "environment", "extras", "metrics", "tests", "serve")
ALWAYS = ("format", "interface", "environment")
LINE_RE = re.compile(r"^(PASS|FAIL|SKIP)(\s+)(\S+)(?:(\s+)(.*))?$")
SUMMARY_RE = re.compile(r"^validate (\S+) version (\S+): (\d+) passed, (\d+) failed, (\d+) skipped$")
SHA_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
METRICS_OK = ["accuracy >= 0.9", "f1 > 0.5"]


# --------------------------------------------------------------------------- helpers


def schema() -> dict:
    assert SCHEMA_FILE.is_file(), f"missing {SCHEMA_FILE}: 'mlops validate --json' has no schema"
    return json.loads(SCHEMA_FILE.read_text())


def parse_text(stdout: str) -> tuple[dict[str, tuple[str, str]], tuple]:
    """Gate lines and the summary line of the text output; checks the column layout."""
    gates: dict[str, tuple[str, str]] = {}
    summary = None
    name_cols, reason_cols = set(), set()
    for line in stdout.splitlines():
        m = LINE_RE.match(line)
        if m and m.group(3) in GATE_ORDER:
            status, _, gate, _, reason = m.groups()
            assert gate not in gates, f"gate {gate} reported twice:\n{stdout}"
            gates[gate] = (status, reason or "")
            name_cols.add(m.start(3))
            if m.group(5):
                reason_cols.add(m.start(5))
            continue
        s = SUMMARY_RE.match(line)
        if s:
            assert summary is None, stdout
            summary = (s.group(1), s.group(2), int(s.group(3)), int(s.group(4)), int(s.group(5)))
    assert gates, f"no gate lines in:\n{stdout}"
    assert summary, f"no summary line in:\n{stdout}"
    assert len(name_cols) == 1, f"gate names are not aligned:\n{stdout}"
    assert len(reason_cols) <= 1, f"reasons are not aligned:\n{stdout}"
    statuses = [s for s, _ in gates.values()]
    assert summary[2:] == (statuses.count("PASS"), statuses.count("FAIL"), statuses.count("SKIP")), stdout
    order = [g for g in GATE_ORDER if g in gates]
    assert list(gates) == order, f"gates out of order:\n{stdout}"
    for g in ALWAYS:
        assert g in gates, f"gate {g} always runs:\n{stdout}"
    return gates, summary


def gate(report: dict, name: str) -> dict:
    hits = [g for g in report["gates"] if g["name"] == name]
    assert len(hits) == 1, (name, report["gates"])
    return hits[0]


def said(g: dict) -> str:
    """A gate's reason and details as one string, for 'the reason names X' checks."""
    return "\n".join([g.get("reason") or "", *(g.get("details") or [])])


def check_report(report: dict, rc: int) -> None:
    """Invariants of every --json report."""
    jsonschema.validate(report, schema())
    names = [g["name"] for g in report["gates"]]
    assert names == [g for g in GATE_ORDER if g in names], names
    for g in ALWAYS:
        assert g in names
    st = [g["status"] for g in report["gates"]]
    assert report["summary"] == {"passed": st.count("pass"), "failed": st.count("fail"), "skipped": st.count("skip")}
    assert report["verdict"] == ("fail" if "fail" in st else "pass")
    assert rc == (3 if "fail" in st else 0), (rc, report)
    for g in report["gates"]:
        assert isinstance(g["details"], list) and all(isinstance(d, str) for d in g["details"])
        assert g["duration_s"] >= 0
        if g["status"] != "pass":
            assert g["reason"], g
    assert SHA_RE.match(report["lock_digest"]), report["lock_digest"]
    assert SHA_RE.match(report["policy_digest"]), report["policy_digest"]


def model_tags(services, name: str, version: str) -> dict:
    code = ("import json, sys\nfrom mlflow import MlflowClient\n"
            "print(json.dumps(MlflowClient(sys.argv[1]).get_model_version(sys.argv[2], sys.argv[3]).tags))")
    e = clean_env()
    # The Python client reads these as integers; ours accept fractions.
    e.pop("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", None)
    e.pop("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", None)
    r = subprocess.run([services["MLOPS_TEST_PYTHON"], "-c", code, services["MLOPS_TEST_MLFLOW_URI"], name, version],
                       env=e, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def sh(script: str) -> list[str]:
    return ["bash", str(ASSETS / script)]


class Validate:
    """Runs `mlops validate` with a private XDG cache and policies written in the work dir."""

    def __init__(self, mlops: Mlops, tmp: Path):
        self.mlops = mlops
        self.cache = tmp / "cache"
        self.cache.mkdir()

    def policy(self, gates: dict | str, name: str = "policy.yaml") -> Path:
        p = self.mlops.cwd / name
        if isinstance(gates, str):
            p.write_text(textwrap.dedent(gates).lstrip("\n"))
        else:
            p.write_text(yaml.safe_dump({"gates": gates}, sort_keys=False))
        return p

    def run(self, target, *args: str, policy: dict | str | Path | None = None, env: dict | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
        argv = ["validate", str(target), *args]
        if policy is not None:
            argv += ["--policy", str(policy if isinstance(policy, Path) else self.policy(policy))]
        e = {"XDG_CACHE_HOME": str(self.cache), **(env or {})}
        return self.mlops.run(*argv, env=e, timeout=timeout)

    def text(self, target, *args: str, rc: int, **kw) -> dict[str, tuple[str, str]]:
        r = self.run(target, *args, **kw)
        assert r.returncode == rc, (r.returncode, r.stdout, r.stderr)
        gates, _ = parse_text(r.stdout)
        return gates

    def json(self, target, *args: str, rc: int | None = None, **kw) -> dict:
        r = self.run(target, "--json", *args, **kw)
        assert r.returncode in (0, 3), (r.returncode, r.stdout, r.stderr)
        report = json.loads(r.stdout)
        check_report(report, r.returncode)
        if rc is not None:
            assert r.returncode == rc, (r.returncode, json.dumps(report, indent=1), r.stderr)
        return report


@pytest.fixture(scope="session")
def validate_fixtures(services) -> dict:
    return json.loads(Path(services["MLOPS_TEST_VALIDATE_FIXTURES_JSON"]).read_text())


@pytest.fixture(scope="session")
def pulled(mlops_bin, mlflow_uri, tmp_path_factory):
    """pulled(name, version='1') -> a directory pulled once per session. Read-only: copy it
    (copy_of) before changing anything."""
    root = tmp_path_factory.mktemp("pulled")
    runner = Mlops(mlops_bin, root, mlflow_uri)
    done: dict[str, Path] = {}

    def get(name: str, version: str = "1") -> Path:
        key = f"{name}-v{version}"
        if key not in done:
            r = runner.run("pull", f"models:/{name}/{version}", "-o", key, "-q")
            assert r.returncode == 0, r.stderr
            done[key] = root / key
        return done[key]

    return get


@pytest.fixture
def copy_of(pulled, tmp_path):
    def copy(name: str, version: str = "1") -> Path:
        dst = tmp_path / f"copy-{name}-v{version}"
        shutil.copytree(pulled(name, version), dst)
        return dst

    return copy


@pytest.fixture
def v(mlops, tmp_path) -> Validate:
    return Validate(mlops, tmp_path)


# --------------------------------------------------------------------------- the fixtures themselves


def test_fixtures_are_what_the_tests_expect(validate_fixtures, pulled):
    models = validate_fixtures["models"]
    assert models["v-compare"]["aliases"] == {"champion": "1", "challenger": "2"}
    metrics = {n: [ver["metrics"] for ver in m["versions"]] for n, m in models.items()}
    assert metrics["v-good"] == [{"accuracy": 0.95, "f1": 0.94}]
    assert metrics["v-lowmetric"][0]["accuracy"] == 0.5
    assert "accuracy" not in metrics["v-nometric"][0]
    assert [m["accuracy"] for m in metrics["v-compare"]] == [0.95, 0.90]
    assert "model.skops" not in models["v-missingfile"]["versions"][0]["files"]
    good = pulled("v-good")
    mlmodel = yaml.safe_load((good / "MLmodel").read_text())
    assert mlmodel["flavors"]["python_function"]["model_path"] == "model.skops"
    assert "signature" in mlmodel and mlmodel["saved_input_example_info"]["type"] == "dataframe"
    assert all("==" in l for l in (good / "requirements.txt").read_text().split())
    nosig = yaml.safe_load((pulled("v-nosig") / "MLmodel").read_text())
    assert "signature" not in nosig and "saved_input_example_info" not in nosig
    assert "petal width" in json.loads((pulled("v-badcol") / "input_example.json").read_text())["columns"]
    tensor = yaml.safe_load((pulled("v-tensor-badshape") / "MLmodel").read_text())
    assert json.loads(tensor["signature"]["inputs"])[0]["tensor-spec"] == {"dtype": "float32", "shape": [-1, 4]}
    assert "scikit-learn\n" in (pulled("v-unpinned") / "requirements.txt").read_text()


# --------------------------------------------------------------------------- text output, defaults


def test_good_model_passes_the_default_gates(v, pulled):
    d = pulled("v-good")
    r = v.run(d)
    assert r.returncode == 0, (r.stdout, r.stderr)
    gates, summary = parse_text(r.stdout)
    for g in ALWAYS:
        assert gates[g][0] == "PASS", gates
    # Gates that are not configured do not fail (they are absent or skipped).
    assert all(s != "FAIL" for s, _ in gates.values())
    assert summary[:2] == ("v-good", "1")
    assert gates.get("serve", ("SKIP", ""))[0] == "SKIP"


def test_text_lines_name_what_failed(v, pulled):
    r = v.run(pulled("v-badcol"))
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert re.search(r"^FAIL\s+interface\s+.*petal width", r.stdout, re.M), r.stdout
    assert re.search(r"^PASS\s+format\s", r.stdout, re.M), r.stdout
    assert re.search(r"^validate v-badcol version 1: \d+ passed, 1 failed, \d+ skipped$", r.stdout, re.M)


# --------------------------------------------------------------------------- format


def test_format_fails_when_a_file_no_longer_matches_the_lock(v, copy_of):
    d = copy_of("v-good")
    assert v.text(d, rc=0)["format"][0] == "PASS"
    with open(d / "conda.yaml", "a") as f:
        f.write("# edited after the pull\n")
    gates = v.text(d, rc=3)
    assert gates["format"][0] == "FAIL"
    report = v.json(d, rc=3)
    fmt = gate(report, "format")
    assert fmt["status"] == "fail"
    assert "conda.yaml" in said(fmt), fmt
    # Only the format gate is affected by an edited comment.
    assert [g["name"] for g in report["gates"] if g["status"] == "fail"] == ["format"]


def test_format_fails_when_the_model_file_is_missing(v, pulled):
    gates = v.text(pulled("v-missingfile"), rc=3)
    assert gates["format"][0] == "FAIL"
    assert "model.skops" in gates["format"][1], gates
    report = v.json(pulled("v-missingfile"), rc=3)
    assert "model.skops" in said(gate(report, "format"))


def test_malformed_mlmodel_fails_the_format_gate(v, copy_of):
    """A broken model is a failing model (exit 3), named with file and line; never a pass."""
    d = copy_of("v-good")
    (d / "MLmodel").write_text("flavors: [python_function\nsignature: {\n")
    r = v.run(d)
    assert r.returncode == 3, (r.stdout, r.stderr)
    fmt = next(l for l in r.stdout.splitlines() if l.split()[1:2] == ["format"])
    assert fmt.startswith("FAIL") and "invalid MLmodel" in fmt and "/MLmodel:2'" in fmt, fmt
    assert "SKIP  interface" in r.stdout
    assert "failed: format" in error_line(r.stderr)
    (d / "MLmodel").write_text("flavors: {python_function: {loader_module: m}}\nsignature:\n  inputs: '[{\"type\": '\n")
    r = v.run(d)
    assert r.returncode == 3
    assert "not valid JSON" in r.stdout


def test_unreadable_target_is_an_error(v):
    r = v.run(v.mlops.cwd / "no-such-dir")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "no-such-dir" in error_line(r.stderr)
    assert r.stdout == ""


# --------------------------------------------------------------------------- interface


def test_interface_requires_a_signature_by_default(v, pulled):
    gates = v.text(pulled("v-nosig"), rc=3)
    assert gates["interface"][0] == "FAIL"
    assert "signature" in gates["interface"][1].lower(), gates
    # Turned off, the same model passes (the input example is not required by default).
    gates = v.text(pulled("v-nosig"), rc=0, policy={"interface": {"require_signature": False}})
    assert gates["interface"][0] == "PASS", gates


def test_interface_can_require_an_input_example(v, pulled):
    report = v.json(pulled("v-nosig"), rc=3,
                    policy={"interface": {"require_signature": False, "require_input_example": True}})
    g = gate(report, "interface")
    assert g["status"] == "fail"
    assert re.search(r"(?i)input.example", said(g)), g
    report = v.json(pulled("v-good"), rc=0, policy={"interface": {"require_input_example": True}})
    assert gate(report, "interface")["status"] == "pass"


def test_interface_example_with_a_wrong_column_name(v, pulled):
    report = v.json(pulled("v-badcol"), rc=3)
    g = gate(report, "interface")
    assert g["status"] == "fail"
    assert "petal width" in g["reason"], g


def test_interface_example_with_a_wrong_column_type(v, pulled):
    report = v.json(pulled("v-baddtype"), rc=3)
    g = gate(report, "interface")
    assert g["status"] == "fail"
    assert "sepal width" in g["reason"], g
    assert [x["name"] for x in report["gates"] if x["status"] == "fail"] == ["interface"]


def test_interface_tensor_signature(v, pulled):
    gates = v.text(pulled("v-tensor-good"), rc=0)
    assert gates["interface"][0] == "PASS", gates
    report = v.json(pulled("v-tensor-badshape"), rc=3)
    g = gate(report, "interface")
    assert g["status"] == "fail"
    assert re.search(r"(?i)shape|dimension", g["reason"]), g


def test_interface_accepted_flavors(v, pulled):
    gates = v.text(pulled("v-good"), rc=0, policy={"interface": {"flavors": ["sklearn"]}})
    assert gates["interface"][0] == "PASS", gates
    # The pyfunc-only model has no sklearn flavor.
    report = v.json(pulled("v-tensor-good"), rc=3, policy={"interface": {"flavors": ["sklearn"]}})
    g = gate(report, "interface")
    assert g["status"] == "fail"
    assert "sklearn" in said(g), g


# --------------------------------------------------------------------------- environment


def test_environment_unpinned_requirements(v, pulled):
    gates = v.text(pulled("v-unpinned"), rc=3)
    assert gates["environment"][0] == "FAIL"
    assert "scikit-learn" in gates["environment"][1], gates
    report = v.json(pulled("v-unpinned"), rc=3)
    g = gate(report, "environment")
    assert "scikit-learn" in said(g) and "numpy" in said(g), g
    # Allowing one of the two still fails on the other ...
    report = v.json(pulled("v-unpinned"), rc=3, policy={"environment": {"allow_unpinned": ["scikit-learn"]}})
    g = gate(report, "environment")
    assert g["status"] == "fail" and "numpy" in said(g), g
    assert "scikit-learn" not in g["reason"], g
    # ... allowing both, or not requiring pins at all, passes.
    for policy in ({"environment": {"allow_unpinned": ["scikit-learn", "numpy"]}},
                   {"environment": {"require_pinned": False}}):
        report = v.json(pulled("v-unpinned"), rc=0, policy=policy)
        assert gate(report, "environment")["status"] == "pass"


def test_environment_forbidden_and_required_packages(v, pulled):
    d = pulled("v-good")
    ok = {"environment": {"forbidden": ["tensorflow"], "required": ["mlflow>=2.9", "scikit-learn"]}}
    assert v.text(d, rc=0, policy=ok)["environment"][0] == "PASS"
    report = v.json(d, rc=3, policy={"environment": {"forbidden": ["tensorflow", "scipy"]}})
    g = gate(report, "environment")
    assert g["status"] == "fail" and "scipy" in g["reason"], g
    report = v.json(d, rc=3, policy={"environment": {"required": ["mlflow>=2.9", "torch"]}})
    g = gate(report, "environment")
    assert g["status"] == "fail" and "torch" in g["reason"], g
    # Present, but the pinned version does not satisfy the requirement.
    report = v.json(d, rc=3, policy={"environment": {"required": ["scikit-learn>=2.0"]}})
    g = gate(report, "environment")
    assert g["status"] == "fail" and "scikit-learn" in g["reason"], g


def test_environment_requires_a_python_version(v, copy_of):
    d = copy_of("v-good")
    # Remove the Python version from everywhere MLflow records it.
    mlmodel = d / "MLmodel"
    mlmodel.write_text("".join(l for l in mlmodel.read_text().splitlines(True) if "python_version:" not in l))
    env = d / "python_env.yaml"
    env.write_text("".join(l for l in env.read_text().splitlines(True) if not l.startswith("python:")))
    conda = d / "conda.yaml"
    conda.write_text("".join(l for l in conda.read_text().splitlines(True) if "- python=" not in l))
    report = v.json(d, rc=3)
    assert gate(report, "format")["status"] == "fail"  # edited after the pull
    g = gate(report, "environment")
    assert g["status"] == "fail" and "python" in g["reason"].lower(), g
    report = v.json(d, rc=3, policy={"environment": {"require_python_version": False}})
    assert gate(report, "environment")["status"] == "pass"


# --------------------------------------------------------------------------- extras


def test_extras_artifacts(v, pulled):
    d = pulled("v-good")
    ok = {"extras": {"artifacts": ["input_example.json", "serving_input_example.json"]}}
    assert v.text(d, rc=0, policy=ok)["extras"][0] == "PASS"
    report = v.json(d, rc=3, policy={"extras": {"artifacts": ["input_example.json", "docs/model-card.md"]}})
    g = gate(report, "extras")
    assert g["status"] == "fail"
    assert "docs/model-card.md" in g["reason"], g
    assert "input_example.json" not in g["reason"], g


def test_extras_directories_and_nested_files(v, pulled):
    # The `files` fixture of make_models.py holds nested folders under artifacts/bundle/ (and
    # has no signature).
    d = pulled("files")
    policy = {"interface": {"require_signature": False},
              "extras": {"artifacts": ["artifacts/bundle/a/b", "artifacts/bundle/a/b/c/deep.txt", "python_model.pkl"]}}
    gates = v.text(d, rc=0, policy=policy)
    assert gates["extras"][0] == "PASS", gates
    policy["extras"]["artifacts"].append("artifacts/bundle/no-such-dir")
    gates = v.text(d, rc=3, policy=policy)
    assert gates["extras"][0] == "FAIL" and "artifacts/bundle/no-such-dir" in gates["extras"][1], gates


# --------------------------------------------------------------------------- metrics


def test_metrics_thresholds(v, pulled):
    gates = v.text(pulled("v-good"), rc=0, policy={"metrics": {"thresholds": METRICS_OK}})
    assert gates["metrics"][0] == "PASS", gates
    gates = v.text(pulled("v-lowmetric"), rc=3, policy={"metrics": {"thresholds": METRICS_OK}})
    assert gates["metrics"][0] == "FAIL"
    assert "accuracy" in gates["metrics"][1], gates
    report = v.json(pulled("v-lowmetric"), rc=3, policy={"metrics": {"thresholds": METRICS_OK}})
    g = gate(report, "metrics")
    assert "accuracy" in g["reason"] and "0.5" in said(g), g
    # The f1 threshold holds; only accuracy is named.
    assert "f1" not in g["reason"], g


def test_metrics_threshold_boundaries(v, pulled):
    d = pulled("v-good")  # accuracy 0.95
    assert v.text(d, rc=0, policy={"metrics": {"thresholds": ["accuracy >= 0.95", "accuracy <= 0.95"]}})[
        "metrics"][0] == "PASS"
    gates = v.text(d, rc=3, policy={"metrics": {"thresholds": ["accuracy > 0.95"]}})
    assert gates["metrics"][0] == "FAIL" and "accuracy" in gates["metrics"][1]


def test_metrics_missing_metric_fails(v, pulled):
    report = v.json(pulled("v-nometric"), rc=3, policy={"metrics": {"thresholds": METRICS_OK}})
    g = gate(report, "metrics")
    assert g["status"] == "fail"
    assert "accuracy" in g["reason"], g
    # f1 alone is there and passes.
    v.json(pulled("v-nometric"), rc=0, policy={"metrics": {"thresholds": ["f1 > 0.5"]}})


def test_metrics_compare_against_an_alias(v, pulled):
    challenger = pulled("v-compare", "2")  # 0.90 vs champion 0.95
    cmp = {"metric": "accuracy", "against": "@champion", "higher_is_better": True, "tolerance": 0.01}
    report = v.json(challenger, rc=3, policy={"metrics": {"compare": [cmp]}})
    g = gate(report, "metrics")
    assert g["status"] == "fail"
    assert "accuracy" in g["reason"] and "champion" in said(g), g
    # Within a wide enough tolerance, or when lower is better, the challenger passes.
    report = v.json(challenger, rc=0, policy={"metrics": {"compare": [{**cmp, "tolerance": 0.1}]}})
    assert gate(report, "metrics")["status"] == "pass"
    report = v.json(challenger, rc=0, policy={"metrics": {"compare": [{**cmp, "higher_is_better": False}]}})
    assert gate(report, "metrics")["status"] == "pass"
    # The champion is better than the challenger.
    report = v.json(pulled("v-compare", "1"), rc=0,
                    policy={"metrics": {"compare": [{**cmp, "against": "@challenger"}]}})
    assert gate(report, "metrics")["status"] == "pass"


def test_metrics_compare_through_a_models_uri(v):
    cmp = {"metric": "accuracy", "against": "@champion", "higher_is_better": True, "tolerance": 0.01}
    r = v.run("models:/v-compare@challenger", policy={"metrics": {"thresholds": ["accuracy >= 0.85"],
                                                                  "compare": [cmp]}})
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert re.search(r"^FAIL\s+metrics\s+.*accuracy", r.stdout, re.M), r.stdout
    assert re.search(r"^validate v-compare version 2: ", r.stdout, re.M), r.stdout


# --------------------------------------------------------------------------- tests


def test_tests_gate_passes_with_the_documented_environment(v, pulled):
    d = pulled("v-good")
    policy = {"tests": {"commands": [{"name": "unit", "run": sh("pass.sh"), "timeout": 30},
                                     {"name": "env", "run": sh("check_env.sh")}]}}
    report = v.json(d, rc=0, policy=policy)
    g = gate(report, "tests")
    assert g["status"] == "pass", g
    out = json.dumps(g.get("output"))  # its shape is the schema's business; the text is ours
    assert "pass.sh: all checks passed" in out
    assert "check_env.sh: MLOPS_INPUT_EXAMPLE=" in out
    # MLOPS_MODEL_DIR is the validated directory.
    m = re.search(r"model dir: ([^\\\"]+)", out)
    assert m, out
    assert (v.mlops.cwd / m.group(1)).resolve() == d.resolve()
    assert (v.mlops.cwd / report["model"]["dir"]).resolve() == d.resolve()


def test_tests_gate_failure_keeps_stdout_and_stderr(v, pulled):
    policy = {"tests": {"commands": [{"name": "unit", "run": sh("pass.sh")},
                                     {"name": "broken", "run": sh("fail.sh")}]}}
    r = v.run(pulled("v-good"), policy=policy)
    assert r.returncode == 3, (r.stdout, r.stderr)
    gates, _ = parse_text(r.stdout)
    assert gates["tests"][0] == "FAIL" and "broken" in gates["tests"][1], gates
    report = v.json(pulled("v-good"), rc=3, policy=policy)
    g = gate(report, "tests")
    assert "broken" in g["reason"] and "unit" not in g["reason"], g
    out = json.dumps(g["output"])
    assert "fail.sh: checking the model (stdout)" in out
    assert "fail.sh: assertion failed: predictions differ (stderr)" in out


def _sleep_gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            return True
        if b"sleep" not in cmd:
            return True  # exited, PID reused
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return True  # zombie, reaped by init soon
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)  # our own test's child: do not leave it behind
    return False


@pytest.mark.parametrize("where", ["command", "gate"])
def test_tests_gate_timeout_stops_a_hanging_command(v, pulled, tmp_path, where):
    pidfile = tmp_path / "hang.pid"
    cmd = {"name": "hang", "run": sh("hang.sh")}
    tests = {"commands": [{**cmd, "timeout": 2}]} if where == "command" else {"timeout": 2, "commands": [cmd]}
    t0 = time.monotonic()
    report = v.json(pulled("v-good"), rc=3, policy={"tests": tests}, env={"HANG_PIDFILE": str(pidfile)})
    elapsed = time.monotonic() - t0
    g = gate(report, "tests")
    assert g["status"] == "fail"
    assert "timed out" in g["reason"] and "hang" in g["reason"], g
    assert elapsed < 30, elapsed
    assert "hang.sh: started" in json.dumps(g["output"])
    assert pidfile.exists(), "the command did not see the caller's environment"
    assert _sleep_gone(int(pidfile.read_text())), "the timed-out command's child is still running"


# --------------------------------------------------------------------------- serve


def test_serve_without_mlserver_is_skipped(v, pulled):
    path = "/usr/bin:/bin"
    assert shutil.which("mlserver", path=path) is None
    r = v.run(pulled("v-good"), policy={"serve": True}, env={"PATH": path})
    assert r.returncode == 0, (r.stdout, r.stderr)
    gates, summary = parse_text(r.stdout)
    assert gates["serve"] == ("SKIP", gates["serve"][1]) and "mlserver not found" in gates["serve"][1], gates
    assert summary[3] == 0 and summary[4] >= 1
    report = v.json(pulled("v-good"), rc=0, policy={"serve": True}, env={"PATH": path})
    g = gate(report, "serve")
    assert g["status"] == "skip" and "mlserver not found" in g["reason"]
    assert report["verdict"] == "pass"


def mlserver_path(services) -> str:
    """PATH with the real MLServer (its own venv, built by scripts/services.sh) in front."""
    mlserver = services["MLOPS_TEST_MLSERVER"]
    assert os.access(mlserver, os.X_OK), f"no mlserver at {mlserver}"
    return f"{os.path.dirname(mlserver)}:/usr/bin:/bin"


def test_serve_smoke_test_with_real_mlserver(v, pulled, services):
    """MLServer serves the model, the input example goes to /v2/models/NAME/infer, the answer
    is checked against the output signature, and the server is stopped."""
    path = mlserver_path(services)
    marker = f"serve-smoke-{os.getpid()}-{time.monotonic_ns()}"  # inherited by every process this run starts
    report = v.json(pulled("v-good"), rc=0, policy={"serve": True}, env={"PATH": path, "MLOPS_TEST_MARKER": marker},
                    timeout=300)
    g = gate(report, "serve")
    assert g["status"] == "pass", g
    assert "ready in" in g["reason"] and "3 rows in" in g["reason"] and "INT64" in g["reason"], g
    # Nothing this run started is left running (other MLServers on the machine are not ours).
    assert processes_with_marker(marker) == []


def processes_with_marker(marker: str) -> list[int]:
    """PIDs of live processes whose environment holds MLOPS_TEST_MARKER=marker."""
    needle = f"MLOPS_TEST_MARKER={marker}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if needle in (proc / "environ").read_bytes().split(b"\0"):
                if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                    found.append(int(proc.name))
        except OSError:
            continue  # gone, or not ours to read
    return found


def test_serve_fails_when_the_model_cannot_load(v, copy_of, services):
    d = copy_of("v-good")
    for f in list(d.glob("model.*")):
        f.unlink()
    report = v.json(d, rc=3, policy={"serve": True}, env={"PATH": mlserver_path(services)}, timeout=300)
    g = gate(report, "serve")
    assert g["status"] == "fail", g
    assert "mlserver exited before the model was ready" in g["reason"], g
    assert g.get("output"), "the server log tail belongs in the report"


# --------------------------------------------------------------------------- policy errors


def test_bad_policy_unknown_gate(v, pulled):
    p = v.policy("""
        gates:
          interface:
            require_signature: true
          interfaec:
            flavors: [python_function]
        """)
    r = v.run(pulled("v-good"), policy=p)
    assert r.returncode == 2, (r.stdout, r.stderr)
    line = error_line(r.stderr)
    assert "policy.yaml:4" in line and "interfaec" in line, line
    assert r.stdout == ""


def test_bad_policy_threshold_expression(v, pulled):
    p = v.policy("""
        gates:
          metrics:
            thresholds:
              - accuracy >= 0.9
              - accuracy >>= 0.9
        """)
    r = v.run(pulled("v-good"), policy=p)
    assert r.returncode == 2, (r.stdout, r.stderr)
    line = error_line(r.stderr)
    assert "policy.yaml:5" in line and "accuracy >>= 0.9" in line, line


def test_bad_policy_yaml_syntax(v, pulled):
    p = v.policy("""
        gates:
          interface:
            require_signature: true: false
        """, name="broken.yaml")
    r = v.run(pulled("v-good"), policy=p)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "broken.yaml:3" in error_line(r.stderr)


def test_policy_from_mlops_yaml_found_by_walking_up(v, pulled):
    (v.mlops.cwd / "mlops.yaml").write_text(
        "version: 1\ngates:\n  extras:\n    artifacts: [MODEL_CARD.md]\n")
    sub = v.mlops.cwd / "a" / "b"
    sub.mkdir(parents=True)
    v.mlops.cwd = sub
    gates = v.text(pulled("v-good"), rc=3)
    assert gates["extras"][0] == "FAIL" and "MODEL_CARD.md" in gates["extras"][1], gates
    # An explicit --policy wins over mlops.yaml.
    gates = v.text(pulled("v-good"), rc=0, policy={"extras": {"artifacts": ["MLmodel"]}})
    assert gates["extras"][0] == "PASS"
    # Errors in the gates section name mlops.yaml and the line.
    (sub.parent.parent / "mlops.yaml").write_text("version: 1\ngates:\n  metrics:\n    thresholds: ['f1 =< 1']\n")
    r = v.run(pulled("v-good"))
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "mlops.yaml:4" in error_line(r.stderr)


# --------------------------------------------------------------------------- --json, --junit


def full_policy(extra_cmd: str = "pass.sh") -> dict:
    return {
        "interface": {"flavors": ["python_function"], "require_signature": True, "require_input_example": True},
        "environment": {"require_pinned": True, "forbidden": ["tensorflow"], "required": ["mlflow>=2.9"]},
        "extras": {"artifacts": ["input_example.json"]},
        "metrics": {"thresholds": METRICS_OK},
        "tests": {"timeout": 60, "commands": [{"name": "unit", "run": sh(extra_cmd)}]},
        "serve": True,
    }


def test_json_report_of_a_passing_model(v, pulled):
    d = pulled("v-good")
    report = v.json(d, rc=0, policy=full_policy(), env={"PATH": "/usr/bin:/bin"})
    assert report["verdict"] == "pass"
    assert [g["name"] for g in report["gates"]] == list(GATE_ORDER)
    assert [g["status"] for g in report["gates"]] == ["pass"] * 6 + ["skip"]
    assert report["summary"] == {"passed": 6, "failed": 0, "skipped": 1}
    assert report["model"]["name"] == "v-good" and report["model"]["version"] == "1"
    assert (v.mlops.cwd / report["model"]["dir"]).resolve() == d.resolve()
    assert report["lock_digest"] == lock_of(d)["digest"]
    assert report["target"] in (str(d), os.path.relpath(d, v.mlops.cwd))
    assert "output" in gate(report, "tests")
    # The policy digest depends on the policy only.
    again = v.json(d, rc=0, policy=full_policy(), env={"PATH": "/usr/bin:/bin"})
    assert again["policy_digest"] == report["policy_digest"]
    other = v.json(d, rc=0, policy={"extras": {"artifacts": ["MLmodel"]}})
    assert other["policy_digest"] != report["policy_digest"]


def test_json_and_junit_of_a_failing_model(v, pulled, tmp_path):
    junit = tmp_path / "out" / "junit.xml"
    junit.parent.mkdir()
    report = v.json(pulled("v-lowmetric"), "--junit", str(junit), rc=3, policy=full_policy("fail.sh"),
                    env={"PATH": "/usr/bin:/bin"})
    assert report["verdict"] == "fail"
    status = {g["name"]: g["status"] for g in report["gates"]}
    assert status == {"format": "pass", "interface": "pass", "environment": "pass", "extras": "pass",
                      "metrics": "fail", "tests": "fail", "serve": "skip"}

    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    suite = suites[0]
    assert suite.get("name") == "mlops validate"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [g["name"] for g in report["gates"]]
    assert int(suite.get("tests")) == len(cases) == 7
    assert int(suite.get("failures")) == report["summary"]["failed"] == 2
    assert int(suite.get("skipped")) == report["summary"]["skipped"] == 1
    for c, g in zip(cases, report["gates"]):
        assert c.get("classname") == "mlops.validate"
        assert float(c.get("time")) >= 0
        failure, skipped = c.find("failure"), c.find("skipped")
        if g["status"] == "fail":
            assert failure is not None and skipped is None
            assert failure.get("message") == g["reason"]
            for detail in g["details"]:
                assert detail in (failure.text or ""), (detail, failure.text)
        elif g["status"] == "skip":
            assert skipped is not None and failure is None
            assert skipped.get("message") == g["reason"]
        else:
            assert failure is None and skipped is None
    tests_case = next(c for c in cases if c.get("name") == "tests")
    out = tests_case.findtext("system-out") or ""
    assert "fail.sh: checking the model (stdout)" in out
    assert "fail.sh: assertion failed: predictions differ (stderr)" in out


def test_junit_of_a_passing_model(v, pulled, tmp_path):
    junit = tmp_path / "junit.xml"
    r = v.run(pulled("v-good"), "--junit", str(junit))
    assert r.returncode == 0, (r.stdout, r.stderr)
    parse_text(r.stdout)  # the text output is still printed
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and int(suite.get("failures")) == 0
    assert {c.get("name") for c in suite.findall("testcase")} >= set(ALWAYS)


# --------------------------------------------------------------------------- targets


def test_validate_a_pulled_directory(v, mlops):
    r = mlops.run("pull", "models:/v-tensor-good/1", "-o", "served")
    assert r.returncode == 0, r.stderr
    report = v.json("served", rc=0)
    assert report["target"] == "served"
    assert report["model"] == {**report["model"], "name": "v-tensor-good", "version": "1"}
    assert (mlops.cwd / report["model"]["dir"]).resolve() == (mlops.cwd / "served").resolve()
    assert report["lock_digest"] == lock_of(mlops.cwd / "served")["digest"]


def test_validate_a_models_uri_pulls_into_the_cache(v, mlops):
    report = v.json("models:/v-good/1", rc=0)
    assert report["target"] == "models:/v-good/1"
    assert report["model"]["name"] == "v-good" and report["model"]["version"] == "1"
    d = Path(report["model"]["dir"])
    assert d.is_absolute()
    assert (v.cache / "mlops" / "models").resolve() in d.resolve().parents, d
    assert report["lock_digest"] == lock_of(d)["digest"]
    assert not list(mlops.cwd.rglob("mlops.lock.json")), "a models:/ target is not pulled into the cwd"
    # Aliases resolve; a second run reuses the cache.
    r = v.run("models:/v-compare@champion")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert parse_text(r.stdout)[1][:2] == ("v-compare", "1")
    again = v.json("models:/v-good/1", rc=0)
    assert again["model"]["dir"] == report["model"]["dir"]
    assert again["lock_digest"] == report["lock_digest"]


def test_unknown_model_is_not_found(v):
    for uri in ("models:/v-no-such-model/1", "models:/v-good/99"):
        r = v.run(uri)
        assert r.returncode == 4, (uri, r.stdout, r.stderr)
        assert uri.split("/")[1] in error_line(r.stderr)
        assert r.stdout == ""


def test_models_uri_with_a_defect(v):
    r = v.run("models:/v-missingfile/1")
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert re.search(r"^FAIL\s+format\s+.*model\.skops", r.stdout, re.M), r.stdout


# --------------------------------------------------------------------------- --record


def test_record_sets_tags_on_the_model_version(v, pulled, services):
    t0 = datetime.now(timezone.utc) - timedelta(seconds=5)
    passed = v.json("models:/v-good/1", "--record", rc=0, policy={"metrics": {"thresholds": METRICS_OK}})
    failed = v.json(pulled("v-lowmetric"), "--record", rc=3, policy={"metrics": {"thresholds": METRICS_OK}})
    t1 = datetime.now(timezone.utc) + timedelta(seconds=5)
    for report, name, status in ((passed, "v-good", "passed"), (failed, "v-lowmetric", "failed")):
        tags = model_tags(services, name, "1")
        assert tags["mlops.validation.status"] == status, tags
        assert tags["mlops.validation.digest"] == report["lock_digest"], tags
        assert tags["mlops.validation.policy"] == report["policy_digest"], tags
        assert SHA_RE.match(tags["mlops.validation.policy"])
        when = datetime.fromisoformat(tags["mlops.validation.time"].replace("Z", "+00:00"))
        assert when.tzinfo is not None, tags["mlops.validation.time"]
        assert t0 <= when <= t1, (t0, when, t1)


def test_without_record_no_tags_are_written(v, services):
    before = model_tags(services, "v-tensor-good", "1")
    v.json("models:/v-tensor-good/1", rc=0)
    assert model_tags(services, "v-tensor-good", "1") == before
    assert not any(k.startswith("mlops.validation.") for k in before)


# --------------------------------------------------------------------------- hardening (review findings)


def test_binary_test_output_keeps_json_and_junit_valid(v, pulled):
    """Programs print anything: invalid UTF-8 and control bytes must not break the reports."""
    junit = v.mlops.cwd / "bin.xml"
    policy = {"tests": {"commands": [{"name": "noise", "run": ["printf", "ok\\377\\376\\001\\177 end\\n"]},
                                     {"name": "fails", "run": ["false"]}]}}
    report = v.json(pulled("v-good"), "--junit", str(junit), rc=3, policy=policy)
    g = gate(report, "tests")
    assert "ok" in g["output"] and "end" in g["output"] and "\ufffd" in g["output"]
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and int(suite.get("failures")) == 1


def test_secrets_in_test_output_are_redacted(v, pulled):
    junit = v.mlops.cwd / "s.xml"
    policy = {"tests": {"commands": [{"name": "leak", "run": ["bash", "-c", "echo token=$MLFLOW_TRACKING_TOKEN"]}]}}
    r = v.run(pulled("v-good"), "--json", "--junit", str(junit), policy=policy,
              env={"MLFLOW_TRACKING_TOKEN": "tok-5ecret-123456"})
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "tok-5ecret-123456" not in r.stdout + r.stderr + junit.read_text()
    assert "token=***" in json.dumps(gate(json.loads(r.stdout), "tests"))


def test_record_refuses_another_server(v, pulled, services):
    """A directory pulled from one server is never recorded on another."""
    other = services["MLOPS_TEST_MLFLOW_AUTH_URI"]
    r = v.run(pulled("v-good"), "--record", env={"MLFLOW_TRACKING_URI": other})
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "was pulled from" in error_line(r.stderr)


def test_model_uri_given_to_tests_names_the_exact_version(v):
    policy = {"tests": {"commands": [{"name": "uri", "run": ["bash", "-c", "echo URI=$MLOPS_MODEL_URI"]}]}}
    report = v.json("models:/v-compare@champion", rc=0, policy=policy)
    assert "URI=models:/v-compare/1" in gate(report, "tests")["output"]


def test_bad_timeouts_thresholds_and_policy_paths_are_usage_errors(v, pulled):
    d = pulled("v-good")
    for bad, why in [
        ({"tests": {"timeout": 0, "commands": [{"run": ["true"]}]}}, "gates.tests.timeout"),
        ({"tests": {"commands": [{"run": ["true"], "timeout": -3}]}}, "timeout"),
        ({"metrics": {"thresholds": ["accuracy >= 1e999"]}}, "out of range"),
        ({"metrics": {"thresholds": ["a" * 5000 + " >= 1"]}}, "bad threshold expression"),
    ]:
        r = v.run(d, policy=bad)
        assert r.returncode == 2, (bad, r.stdout, r.stderr)
        assert why in error_line(r.stderr), (bad, r.stderr)
    (v.mlops.cwd / "adir").mkdir()
    r = v.run(d, "--policy", str(v.mlops.cwd / "adir"))
    assert r.returncode == 2 and "not a file" in error_line(r.stderr)
    r = v.run(d, "--policy", str(v.mlops.cwd / "missing.yaml"))
    assert r.returncode == 2 and "no such file" in error_line(r.stderr)


def test_help_works_next_to_a_broken_project_file(v):
    (v.mlops.cwd / "mlops.yaml").write_text("mlflow: [broken\n")
    assert v.mlops.run("help", "validate").returncode == 0
    assert v.mlops.run("version").returncode == 0
    assert v.mlops.run("models", "list").returncode == 2


# --------------------------------------------------------------------------- hostile model files (issue 10)


def gate_lines(stdout: str) -> dict[str, tuple[str, str]]:
    """The gate lines of the text output (a copy without a lock file has no version in its summary)."""
    found = (LINE_RE.match(line) for line in stdout.splitlines())
    return {m.group(3): (m.group(1), m.group(5) or "") for m in found if m and m.group(3) in GATE_ORDER}


def unlocked_copy(copy_of, name: str = "v-good") -> Path:
    """A copy without its lock file, so that changing a file is not a format failure first."""
    d = copy_of(name)
    (d / "mlops.lock.json").unlink()
    return d


def test_deeply_nested_input_example_fails_the_interface_gate(v, copy_of):
    """A cell nested 100k deep overflowed the stack in nlohmann's serializer (a crash, no report)."""
    d = unlocked_copy(copy_of)
    doc = json.loads((d / "input_example.json").read_text())
    (d / "input_example.json").write_text(json.dumps(doc)[:-2] + ", " + "[" * 100_000 + "]" * 100_000 + "]}")
    r = v.run(d)
    assert r.returncode == 3, (r.returncode, r.stdout, r.stderr)
    gates = gate_lines(r.stdout)
    assert gates["interface"][0] == "FAIL"
    assert "'input_example.json' is nested deeper than 256 levels" in gates["interface"][1], gates


def test_oversized_input_example_fails_naming_the_file(v, copy_of):
    """A 200 MB example took 3.2 GB; now refused by size before parsing."""
    d = unlocked_copy(copy_of)
    with open(d / "input_example.json", "w") as f:
        f.write('{"columns": ["a"], "data": [' + ",".join(["[1.0]"] * 4_000_000) + "]}")
    r = v.run(d)
    assert r.returncode == 3, (r.returncode, r.stderr)
    gates = gate_lines(r.stdout)
    assert gates["interface"][0] == "FAIL"
    assert "input_example.json" in gates["interface"][1] and "too large" in gates["interface"][1], gates


def test_wrong_json_types_in_mlmodel_are_named_not_library_text(v, copy_of):
    """`[json.exception.type_error.306] cannot use value() with array` reached the report."""
    d = unlocked_copy(copy_of)
    mlmodel = yaml.safe_load((d / "MLmodel").read_text())
    mlmodel["signature"]["params"] = "[[1, 2]]"
    (d / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    r = v.run(d)
    assert r.returncode == 3
    assert "json.exception" not in r.stdout + r.stderr
    gates = gate_lines(r.stdout)
    assert gates["format"][0] == "FAIL" and "signature params has an entry that is not an object" in gates["format"][1]
    (d / "serving_input_example.json").write_text('{"inputs": [1, ')
    mlmodel["signature"].pop("params")
    (d / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    r = v.run(d)
    assert "json.exception" not in r.stdout + r.stderr
    (d / "MLmodel").write_text("flavors: {python_function: {loader_module: m}}\nflavors: {}\n")
    r = v.run(d)
    assert r.returncode == 3, (r.stdout, r.stderr)
    gates = gate_lines(r.stdout)
    assert gates["format"][0] == "FAIL" and "MLmodel:2': key 'flavors' is repeated" in gates["format"][1], gates


def test_policy_files_get_the_config_rules(v, pulled):
    good = pulled("v-good")
    p = v.policy("gates:\n  interface: {require_signature: true}\n  interface: {require_signature: false}\n")
    r = v.run(good, policy=p)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert error_line(r.stderr) == f"mlops: error: invalid policy '{p}:3': key 'gates.interface' is repeated"
    p = v.policy("gates:\n  metrics:\n    compare: [{metric: accuracy, against: '@champion', tolerance: .nan}]\n")
    r = v.run(good, policy=p)
    assert r.returncode == 2
    assert "key 'gates.metrics.compare[0].tolerance': expected a finite number" in error_line(r.stderr)
    loop = v.mlops.cwd / "loop.yaml"
    loop.symlink_to("loop.yaml")
    r = v.run(good, policy=loop)
    assert r.returncode == 2
    assert error_line(r.stderr) == f"mlops: error: cannot read policy '{loop}': too many levels of symbolic links"


def test_environment_files_get_the_yaml_rules_and_a_size_bound(v, copy_of):
    """python_env.yaml and conda.yaml went through an unbounded YAML::Load whose errors were ignored
    (a repeated 'python' key silently took the first value); requirements.txt was read whole."""
    d = unlocked_copy(copy_of)
    original = (d / "python_env.yaml").read_text()
    (d / "python_env.yaml").write_text("python: 3.11.7\npython: 3.12.0\n")
    r = v.run(d)
    assert r.returncode == 3, (r.returncode, r.stdout, r.stderr)
    gates = gate_lines(r.stdout)
    assert gates["environment"][0] == "FAIL", gates
    assert "invalid environment file 'python_env.yaml:2': key 'python' is repeated" in gates["environment"][1], gates

    (d / "python_env.yaml").write_text(original)
    with open(d / "requirements.txt", "a") as f:
        f.write("# padding\n" * 500_000)
    r = v.run(d)
    assert r.returncode == 3, (r.returncode, r.stdout, r.stderr)
    gates = gate_lines(r.stdout)
    assert gates["environment"][0] == "FAIL", gates
    assert "requirements.txt" in gates["environment"][1] and "too large" in gates["environment"][1], gates
