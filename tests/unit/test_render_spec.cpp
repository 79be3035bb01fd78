#include "core/error.hpp"
#include "core/fs.hpp"
#include "render/spec.hpp"
#include "temp_dir.hpp"

#include <doctest/doctest.h>

using namespace mlops;
using namespace mlops::render;

namespace {

const std::string k_digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const std::string k_image = "registry.example/iris@" + k_digest;

std::string parse_error(const std::string& yaml) {
  try {
    parse_spec(yaml, "mlops.yaml");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::usage);
    return e.what();
  }
  return "(accepted)";
}

std::string resolve_error(const std::string& yaml, const Overrides& o = {}) {
  try {
    resolve(parse_spec(yaml, "mlops.yaml"), o);
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::usage);
    return e.what();
  }
  return "(accepted)";
}

Overrides with_env(const std::string& env) {
  Overrides o;
  o.env = env;
  return o;
}

const std::string k_ab = "name: iris\n"
                         "target: seldon-v1\n"
                         "image: " +
                         k_image +
                         "\n"
                         "environments:\n"
                         "  prod:\n"
                         "    namespace: models-prod\n"
                         "    replicas: {min: 2, max: 6}\n"
                         "    traffic: {a: 90, b: 10}\n"
                         "variants:\n"
                         "  - {name: a, traffic: 50}\n"
                         "  - {name: b, traffic: 50, model_uri: 's3://bucket/iris/2'}\n"
                         "  - {name: s, shadow: true}\n"
                         "resources: {requests: {cpu: 100m}}\n";

} // namespace

TEST_CASE("render spec: a full spec parses") {
  DeploySpec s = parse_spec(k_ab, "mlops.yaml");
  CHECK(s.name == "iris");
  CHECK(s.target == "seldon-v1");
  CHECK(s.ns == "default");
  CHECK(s.protocol == "v2");
  REQUIRE(s.variants.size() == 3);
  CHECK(s.variants[1].model_uri == "s3://bucket/iris/2");
  CHECK(s.variants[2].shadow);
  REQUIRE(s.environments.count("prod"));
  CHECK(s.environments["prod"].traffic.at("a") == 90);
  CHECK(s.environments["prod"].replicas->max == 6);
}

TEST_CASE("render spec: mistakes name file, line and key path") {
  CHECK(parse_error("name: iris\nreplica: 2\n") == "invalid deploy spec 'mlops.yaml:2': unknown key 'deploy.replica'");
  CHECK(parse_error("replicas: many\n") ==
        "invalid deploy spec 'mlops.yaml:1': key 'deploy.replicas': expected a whole number");
  CHECK(parse_error("replicas: {min: 3, max: 2}\n") ==
        "invalid deploy spec 'mlops.yaml:1': key 'deploy.replicas.max': is smaller than min");
  CHECK(parse_error("protocol: grpc\n") ==
        "invalid deploy spec 'mlops.yaml:1': key 'deploy.protocol': expected 'v2' or 'seldon'");
  CHECK(parse_error("resources:\n  limits: {memory: lots}\n") ==
        "invalid deploy spec 'mlops.yaml:2': key 'deploy.resources.limits.memory': expected a quantity such as 500m, 2 "
        "or 1Gi");
  CHECK(parse_error("environments:\n  prod:\n    traffic: {a: 120}\n") ==
        "invalid deploy spec 'mlops.yaml:3': key 'deploy.environments.prod.traffic.a': 120 is not between 0 and 100");
  CHECK(parse_error("environments:\n  prod:\n    replicas: 2\n    trafic: {}\n") ==
        "invalid deploy spec 'mlops.yaml:4': unknown key 'deploy.environments.prod.trafic'");
  CHECK(parse_error("variants:\n  - {traffic: 100}\n") ==
        "invalid deploy spec 'mlops.yaml:2': key 'deploy.variants[0].name': every variant needs a name");
  CHECK(parse_error("variants:\n  - {name: a, shadow: maybe}\n") ==
        "invalid deploy spec 'mlops.yaml:2': key 'deploy.variants[0].shadow': expected true or false");
  CHECK(parse_error("image: x\nmodel_uri: s3://b/m\n") ==
        "invalid deploy spec 'mlops.yaml:1': key 'deploy': give 'image' or 'model_uri', not both");
  CHECK(parse_error("monitoring: {port: 0}\n") ==
        "invalid deploy spec 'mlops.yaml:1': key 'deploy.monitoring.port': 0 is not between 1 and 65535");
  CHECK(parse_error("name: [a\n").rfind("invalid deploy spec 'mlops.yaml:", 0) == 0);
}

TEST_CASE("render spec: environment overrides and flags") {
  DeploySpec s = parse_spec(k_ab, "mlops.yaml");
  Resolved dev = resolve(s, with_env("dev"));
  CHECK(dev.ns == "default");
  CHECK(dev.variants[0].traffic == 50);
  CHECK(dev.variants[0].image == k_image); // inherited
  CHECK(dev.variants[1].image.empty());
  CHECK(dev.variants[1].model_uri == "s3://bucket/iris/2");

  Resolved prod = resolve(s, with_env("prod"));
  CHECK(prod.ns == "models-prod");
  CHECK(prod.replicas.autoscale());
  CHECK(prod.variants[0].traffic == 90);
  CHECK(prod.variants[1].traffic == 10);

  Overrides o = with_env("dev");
  o.target = "kserve";
  o.image = "registry.example/other@" + k_digest;
  CHECK(resolve_error(k_ab, o).find("target 'kserve' expresses one canary") != std::string::npos);
  o.target = "seldon-v2";
  CHECK(resolve_error(k_ab, o) ==
        "invalid deploy spec 'mlops.yaml:3': key 'deploy.image': target 'seldon-v2' loads models "
        "from a storage URI, not an image");
  Resolved flagged = resolve(parse_spec("name: iris\ntarget: k8s\nimage: old:1\n", "f"), [] {
    Overrides x;
    x.image = "registry.example/new@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    return x;
  }());
  CHECK(flagged.variants[0].image.find("/new@") != std::string::npos);
}

TEST_CASE("render spec: traffic must sum to 100 without the shadows") {
  std::string bad = k_ab;
  bad.replace(bad.find("{a: 90, b: 10}"), 14, "{a: 90, b: 20}");
  CHECK(resolve_error(bad, with_env("prod")) ==
        "invalid deploy spec 'mlops.yaml:8': key 'deploy.environments.prod.traffic': traffic of the non-shadow "
        "variants sums "
        "to 110, not 100");
  std::string bad2 = k_ab;
  bad2.replace(bad2.find("{name: a, traffic: 50}"), 22, "{name: a, traffic: 40}");
  CHECK(resolve_error(bad2, with_env("dev")) == "invalid deploy spec 'mlops.yaml:9': key 'deploy.variants': traffic of "
                                                "the non-shadow variants sums to 90, not 100");
  CHECK(resolve_error(
            "name: m\ntarget: seldon-v1\nimage: i:1\nvariants:\n  - {name: a, traffic: 100}\n  - {name: b}\n") ==
        "invalid deploy spec 'mlops.yaml:6': key 'deploy.variants[1].traffic': variant 'b' has no traffic share");
  CHECK(resolve_error(k_ab + "", [] {
          Overrides o = with_env("prod");
          return o;
        }()) == "(accepted)");
  std::string unknown = k_ab;
  unknown.replace(unknown.find("{a: 90, b: 10}"), 14, "{a: 90, c: 10}");
  CHECK(resolve_error(unknown, with_env("prod")) ==
        "invalid deploy spec 'mlops.yaml:8': key 'deploy.environments.prod.traffic.c': no variant named 'c'");
}

TEST_CASE("render spec: prod requires digests") {
  std::string tagged = "name: iris\ntarget: k8s\nimage: registry.example/iris:1.0\n";
  CHECK(resolve_error(tagged, with_env("dev")) == "(accepted)");
  CHECK(resolve_error(tagged, with_env("prod")) == "invalid deploy spec 'mlops.yaml:3': key 'deploy.image': image "
                                                   "'registry.example/iris:1.0' is not pinned by digest, "
                                                   "which environment 'prod' requires");
  Overrides flag = with_env("prod");
  flag.image = "registry.example/iris:2.0";
  CHECK(resolve_error(tagged, flag).rfind("invalid --image: image 'registry.example/iris:2.0' is not pinned", 0) == 0);
  CHECK(resolve_error("name: m\ntarget: kserve\nmodel_uri: oci://r.example/m:latest\n", with_env("prod"))
            .find("key 'deploy.model_uri': model_uri 'oci://r.example/m:latest' is not pinned by digest") !=
        std::string::npos);
  CHECK(resolve_error("name: m\ntarget: kserve\nmodel_uri: s3://bucket/m\n", with_env("prod")) == "(accepted)");
}

TEST_CASE("render spec: names are DNS-1123 labels, renamed or refused with --strict") {
  CHECK(dns_label("My_Model.v2") == "my-model-v2");
  CHECK(dns_label("--x--") == "x");
  CHECK(dns_label(std::string(80, 'a')).size() == 63);
  CHECK(is_dns_label("iris-2"));
  CHECK_FALSE(is_dns_label("Iris"));
  CHECK_FALSE(is_dns_label(std::string(64, 'a')));
  std::string spec = "name: My_Model\ntarget: k8s\nimage: i:1\n";
  Resolved r = resolve(parse_spec(spec, "mlops.yaml"), {});
  CHECK(r.name == "my-model");
  REQUIRE(r.warnings.size() == 1);
  CHECK(r.warnings[0].find("rendered as 'my-model'") != std::string::npos);
  Overrides strict;
  strict.strict = true;
  CHECK(resolve_error(spec, strict) ==
        "invalid deploy spec 'mlops.yaml:1': key 'deploy.name': 'My_Model' is not a DNS-1123 label (lowercase letters, "
        "digits and '-', at most 63)");
  CHECK(resolve_error("name: '***'\ntarget: k8s\nimage: i:1\n").find("has nothing to keep") != std::string::npos);
}

TEST_CASE("render spec: read with the shared YamlReader, messages as before") {
  CHECK(parse_error("name: m\nresources:\n").find("': key 'deploy.resources': expected a mapping") !=
        std::string::npos);
  CHECK(parse_error("name: m\nreplicas:\n").find("': key 'deploy.replicas': expected a mapping") != std::string::npos);
  CHECK(parse_error("name: ''\n") ==
        "invalid deploy spec 'mlops.yaml:1': key 'deploy.name': expected a non-empty string");
  CHECK(parse_error("access: {readers: {users: [a, '']}}\n") ==
        "invalid deploy spec 'mlops.yaml:1': key 'deploy.access.readers.users[1]': expected a non-empty string");
  CHECK(parse_error("replicas: {min: 2, max: x}\n") ==
        "invalid deploy spec 'mlops.yaml:1': key 'deploy.replicas.max': expected a whole number");
  CHECK(parse_error("monitoring: maybe\n") ==
        "invalid deploy spec 'mlops.yaml:1': key 'deploy.monitoring': expected true or false");
  try {
    parse_spec("name: m\ntarger: k8s\n", "mlops.yaml");
    FAIL("accepted");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "invalid deploy spec 'mlops.yaml:2': unknown key 'deploy.targer'");
    CHECK(e.hint() == "did you mean 'target'?");
  }
  DeploySpec s = parse_spec("name: m\nmonitoring:\n  port: 9100\n", "mlops.yaml");
  CHECK(s.lines.at("deploy.monitoring.port") == 3);
}

TEST_CASE("render spec: the --env hint names each known environment once, sorted") {
  Error e(ErrorKind::usage, "");
  try {
    resolve(parse_spec("name: m\ntarget: k8s\nimage: i:1\nenvironments: {prod: {replicas: 2}, qa2: {replicas: 1}}\n",
                       "mlops.yaml"),
            with_env("qa"));
  } catch (const Error& caught) {
    e = caught;
  }
  CHECK(std::string(e.what()) == "invalid --env: unknown environment 'qa'");
  CHECK(e.hint() == "known environments: dev, prod, qa2, staging");
}

TEST_CASE("render spec: seldon-v2 refuses an oci:// model_uri (rclone cannot fetch it)") {
  Overrides v2;
  v2.target = "seldon-v2";
  const std::string modelcar = "oci://registry.example/iris-modelcar@" + k_digest;
  Error e(ErrorKind::usage, "");
  try {
    resolve(parse_spec("name: m\nmodel_uri: " + modelcar + "\n", "mlops.yaml"), v2);
  } catch (const Error& caught) {
    e = caught;
  }
  CHECK(e.kind() == ErrorKind::usage);
  CHECK(std::string(e.what()) ==
        "invalid deploy spec 'mlops.yaml:2': key 'deploy.model_uri': target 'seldon-v2' cannot load '" + modelcar +
            "': Seldon Core 2 fetches models with rclone, which reads no oci:// (modelcar) URIs");
  CHECK(e.hint().find("use target kserve for a modelcar") != std::string::npos);
  CHECK(resolve_error("name: m\nmodel_uri: s3://b/m\nvariants:\n  - {name: a, traffic: 50}\n"
                      "  - {name: b, traffic: 50, model_uri: 'oci://r.example/m@" +
                          k_digest + "'}\n",
                      v2)
            .find("key 'deploy.variants[1].model_uri': target 'seldon-v2' cannot load") != std::string::npos);
  v2.model_uri = modelcar;
  CHECK(resolve_error("name: m\nmodel_uri: s3://b/m\n", v2)
            .rfind("invalid --model-uri: target 'seldon-v2' cannot load", 0) == 0);
  v2.model_uri.clear();
  CHECK(resolve_error("name: m\nmodel_uri: gs://b/m\n", v2) == "(accepted)");
  Overrides kserve;
  kserve.target = "kserve";
  CHECK(resolve_error("name: m\nmodel_uri: " + modelcar + "\n", kserve) == "(accepted)");
}

TEST_CASE("render spec: targets, environments and artifacts") {
  CHECK(resolve_error("name: m\ntarget: kserv\nimage: i:1\n") ==
        "invalid deploy spec 'mlops.yaml:2': key 'deploy.target': unknown target 'kserv'");
  Overrides t;
  t.target = "seldon";
  CHECK(resolve_error("name: m\nimage: i:1\n", t) == "invalid --target: unknown target 'seldon'");
  CHECK(resolve_error("name: m\nimage: i:1\n").find("key 'deploy.target': no target") != std::string::npos);
  CHECK(resolve_error("name: m\ntarget: k8s\nimage: i:1\n", with_env("qa")) ==
        "invalid --env: unknown environment 'qa'");
  CHECK(resolve_error("name: m\ntarget: k8s\n").find("key 'deploy.image': no image or model_uri") != std::string::npos);
  CHECK(resolve_error("name: m\ntarget: k8s\nmodel_uri: s3://b/m\n").find("target 'k8s' runs an image") !=
        std::string::npos);
  CHECK(resolve_error("name: m\ntarget: k8s\nimage: 'Bad Image'\n")
            .find("key 'deploy.image': 'Bad Image' is not an image") != std::string::npos);
  CHECK(resolve_error("name: m\ntarget: kserve\nprotocol: seldon\nimage: i:1\n")
            .find("protocol 'seldon' is only served by target 'seldon-v1'") != std::string::npos);
  CHECK(resolve_error("name: m\ntarget: k8s\nimage: i:1\nreplicas: {min: 1, max: 3}\n")
            .find("key 'deploy.resources.requests.cpu'") != std::string::npos);
  CHECK(resolve_error("name: m\ntarget: seldon-v1\nimage: i:1\nvariants:\n  - {name: a}\n  - {name: a}\n")
            .find("variant 'a' is named twice") != std::string::npos);
}

TEST_CASE("render spec: read from a project file with other sections") {
  test::TempDir t;
  auto file = t.path / "mlops.yaml";
  fs::atomic_write(file, "mlflow:\n  tracking_uri: http://127.0.0.1:5000\ndeploy:\n  name: iris\n  replicas: x\n");
  try {
    load_spec(file);
    FAIL("accepted");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) ==
          "invalid deploy spec '" + file.string() + ":5': key 'deploy.replicas': expected a whole number");
  }
  fs::atomic_write(file, "mlflow: {}\n");
  DeploySpec none = load_spec(file);
  CHECK(none.name.empty());
  CHECK(none.file == file.string());
}

TEST_CASE("render spec: values of any length are refused without std::regex, and quoted cut short") {
  // Each of these overflowed the stack in std::regex (exit 139) before it was bounded.
  std::string digits(100000, '1');
  std::string e = parse_error("name: iris\nimage: " + k_image + "\nresources: {requests: {cpu: \"" + digits + "\"}}\n");
  CHECK(e.find("key 'deploy.resources.requests.cpu': expected a quantity") != std::string::npos);
  CHECK(e.size() < 600);
  std::string uri = "s3://" + std::string(100000, 'x');
  CHECK(parse_error("name: iris\nmodel_uri: \"" + uri + "\"\n") == "(accepted)");
  Overrides kserve;
  kserve.target = "kserve";
  e = resolve_error("name: iris\nmodel_uri: \"" + uri + " y\"\n", kserve);
  CHECK(e.find("is not a storage URI") != std::string::npos);
  CHECK(e.size() < 600);
  // --image: the flag's value is quoted, cut at limits::k_max_quoted_bytes.
  Overrides o;
  o.target = "kserve";
  o.image = std::string(100000, 'A');
  e = resolve_error("name: iris\n", o);
  CHECK(e.find("invalid --image: 'AAAA") != std::string::npos);
  CHECK(e.find("...' is not an image reference") != std::string::npos);
  CHECK(e.size() < 600);
  o.image.clear();
  o.model_uri = "s3://" + std::string(100000, 'x') + " y";
  CHECK(resolve_error("name: iris\n", o).size() < 600);
}
