// deploy.explainer, transformer, detectors, knative, ingress, kserve (canary
// field by mode and version) and dashboard.
#include "render/render.hpp"
#include "render/validate.hpp"

#include "render_fixtures.hpp"

#include <doctest/doctest.h>

using namespace mlops;
using namespace mlops::render;
using nlohmann::json;

namespace {

using test::docs_of;
using test::k_image;
using test::resolved;

const std::string k_base = "name: iris\nnamespace: models\nmodel_uri: s3://bucket/iris/1\n";
const std::string k_ab = k_base + "variants:\n  - {name: champion, traffic: 90}\n"
                                  "  - {name: challenger, traffic: 10, model_uri: 's3://bucket/iris/2'}\n";

std::string error_of(const std::string& yaml, const std::string& target) {
  return test::error_of([&] { resolved(yaml, target); }, true);
}

} // namespace

TEST_CASE("render explainer: seldon-v1 predictors and kserve's explainer component") {
  auto v1 = docs_of(
      resolved(k_base + "explainer: {type: AnchorTabular, model_uri: 's3://bucket/iris/explainer'}\n", "seldon-v1"));
  const json& p = v1.at("SeldonDeployment/iris")["spec"]["predictors"][0];
  CHECK(p["explainer"] == json{{"type", "AnchorTabular"}, {"modelUri", "s3://bucket/iris/explainer"}});

  auto art =
      docs_of(resolved(k_base + "explainer: {type: SquareAttack}\ntransformer: {image: " + k_image + "}\n", "kserve"));
  const json& spec = art.at("InferenceService/iris")["spec"];
  CHECK(spec["explainer"] == json{{"art", {{"type", "SquareAttack"}}}});
  CHECK(spec["transformer"]["containers"][0] == json{{"name", "kserve-container"}, {"image", k_image}});
  // An image variant's container must not leak into the explainer section.
  auto own =
      docs_of(resolved("name: iris\nimage: " + k_image + "\nexplainer: {image: 'reg.example/explain:1'}\n", "kserve"));
  CHECK(own.at("InferenceService/iris")["spec"]["explainer"] ==
        json{{"containers", {{{"name", "kserve-container"}, {"image", "reg.example/explain:1"}}}}});

  CHECK(error_of(k_base + "explainer: {type: AnchorTabular}\n", "seldon-v1")
            .find("key 'deploy.explainer.model_uri': a Seldon explainer loads its artifact") != std::string::npos);
  CHECK(error_of(k_base + "explainer: {type: Anchor, model_uri: 's3://b/e'}\n", "seldon-v1")
            .find("key 'deploy.explainer.type': unknown explainer type 'Anchor'") != std::string::npos);
  CHECK(error_of(k_base + "explainer: {type: AnchorTabular, model_uri: 's3://b/e'}\n", "seldon-v2")
            .find("target 'seldon-v2' has no explainer component") != std::string::npos);
  CHECK(error_of(k_base + "transformer: {image: " + k_image + "}\n", "seldon-v1").find("key 'deploy.transformer'") !=
        std::string::npos);
  CHECK(error_of(k_base + "explainer: {model_uri: 's3://b/e'}\n", "kserve").find("key 'deploy.explainer'") !=
        std::string::npos);
}

TEST_CASE("render kserve canary: the field the configured mode and version take") {
  auto knative = docs_of(resolved(k_ab + "kserve: {mode: serverless, version: '0.15'}\n", "kserve"));
  const json& k = knative.at("InferenceService/iris");
  CHECK(k["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Serverless");
  CHECK(k["spec"]["predictor"]["canaryTrafficPercent"] == 10);
  CHECK(k["spec"]["predictor"]["model"]["storageUri"] == "s3://bucket/iris/2");
  CHECK_FALSE(k["spec"].contains("canary"));

  auto standard = docs_of(resolved(k_ab + "kserve: {mode: standard, version: '0.20'}\n", "kserve"));
  const json& s = standard.at("InferenceService/iris");
  CHECK(s["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] == "Standard");
  CHECK_FALSE(s["spec"]["predictor"].contains("canaryTrafficPercent"));
  CHECK(s["spec"]["predictor"]["model"]["storageUri"] == "s3://bucket/iris/1");
  REQUIRE(s["spec"]["canary"].size() == 1);
  CHECK(s["spec"]["canary"][0]["trafficPercent"] == 10);
  CHECK(s["spec"]["canary"][0]["predictor"]["name"] == "challenger");
  CHECK(s["spec"]["canary"][0]["predictor"]["model"]["storageUri"] == "s3://bucket/iris/2");

  CHECK(error_of(k_ab + "kserve: {mode: raw, version: '0.15'}\n", "kserve")
            .find("key 'deploy.kserve.version': KServe 0.15 in standard (raw) mode has no canary traffic split") !=
        std::string::npos);
  CHECK(error_of(k_ab + "kserve: {mode: modelmesh}\n", "kserve").find("key 'deploy.kserve.mode'") != std::string::npos);

  // The validator holds the webhook's rules: spec.canary only in Standard mode.
  json doc = s;
  doc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] = "Knative";
  auto problems = check_document(doc, false);
  REQUIRE_FALSE(problems.empty());
  CHECK(problems[0].find("spec.canary: KServe accepts it only with") != std::string::npos);
  doc = k;
  doc["metadata"]["annotations"]["serving.kserve.io/deploymentMode"] = "Standard";
  CHECK_FALSE(check_document(doc, false).empty());
}

TEST_CASE("render detectors: a detector server fed by the request logger (seldon-v1, kserve)") {
  const std::string spec = k_base + "monitoring: true\nalerts: true\n"
                                    "detectors:\n  - {type: drift, artifact: detectors/drift, batch_size: 50}\n";
  auto v1 = docs_of(resolved(spec, "seldon-v1"));
  const json& graph = v1.at("SeldonDeployment/iris")["spec"]["predictors"][0]["graph"];
  CHECK(graph["logger"] == json{{"mode", "request"}, {"url", "http://iris-drift.models.svc.cluster.local"}});
  const json& dep = v1.at("Deployment/iris-drift");
  const json& args = dep["spec"]["template"]["spec"]["containers"][0]["args"];
  CHECK(args == json{"--model_name", "drift", "--http_port", "8080", "--protocol", "kfserving.http", "--storage_uri",
                     "s3://bucket/iris/1/detectors/drift", "--event_type", "io.seldon.serving.inference.drift",
                     "--event_source", "io.seldon.serving.models.iris-drift", "DriftDetector", "--drift_batch_size",
                     "50"});
  CHECK(v1.at("Service/iris-drift")["spec"]["ports"][0]["port"] == 80);
  CHECK(v1.at("ServiceMonitor/iris-detectors")["spec"]["endpoints"][0]["path"] == "/v1/metrics");
  const json& rules = v1.at("PrometheusRule/iris")["spec"]["groups"][0]["rules"];
  REQUIRE(rules.size() == 3);
  CHECK(rules[2]["alert"] == "ModelDriftDetected");
  CHECK(rules[2]["expr"] ==
        "max by (service) (seldon_metric_drift_is_drift{namespace=\"models\",service=~\"iris-drift\"}) > 0");
  CHECK_FALSE(v1.count("Trigger/iris-drift"));

  // Knative: the logger posts to the broker, a Trigger per detector delivers.
  auto kn =
      docs_of(resolved(spec + "  - {type: outlier, artifact: detectors/od}\nknative: {broker: events}\n", "kserve"));
  CHECK(kn.at("InferenceService/iris")["spec"]["predictor"]["logger"]["url"] ==
        "http://broker-ingress.knative-eventing.svc.cluster.local/models/events");
  const json& t = kn.at("Trigger/iris-outlier")["spec"];
  CHECK(t["broker"] == "events");
  CHECK(t["filter"]["attributes"] ==
        json{{"type", "org.kubeflow.serving.inference.request"}, {"inferenceservicename", "iris"}});
  CHECK(t["subscriber"]["ref"] == json{{"apiVersion", "v1"}, {"kind", "Service"}, {"name", "iris-outlier"}});
  CHECK(kn.count("Trigger/iris-drift"));

  CHECK(error_of(spec + "  - {type: outlier, artifact: detectors/od}\n", "seldon-v1")
            .find("key 'deploy.detectors': the request logger of target 'seldon-v1' posts to one URL") !=
        std::string::npos);
  CHECK(error_of("name: iris\nimage: " + k_image + "\ndetectors: [{type: drift, artifact: d}]\n", "seldon-v1")
            .find("key 'deploy.detectors[0].model_uri': the detector server cannot read 'd'") != std::string::npos);
  CHECK(error_of("name: iris\nimage: " + k_image + "\ndetectors: [{type: drift, artifact: d}]\n", "k8s")
            .find("target 'k8s' has no request logger") != std::string::npos);
}

TEST_CASE("render detectors: seldon-v2 runs them as steps of a Pipeline") {
  auto d = docs_of(resolved(k_base + "detectors:\n  - {type: drift, artifact: cd, batch_size: 20}\n"
                                     "  - {name: od, type: outlier, artifact: od, model_uri: 's3://bucket/od'}\n",
                            "seldon-v2"));
  CHECK(d.at("Model/iris")["spec"]["requirements"] == json{"mlflow"});
  CHECK(d.at("Model/iris-drift")["spec"]["requirements"] == json{"mlserver", "alibi-detect"});
  CHECK(d.at("Model/iris-drift")["spec"]["storageUri"] == "s3://bucket/iris/1/cd");
  CHECK(d.at("Model/iris-od")["spec"]["storageUri"] == "s3://bucket/od");
  const json& p = d.at("Pipeline/iris-pipeline")["spec"];
  CHECK(p["steps"] ==
        json::array({{{"name", "iris"}}, {{"name", "iris-drift"}, {"batch", {{"size", 20}}}}, {{"name", "iris-od"}}}));
  CHECK(p["output"]["steps"] == json{"iris", "iris-od.outputs.is_outlier"});
  CHECK(error_of(k_ab + "detectors: [{type: drift, artifact: cd}]\n", "seldon-v2")
            .find("runs detectors as steps of a Pipeline around one model") != std::string::npos);

  // A drift alert cannot be had on seldon-v2: said, not silently dropped.
  auto r = resolved(k_base + "monitoring: true\nalerts: true\ndetectors: [{type: drift, artifact: cd}]\n", "seldon-v2");
  REQUIRE(r.warnings.size() == 1);
  CHECK(r.warnings[0].find("no drift alert for target 'seldon-v2'") != std::string::npos);
}

TEST_CASE("render detectors: spec mistakes name the key") {
  auto parse = [](const std::string& yaml) { return test::error_of([&] { parse_spec(yaml, "mlops.yaml"); }, true); };
  CHECK(
      parse(k_base + "detectors: [{type: drfit, artifact: cd}]\n")
          .find("key 'deploy.detectors[0].type': unknown detector type 'drfit': expected drift, outlier or adversarial "
                "(did you mean 'drift'?)") != std::string::npos);
  CHECK(parse(k_base + "detectors: [{type: drift}]\n").find("key 'deploy.detectors[0].artifact'") != std::string::npos);
  CHECK(
      parse(k_base + "detectors: [{type: drift, artifact: ../x}]\n").find("is not a relative path inside the model") !=
      std::string::npos);
  CHECK(parse(k_base + "detectors: [{type: outlier, artifact: x, batch_size: 5}]\n")
            .find("key 'deploy.detectors[0].batch_size': only a drift detector") != std::string::npos);
  CHECK(parse(k_base + "detectors: [{type: drift, artifact: a}, {type: drift, artifact: b}]\n")
            .find("key 'deploy.detectors[1].name': detector 'drift' is named twice") != std::string::npos);
  CHECK(parse(k_base + "ingress: nginx\n").find("key 'deploy.ingress': unknown ingress 'nginx'") != std::string::npos);

  // Declared extras: a detector's artifact must be one of them.
  auto spec = parse_spec(k_base + "detectors: [{type: drift, artifact: cd}]\n", "mlops.yaml");
  spec.extras_declared = true;
  spec.extras = {"od"};
  Overrides o;
  o.target = "seldon-v1";
  CHECK(test::error_of([&] { resolve(spec, o); }, true)
            .find("key 'deploy.detectors[0].artifact': 'cd' is not declared in gates.extras.artifacts") !=
        std::string::npos);
  spec.extras = {"cd"};
  CHECK(resolve(spec, o).detectors[0].model_uri == "s3://bucket/iris/1/cd");
}

TEST_CASE("render ingress: seldon-v1 annotations and the endpoint") {
  auto r = resolved(k_base + "protocol: seldon\nexplainer: {type: KernelShap, model_uri: 's3://b/e'}\n"
                             "ingress: {type: istio, gateway: istio-system/models, host: models.example.com}\n",
                    "seldon-v1");
  auto d = docs_of(r);
  CHECK(d.at("SeldonDeployment/iris")["spec"]["annotations"] ==
        json{{"seldon.io/istio-gateway", "istio-system/models"}, {"seldon.io/istio-host", "models.example.com"}});
  auto e = endpoints(r);
  REQUIRE(e.size() == 2);
  CHECK(e[0].url == "http://models.example.com/seldon/models/iris/api/v1.0/predictions");
  CHECK(e[1].path == "/seldon/models/iris-explainer/default/api/v1.0/explain");

  auto amb = resolved(k_base + "ingress: {type: ambassador, gateway: public}\n", "seldon-v1");
  CHECK(docs_of(amb).at("SeldonDeployment/iris")["spec"]["annotations"] == json{{"seldon.io/ambassador-id", "public"}});
  REQUIRE(endpoints(amb).size() == 1);
  CHECK(endpoints(amb)[0].path == "/seldon/models/iris/v2/models/iris/infer");
  CHECK(endpoints(amb)[0].url.empty());
  CHECK(endpoints(resolved(k_base, "kserve")).empty());
  CHECK(error_of(k_base + "ingress: istio\n", "kserve").find("key 'deploy.ingress'") != std::string::npos);
}

TEST_CASE("render dashboard: a Grafana ConfigMap with JSON in one quoted scalar") {
  for (const std::string target : {"k8s", "kserve", "seldon-v1", "seldon-v2"}) {
    CAPTURE(target);
    std::string spec = "name: iris\nnamespace: models\nmonitoring: true\ndashboard: true\n" +
                       (target == "k8s" ? "image: " + k_image + "\n" : "model_uri: s3://bucket/iris/1\n") +
                       (target == "seldon-v1" ? "protocol: seldon\n" : "");
    auto r = resolved(spec, target);
    auto manifests = render::render(r, {});
    const Manifest* cm = nullptr;
    for (const auto& m : manifests)
      if (m.kind == "ConfigMap") cm = &m;
    REQUIRE(cm != nullptr);
    CHECK(cm->name == "iris-dashboard");
    CHECK(cm->yaml.find("\n  \"iris.json\": \"{") != std::string::npos); // one double-quoted scalar
    auto doc = parse_documents(cm->yaml)[0];
    CHECK(doc["metadata"]["labels"]["grafana_dashboard"] == "1");
    json dash = json::parse(doc["data"]["iris.json"].get<std::string>());
    std::vector<std::string> titles;
    for (const auto& p : dash["panels"])
      titles.push_back(p["title"]);
    CHECK(titles[0] == "Request rate");
    CHECK(titles[1] == "Errors (share of requests)");
    if (target == "seldon-v2")
      CHECK(titles[2] == "Latency (mean)");
    else {
      CHECK(titles[2] == "Latency (p50, p95, p99)");
      CHECK(dash["panels"][2]["targets"].size() == 3);
    }
    CHECK((titles.size() == 4) == (target == "seldon-v1")); // reward per variant: Seldon protocol only
    std::string latency = dash["panels"][2]["targets"][0]["expr"];
    if (target == "k8s" || target == "kserve")
      CHECK(latency.find("rest_server_request_duration_seconds_bucket") != std::string::npos);
    if (target == "seldon-v1") {
      CHECK(latency.find("seldon_api_executor_server_requests_seconds_bucket") != std::string::npos);
      CHECK(dash["panels"][3]["targets"][0]["expr"].get<std::string>().find("seldon_api_model_feedback_reward_total") !=
            std::string::npos);
    }
    CHECK(render::render(r, {})[manifests.size() - 1].yaml == manifests.back().yaml); // deterministic
  }
  CHECK(error_of(k_base + "dashboard: true\n", "kserve").find("key 'deploy.dashboard': a dashboard needs") !=
        std::string::npos);
  // A dashboard ConfigMap whose JSON is broken does not validate.
  json cm = {{"apiVersion", "v1"},
             {"kind", "ConfigMap"},
             {"metadata", {{"name", "x"}, {"namespace", "y"}, {"labels", {{"grafana_dashboard", "1"}}}}},
             {"data", {{"x.json", "{\"panels\": "}}}};
  auto problems = check_document(cm, false);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0] == "data.x.json: not a Grafana dashboard (a JSON object with panels)");
}
