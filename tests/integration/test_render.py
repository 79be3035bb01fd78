"""mlops render as a user runs it: a project's mlops.yaml rendered for every target, parsed
back with PyYAML, written with -o, checked with --check, and every failure path."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import jsonschema
import pytest
import yaml

from conftest import REPO, error_line, tree

DIGEST = "sha256:" + "0123456789abcdef" * 4
IMAGE = f"registry.example/iris@{DIGEST}"
MODELCAR = f"oci://registry.example/iris-modelcar@{DIGEST}"
V2_MODEL = "gs://bucket/iris/1"  # Seldon Core 2 fetches models with rclone: no oci://

SPEC = f"""\
deploy:
  name: iris
  target: k8s
  namespace: models
  replicas: {{min: 2, max: 4}}
  resources:
    requests: {{cpu: 500m, memory: 1Gi}}
    limits: {{memory: 2Gi}}
  protocol: v2
  image: {IMAGE}
  monitoring: {{enabled: true}}
  environments:
    staging:
      namespace: models-staging
    prod:
      namespace: models-prod
      replicas: {{min: 3, max: 10}}
"""

AB = f"""\
deploy:
  name: iris
  target: seldon-v1
  namespace: models
  replicas: 2
  model_uri: {MODELCAR}
  monitoring: true
  environments:
    prod:
      namespace: models-prod
      traffic: {{champion: 90, challenger: 10}}
  variants:
    - {{name: champion, traffic: 80}}
    - {{name: challenger, traffic: 20, model_uri: "s3://bucket/iris/2"}}
"""
AB_V2 = AB.replace(MODELCAR, V2_MODEL)

KINDS = {
    "k8s": [("apps/v1", "Deployment"), ("v1", "Service"), ("autoscaling/v2", "HorizontalPodAutoscaler"),
            ("policy/v1", "PodDisruptionBudget"), ("monitoring.coreos.com/v1", "ServiceMonitor")],
    "kserve": [("serving.kserve.io/v1beta1", "InferenceService"), ("monitoring.coreos.com/v1", "PodMonitor")],
    "seldon-v1": [("machinelearning.seldon.io/v1", "SeldonDeployment"), ("monitoring.coreos.com/v1", "PodMonitor")],
    "seldon-v2": [("mlops.seldon.io/v1alpha1", "Model"), ("monitoring.coreos.com/v1", "PodMonitor")],
}


def output_schema() -> dict:
    return json.loads((REPO / "schemas" / "output.render.schema.json").read_text())


def test_the_specs_used_here_match_the_project_schema():
    schema = json.loads((REPO / "schemas" / "mlops.schema.json").read_text())
    for text in (SPEC, AB):
        jsonschema.validate(yaml.safe_load(text), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(yaml.safe_load(SPEC.replace("protocol: v2", "protocol: v3")), schema)


def project(mlops, text: str = SPEC):
    (mlops.cwd / "mlops.yaml").write_text(text)
    return mlops


def render(mlops, *args: str) -> subprocess.CompletedProcess:
    return mlops.run("render", *args, uri=None)


def documents(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d is not None]


@pytest.mark.parametrize("target", sorted(KINDS))
def test_every_target_renders_documents_that_parse(mlops, target):
    project(mlops)
    args = ["--target", target] + (["--model-uri", V2_MODEL] if target == "seldon-v2" else [])
    r = render(mlops, *args)
    assert r.returncode == 0, r.stderr
    docs = documents(r.stdout)
    assert [(d["apiVersion"], d["kind"]) for d in docs] == KINDS[target]
    for d in docs:
        assert d["metadata"]["name"] == "iris"
        assert d["metadata"]["namespace"] == "models"
        assert d["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "mlops"
    first = docs[0]["spec"]
    if target == "k8s":
        c = first["template"]["spec"]["containers"][0]
        assert c["image"] == IMAGE
        assert c["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
        assert c["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}
        assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert first["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
        assert docs[2]["spec"]["minReplicas"] == 2 and docs[2]["spec"]["maxReplicas"] == 4
    elif target == "kserve":
        assert first["predictor"]["containers"][0]["image"] == IMAGE
        assert first["predictor"]["minReplicas"] == 2
    elif target == "seldon-v1":
        p = first["predictors"][0]
        assert first["protocol"] == "v2"
        assert p["traffic"] == 100
        assert p["componentSpecs"][0]["spec"]["containers"][0]["name"] == p["graph"]["name"]
        assert p["componentSpecs"][0]["spec"]["containers"][0]["image"] == IMAGE
    else:
        assert first["storageUri"] == V2_MODEL
        assert first["requirements"] == ["mlflow"]
        assert first["memory"] == "1Gi"


def test_ab_variants_per_target(mlops):
    project(mlops, AB)
    sdep = documents(render(mlops, "--env", "prod").stdout)[0]
    assert sdep["metadata"]["namespace"] == "models-prod"
    assert [(p["name"], p["traffic"]) for p in sdep["spec"]["predictors"]] == [("champion", 90), ("challenger", 10)]
    assert sdep["spec"]["predictors"][1]["graph"]["modelUri"] == "s3://bucket/iris/2"

    project(mlops, AB_V2)
    v2 = documents(render(mlops, "--target", "seldon-v2").stdout)
    project(mlops, AB)
    assert [(d["kind"], d["metadata"]["name"]) for d in v2] == [
        ("Model", "iris-champion"), ("Model", "iris-challenger"), ("Experiment", "iris"), ("PodMonitor", "iris")]
    assert v2[2]["spec"] == {"default": "iris-champion", "candidates": [
        {"name": "iris-champion", "weight": 80}, {"name": "iris-challenger", "weight": 20}]}

    isvc = documents(render(mlops, "--target", "kserve").stdout)[0]
    assert isvc["spec"]["predictor"]["canaryTrafficPercent"] == 20
    assert isvc["spec"]["predictor"]["model"]["storageUri"] == "s3://bucket/iris/2"
    assert isvc["spec"]["predictor"]["model"]["modelFormat"] == {"name": "mlflow"}


@pytest.mark.parametrize("target", sorted(KINDS))
def test_output_is_byte_for_byte_deterministic(mlops, target):
    project(mlops, SPEC if target == "k8s" else AB_V2 if target == "seldon-v2" else AB)
    runs = [render(mlops, "--target", target, "-o", f"out{i}") for i in range(2)]
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    assert tree(mlops.cwd / "out0", ()) == tree(mlops.cwd / "out1", ())
    assert render(mlops, "--target", target).stdout == render(mlops, "--target", target).stdout


def test_output_dir_layout_and_kustomization(mlops):
    project(mlops)
    r = render(mlops, "-o", "deploy/prod", "--env", "prod")
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    out = mlops.cwd / "deploy" / "prod"
    files = sorted(p.name for p in out.iterdir())
    assert files == ["deployment-iris.yaml", "horizontalpodautoscaler-iris.yaml", "kustomization.yaml",
                     "poddisruptionbudget-iris.yaml", "service-iris.yaml", "servicemonitor-iris.yaml"]
    k = yaml.safe_load((out / "kustomization.yaml").read_text())
    assert k["kind"] == "Kustomization"
    assert k["namespace"] == "models-prod"
    assert k["resources"] == [f for f in files if f != "kustomization.yaml"]
    for f in k["resources"]:
        (doc,) = documents((out / f).read_text())
        assert f == f"{doc['kind'].lower()}-{doc['metadata']['name']}.yaml"
    assert sorted(p.name for p in (mlops.cwd / "deploy").iterdir()) == ["prod"]  # no temporary left
    # Rendering again replaces what render wrote; --check accepts it.
    assert render(mlops, "-o", "deploy/prod", "--env", "staging").returncode == 0
    assert yaml.safe_load((out / "kustomization.yaml").read_text())["namespace"] == "models-staging"
    c = render(mlops, "--check", "deploy/prod")
    assert c.returncode == 0, c.stderr
    assert "5 documents, 0 problems" in c.stdout


BAD = [
    ("deploy:\n  name: iris\n  target: helm\n  image: i:1\n", [],
     "mlops: error: invalid deploy spec '{f}:3': key 'deploy.target': unknown target 'helm'"),
    (AB, ["--env", "prod", "--target", "seldon-v1"], None),
    (AB.replace("{champion: 90, challenger: 10}", "{champion: 90, challenger: 20}"), ["--env", "prod"],
     "mlops: error: invalid deploy spec '{f}:11': key 'deploy.environments.prod.traffic': traffic of the non-shadow "
     "variants sums to 110, not 100"),
    (SPEC.replace(IMAGE, "registry.example/iris:1.0"), ["--env", "prod"],
     "mlops: error: invalid deploy spec '{f}:10': key 'deploy.image': image 'registry.example/iris:1.0' is not pinned "
     "by digest, which environment 'prod' requires"),
    (SPEC, ["--env", "prod", "--image", "registry.example/iris:2.0"],
     "mlops: error: invalid --image: image 'registry.example/iris:2.0' is not pinned by digest, which environment "
     "'prod' requires"),
    (SPEC.replace("name: iris", "name: Iris_Model"), ["--strict"],
     "mlops: error: invalid deploy spec '{f}:2': key 'deploy.name': 'Iris_Model' is not a DNS-1123 label (lowercase "
     "letters, digits and '-', at most 63)"),
    (SPEC.replace("  protocol: v2\n", "  protocol: v3\n"), [],
     "mlops: error: invalid deploy spec '{f}:9': key 'deploy.protocol': expected 'v2' or 'seldon'"),
    (SPEC, ["--target", "seldon"], "mlops: error: invalid --target: unknown target 'seldon'"),
    (SPEC, ["--env", "qa"], "mlops: error: invalid --env: unknown environment 'qa'"),
    (SPEC.replace("      namespace: models-staging\n", "      namespace: models-staging\n      replica: 3\n"), [],
     "mlops: error: invalid deploy spec '{f}:15': unknown key 'deploy.environments.staging.replica'"),
]


@pytest.mark.parametrize("spec,args,expected", BAD, ids=[
    "unknown-target", "good-control", "traffic-sum", "prod-digest-file", "prod-digest-flag", "strict-name",
    "bad-protocol", "bad-target-flag", "unknown-env", "unknown-key"])
def test_bad_input_exits_2_naming_the_key_and_writes_nothing(mlops, spec, args, expected):
    project(mlops, spec)
    out = mlops.cwd / "out"
    assert render(mlops, "-o", str(out), "--env", "staging").returncode in (0, 2)
    before = tree(out, ()) if out.exists() else None
    fresh = mlops.cwd / "fresh"
    r = render(mlops, *args, "-o", str(out))
    r2 = render(mlops, *args, "-o", str(fresh))
    if expected is None:
        assert r.returncode == 0, r.stderr
        return
    assert r.returncode == 2, r.stderr
    assert error_line(r.stderr) == expected.format(f=mlops.cwd / "mlops.yaml")
    assert r.stdout == ""
    assert (tree(out, ()) if out.exists() else None) == before
    assert r2.returncode == 2 and not fresh.exists()
    assert [p.name for p in mlops.cwd.iterdir() if p.name.startswith(".")] in ([], [".xdg"])


def test_names_are_renamed_with_a_warning_unless_strict(mlops):
    project(mlops, SPEC.replace("name: iris", "name: Iris_Model"))
    r = render(mlops)
    assert r.returncode == 0, r.stderr
    assert "rendered as 'iris-model'" in r.stderr
    assert documents(r.stdout)[0]["metadata"]["name"] == "iris-model"


def test_a_template_that_breaks_yaml_is_refused(mlops):
    project(mlops)
    (mlops.cwd / "tpl" / "k8s").mkdir(parents=True)
    (mlops.cwd / "tpl" / "k8s" / "service.yaml.mustache").write_text(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{name}}-svc\n")
    r = render(mlops, "--templates", "tpl", "-o", "out")
    assert r.returncode == 2
    assert "produced invalid YAML" in error_line(r.stderr)
    assert not (mlops.cwd / "out").exists()
    (mlops.cwd / "tpl" / "k8s" / "service.yaml.mustache").write_text("kind: Service\nmetadata: {{{name}}}\n")
    r = render(mlops, "--templates", "tpl")
    assert r.returncode == 2
    assert "raw output" in error_line(r.stderr)


def test_a_foreign_directory_is_not_replaced(mlops):
    project(mlops)
    (mlops.cwd / "mine").mkdir()
    (mlops.cwd / "mine" / "notes.txt").write_text("keep")
    r = render(mlops, "-o", "mine")
    assert r.returncode == 7
    assert "was not written by mlops render" in error_line(r.stderr)
    assert (mlops.cwd / "mine" / "notes.txt").read_text() == "keep"


def test_check_reports_invalid_manifests_with_exit_3(mlops):
    project(mlops, AB)
    assert render(mlops, "-o", "gitops").returncode == 0
    sdep = mlops.cwd / "gitops" / "seldondeployment-iris.yaml"
    doc = yaml.safe_load(sdep.read_text())
    doc["spec"]["predictors"][0]["traffic"] = 70
    sdep.write_text(yaml.safe_dump(doc))
    r = render(mlops, "--check", "gitops")
    assert r.returncode == 3
    assert error_line(r.stderr) == ("mlops: error: invalid manifest 'seldondeployment-iris.yaml': SeldonDeployment "
                                    "'iris': spec.predictors: traffic of the non-shadow predictors sums to 90, not 100")
    # prod: images and oci:// URIs need digests.
    doc["spec"]["predictors"][0]["traffic"] = 80
    doc["spec"]["predictors"][0]["graph"]["modelUri"] = "oci://registry.example/iris:latest"
    sdep.write_text(yaml.safe_dump(doc))
    assert render(mlops, "--check", "gitops").returncode == 0
    r = render(mlops, "--check", "gitops", "--env", "prod", "--json")
    assert r.returncode == 3
    report = json.loads(r.stdout)
    jsonschema.validate(report, output_schema())
    assert report["checked"] == 2
    assert [f["file"] for f in report["findings"]] == ["seldondeployment-iris.yaml"]
    assert "not pinned by digest" in report["findings"][0]["problem"]
    r = render(mlops, "--check", "nowhere")
    assert r.returncode == 4


def test_json_output_lists_the_manifests(mlops):
    project(mlops)
    r = render(mlops, "--json", "--target", "kserve")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    jsonschema.validate(j, output_schema())
    assert j["target"] == "kserve"
    assert [(m["kind"], m["file"]) for m in j["manifests"]] == [
        ("InferenceService", "inferenceservice-iris.yaml"), ("PodMonitor", "podmonitor-iris.yaml")]
    assert documents(j["manifests"][0]["yaml"])[0]["kind"] == "InferenceService"


def test_no_project_file_is_a_usage_error(mlops):
    r = render(mlops)
    assert r.returncode == 2
    assert "no mlops.yaml" in error_line(r.stderr)


def test_flag_mistakes_are_usage_errors(mlops):
    project(mlops)
    r = render(mlops, "--templates", "missing")
    assert r.returncode == 2
    assert error_line(r.stderr) == "mlops: error: invalid --templates: 'missing' is not a directory"
    r = render(mlops, "--check", "x", "--target", "k8s")
    assert r.returncode == 2
    r = render(mlops, "--image", IMAGE, "--model-uri", MODELCAR)
    assert r.returncode == 2
    r = render(mlops, "--model-uri", "not a uri")
    assert r.returncode == 2
    assert error_line(r.stderr) == ("mlops: error: invalid --model-uri: 'not a uri' is not a storage URI "
                                    "(oci://, s3://, gs://, https://, pvc://)")


def test_seldon_v2_refuses_an_oci_model_uri(mlops):
    # Seldon Core 2 copies models with rclone, which has no OCI backend.
    project(mlops, AB)
    r = render(mlops, "--target", "seldon-v2")
    assert r.returncode == 2
    f = mlops.cwd / "mlops.yaml"
    assert error_line(r.stderr) == (f"mlops: error: invalid deploy spec '{f}:6': key 'deploy.model_uri': target "
                                    f"'seldon-v2' cannot load '{MODELCAR}': Seldon Core 2 fetches models with rclone, "
                                    "which reads no oci:// (modelcar) URIs")
    assert "use target kserve for a modelcar" in r.stderr
    project(mlops)
    r = render(mlops, "--target", "seldon-v2", "--model-uri", MODELCAR)
    assert r.returncode == 2
    assert error_line(r.stderr).startswith("mlops: error: invalid --model-uri: target 'seldon-v2' cannot load")
    assert render(mlops, "--target", "kserve", "--model-uri", MODELCAR).returncode == 0


GOVERNED = SPEC.replace("  monitoring: {enabled: true}\n", """\
  monitoring: {enabled: true}
  alerts: {error_rate_percent: 2, latency_p95_ms: 1500, for: 10m}
  access:
    allow_namespaces: [monitoring, istio-system]
    allow_pods:
      - {app: frontend}
    readers: {groups: [data-science]}
    editors: {users: [alice@example.com]}
""")
# seldon-v2 serves from shared Server pods: no NetworkPolicy there, so no allow_*.
GOVERNED_V2 = GOVERNED.replace("    allow_namespaces: [monitoring, istio-system]\n    allow_pods:\n      - {app: frontend}\n", "")

GOVERNANCE_KINDS = [("monitoring.coreos.com/v1", "PrometheusRule", "iris"),
                    ("networking.k8s.io/v1", "NetworkPolicy", "iris"),
                    ("rbac.authorization.k8s.io/v1", "Role", "iris-reader"),
                    ("rbac.authorization.k8s.io/v1", "RoleBinding", "iris-reader"),
                    ("rbac.authorization.k8s.io/v1", "Role", "iris-editor"),
                    ("rbac.authorization.k8s.io/v1", "RoleBinding", "iris-editor")]

POD_SELECTORS = {
    "k8s": {"app.kubernetes.io/name": "iris", "app.kubernetes.io/instance": "iris"},
    "kserve": {"serving.kserve.io/inferenceservice": "iris"},
    "seldon-v1": {"seldon-deployment-id": "iris"},
}

ERROR_METRIC = {
    "k8s": "model_infer_request_failure_total",
    "kserve": "model_infer_request_failure_total",
    "seldon-v1": "seldon_api_executor_server_requests_seconds_count",
    "seldon-v2": "seldon_model_infer_total",
}


def governed(mlops, target):
    project(mlops, GOVERNED_V2 if target == "seldon-v2" else GOVERNED)
    return ["--target", target] + (["--model-uri", V2_MODEL] if target == "seldon-v2" else [])


def test_the_governed_specs_match_the_project_schema():
    schema = json.loads((REPO / "schemas" / "mlops.schema.json").read_text())
    for text in (GOVERNED, GOVERNED_V2):
        jsonschema.validate(yaml.safe_load(text), schema)
    for bad in (GOVERNED.replace("error_rate_percent: 2", "error_rate_percent: 0"),
                GOVERNED.replace("for: 10m", "for: soon"),
                GOVERNED.replace("[monitoring, istio-system]", "[Monitoring]"),
                GOVERNED.replace("readers: {groups:", "readers: {group:")):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(yaml.safe_load(bad), schema)


@pytest.mark.parametrize("target", sorted(KINDS))
def test_alerts_and_access_per_target(mlops, target):
    r = render(mlops, *governed(mlops, target))
    assert r.returncode == 0, r.stderr
    docs = documents(r.stdout)
    workload = [(d["apiVersion"], d["kind"]) for d in docs[:len(KINDS[target])]]
    assert workload == KINDS[target]
    expected = [k for k in GOVERNANCE_KINDS if target != "seldon-v2" or k[1] != "NetworkPolicy"]
    assert [(d["apiVersion"], d["kind"], d["metadata"]["name"]) for d in docs[len(KINDS[target]):]] == expected
    by = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    for d in docs:
        assert d["metadata"]["namespace"] == "models"
        assert d["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "mlops"

    group = by[("PrometheusRule", "iris")]["spec"]["groups"][0]
    assert group["name"] == "mlops-iris"
    errors, latency = group["rules"]
    assert (errors["alert"], latency["alert"]) == ("ModelHighErrorRate", "ModelHighLatency")
    assert errors["for"] == latency["for"] == "10m"
    assert errors["labels"] == {"severity": "warning", "model": "iris"}
    assert ERROR_METRIC[target] in errors["expr"] and errors["expr"].endswith(" > 0.02")
    assert 'namespace="models"' in errors["expr"]
    assert latency["expr"].endswith(" > 1.5")
    assert errors["annotations"]["summary"] == "model models/iris fails more than 2% of requests"

    if target != "seldon-v2":
        np = by[("NetworkPolicy", "iris")]["spec"]
        assert np["podSelector"] == {"matchLabels": POD_SELECTORS[target]}
        assert np["policyTypes"] == ["Ingress"]
        assert np["ingress"] == [{"from": [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-system"}}},
            {"podSelector": {"matchLabels": {"app": "frontend"}}}]}]

    reader, editor = by[("Role", "iris-reader")], by[("Role", "iris-editor")]
    workload_names = {(d["kind"], d["metadata"]["name"]) for d in docs if d["kind"] not in (
        "NetworkPolicy", "Role", "RoleBinding")}
    granted = set()
    for rule in reader["rules"]:
        assert rule["verbs"] == ["get", "list", "watch"]
        for n in rule["resourceNames"]:
            granted.add((rule["apiGroups"][0], rule["resources"][0], n))
    assert len(granted) == len(workload_names)  # every rendered resource but the policy and RBAC, by name
    assert all(r["resources"] != ["networkpolicies"] for r in editor["rules"])
    assert all(r["verbs"] == ["get", "list", "watch", "update", "patch", "delete"] for r in editor["rules"])
    assert by[("RoleBinding", "iris-reader")]["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "iris-reader"}
    assert by[("RoleBinding", "iris-reader")]["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "data-science"}]
    assert by[("RoleBinding", "iris-editor")]["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice@example.com"}]

    # Deterministic, and --check accepts what it wrote.
    runs = [render(mlops, *governed(mlops, target), "-o", f"out{i}") for i in range(2)]
    assert all(x.returncode == 0 for x in runs), [x.stderr for x in runs]
    assert tree(mlops.cwd / "out0", ()) == tree(mlops.cwd / "out1", ())
    assert render(mlops, *governed(mlops, target)).stdout == r.stdout
    c = render(mlops, "--check", "out0")
    assert c.returncode == 0, c.stderr
    assert f"{len(docs)} documents, 0 problems" in c.stdout


BAD_GOVERNANCE = [
    (GOVERNED.replace("error_rate_percent: 2", "error_rate_percent: 101"), [],
     "mlops: error: invalid deploy spec '{f}:12': key 'deploy.alerts.error_rate_percent': 101 is not between 1 and 100"),
    (GOVERNED.replace("for: 10m", "for: soon"), [],
     "mlops: error: invalid deploy spec '{f}:12': key 'deploy.alerts.for': expected a duration such as 30s, 5m or 1h"),
    (GOVERNED.replace("  monitoring: {enabled: true}\n", ""), [],
     "mlops: error: invalid deploy spec '{f}:11': key 'deploy.alerts': alerts need the model server's metrics, which "
     "nothing scrapes"),
    (GOVERNED.replace("[monitoring, istio-system]", "[monitoring, Istio_System]"), [],
     "mlops: error: invalid deploy spec '{f}:14': key 'deploy.access.allow_namespaces[1]': 'Istio_System' is not a "
     "namespace name (a DNS-1123 label)"),
    (GOVERNED.replace("{app: frontend}", "{app: 'front end'}"), [],
     "mlops: error: invalid deploy spec '{f}:16': key 'deploy.access.allow_pods[0].app': not a label value (at most 63 "
     "letters, digits, '-', '_', '.')"),
    (GOVERNED.replace("readers: {groups:", "readers: {group:"), [],
     "mlops: error: invalid deploy spec '{f}:17': unknown key 'deploy.access.readers.group'"),
    (GOVERNED, ["--target", "seldon-v2", "--model-uri", V2_MODEL],
     "mlops: error: invalid deploy spec '{f}:15': key 'deploy.access.allow_pods': target 'seldon-v2' serves "
     "models from shared Server pods behind seldon-mesh, so a NetworkPolicy cannot restrict who calls one model"),
]




# --- explainer, transformer, detectors, Knative, ingress, KServe modes, dashboard ----------------

CRDCHECK = REPO.parent / "shared" / "tools" / "crdcheck.py"

COMPONENTS = """\
deploy:
  name: iris
  namespace: models
  model_uri: s3://bucket/iris/1
  protocol: {protocol}
  monitoring: true
  alerts: true
  dashboard: true
  detectors:
    - {{type: drift, artifact: detectors/drift, batch_size: 50}}
    - {{type: outlier, artifact: detectors/outlier}}
  knative: {{broker: default}}
{extra}
gates:
  extras:
    artifacts: [detectors/drift, detectors/outlier]
"""

EXTRA = {
    "seldon-v1": ("seldon", "  explainer: {type: AnchorTabular, model_uri: 's3://bucket/iris/explainer'}\n"
                            "  ingress: {type: istio, gateway: istio-system/models, host: models.example.com}\n"),
    "kserve": ("v2", f"  explainer: {{type: SquareAttack}}\n  transformer: {{image: '{IMAGE}'}}\n"
                     "  kserve: {mode: standard, version: '0.20'}\n"
                     "  variants:\n    - {name: champion, traffic: 90}\n"
                     "    - {name: challenger, traffic: 10, model_uri: 's3://bucket/iris/2'}\n"),
    "seldon-v2": ("v2", ""),
}

COMPONENT_KINDS = {
    "seldon-v1": ["SeldonDeployment", "Deployment", "Service", "Deployment", "Service", "Trigger", "Trigger",
                  "ServiceMonitor", "PodMonitor", "PrometheusRule", "ConfigMap"],
    "kserve": ["InferenceService", "Deployment", "Service", "Deployment", "Service", "Trigger", "Trigger",
               "ServiceMonitor", "PodMonitor", "PrometheusRule", "ConfigMap"],
    "seldon-v2": ["Model", "Model", "Model", "Pipeline", "PodMonitor", "PrometheusRule", "ConfigMap"],
}


def components(mlops, target: str) -> list[str]:
    protocol, extra = EXTRA[target]
    project(mlops, COMPONENTS.format(protocol=protocol, extra=extra))
    return ["--target", target]


def test_the_component_specs_match_the_project_schema():
    schema = json.loads((REPO / "schemas" / "mlops.schema.json").read_text())
    for protocol, extra in EXTRA.values():
        jsonschema.validate(yaml.safe_load(COMPONENTS.format(protocol=protocol, extra=extra)), schema)
    text = COMPONENTS.format(protocol="v2", extra="")
    for bad in (text.replace("type: drift,", "type: drfit,"), text.replace("broker: default", "brokers: x"),
                COMPONENTS.format(protocol="v2", extra="  ingress: nginx\n"),
                COMPONENTS.format(protocol="v2", extra="  kserve: {mode: modelmesh}\n"),
                COMPONENTS.format(protocol="v2", extra="  explainer: {kind: AnchorTabular}\n")):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(yaml.safe_load(bad), schema)


@pytest.mark.parametrize("target", sorted(COMPONENT_KINDS))
def test_components_per_target_parse_validate_and_pass_check(mlops, target):
    r = render(mlops, *components(mlops, target), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    jsonschema.validate(out, output_schema())
    docs = [documents(m["yaml"])[0] for m in out["manifests"]]
    assert [d["kind"] for d in docs] == COMPONENT_KINDS[target]
    by = {(d["kind"], d["metadata"]["name"]): d for d in docs}

    dash = by[("ConfigMap", "iris-dashboard")]
    assert dash["metadata"]["labels"]["grafana_dashboard"] == "1"
    panels = json.loads(dash["data"]["iris.json"])["panels"]
    titles = [p["title"] for p in panels]
    assert titles[:2] == ["Request rate", "Errors (share of requests)"]
    rules = by[("PrometheusRule", "iris")]["spec"]["groups"][0]["rules"]

    if target == "seldon-v1":
        sdep = by[("SeldonDeployment", "iris")]["spec"]
        assert sdep["annotations"] == {"seldon.io/istio-gateway": "istio-system/models",
                                       "seldon.io/istio-host": "models.example.com"}
        assert sdep["predictors"][0]["explainer"] == {"type": "AnchorTabular", "modelUri": "s3://bucket/iris/explainer"}
        assert sdep["predictors"][0]["graph"]["logger"] == {
            "mode": "request", "url": "http://broker-ingress.knative-eventing.svc.cluster.local/models/default"}
        args = by[("Deployment", "iris-drift")]["spec"]["template"]["spec"]["containers"][0]["args"]
        assert args[args.index("--protocol") + 1] == "seldon.http"
        assert args[args.index("--storage_uri") + 1] == "s3://bucket/iris/1/detectors/drift"
        assert args[-3:] == ["DriftDetector", "--drift_batch_size", "50"]
        assert titles == ["Request rate", "Errors (share of requests)", "Latency (p50, p95, p99)",
                          "Mean reward per variant (1h)", "Drift detected"]
        assert [x["alert"] for x in rules] == ["ModelHighErrorRate", "ModelHighLatency", "ModelDriftDetected"]
        assert out["endpoints"] == [
            {"name": "predictions", "path": "/seldon/models/iris/api/v1.0/predictions",
             "url": "http://models.example.com/seldon/models/iris/api/v1.0/predictions"},
            {"name": "explain", "path": "/seldon/models/iris-explainer/default/api/v1.0/explain",
             "url": "http://models.example.com/seldon/models/iris-explainer/default/api/v1.0/explain"}]
        text = render(mlops, *components(mlops, target))
        assert "endpoint predictions: http://models.example.com/seldon/models/iris/api/v1.0/predictions" in text.stderr
        assert text.stdout.startswith("---\n")
    elif target == "kserve":
        isvc = by[("InferenceService", "iris")]
        assert isvc["metadata"]["annotations"] == {"serving.kserve.io/deploymentMode": "Standard"}
        spec = isvc["spec"]
        assert "canaryTrafficPercent" not in spec["predictor"]
        assert spec["canary"][0]["trafficPercent"] == 10
        assert spec["canary"][0]["predictor"]["name"] == "challenger"
        assert spec["explainer"] == {"art": {"type": "SquareAttack"}}
        assert spec["transformer"]["containers"][0]["image"] == IMAGE
        assert spec["predictor"]["logger"]["mode"] == "request"
        assert by[("Trigger", "iris-outlier")]["spec"]["filter"]["attributes"]["type"] == \
            "org.kubeflow.serving.inference.request"
        assert len(panels[2]["targets"]) == 3
        assert "rest_server_request_duration_seconds_bucket" in panels[2]["targets"][1]["expr"]
        assert [x["alert"] for x in rules][-1] == "ModelDriftDetected"
        assert out["endpoints"] == []
    else:
        pipe = by[("Pipeline", "iris-pipeline")]["spec"]
        assert pipe["steps"] == [{"name": "iris"}, {"name": "iris-drift", "batch": {"size": 50}}, {"name": "iris-outlier"}]
        assert pipe["output"] == {"steps": ["iris", "iris-outlier.outputs.is_outlier"]}
        assert by[("Model", "iris-outlier")]["spec"]["requirements"] == ["mlserver", "alibi-detect"]
        assert [x["alert"] for x in rules] == ["ModelHighErrorRate", "ModelHighLatency"]
        assert any("no drift alert for target 'seldon-v2'" in w for w in out["warnings"])

    # Written, deterministic, accepted by --check.
    runs = [render(mlops, *components(mlops, target), "-o", f"out{i}") for i in range(2)]
    assert all(x.returncode == 0 for x in runs), [x.stderr for x in runs]
    assert tree(mlops.cwd / "out0", ()) == tree(mlops.cwd / "out1", ())
    c = render(mlops, "--check", "out0")
    assert c.returncode == 0, c.stdout + c.stderr
    assert f"{len(docs)} documents, 0 problems" in c.stdout


@pytest.mark.parametrize("target", ["kserve", "seldon-v1", "seldon-v2"])
def test_every_output_validates_against_the_official_crds(mlops, target):
    """The official CRDs live outside the project (../shared); said so when they are not there. (k8s
    renders core kinds only, which the CRDs do not cover: the project's schemas check those.)"""
    if not CRDCHECK.exists():
        pytest.skip(f"no {CRDCHECK}: the official CRDs are not beside this checkout")
    outputs = []
    specs = [(SPEC, []), (AB, []), (GOVERNED_V2 if target == "seldon-v2" else GOVERNED, [])]
    if target in EXTRA:
        protocol, extra = EXTRA[target]
        specs.append((COMPONENTS.format(protocol=protocol, extra=extra), []))
    if target == "kserve":
        specs.append((AB.replace("  variants:", "  kserve: {mode: serverless, version: '0.15'}\n  variants:"), []))
        specs.append((SPEC + "  explainer: {image: 'registry.example/explain:1'}\n", []))
    for i, (text, extra_args) in enumerate(specs):
        if target == "seldon-v2":
            text = text.replace(MODELCAR, V2_MODEL)
        project(mlops, text)
        args = ["--target", target] + (["--model-uri", V2_MODEL] if target == "seldon-v2" and "model_uri" not in text else [])
        r = render(mlops, *args, *extra_args, "-o", f"crd{i}")
        assert r.returncode == 0, (text, r.stderr)
        outputs.append(str(mlops.cwd / f"crd{i}"))
    check = subprocess.run([sys.executable, str(CRDCHECK), *outputs], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "INVALID" not in check.stdout


BAD_COMPONENTS = [
    (COMPONENTS.format(protocol="v2", extra="").replace("type: drift,", "type: drfit,"), ["--target", "seldon-v1"],
     "mlops: error: invalid deploy spec '{f}:10': key 'deploy.detectors[0].type': unknown detector type 'drfit': "
     "expected drift, outlier or adversarial (did you mean 'drift'?)"),
    (COMPONENTS.format(protocol="v2", extra="  explainer: {type: AnchorTabular}\n"), ["--target", "seldon-v1"],
     "mlops: error: invalid deploy spec '{f}:13': key 'deploy.explainer.model_uri': a Seldon explainer loads its "
     "artifact from a storage URI (modelUri); none given"),
    (COMPONENTS.format(protocol="v2", extra="").replace("  knative: {broker: default}\n", ""), ["--target", "kserve"],
     "mlops: error: invalid deploy spec '{f}:9': key 'deploy.detectors': the request logger of target 'kserve' "
     "posts to one URL, so 2 detectors need Knative Eventing"),
    (COMPONENTS.format(protocol="v2", extra="").replace("[detectors/drift, detectors/outlier]", "[detectors/drift]"),
     ["--target", "seldon-v1"],
     "mlops: error: invalid deploy spec '{f}:11': key 'deploy.detectors[1].artifact': 'detectors/outlier' is not "
     "declared in gates.extras.artifacts, so 'mlops validate' does not check that the model ships it"),
    (COMPONENTS.format(protocol="v2", extra="  ingress: ambassador\n"), ["--target", "kserve"],
     "mlops: error: invalid deploy spec '{f}:13': key 'deploy.ingress': the ingress annotations are Seldon Core v1's; "
     "target 'kserve' takes none"),
    (COMPONENTS.format(protocol="v2", extra=EXTRA["kserve"][1].replace("version: '0.20'", "version: '0.14'")),
     ["--target", "kserve"],
     "mlops: error: invalid deploy spec '{f}:15': key 'deploy.kserve.version': KServe 0.14 in standard (raw) mode "
     "has no canary traffic split"),
    (COMPONENTS.format(protocol="v2", extra="").replace("  monitoring: true\n  alerts: true\n", ""),
     ["--target", "seldon-v2"],
     "mlops: error: invalid deploy spec '{f}:6': key 'deploy.dashboard': a dashboard needs the model server's metrics, "
     "which nothing scrapes"),
    (COMPONENTS.format(protocol="v2", extra=""), ["--target", "k8s", "--image", IMAGE],
     "mlops: error: invalid deploy spec '{f}:9': key 'deploy.detectors': target 'k8s' has no request logger to feed "
     "a detector"),
]


@pytest.mark.parametrize("spec,args,expected", BAD_GOVERNANCE + BAD_COMPONENTS, ids=[
    "error-rate-range", "bad-duration", "alerts-without-monitoring", "bad-namespace", "bad-pod-label",
    "unknown-subject-key", "seldon-v2-network-policy",
    "bad-detector-type", "explainer-without-model-uri", "detectors-without-knative", "artifact-not-declared",
    "ingress-on-kserve", "kserve-old-standard-canary", "dashboard-without-monitoring", "detectors-on-k8s"])
def test_bad_options_exit_2_naming_the_key_and_write_nothing(mlops, spec, args, expected):
    project(mlops, spec)
    out = mlops.cwd / "out"
    r = render(mlops, *args, "-o", str(out))
    assert r.returncode == 2, r.stderr
    assert error_line(r.stderr) == expected.format(f=mlops.cwd / "mlops.yaml")
    assert r.stdout == ""
    assert not out.exists()


def test_batch_renders_every_listed_project_or_writes_nothing(mlops):
    for name, target in (("iris", "kserve"), ("wine", "seldon-v1")):
        (mlops.cwd / name).mkdir()
        (mlops.cwd / name / "mlops.yaml").write_text(AB.replace("name: iris", f"name: {name}").replace(
            "target: seldon-v1", f"target: {target}"))
    (mlops.cwd / "list.txt").write_text("# models\niris\n\nwine/mlops.yaml\n")
    r = render(mlops, "--batch", "list.txt", "-o", "out")
    assert r.returncode == 0, r.stderr
    out = mlops.cwd / "out"
    assert yaml.safe_load((out / "kustomization.yaml").read_text())["resources"] == ["models/iris", "models/wine"]
    assert sorted(p.name for p in (out / "models" / "iris").iterdir()) == [
        "inferenceservice-iris.yaml", "kustomization.yaml", "podmonitor-iris.yaml"]
    assert render(mlops, "--check", "out").returncode == 0
    stream = documents(render(mlops, "--batch", "list.txt").stdout)
    assert [d["kind"] for d in stream] == ["InferenceService", "PodMonitor", "SeldonDeployment", "PodMonitor"]
    # One bad project: exit 2 naming it, and the old tree stays.
    before = tree(out, ())
    (mlops.cwd / "wine" / "mlops.yaml").write_text(AB.replace("traffic: 20,", "traffic: 30,"))
    r = render(mlops, "--batch", "list.txt", "-o", "out")
    assert r.returncode == 2
    assert error_line(r.stderr) == ("mlops: error: invalid deploy spec 'wine/mlops.yaml:12': key 'deploy.variants': "
                                    "traffic of the non-shadow variants sums to 110, not 100")
    assert tree(out, ()) == before


# --- Hostile and clumsy input (issue 10) ----------------------------------------------------

LAUGHS = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10))

SPEC_RULES = [
    # The project file is read as config first (mlops.yaml holds both), so the errors say "config".
    # yaml-cpp kept both pairs and node["name"] gave the first: `iris` was rendered, `evil` ignored.
    ("deploy: {name: iris, name: evil, target: k8s, image: " + IMAGE + "}\n",
     "mlops: error: invalid config '{f}:1': key 'deploy.name' is repeated"),
    (SPEC + "---\ndeploy: {name: evil}\n",
     "mlops: error: invalid config '{f}:%d': a second YAML document; the file must hold one" % (SPEC.count("\n") + 2)),
    (SPEC.encode().replace(b"namespace: models\n", b"namespace: models\xff\n", 1),
     "mlops: error: invalid config '{f}:4': not valid UTF-8 (byte %d)" % (SPEC.index("models\n") + 7)),
    (SPEC + LAUGHS, "aliases repeat too much"),
    ("deploy: " + "[" * 300 + "]" * 300 + "\n", "invalid config '{f}:1'"),
]


@pytest.mark.parametrize("spec,expected", SPEC_RULES, ids=["repeated-key", "second-doc", "bad-utf8", "laughs", "deep"])
def test_spec_yaml_rules_exit_2_with_file_line_and_key(mlops, spec, expected):
    """Each was accepted (or only warned about) before: now exit 2 naming file, line and key."""
    p = mlops.cwd / "mlops.yaml"
    p.write_bytes(spec if isinstance(spec, bytes) else spec.encode())
    r = render(mlops, "-o", "out")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert expected.format(f=p) in error_line(r.stderr)
    assert r.stdout == "" and not (mlops.cwd / "out").exists()


def test_a_huge_nested_spec_is_refused_before_parsing(mlops):
    """51 MB of nesting grew past 8.9 GB RSS; now refused by size, fast and small."""
    body = "deploy:\n" + "".join("  " * (i % 60 + 1) + f"k{i}:\n" for i in range(60000))
    text = (body * ((2 << 20) // len(body) + 1))
    (mlops.cwd / "mlops.yaml").write_text(text)
    start = time.monotonic()
    r = render(mlops)
    assert r.returncode == 2
    assert "too large" in error_line(r.stderr) and "the limit is 1048576" in r.stderr
    assert time.monotonic() - start < 20


def test_check_names_files_that_do_not_parse(mlops):
    """A directory of only invalid YAML said "no manifests" (a lie); now each file is named, exit 3."""
    d = mlops.cwd / "gitops"
    d.mkdir()
    (d / "a.yaml").write_text("kind: Service\nmetadata: {name: [unclosed\n")
    (d / "b.yaml").write_text("kind: Service\nkind: Service\n")
    r = render(mlops, "--check", "gitops")
    assert r.returncode == 3, r.stderr
    assert error_line(r.stderr).startswith("mlops: error: invalid manifest 'a.yaml': invalid YAML: line ")
    assert "b.yaml: invalid YAML: line 2: key 'kind' repeated" in r.stdout
    assert "no manifests" not in r.stderr
    # An empty directory still says it has nothing to check.
    (d / "a.yaml").unlink()
    (d / "b.yaml").unlink()
    r = render(mlops, "--check", "gitops")
    assert r.returncode == 3 and "no manifests" in error_line(r.stderr)


def test_check_stops_a_billion_laughs_manifest(mlops):
    """The parse-back copied every alias: this document grew without bound. Now a finding, in bounded time."""
    d = mlops.cwd / "gitops"
    d.mkdir()
    (d / "laughs.yaml").write_text("kind: ConfigMap\n" + LAUGHS)
    start = time.monotonic()
    r = render(mlops, "--check", "gitops")
    assert r.returncode == 3, r.stderr
    assert "laughs.yaml" in error_line(r.stderr) and "aliases repeat too much" in r.stderr
    assert time.monotonic() - start < 60


def test_link_loops_are_named_not_raw_filesystem_errors(mlops):
    """`filesystem error: status: Too many levels of symbolic links` reached users; now one named error."""
    d = mlops.cwd / "gitops"
    d.mkdir()
    (d / "loop.yaml").symlink_to("loop.yaml")
    r = render(mlops, "--check", "gitops")
    assert r.returncode == 3, r.stderr
    assert "filesystem error" not in r.stderr
    assert "loop.yaml" in error_line(r.stderr) and "too many levels of symbolic links" in r.stderr

    project(mlops)
    tpl = mlops.cwd / "tpl" / "k8s"
    tpl.mkdir(parents=True)
    (tpl / "service.yaml.mustache").symlink_to("service.yaml.mustache")
    r = render(mlops, "--templates", "tpl")
    assert r.returncode == 2, r.stderr
    assert error_line(r.stderr) == ("mlops: error: cannot read template 'tpl/k8s/service.yaml.mustache': "
                                    "too many levels of symbolic links")

    (mlops.cwd / "mlops.yaml").unlink()
    (mlops.cwd / "mlops.yaml").symlink_to("mlops.yaml")
    r = render(mlops)
    assert r.returncode == 2, r.stderr
    assert error_line(r.stderr) == (f"mlops: error: cannot read config '{mlops.cwd}/mlops.yaml': "
                                    "too many levels of symbolic links")


def test_batch_projects_get_the_same_rules(mlops):
    (mlops.cwd / "a").mkdir()
    (mlops.cwd / "b").mkdir()
    (mlops.cwd / "a" / "mlops.yaml").write_text(SPEC)
    (mlops.cwd / "b" / "mlops.yaml").write_text(SPEC.replace("  name: iris\n", "  name: wine\n  name: evil\n"))
    (mlops.cwd / "list.txt").write_text("a\nb\n")
    r = render(mlops, "--batch", "list.txt", "-o", "out")
    assert r.returncode == 2
    assert error_line(r.stderr) == ("mlops: error: invalid deploy spec 'b/mlops.yaml:3': "
                                    "key 'deploy.name' is repeated")
    assert not (mlops.cwd / "out").exists()
