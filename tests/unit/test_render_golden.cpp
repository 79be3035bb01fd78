// Golden outputs: the stream and kustomization.yaml of a few full specs, as
// sha256 of what `mlops render` printed before the batch speed-ups (commit
// 8171812), so that a faster path cannot change a byte of what is written.
#include "core/digest.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "render/render.hpp"
#include "render/validate.hpp"
#include "temp_dir.hpp"

#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include <regex>

using namespace mlops;

namespace {

/// The mlops.yaml of each golden project.
struct Project {
  const char* name;
  const char* yaml;
};

const Project k_projects[] = {
    {"k8s-full", R"(deploy:
  name: iris
  target: k8s
  namespace: models
  replicas: {min: 2, max: 6}
  resources: {requests: {cpu: 500m, memory: 1Gi}, limits: {memory: 2Gi}}
  image: registry.example/iris@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  monitoring: true
  alerts: {error_rate_percent: 2, latency_p95_ms: 800}
  dashboard: true
  access: {allow_namespaces: [monitoring, web], allow_pods: [{app: frontend}], readers: {groups: [data-science]}, editors: {users: [ci@example.com]}}
)"},
    {"k8s-plain", R"(deploy:
  name: "tiny model \u00e9"
  target: k8s
  image: registry.example/tiny:1.0
  replicas: 1
)"},
    {"kserve-full", R"(deploy:
  name: iris
  target: kserve
  namespace: models
  replicas: {min: 2, max: 6}
  resources: {requests: {cpu: 500m, memory: 1Gi}, limits: {memory: 2Gi}}
  model_uri: s3://bucket/iris/1
  monitoring: true
  alerts: {error_rate_percent: 2, latency_p95_ms: 800}
  dashboard: true
  access: {readers: {groups: [data-science]}, editors: {users: [ci@example.com]}}
  kserve: {mode: standard, version: '0.20'}
  detectors: [{type: drift, artifact: detectors/drift}]
  explainer: {type: SquareAttack}
  transformer: {image: registry.example/tr@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef}
  variants:
    - {name: champion, traffic: 90}
    - {name: challenger, traffic: 10, model_uri: 's3://bucket/iris/2'}
)"},
    {"kserve-knative", R"(deploy:
  name: wine
  target: kserve
  namespace: ml
  replicas: 2
  model_uri: gs://bucket/wine/1
  monitoring: {enabled: true, port: 9100, path: /m}
  kserve: {mode: knative, version: '0.15'}
  knative: {broker: default}
  detectors: [{type: drift, artifact: detectors/drift, batch_size: 20}, {name: od, type: outlier, artifact: detectors/od}]
  environments:
    prod: {namespace: ml-prod, replicas: {min: 3, max: 9, target_cpu: 70}, traffic: {a: 75, b: 25}}
  variants:
    - {name: a, traffic: 50}
    - {name: b, traffic: 50, model_uri: 'gs://bucket/wine/2'}
)"},
    {"seldon-v1-full", R"(deploy:
  name: iris
  target: seldon-v1
  namespace: models
  replicas: {min: 2, max: 6}
  resources: {requests: {cpu: 500m, memory: 1Gi}, limits: {memory: 2Gi}}
  model_uri: s3://bucket/iris/1
  monitoring: true
  alerts: {error_rate_percent: 2, latency_p95_ms: 800}
  dashboard: true
  access: {allow_namespaces: [istio-system], readers: {groups: [data-science]}, editors: {users: [ci@example.com]}}
  protocol: seldon
  explainer: {type: AnchorTabular, model_uri: 's3://bucket/iris/explainer'}
  ingress: {type: istio, gateway: istio-system/models, host: models.example.com}
  detectors: [{type: drift, artifact: detectors/drift}]
)"},
    {"seldon-v1-shadow", R"(deploy:
  name: Fraud_Model
  target: seldon-v1
  image: registry.example/fraud@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  ingress: ambassador
  variants:
    - {name: main, traffic: 100}
    - {name: shadow, shadow: true, traffic: 30, image: 'registry.example/fraud2@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'}
)"},
    {"seldon-v2-experiment", R"(deploy:
  name: iris
  target: seldon-v2
  model_uri: gs://bucket/iris/1
  resources: {limits: {memory: 3Gi}}
  monitoring: {enabled: true}
  variants:
    - {name: champion, traffic: 60}
    - {name: challenger, traffic: 40, model_uri: 'gs://bucket/iris/2'}
    - {name: mirror, shadow: true, model_uri: 'gs://bucket/iris/3'}
)"},
    {"seldon-v2-full", R"(deploy:
  name: iris
  target: seldon-v2
  namespace: models
  replicas: {min: 2, max: 6}
  resources: {requests: {cpu: 500m, memory: 1Gi}, limits: {memory: 2Gi}}
  model_uri: s3://bucket/iris/1
  monitoring: true
  alerts: {error_rate_percent: 2, latency_p95_ms: 800}
  dashboard: true
  access: {readers: {groups: [data-science]}, editors: {users: [ci@example.com]}}
  detectors: [{type: drift, artifact: detectors/drift}, {type: outlier, artifact: detectors/od}]
)"},
};

struct Golden {
  const char* project;
  const char* env;
  const char* stream;        ///< sha256 of the YAML stream, or empty when it fails
  const char* kustomization; ///< sha256 of kustomization.yaml
  const char* error;         ///< the error when it fails, the file written as FILE
};

const Golden k_cases[] = {
    {"k8s-full", "", "ac95e056775f216f5b507d29533de3a45232ec55943c26dcba315e9ce168fb45",
     "f665783ab53783d82f715e3211bed1567de3853af84927ad794853af71289999", ""},
    {"k8s-full", "prod", "724e5cb305e45911a3fa062d42e30d4c3c4d10b59263edc6bd9a834e59c85c60",
     "f665783ab53783d82f715e3211bed1567de3853af84927ad794853af71289999", ""},
    {"k8s-plain", "", "9d02811ca22b9449428af515ccd795cb617b098e21031d29343dd4af403f8044",
     "ebe6e5877712b112d1f94579d82f8bc130bf5c7f007826343ef6f19914150740", ""},
    {"k8s-plain", "prod", "", "",
     "invalid deploy spec 'FILE:4': key 'deploy.image': image 'registry.example/tiny:1.0' is not pinned by digest, "
     "which environment 'prod' requires"},
    {"kserve-full", "", "2828cb078bad51290f93d5bb0aed1985e3c0bafa7bf38e5a233d4b657a09b1ba",
     "7b9db83273eb0a014443e6a5ab8b919c20fdbd73d746d89f1688936764d72302", ""},
    {"kserve-full", "prod", "", "",
     "rendered Deployment 'iris-drift' is invalid: spec.template.spec.containers[0].image: image "
     "'seldonio/alibi-detect-server:1.18.2' is not pinned by digest (prod)"},
    {"kserve-knative", "", "b5377fadf7c7be921b33d759d36ddfed68def5878d940207483f87c4991d5d1c",
     "bcf4e0f0ac0901a57e4364613bc82d01295c5350c96c548226b95a6a0ef1943a", ""},
    {"kserve-knative", "prod", "", "",
     "rendered Deployment 'wine-drift' is invalid: spec.template.spec.containers[0].image: image "
     "'seldonio/alibi-detect-server:1.18.2' is not pinned by digest (prod)"},
    {"seldon-v1-full", "", "b6f65c174c22de02f1a29b5db73c114886c441ebaac0b77007f6773b179019da",
     "f03e2b219f8ff2d007a6533347ec500225a6142753f9ccf11e91ad5518993192", ""},
    {"seldon-v1-full", "prod", "", "",
     "rendered Deployment 'iris-drift' is invalid: spec.template.spec.containers[0].image: image "
     "'seldonio/alibi-detect-server:1.18.2' is not pinned by digest (prod)"},
    {"seldon-v1-shadow", "", "4d5cfe353574630882e41eebae382d497c1dfefc9cfbc153ddef0d543fccf4e0",
     "c0309381d3f87e7e66094312d4d67561f767a227e52ff4fbdc805b7970b876c5", ""},
    {"seldon-v1-shadow", "prod", "708b32462ccbb9772fb4c859f66e01829d181a8d6b51f5905a877daef750b412",
     "c0309381d3f87e7e66094312d4d67561f767a227e52ff4fbdc805b7970b876c5", ""},
    {"seldon-v2-experiment", "", "1be4feae7c8769d8e0eae400b8b82bc1fc273ac0856383fc33418e64ca8bf6b2",
     "b4be998942054712869a291a8d7adcd2e32411dbaeec64ffe698446d56c56da9", ""},
    {"seldon-v2-experiment", "prod", "3acd4f4ef53b75e619d14ff665bee66763b58b0a2c50ccc4c3a06cf6efb965cc",
     "b4be998942054712869a291a8d7adcd2e32411dbaeec64ffe698446d56c56da9", ""},
    {"seldon-v2-full", "", "eac00e0294b2a0dd24a74ddf67659fc7c76645ad6ee38f28f9e8ea23fd3632b7",
     "e68fe6a1177fc08ae16f63538426c48ee355e58bc15069bcdaefad5576454602", ""},
    {"seldon-v2-full", "prod", "db954d3c9801cf8a7a8e5e1c77ed02a342eb04de2fe49d9791e077d36e02f849",
     "e68fe6a1177fc08ae16f63538426c48ee355e58bc15069bcdaefad5576454602", ""},
};

/// The yaml-cpp reading that parse_documents() replaced, kept as the oracle
/// it must agree with on what render writes.
nlohmann::json reference(const YAML::Node& n) {
  using nlohmann::json;
  if (n.IsMap()) {
    json o = json::object();
    for (const auto& kv : n)
      o[kv.first.Scalar()] = reference(kv.second);
    return o;
  }
  if (n.IsSequence()) {
    json a = json::array();
    for (const auto& item : n)
      a.push_back(reference(item));
    return a;
  }
  if (!n.IsScalar()) return nullptr;
  const std::string& s = n.Scalar();
  if (n.Tag() != "?") return s;
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  try {
    if (std::regex_match(s, std::regex(R"(^[-+]?[0-9]+$)"))) return std::stoll(s);
    if (std::regex_match(s, std::regex(R"(^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$)")))
      return std::stod(s);
  } catch (const std::exception&) {
  }
  return s;
}

std::vector<nlohmann::json> reference_documents(const std::string& text) {
  std::vector<nlohmann::json> docs;
  for (const auto& node : YAML::LoadAll(text))
    if (node && !node.IsNull()) docs.push_back(reference(node));
  return docs;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

} // namespace

TEST_CASE("render golden: the same bytes as before for full specs of every target") {
  test::TempDir tmp;
  for (const auto& p : k_projects) {
    std::filesystem::create_directories(tmp.path / p.name);
    fs::atomic_write(tmp.path / p.name / "mlops.yaml", p.yaml, false);
  }
  for (const auto& g : k_cases) {
    CAPTURE(g.project);
    CAPTURE(g.env);
    auto file = tmp.path / g.project / "mlops.yaml";
    std::string stream, kustomization, error;
    try {
      render::Overrides o;
      o.env = g.env;
      render::Resolved r = render::resolve(render::load_spec(file), o);
      render::RenderOptions opts;
      opts.prod_digests = r.env == "prod";
      auto manifests = render::render(r, opts);
      stream = render::stream(manifests);
      for (const auto& m : manifests)
        CHECK(render::parse_documents(m.yaml) == reference_documents(m.yaml));
      kustomization = render::kustomization(r, manifests);
    } catch (const Error& e) {
      error = replace_all(e.what(), file.string(), "FILE");
    }
    CHECK(error == g.error);
    if (*g.stream) {
      CHECK(sha256_hex(stream) == g.stream);
      CHECK(sha256_hex(kustomization) == g.kustomization);
    }
  }
}

TEST_CASE("parse_documents reads YAML as yaml-cpp did") {
  for (const char* text :
       {"a: 1\nb: -2.5e3\nc: '3'\nd: \"x\"\ne: ~\nf:\ng: True\nh: [1, .5, +7, 1e3, 0x10, 1_000]\n",
        "k: &v {x: [a, b]}\nm: *v\n# comment\nn: !!str 5\no: |\n  two\n  lines\np: >-\n  folded\n  text\n",
        "---\na: 1\n---\n---\n~\n---\n- x\n- {\"q\": \"\\u00e9\", \"n\": null}\n...\n",
        "\"app.kubernetes.io/name\": \"iris\"\n? complex\n: 1\nnull: 2\nlist:\n  - a\n  - ~\n  - c: 1\n    d: 2\n",
        "99999999999999999999: big\nv: 99999999999999999999\nw: 1.5.2\nx: 12:30\ny: a-b\nz: .inf\n"}) {
    std::string yaml = text;
    CAPTURE(yaml);
    CHECK(render::parse_documents(yaml) == reference_documents(yaml));
  }
  CHECK_THROWS_AS(render::parse_documents("a: 1\na: 2\n"), Error);
  CHECK_THROWS_AS(render::parse_documents("a: [1, 2\nb: 3\n"), Error);
  CHECK_THROWS_AS(render::parse_documents("a: *nowhere\n"), Error);
  CHECK_THROWS_AS(render::parse_documents("a: b: c\n"), Error);
  CHECK_THROWS_AS(render::parse_documents("a: -\n"), Error);
  CHECK_THROWS_AS(render::parse_documents("a: 1\n\tb: 2\n"), Error);
  // Stricter than yaml-cpp, which took an unterminated quoted scalar to the end of the text.
  CHECK_THROWS_AS(render::parse_documents("kind: \"Deployment\n"), Error);
}

TEST_CASE("render_batch: list order, and the first failure in list order, whatever the threads") {
  test::TempDir tmp;
  std::vector<std::filesystem::path> projects;
  for (int i = 0; i < 12; ++i) {
    auto file = tmp.path / ("m" + std::to_string(i)) / "mlops.yaml";
    std::filesystem::create_directories(file.parent_path());
    // Models 7 and 10 fail (no artifact); model 2 warns (renamed).
    std::string name = i == 2 ? "Model_2" : "m" + std::to_string(i);
    std::string artifact = i == 7 || i == 10 ? "" : "  model_uri: s3://b/m" + std::to_string(i) + "\n";
    fs::atomic_write(file, "deploy:\n  name: " + name + "\n  target: kserve\n" + artifact, false);
    projects.push_back(file);
  }
  std::string first;
  for (unsigned threads : {1u, 2u, 5u}) {
    CAPTURE(threads);
    auto batch = render::render_batch(projects, {}, {}, threads);
    REQUIRE(batch.models.size() == 7);
    CHECK(batch.models[2].spec.name == "model-2");
    CHECK(batch.models[2].spec.warnings.size() == 1);
    for (std::size_t i = 0; i < batch.models.size(); ++i)
      CHECK(batch.models[i].manifests.front().yaml == render::render(batch.models[i].spec, {}).front().yaml);
    REQUIRE(batch.error);
    try {
      std::rethrow_exception(batch.error);
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find(projects[7].string()) != std::string::npos);
    }
  }
  projects.erase(projects.begin() + 10);
  projects.erase(projects.begin() + 7);
  auto ok = render::render_batch(projects, {}, {}, 2);
  CHECK_FALSE(ok.error);
  CHECK(ok.models.size() == 10);
  CHECK(ok.models[9].spec.name == "m11");
}
