// YamlReader::load: the checks every YAML config file gets (mlops.yaml, user config,
// --policy, the deploy spec, render --batch projects, MLmodel).
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/limits.hpp"
#include "core/yaml_reader.hpp"
#include "yaml_fixtures.hpp"

#include <doctest/doctest.h>

#include <filesystem>
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

// The regression inputs below made yaml-cpp 0.7's parser loop without end (libyaml accepts
// them); YamlReader builds its nodes from libyaml's events and never runs yaml-cpp's parser.
TEST_CASE("yaml reader: input that made yaml-cpp's parser loop loads at once") {
  // An explicit '?' key after a tag (fuzz_deploy_render): one plain scalar tagged '!'.
  YAML::Node n = YamlReader{"deploy spec", "mlops.yaml"}.load("\n! monit\n\n\n\n\n?\nextr\n\n\n\n\n\n\n\n\n\norklir");
  CHECK(n.IsScalar());
  CHECK(n.Tag() == "!");
  CHECK(n.Scalar() == "monit\n\n\n\n? extr\n\n\n\n\n\n\n\n\norklir");
  // Every such input of the fuzz corpora ends, accepted or refused.
  int seen = 0;
  for (const auto& dir : std::filesystem::directory_iterator(MLOPS_SOURCE_DIR "/tests/fuzz/corpus")) {
    for (const auto& f : std::filesystem::directory_iterator(dir.path())) {
      if (f.path().filename().string().rfind("regression-yamlcpp", 0) != 0) continue;
      CAPTURE(f.path());
      try {
        (void)YamlReader{"config", "f"}.load(fs::read_file(f.path()));
      } catch (const Error&) {
      }
      ++seen;
    }
  }
  CHECK(seen >= 6); // deploy_render, mlmodel, mlops_yaml, render_parse
}

namespace {

/// Compares what YamlReader built with what yaml-cpp's own loader makes of the same
/// (well-formed, known to end) text: type, tag, style, scalar text, line and column.
/// A null node from an absent value is the exception: yaml-cpp marks it where the next
/// token starts (often the next key's line), YamlReader where the value belongs.
void same_tree(const YAML::Node& want, const YAML::Node& got, const std::string& at) {
  CAPTURE(at);
  REQUIRE(want.Type() == got.Type());
  CHECK(want.Tag() == got.Tag());
  CHECK(want.Style() == got.Style());
  if (!want.IsNull()) {
    CHECK(want.Mark().line == got.Mark().line);
    CHECK(want.Mark().column == got.Mark().column);
  }
  if (want.IsScalar()) CHECK(want.Scalar() == got.Scalar());
  REQUIRE(want.size() == got.size());
  if (want.IsSequence())
    for (std::size_t i = 0; i < want.size(); ++i)
      same_tree(want[i], got[i], at + "[" + std::to_string(i) + "]");
  if (want.IsMap()) {
    auto w = want.begin();
    for (auto g = got.begin(); g != got.end(); ++g, ++w) {
      same_tree(w->first, g->first, at + " key");
      same_tree(w->second, g->second, at + "." + (w->first.IsScalar() ? w->first.Scalar() : "?"));
    }
  }
}

} // namespace

TEST_CASE("yaml reader: the nodes are the ones yaml-cpp's loader made") {
  const char* docs[] = {
      "deploy:\n  name: iris\n  replicas: 2\n  traffic: [90, 10]\n  labels: {a: b, c: \"1\"}\n",
      "a: null\nb: Null\nc: NULL\nd: ''\ne: \"\"\nf: true\ng: yes\nh: 0x1F\ni: 1e3\nj: ~\nk: !!null ~\n",
      "a: |\n  line1\n  line2\nb: >\n  folded\n  text\n\nc: 'single ''q'''\nd: \"\\u00e9\\n\"\n",
      "%TAG !e! tag:example.com,2000:\n---\na: !e!foo bar\nb: !<tag:x> y\nc: ! z\nd: !!str 1\ne: !t\n",
      "--- !!map\na: !!seq [1, 2]\nb: !!int 3\n",
      "base: &b {cpu: 1, mem: [x]}\nprod: *b\nstaging:\n  <<: *b\n  cpu: 2\n",
      "- a\n- - b\n  - c\n- {d: e}\n- [f, {g: h}]\n",
      "? a\n: b\n? [x, y]\n: z\n",
      "[a: 1, b]\n",
      "a: &x\nb: *x\n",
      "!t\na: 1\n",
      "&top\na: 1\n",
      "plain: multi\n  line\n  scalar\nquoted: \"multi\n  line\"\n",
      "flavors:\n  python_function:\n    env:\n      conda: conda.yaml\n    loader_module: mlflow.sklearn\n"
      "  sklearn:\n    pickled_model: model.pkl\nmlflow_version: 2.9.2\n",
  };
  for (const char* text : docs) {
    CAPTURE(text);
    same_tree(YAML::Load(text), YamlReader{"config", "f"}.load(text), "");
  }
  // An absent value is null, marked on its key's line (yaml-cpp said the next key's line).
  YAML::Node n = YamlReader{"config", "f"}.load("a:\n  b:\n  c: 1\n");
  CHECK(n["a"]["b"].IsNull());
  CHECK(n["a"]["b"].Mark().line == 1);
  // Plain versus quoted, as the readers tell them apart.
  n = YamlReader{"config", "f"}.load("a: true\nb: 'true'\nc: 12\nd: \"12\"\n");
  CHECK(n["a"].as<bool>());
  CHECK(n["b"].Tag() == "!");
  CHECK(n["c"].as<int>() == 12);
  CHECK(n["d"].Tag() == "!");
  CHECK(n["c"].Tag() == "?");
}

TEST_CASE("yaml reader: aliases name anchors defined before them, never their own node") {
  CHECK(load_error("a: *x\n") == "invalid config 'p/mlops.yaml:1': alias '*x' names no anchor defined before it");
  CHECK(load_error("a: &x [1, *x]\n") == "invalid config 'p/mlops.yaml:1': alias '*x' is inside the node it names");
  CHECK(load_error("a: &x {b: {c: *x}}\n") ==
        "invalid config 'p/mlops.yaml:1': alias '*x' is inside the node it names");
  // Anchors belong to their document; a later anchor of the same name replaces the earlier.
  CHECK(has(load_error("a: &x 1\n---\nb: *x\n"), "names no anchor defined before it"));
  YAML::Node n = YamlReader{"config", "f"}.load("a: &x 1\nb: &x 2\nc: *x\n");
  CHECK(n["c"].as<int>() == 2);
  // An alias is the anchored node: its line is the anchor's (as yaml-cpp had it).
  n = YamlReader{"config", "f"}.load("a: &x\n  k: v\nb: *x\n");
  CHECK(n["b"]["k"].Mark().line == 1);
}

TEST_CASE("yaml reader: nodes in the text are bounded before any is walked") {
  std::string many;
  for (std::size_t i = 0; i <= limits::k_max_yaml_nodes; ++i)
    many += "-\n";
  YamlReader r{"MLmodel", "m/MLmodel"};
  r.max_bytes = many.size();
  CHECK_THROWS_WITH_AS(r.load(many),
                       ("invalid MLmodel 'm/MLmodel:" + std::to_string(limits::k_max_yaml_nodes) + "': more than " +
                        std::to_string(limits::k_max_yaml_nodes) + " nodes")
                           .c_str(),
                       Error);
}
