#include "core/error.hpp"
#include "core/fs.hpp"
#include "render/render.hpp"
#include "render/validate.hpp"
#include "temp_dir.hpp"

#include "render_fixtures.hpp"

#include <doctest/doctest.h>

#include <filesystem>

using namespace mlops;
using namespace mlops::render;
using nlohmann::json;

namespace {

using test::k_digest;
using test::k_image;
using test::k_modelcar;

using test::docs_of;
using test::error_of;
using test::resolved;

const std::string k_single = "name: iris\nnamespace: models\nimage: " + k_image +
                             "\nreplicas: {min: 2, max: 5}\nresources: {requests: {cpu: 500m, memory: 1Gi}}\n"
                             "monitoring: {enabled: true, port: 9100}\n";
std::string ab(const std::string& uri) {
  return "name: iris\nnamespace: models\nmodel_uri: " + uri +
         "\nresources: {requests: {memory: 2Gi}}\nvariants:\n"
         "  - {name: champion, traffic: 80}\n"
         "  - {name: challenger, traffic: 20, model_uri: 's3://bucket/iris/2'}\n";
}
const std::string k_ab = ab(k_modelcar);
const std::string k_ab_v2 = ab(test::k_gs_model); // seldon-v2 fetches with rclone: no oci://

} // namespace

TEST_CASE("render k8s: Deployment, Service, HPA, PDB and ServiceMonitor") {
  auto d = docs_of(resolved(k_single, "k8s"));
  REQUIRE(d.size() == 5);
  const json& dep = d.at("Deployment/iris");
  CHECK(dep["apiVersion"] == "apps/v1");
  CHECK(dep["metadata"]["namespace"] == "models");
  CHECK_FALSE(dep["spec"].contains("replicas")); // the HPA owns it
  const json& c = dep["spec"]["template"]["spec"]["containers"][0];
  CHECK(c["image"] == k_image);
  CHECK(c["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready");
  CHECK(c["livenessProbe"]["httpGet"]["path"] == "/v2/health/live");
  CHECK(c["securityContext"]["allowPrivilegeEscalation"] == false);
  CHECK(c["securityContext"]["readOnlyRootFilesystem"] == false);
  CHECK(c["securityContext"]["capabilities"]["drop"] == json::array({"ALL"}));
  CHECK(dep["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] == true);
  CHECK(c["resources"]["requests"]["cpu"] == "500m");
  CHECK(dep["spec"]["selector"]["matchLabels"] ==
        json({{"app.kubernetes.io/instance", "iris"}, {"app.kubernetes.io/name", "iris"}}));
  CHECK(d.at("Service/iris")["spec"]["ports"][2]["port"] == 9100);
  CHECK(d.at("HorizontalPodAutoscaler/iris")["spec"]["minReplicas"] == 2);
  CHECK(d.at("HorizontalPodAutoscaler/iris")["spec"]["maxReplicas"] == 5);
  CHECK(d.at("PodDisruptionBudget/iris")["spec"]["maxUnavailable"] == 1);
  CHECK(d.at("ServiceMonitor/iris")["spec"]["endpoints"][0]["port"] == "metrics");
  // Without an autoscaler: fixed replicas, no HPA.
  auto fixed = docs_of(resolved("name: iris\nimage: " + k_image + "\nreplicas: 3\n", "k8s"));
  CHECK(fixed.size() == 3);
  CHECK(fixed.at("Deployment/iris")["spec"]["replicas"] == 3);
}

TEST_CASE("render kserve: model from a storage URI, container from an image, canary for A/B") {
  auto m = docs_of(resolved("name: iris\nmodel_uri: " + k_modelcar + "\n", "kserve"));
  const json& pred = m.at("InferenceService/iris")["spec"]["predictor"];
  CHECK(m.at("InferenceService/iris")["apiVersion"] == "serving.kserve.io/v1beta1");
  CHECK(pred["model"]["modelFormat"] == json({{"name", "mlflow"}})); // no version no runtime lists
  CHECK(pred["model"]["protocolVersion"] == "v2");
  CHECK(pred["model"]["storageUri"] == k_modelcar);
  CHECK_FALSE(pred.contains("canaryTrafficPercent"));

  auto c = docs_of(resolved(k_single, "kserve"));
  const json& cp = c.at("InferenceService/iris")["spec"]["predictor"];
  CHECK(cp["containers"][0]["image"] == k_image);
  CHECK(cp["minReplicas"] == 2);
  CHECK(cp["maxReplicas"] == 5);
  CHECK(c.at("PodMonitor/iris")["spec"]["selector"]["matchLabels"]["serving.kserve.io/inferenceservice"] == "iris");

  auto ab = docs_of(resolved(k_ab, "kserve"));
  const json& ap = ab.at("InferenceService/iris")["spec"]["predictor"];
  CHECK(ap["canaryTrafficPercent"] == 20);
  CHECK(ap["model"]["storageUri"] == "s3://bucket/iris/2");
}

TEST_CASE("render seldon-v1: predictors, traffic, shadow, graph node = container") {
  std::string spec = k_ab + "  - {name: shadow, shadow: true, image: " + k_image + "}\nprotocol: seldon\n";
  auto d = docs_of(resolved(spec, "seldon-v1"));
  const json& s = d.at("SeldonDeployment/iris");
  CHECK(s["apiVersion"] == "machinelearning.seldon.io/v1");
  CHECK(s["spec"]["protocol"] == "seldon");
  const json& p = s["spec"]["predictors"];
  REQUIRE(p.size() == 3);
  CHECK(p[0]["traffic"] == 80);
  CHECK(p[1]["traffic"] == 20);
  CHECK(p[2]["shadow"] == true);
  CHECK_FALSE(p[2].contains("traffic"));
  CHECK(p[0]["graph"]["implementation"] == "MLFLOW_SERVER");
  CHECK(p[0]["graph"]["modelUri"] == k_modelcar);
  CHECK(p[0]["graph"]["type"] == "MODEL");
  CHECK(p[2]["componentSpecs"][0]["spec"]["containers"][0]["image"] == k_image);
  CHECK_FALSE(p[2]["graph"].contains("implementation"));
  for (const auto& pred : p)
    CHECK(pred["graph"]["name"] == pred["componentSpecs"][0]["spec"]["containers"][0]["name"]);
  CHECK(p[0]["componentSpecs"][0]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["path"] == "/health/ping");
  CHECK_FALSE(p[0]["componentSpecs"][0].contains("hpaSpec"));
  auto hpa = docs_of(resolved(k_single, "seldon-v1"));
  const json& cs = hpa.at("SeldonDeployment/iris")["spec"]["predictors"][0]["componentSpecs"][0];
  CHECK(cs["hpaSpec"]["minReplicas"] == 2);
  CHECK(cs["hpaSpec"]["maxReplicas"] == 5);
  CHECK(cs["hpaSpec"]["metrics"][0]["resource"] == json({{"name", "cpu"}, {"targetAverageUtilization", 80}}));
}

TEST_CASE("render seldon-v2: a Model per variant and an Experiment") {
  auto single = docs_of(resolved("name: iris\nmodel_uri: " + test::k_gs_model + "\nreplicas: 2\n", "seldon-v2"));
  REQUIRE(single.size() == 1);
  const json& m = single.at("Model/iris");
  CHECK(m["apiVersion"] == "mlops.seldon.io/v1alpha1");
  CHECK(m["spec"]["storageUri"] == test::k_gs_model);
  CHECK(m["spec"]["requirements"] == json::array({"mlflow"}));
  CHECK(m["spec"]["replicas"] == 2);

  std::string spec = k_ab_v2 + "  - {name: shadow, shadow: true, model_uri: 's3://bucket/iris/3'}\n";
  auto d = docs_of(resolved(spec, "seldon-v2"));
  CHECK(d.at("Model/iris-champion")["spec"]["memory"] == "2Gi");
  CHECK(d.count("Model/iris-challenger"));
  CHECK(d.count("Model/iris-shadow"));
  const json& e = d.at("Experiment/iris")["spec"];
  CHECK(e["default"] == "iris-champion");
  CHECK(e["candidates"] ==
        json::array({{{"name", "iris-champion"}, {"weight", 80}}, {{"name", "iris-challenger"}, {"weight", 20}}}));
  CHECK(e["mirror"] == json({{"name", "iris-shadow"}, {"percent", 100}}));
  std::string part = k_ab_v2 + "  - {name: shadow, shadow: true, traffic: 25, model_uri: 's3://bucket/iris/3'}\n";
  CHECK(docs_of(resolved(part, "seldon-v2")).at("Experiment/iris")["spec"]["mirror"]["percent"] == 25);
  CHECK(docs_of(resolved(part, "seldon-v1")).at("SeldonDeployment/iris")["spec"]["predictors"][2]["traffic"] == 25);
}

TEST_CASE("render: same inputs give the same bytes") {
  for (const std::string target : {"k8s", "kserve", "seldon-v1", "seldon-v2"}) {
    CAPTURE(target);
    std::string spec = target == "k8s" ? k_single : target == "seldon-v2" ? k_ab_v2 : k_ab;
    auto a = stream(render::render(resolved(spec, target), {}));
    auto b = stream(render::render(resolved(spec, target), {}));
    CHECK(a == b);
    CHECK(a.rfind("---\n", 0) == 0);
  }
}

TEST_CASE("render: composed names longer than 63 characters are refused") {
  std::string spec = "name: " + std::string(50, 'm') +
                     "\nmodel_uri: s3://b/m\nvariants:\n"
                     "  - {name: champion-with-a-long-name, traffic: 100}\n  - {name: s, shadow: true}\n";
  CHECK(error_of([&] {
          render::render(resolved(spec, "seldon-v2"), {});
        }).find("key 'deploy.variants[0].name': resource name") != std::string::npos);
}

TEST_CASE("render: a user template overrides a built-in one and is validated") {
  test::TempDir t;
  std::filesystem::create_directories(t.path / "k8s");
  RenderOptions opts;
  opts.templates = t.path;
  auto spec = resolved("name: iris\nimage: " + k_image + "\n", "k8s");
  fs::atomic_write(t.path / "k8s/poddisruptionbudget.yaml.mustache",
                   "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: {{name}}-pdb\n");
  CHECK(error_of([&] { render::render(spec, opts); }).find("produced invalid YAML") != std::string::npos);
  fs::atomic_write(
      t.path / "k8s/poddisruptionbudget.yaml.mustache",
      "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: {{name}}\n  namespace: {{namespace}}\n"
      "spec:\n  minAvailable: 1\n");
  CHECK(error_of([&] { render::render(spec, opts); }) ==
        "rendered PodDisruptionBudget 'iris' is invalid: spec.selector: required");
  fs::atomic_write(
      t.path / "k8s/poddisruptionbudget.yaml.mustache",
      "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: {{name}}\n  namespace: {{namespace}}\n"
      "  labels:\n    team: ml\nspec:\n  minAvailable: 1\n  selector:\n    matchLabels:\n      app: x\n");
  auto d = docs_of(spec, opts);
  CHECK(d.at("PodDisruptionBudget/iris")["spec"]["minAvailable"] == 1);
  CHECK(d.at("Deployment/iris")["kind"] == "Deployment"); // the rest stay built in
}

TEST_CASE("validate: cross-field rules on rendered documents") {
  auto sdep = [](const std::string& predictors) {
    return parse_documents(
        "apiVersion: machinelearning.seldon.io/v1\nkind: SeldonDeployment\nmetadata: {name: m, namespace: n}\n"
        "spec:\n  predictors:\n" +
        predictors)[0];
  };
  CHECK(check_document(sdep("  - {name: a, traffic: 60, graph: {name: g, type: MODEL}}\n"
                            "  - {name: b, traffic: 30, graph: {name: g, type: MODEL}}\n"
                            "  - {name: s, shadow: true, graph: {name: g, type: MODEL}}\n"),
                       false) ==
        std::vector<std::string>{"spec.predictors: traffic of the non-shadow predictors sums to 90, not 100"});
  CHECK(check_document(sdep("  - {name: a, traffic: 50, graph: {name: g, type: MODEL}}\n"), false) ==
        std::vector<std::string>{"spec.predictors: the only non-shadow predictor must take traffic 100"});
  auto exp =
      parse_documents("apiVersion: mlops.seldon.io/v1alpha1\nkind: Experiment\nmetadata: {name: e, namespace: n}\n"
                      "spec: {default: c, candidates: [{name: a, weight: 1}, {name: b, weight: 1}]}\n")[0];
  CHECK(check_document(exp, false) == std::vector<std::string>{"spec.default: \"c\" is not one of the candidates"});
  auto model =
      parse_documents("apiVersion: mlops.seldon.io/v1alpha1\nkind: Model\nmetadata:\n  name: Bad_Name\n  namespace: n\n"
                      "  labels: {'-bad/key': v, ok: 'not ok!'}\nspec: {storageUri: 'oci://r/m:1'}\n")[0];
  auto problems = check_document(model, true);
  CAPTURE(json(problems).dump());
  CHECK(problems.size() == 4);
  CHECK(problems[1].find("metadata.name: 'Bad_Name' does not match") == 0);
  CHECK(std::find(problems.begin(), problems.end(), "spec.storageUri: 'oci://r/m:1' is not pinned by digest (prod)") !=
        problems.end());
  CHECK(check_document(json{{"kind", "Secret"}}, false) == std::vector<std::string>{"no schema for kind 'Secret'"});
  CHECK_THROWS_AS(parse_documents("a: 1\na: 2\n"), Error);
}

TEST_CASE("render: -o writes files and a kustomization, atomically") {
  test::TempDir t;
  auto spec = resolved(k_single, "k8s");
  auto ms = render::render(spec, {});
  auto out = t.path / "deploy";
  write_dir(out, spec, ms);
  CHECK(std::filesystem::exists(out / "deployment-iris.yaml"));
  CHECK(std::filesystem::exists(out / "horizontalpodautoscaler-iris.yaml"));
  std::string k = fs::read_file(out / "kustomization.yaml");
  CHECK(k.find("  - \"service-iris.yaml\"\n") != std::string::npos);
  // Rendering again replaces the directory render wrote.
  auto fewer = resolved("name: iris\nimage: " + k_image + "\n", "k8s");
  write_dir(out, fewer, render::render(fewer, {}));
  CHECK_FALSE(std::filesystem::exists(out / "horizontalpodautoscaler-iris.yaml"));
  // A directory someone else wrote is never replaced.
  auto foreign = t.path / "mine";
  std::filesystem::create_directories(foreign);
  fs::atomic_write(foreign / "keep.txt", "x");
  CHECK(error_of([&] { write_dir(foreign, spec, ms); }).find("was not written by mlops render") != std::string::npos);
  CHECK(fs::read_file(foreign / "keep.txt") == "x");
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(t.path))
    (void)e, ++n;
  CHECK(n == 2); // no temporary directory left behind

  int checked = 0;
  CHECK(check_dir(out, true, checked).empty());
  CHECK(checked == 3);
  fs::atomic_write(out / "deployment-iris.yaml",
                   "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: iris, namespace: m}\n");
  auto found = check_dir(out, false, checked);
  REQUIRE(found.size() == 1);
  CHECK(found[0].file == "deployment-iris.yaml");
  CHECK(found[0].what == "Deployment 'iris': spec: required");
}

TEST_CASE("render targets: one table row each, found by name, written by name, hints listed from the rows") {
  CHECK(known_targets() == std::vector<std::string>{"k8s", "kserve", "seldon-v1", "seldon-v2"});
  for (const auto* t : all_targets()) {
    CHECK(target_named(t->name) == t->id);
    CHECK(&traits(t->id) == t);
    CHECK(static_cast<bool>(t->workload));
    CHECK(load_template(std::nullopt, std::string(t->templates) + "/" +
                                          (t->id == Target::k8s         ? "deployment.yaml.mustache"
                                           : t->id == Target::kserve    ? "inferenceservice.yaml.mustache"
                                           : t->id == Target::seldon_v1 ? "seldondeployment.yaml.mustache"
                                                                        : "model.yaml.mustache"))
              .size() > 0);
  }
  CHECK_FALSE(target_named("seldon"));
  nlohmann::ordered_json j = {{"target", Target::seldon_v2}};
  CHECK(j.dump() == R"({"target":"seldon-v2"})");
  CHECK(targets_where([](const TargetTraits& t) { return t.max_live > 1; }) == "kserve, seldon-v1 or seldon-v2");
  CHECK(targets_where([](const TargetTraits& t) { return t.transformer; }) == "kserve");
  // A hint names every target that can do what this one cannot.
  Error e(ErrorKind::usage, "");
  try {
    test::resolved("name: m\nimage: i:1\nexplainer: {type: AnchorTabular, model_uri: 's3://b/e'}\n", "k8s");
  } catch (const Error& caught) {
    e = caught;
  }
  CHECK(std::string(e.what()).find("target 'k8s' has no explainer component") != std::string::npos);
  CHECK(e.hint() == "use kserve or seldon-v1");
}
