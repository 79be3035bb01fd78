// deploy.alerts (PrometheusRule) and deploy.access (NetworkPolicy, Role, RoleBinding).
#include "core/error.hpp"
#include "render/render.hpp"
#include "render/validate.hpp"

#include "render_fixtures.hpp"

#include <doctest/doctest.h>

#include <functional>
#include <map>

using namespace mlops;
using namespace mlops::render;
using nlohmann::json;

namespace {

using test::k_digest;
using test::k_image;
using test::k_modelcar;

const std::string k_governed = "name: iris\nnamespace: models\nmonitoring: true\n"
                               "alerts: {error_rate_percent: 2, latency_p95_ms: 1500, for: 10m}\n"
                               "access:\n"
                               "  allow_namespaces: [monitoring, istio-system]\n"
                               "  allow_pods:\n"
                               "    - {app: frontend, tier: web}\n"
                               "  readers: {groups: [data-science]}\n"
                               "  editors: {users: [alice@example.com], groups: [ml-ops]}\n";

using test::docs_of;
using test::resolved;

std::string with_artifact(const std::string& target) {
  if (target == "seldon-v2") return "model_uri: " + test::k_gs_model + "\n"; // rclone: no oci://
  return target == "kserve" ? "model_uri: " + k_modelcar + "\n" : "image: " + k_image + "\n";
}

std::string error_of(const std::function<void()>& f) { return test::error_of(f, true); }

std::string parse_error(const std::string& yaml) {
  return error_of([&] { parse_spec(yaml, "mlops.yaml"); });
}

} // namespace

TEST_CASE("render alerts: a PrometheusRule in each target's metric names") {
  for (const std::string target : {"k8s", "kserve", "seldon-v1", "seldon-v2"}) {
    CAPTURE(target);
    std::string spec = "name: iris\nnamespace: models\nmonitoring: true\nalerts: true\n" + with_artifact(target);
    auto d = docs_of(resolved(spec, target));
    REQUIRE(d.count("PrometheusRule/iris"));
    const json& rule = d.at("PrometheusRule/iris");
    CHECK(rule["apiVersion"] == "monitoring.coreos.com/v1");
    CHECK(rule["metadata"]["namespace"] == "models");
    const json& group = rule["spec"]["groups"][0];
    CHECK(group["name"] == "mlops-iris");
    REQUIRE(group["rules"].size() == 2);
    const json& errors = group["rules"][0];
    const json& latency = group["rules"][1];
    CHECK(errors["alert"] == "ModelHighErrorRate");
    CHECK(latency["alert"] == "ModelHighLatency");
    CHECK(errors["for"] == "5m"); // the defaults: 5%, 1000 ms, 5m
    CHECK(errors["labels"] == json({{"model", "iris"}, {"severity", "warning"}}));
    std::string e = errors["expr"], l = latency["expr"];
    CHECK(e.find("namespace=\"models\"") != std::string::npos);
    CHECK(e.substr(e.size() - 7) == " > 0.05");
    CHECK(l.substr(l.size() - 4) == " > 1");
    CHECK(errors["annotations"]["summary"] == "model models/iris fails more than 5% of requests");
    CHECK(errors["annotations"]["description"] ==
          "share of failed requests over 5m: {{ $value | humanizePercentage }}");
    if (target == "seldon-v1") {
      CHECK(e.find("seldon_api_executor_server_requests_seconds_count{") != std::string::npos);
      CHECK(e.find("deployment_name=\"iris\",service=\"predictions\",code!~\"2..\"") != std::string::npos);
      CHECK(l.find("histogram_quantile(0.95, sum by (le, predictor_name) "
                   "(rate(seldon_api_executor_server_requests_seconds_bucket{") == 0);
    } else if (target == "seldon-v2") {
      CHECK(e.find("seldon_model_infer_total{namespace=\"models\",model=~\"iris\"") != std::string::npos);
      CHECK(l.find("seldon_model_infer_seconds_total") != std::string::npos);
      CHECK(latency["annotations"]["summary"].get<std::string>().find("mean latency") != std::string::npos);
    } else {
      std::string job = target == "k8s" ? "job=\"iris\"" : "job=\"models/iris\"";
      CHECK(e.find("model_infer_request_failure_total{namespace=\"models\"," + job + "}") != std::string::npos);
      CHECK(l.find("rest_server_request_duration_seconds_bucket{namespace=\"models\"," + job) != std::string::npos);
    }
  }
}

TEST_CASE("render alerts: thresholds, A/B models on seldon-v2, and off") {
  auto d = docs_of(resolved(k_governed + "image: " + k_image + "\n", "k8s"));
  const json& rules = d.at("PrometheusRule/iris")["spec"]["groups"][0]["rules"];
  CHECK(rules[0]["for"] == "10m");
  CHECK(rules[0]["expr"].get<std::string>().find(" > 0.02") != std::string::npos);
  CHECK(rules[1]["expr"].get<std::string>().find(" > 1.5") != std::string::npos);
  CHECK(rules[1]["annotations"]["summary"] == "model models/iris 95th percentile latency is above 1500 ms");

  auto ab =
      docs_of(resolved("name: iris\nmonitoring: true\nalerts: {latency_p95_ms: 250}\nmodel_uri: " + test::k_gs_model +
                           "\nvariants:\n  - {name: a, traffic: 70}\n  - {name: b, traffic: 30}\n",
                       "seldon-v2"));
  const json& ab_rules = ab.at("PrometheusRule/iris")["spec"]["groups"][0]["rules"];
  CHECK(ab_rules[0]["expr"].get<std::string>().find("model=~\"iris-a|iris-b\"") != std::string::npos);
  CHECK(ab_rules[1]["expr"].get<std::string>().find(" > 0.25") != std::string::npos);

  auto off =
      docs_of(resolved("name: iris\nmonitoring: true\nalerts: {enabled: false}\nimage: " + k_image + "\n", "k8s"));
  CHECK_FALSE(off.count("PrometheusRule/iris"));
}

TEST_CASE("render access: NetworkPolicy selects the model's pods on each target") {
  const std::map<std::string, json> selectors = {
      {"k8s", {{"app.kubernetes.io/instance", "iris"}, {"app.kubernetes.io/name", "iris"}}},
      {"kserve", {{"serving.kserve.io/inferenceservice", "iris"}}},
      {"seldon-v1", {{"seldon-deployment-id", "iris"}}}};
  for (const auto& [target, selector] : selectors) {
    CAPTURE(target);
    auto d = docs_of(resolved(k_governed + with_artifact(target), target));
    const json& np = d.at("NetworkPolicy/iris");
    CHECK(np["apiVersion"] == "networking.k8s.io/v1");
    CHECK(np["metadata"]["namespace"] == "models");
    CHECK(np["spec"]["podSelector"]["matchLabels"] == selector);
    CHECK(np["spec"]["policyTypes"] == json::array({"Ingress"}));
    REQUIRE(np["spec"]["ingress"].size() == 1);
    // Exactly the listed peers: no fallback to the model's own namespace, no repeats.
    CHECK(np["spec"]["ingress"][0]["from"] ==
          json::parse(R"([{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
                          {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "istio-system"}}},
                          {"podSelector": {"matchLabels": {"app": "frontend", "tier": "web"}}}])"));
  }
  // An empty list denies all ingress; no access section, no NetworkPolicy.
  auto none = docs_of(resolved("name: iris\naccess: {allow_namespaces: []}\nimage: " + k_image + "\n", "k8s"));
  CHECK(none.at("NetworkPolicy/iris")["spec"]["ingress"] == json::array());
  auto open = docs_of(resolved("name: iris\nimage: " + k_image + "\n", "k8s"));
  CHECK_FALSE(open.count("NetworkPolicy/iris"));
}

TEST_CASE("render access: Roles and RoleBindings for readers and editors, by resource name") {
  auto d = docs_of(resolved(k_governed + "image: " + k_image + "\n", "seldon-v1"));
  const json& reader = d.at("Role/iris-reader");
  CHECK(reader["apiVersion"] == "rbac.authorization.k8s.io/v1");
  CHECK(reader["metadata"]["namespace"] == "models");
  CHECK(reader["rules"] ==
        json::parse(R"([{"apiGroups": ["machinelearning.seldon.io"], "resources": ["seldondeployments"],
                         "resourceNames": ["iris"], "verbs": ["get", "list", "watch"]},
                        {"apiGroups": ["monitoring.coreos.com"], "resources": ["podmonitors"],
                         "resourceNames": ["iris"], "verbs": ["get", "list", "watch"]},
                        {"apiGroups": ["monitoring.coreos.com"], "resources": ["prometheusrules"],
                         "resourceNames": ["iris"], "verbs": ["get", "list", "watch"]}])"));
  const json& editor = d.at("Role/iris-editor");
  CHECK(editor["rules"][0]["verbs"] == json::array({"get", "list", "watch", "update", "patch", "delete"}));
  for (const auto& rule : editor["rules"])
    CHECK(rule["resources"][0] != "networkpolicies");
  const json& rb = d.at("RoleBinding/iris-reader");
  CHECK(rb["roleRef"] == json({{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "Role"}, {"name", "iris-reader"}}));
  CHECK(rb["subjects"] ==
        json::parse(R"([{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "data-science"}])"));
  CHECK(d.at("RoleBinding/iris-editor")["subjects"] ==
        json::parse(R"([{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice@example.com"},
                        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "ml-ops"}])"));

  // seldon-v2: Models and the Experiment, core kinds' empty API group on k8s.
  auto v2 = docs_of(resolved("name: iris\nmodel_uri: " + test::k_gs_model +
                                 "\naccess: {readers: {users: [bob]}}\nvariants:\n  - {name: a, traffic: 50}\n"
                                 "  - {name: b, traffic: 50}\n",
                             "seldon-v2"));
  CHECK(v2.at("Role/iris-reader")["rules"][0]["resourceNames"] == json::array({"iris-a", "iris-b"}));
  CHECK_FALSE(v2.count("Role/iris-editor"));
  CHECK_FALSE(v2.count("NetworkPolicy/iris"));
  auto k8s = docs_of(resolved("name: iris\nimage: " + k_image + "\naccess: {editors: {groups: [ops]}}\n", "k8s"));
  CHECK(k8s.at("Role/iris-editor")["rules"][1]["apiGroups"] == json::array({""}));
  CHECK(k8s.at("Role/iris-editor")["rules"][1]["resources"] == json::array({"services"}));
}

TEST_CASE("render alerts and access: mistakes name the key path") {
  CHECK(parse_error("alerts: {error_rate_percent: 0}\n") ==
        "invalid deploy spec 'mlops.yaml:1': key 'deploy.alerts.error_rate_percent': 0 is not between 1 and 100");
  CHECK(parse_error("alerts: {for: soon}\n") ==
        "invalid deploy spec 'mlops.yaml:1': key 'deploy.alerts.for': expected a duration such as 30s, 5m or 1h");
  CHECK(parse_error("alerts: {latency: 5}\n") ==
        "invalid deploy spec 'mlops.yaml:1': unknown key 'deploy.alerts.latency'");
  CHECK(parse_error("alerts: maybe\n") ==
        "invalid deploy spec 'mlops.yaml:1': key 'deploy.alerts': expected true or false");
  CHECK(parse_error("access:\n  allow_namespaces: [ok, Not_A_Namespace]\n") ==
        "invalid deploy spec 'mlops.yaml:2': key 'deploy.access.allow_namespaces[1]': 'Not_A_Namespace' is not a "
        "namespace name (a DNS-1123 label)");
  CHECK(parse_error("access:\n  allow_namespaces: monitoring\n") ==
        "invalid deploy spec 'mlops.yaml:2': key 'deploy.access.allow_namespaces': expected a list of strings");
  CHECK(parse_error("access:\n  allow_pods:\n    - {app: 'two words'}\n") ==
        "invalid deploy spec 'mlops.yaml:3': key 'deploy.access.allow_pods[0].app': not a label value (at most 63 "
        "letters, digits, '-', '_', '.')");
  CHECK(
      parse_error("access:\n  allow_pods:\n    - {}\n") ==
      "invalid deploy spec 'mlops.yaml:3': key 'deploy.access.allow_pods[0]': expected a mapping of pod label to value "
      "(app: frontend)");
  CHECK(parse_error("access:\n  readers: {user: [a]}\n") ==
        "invalid deploy spec 'mlops.yaml:2': unknown key 'deploy.access.readers.user'");
  CHECK(parse_error("access: {allow: [a]}\n") ==
        "invalid deploy spec 'mlops.yaml:1': unknown key 'deploy.access.allow'");

  std::string alerts = error_of([] { resolved("name: iris\nalerts: true\nimage: " + k_image + "\n", "k8s"); });
  CHECK(alerts.find("key 'deploy.alerts': alerts need the model server's metrics") != std::string::npos);
  std::string v2 = error_of([] {
    resolved("name: iris\nmodel_uri: " + test::k_gs_model + "\naccess: {allow_namespaces: [web]}\n", "seldon-v2");
  });
  CHECK(v2.find("key 'deploy.access.allow_namespaces': target 'seldon-v2' serves models from shared Server pods") !=
        std::string::npos);
  std::string v2_pods = error_of([] {
    resolved("name: iris\nmodel_uri: " + test::k_gs_model + "\naccess: {allow_pods: [{app: web}]}\n", "seldon-v2");
  });
  CHECK(v2_pods.find("key 'deploy.access.allow_pods'") != std::string::npos);
  std::string long_name = error_of([] {
    render::render(
        resolved("name: " + std::string(60, 'a') + "\nimage: " + k_image + "\naccess: {readers: {users: [bob]}}\n",
                 "k8s"),
        {});
  });
  CHECK(long_name.find("key 'deploy.name': resource name") != std::string::npos);
}

TEST_CASE("render check: the new kinds' schemas refuse what the API server would") {
  json np = json::parse(R"({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
      "metadata": {"name": "iris", "namespace": "models"},
      "spec": {"podSelector": {"matchLabels": {"app": "iris"}}, "policyTypes": ["Ingress"], "ingress": [{"from": []}]}})");
  CHECK_FALSE(check_document(np, false).empty());
  json role = json::parse(R"({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
      "metadata": {"name": "iris-reader", "namespace": "models"},
      "rules": [{"apiGroups": [""], "resources": ["services"], "verbs": ["escalate"]}]})");
  CHECK_FALSE(check_document(role, false).empty());
  json rb = json::parse(R"({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
      "metadata": {"name": "iris-reader", "namespace": "models"},
      "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
      "subjects": [{"kind": "User", "name": "bob"}]})");
  CHECK_FALSE(check_document(rb, false).empty());
  json pr = json::parse(R"({"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
      "metadata": {"name": "iris", "namespace": "models"},
      "spec": {"groups": [{"name": "g", "rules": [{"alert": "Bad Name", "expr": "up == 0"}]}]}})");
  CHECK_FALSE(check_document(pr, false).empty());
  pr["spec"]["groups"][0]["rules"][0]["alert"] = "Good";
  CHECK(check_document(pr, false).empty());
}
