#include "core/error.hpp"
#include "gates/policy.hpp"

#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

using namespace mlops;
using namespace mlops::gates;

namespace {

Policy parse(const std::string& yaml) { return parse_policy(YAML::Load(yaml)["gates"], "policy.yaml"); }

std::string error_of(const std::string& yaml) {
  try {
    parse(yaml);
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::usage);
    return e.what();
  }
  return "(accepted)";
}

} // namespace

TEST_CASE("policy: defaults") {
  Policy p = parse("gates: {}");
  CHECK(p.flavors == std::vector<std::string>{"python_function"});
  CHECK(p.require_signature);
  CHECK(p.require_pinned);
  CHECK_FALSE(p.metrics_configured);
  CHECK_FALSE(p.tests_configured);
  CHECK(p.digest.rfind("sha256:", 0) == 0);
}

TEST_CASE("policy: every section is read") {
  Policy p = parse(R"(gates:
  interface: {flavors: [python_function, sklearn], require_signature: false}
  environment: {allow_unpinned: [Pip_Tools], forbidden: [tensorflow], required: ["mlflow>=2.9"]}
  extras: {artifacts: [detectors/drift]}
  metrics:
    thresholds: ["accuracy >= 0.9", "rmse<3.2"]
    compare: [{metric: accuracy, against: "@champion", tolerance: 0.01}]
  tests:
    timeout: 30
    commands:
      - {name: unit, run: [pytest, -q]}
      - {run: [bash, check.sh], timeout: 5}
  serve: true
)");
  CHECK(p.flavors.size() == 2);
  CHECK_FALSE(p.require_signature);
  CHECK(p.allow_unpinned == std::vector<std::string>{"pip-tools"});
  REQUIRE(p.required.size() == 1);
  CHECK(p.required[0].name == "mlflow");
  CHECK(p.required[0].op == ">=");
  CHECK(p.extra_artifacts == std::vector<std::string>{"detectors/drift"});
  REQUIRE(p.thresholds.size() == 2);
  CHECK(p.thresholds[1].metric == "rmse");
  CHECK(p.thresholds[1].op == "<");
  CHECK(p.thresholds[1].value == doctest::Approx(3.2));
  CHECK(p.thresholds[0].holds(0.9));
  CHECK_FALSE(p.thresholds[0].holds(0.89));
  REQUIRE(p.comparisons.size() == 1);
  CHECK(p.comparisons[0].tolerance == doctest::Approx(0.01));
  REQUIRE(p.tests.size() == 2);
  CHECK(p.tests[0].timeout.count() == 30);
  CHECK(p.tests[1].name == "bash");
  CHECK(p.tests[1].timeout.count() == 5);
  CHECK(p.serve);
  CHECK(p.digest != parse("gates: {}").digest);
}

TEST_CASE("policy: mistakes name the file, line and key") {
  CHECK(error_of("gates:\n  metrics:\n    thresholds: ['accuracy >>= 0.9']\n").find("policy.yaml:3") !=
        std::string::npos);
  CHECK(error_of("gates:\n  metrics:\n    thresholds: ['accuracy >>= 0.9']\n").find("bad threshold expression") !=
        std::string::npos);
  CHECK(error_of("gates:\n  metrcs: {}\n").find("unknown key 'gates.metrcs'") != std::string::npos);
  CHECK(error_of("gates:\n  tests:\n    commands:\n      - {run: 'pytest -q'}\n").find("argument list") !=
        std::string::npos);
  CHECK(error_of("gates:\n  interface: {require_signature: perhaps}\n").find("expected true or false") !=
        std::string::npos);
  CHECK(error_of("gates:\n  metrics:\n    compare: [{metric: a, against: champion}]\n").find("@alias") !=
        std::string::npos);
  CHECK(error_of("gates:\n  environment: {required: ['>=2']}\n").find("requirement") != std::string::npos);
}

TEST_CASE("requirements and versions") {
  auto r = parse_requirement("scikit_learn[extra] == 1.5.2 ; python_version > '3.8'  # comment");
  REQUIRE(r.has_value());
  CHECK(r->name == "scikit-learn");
  CHECK(r->op == "==");
  CHECK(r->version == "1.5.2");
  CHECK(parse_requirement("numpy")->op.empty());
  CHECK(parse_requirement("numpy>=1.20,<2")->op == ">=");
  CHECK_FALSE(parse_requirement("-r requirements.txt").has_value());
  CHECK_FALSE(parse_requirement("# only a comment").has_value());
  CHECK_FALSE(parse_requirement("https://example.invalid/x.whl").has_value());

  CHECK(compare_versions("1.10", "1.9") > 0);
  CHECK(compare_versions("2.0", "2") == 0);
  CHECK(compare_versions("3.17.2", "3.18") < 0);
  CHECK(version_satisfies("3.17.2", ">=", "2.9"));
  CHECK_FALSE(version_satisfies("2.8.1", ">=", "2.9"));
  CHECK(version_satisfies("1.5.2", "==", "1.5.*"));
  CHECK(version_satisfies("1.5.2", "~=", "1.5.0"));
  CHECK_FALSE(version_satisfies("1.6.0", "~=", "1.5.0"));
}
