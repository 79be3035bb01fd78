// YamlReader::load: the checks every YAML config file gets (mlops.yaml, user config,
// --policy, the deploy spec, render --batch projects, MLmodel).
#include "core/error.hpp"
#include "core/limits.hpp"
#include "core/yaml_reader.hpp"
#include "yaml_fixtures.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace mlops;

namespace {

std::string load_error(const std::string& text) {
  try {
    YamlReader{"config", "p/mlops.yaml"}.load(text);
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::usage);
    return e.what();
  }
  return "(accepted)";
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

} // namespace

TEST_CASE("yaml reader: a repeated key is refused with file, line and key path") {
  // yaml-cpp keeps both pairs and node["name"] returns the first: `iris` rendered, `evil` ignored.
  std::string e = load_error("deploy: {name: iris, name: evil}\n");
  CHECK(e == "invalid config 'p/mlops.yaml:1': key 'deploy.name' is repeated");
  e = load_error("deploy:\n  name: iris\n  environments:\n    prod: {}\n    prod: {namespace: x}\n");
  CHECK(e == "invalid config 'p/mlops.yaml:5': key 'deploy.environments.prod' is repeated");
  e = load_error("gates:\n  tests:\n    commands:\n      - {name: a, run: [x], run: [y]}\n");
  CHECK(e == "invalid config 'p/mlops.yaml:4': key 'gates.tests.commands[0].run' is repeated");
  CHECK(load_error("a: 1\nb: {a: 1}\nc: [{a: 1}, {a: 2}]\n") == "(accepted)");
}

TEST_CASE("yaml reader: invalid UTF-8 is refused naming the line") {
  CHECK(load_error("deploy:\n  name: \xff\xfe\n") == "invalid config 'p/mlops.yaml:2': not valid UTF-8 (byte 17)");
  CHECK(has(load_error("a: \xc0\x80\n"), "not valid UTF-8"));         // overlong NUL
  CHECK(has(load_error("a: \xed\xa0\x80\n"), "not valid UTF-8"));     // a surrogate
  CHECK(has(load_error("a: \xf4\x90\x80\x80\n"), "not valid UTF-8")); // past U+10FFFF
  CHECK(has(load_error("a: \xe2\x82\n"), "not valid UTF-8"));         // cut short
  CHECK(load_error("a: \"na\xc3\xafve \xe2\x82\xac \xf0\x9f\x99\x82\"\n") == "(accepted)");
  CHECK(find_invalid_utf8("plain") == std::string_view::npos);
  CHECK(find_invalid_utf8("ab\x80") == 2);
}

TEST_CASE("yaml reader: a second document is refused, not ignored") {
  CHECK(load_error("deploy: {name: iris}\n---\ndeploy: {name: evil}\n") ==
        "invalid config 'p/mlops.yaml:3': a second YAML document; the file must hold one");
  CHECK(load_error("---\ndeploy: {name: iris}\n") == "(accepted)");
  CHECK(load_error("") == "(accepted)");
  CHECK(load_error("deploy: {name: iris}\n---\n# nothing more\n") == "(accepted)"); // an empty document
  CHECK(load_error("---\n---\na: 1\n---\nb: 2\n") ==
        "invalid config 'p/mlops.yaml:5': a second YAML document; the file must hold one");
  CHECK(YamlReader{"config", "f"}.load("---\n---\na: 1\n")["a"].as<int>() == 1);
}

TEST_CASE("yaml reader: size, depth and alias expansion are bounded") {
  std::string big(limits::k_max_config_bytes + 1, ' ');
  CHECK(has(load_error(big), "too large: " + std::to_string(big.size()) + " bytes, the limit is"));

  std::string deep =
      "a: " + std::string(limits::k_max_yaml_depth + 5, '[') + std::string(limits::k_max_yaml_depth + 5, ']');
  CHECK(has(load_error(deep), "nested deeper than " + std::to_string(limits::k_max_yaml_depth) + " levels"));
  // Past yaml-cpp's own guard (2000 levels; its message is "bad file") the same error.
  std::string deeper = std::string(5000, '[') + std::string(5000, ']');
  CHECK(load_error(deeper) ==
        "invalid config 'p/mlops.yaml:1': nested deeper than " + std::to_string(limits::k_max_yaml_depth) + " levels");

  // Billion laughs: 10 levels of 10 aliases each is 10^10 nodes when walked.
  CHECK(has(load_error(test::billion_laughs()), "aliases repeat too much"));
  // A few aliases are fine.
  CHECK(load_error("base: &b {cpu: 1}\nprod: *b\nstaging: *b\n") == "(accepted)");
}

TEST_CASE("yaml reader: numbers are finite") {
  YamlReader r{"policy", "gates.yaml"};
  auto number_error = [&](const std::string& text) {
    try {
      r.number(YAML::Load(text), "gates.x");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  CHECK(has(number_error(".inf"), "key 'gates.x': expected a finite number, not '.inf'"));
  CHECK(has(number_error("-.inf"), "expected a finite number"));
  CHECK(has(number_error(".nan"), "expected a finite number"));
  CHECK(number_error("1e30") == "(accepted)"); // finite: the caller's range check decides
  CHECK(has(number_error("[1]"), "expected a number"));
  CHECK(has(number_error("9999999999"), "(accepted)"));
  // integer(): long digit strings are refused by length before std::regex sees them.
  CHECK_THROWS_WITH_AS(r.integer(YAML::Load(std::string(100000, '7')), "gates.n", 0, 10),
                       doctest::Contains("expected a whole number"), Error);
}

TEST_CASE("yaml reader: model files carry their own error kind") {
  YamlReader r{"MLmodel", "m/MLmodel"};
  r.kind = ErrorKind::operational;
  CHECK_THROWS_WITH_AS(r.load("flavors: {a: 1, a: 2}\n"), "invalid MLmodel 'm/MLmodel:1': key 'flavors.a' is repeated",
                       Error);
  try {
    r.load("a: [\n");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::operational);
  }
}
