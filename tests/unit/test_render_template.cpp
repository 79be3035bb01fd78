#include "core/error.hpp"
#include "core/limits.hpp"
#include "render/template.hpp"
#include "render/validate.hpp"
#include "yaml_fixtures.hpp"

#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include <regex>

using namespace mlops;
using namespace mlops::render;
using nlohmann::json;

namespace {

std::string error_of(const std::string& tmpl, const json& ctx = json::object()) {
  try {
    render_template(tmpl, ctx, "t.yaml.mustache");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::usage);
    return e.what();
  }
  return "(accepted)";
}

/// Renders `key: {{v}}` plus a sentinel key and parses it back.
YAML::Node round_trip(const json& value) {
  std::string text = render_template("a: {{v}}\nb: fixed\n", json{{"v", value}}, "t");
  return YAML::Load(text);
}

} // namespace

TEST_CASE("template: names, dotted names and the current item") {
  json ctx = {{"name", "iris"}, {"meta", {{"ns", "models"}}}, {"n", 3}, {"on", true}, {"list", {"a", "b"}}};
  CHECK(render_template("x: {{name}}", ctx, "t") == "x: \"iris\"");
  CHECK(render_template("x: {{meta.ns}}", ctx, "t") == "x: \"models\"");
  CHECK(render_template("x: {{n}} {{on}}", ctx, "t") == "x: 3 true");
  CHECK(render_template("{{#list}}- {{.}}\n{{/list}}", ctx, "t") == "- \"a\"\n- \"b\"\n");
  CHECK(render_template("{{! a comment }}x", ctx, "t") == "x");
}

TEST_CASE("template: sections over lists, objects and truthy values; inverted sections") {
  json ctx = {{"items", json::array({{{"k", 1}}, {{"k", 2}}})},
              {"obj", {{"k", "in"}}},
              {"k", "out"},
              {"empty", json::array()},
              {"no", false},
              {"blank", ""},
              {"zero", 0}};
  CHECK(render_template("{{#items}}{{k}},{{/items}}", ctx, "t") == "1,2,");
  CHECK(render_template("{{#obj}}{{k}}{{/obj}} {{k}}", ctx, "t") == "\"in\" \"out\"");
  CHECK(render_template("{{#empty}}x{{/empty}}{{^empty}}none{{/empty}}", ctx, "t") == "none");
  CHECK(render_template("{{#no}}x{{/no}}{{#blank}}y{{/blank}}{{#missing}}z{{/missing}}", ctx, "t").empty());
  CHECK(render_template("{{^missing}}m{{/missing}}{{#zero}}0{{/zero}}", ctx, "t") == "m0");
  // A name missing in an item falls back to the enclosing scopes.
  CHECK(render_template("{{#items}}{{obj.k}}{{/items}}", ctx, "t") == "\"in\"\"in\"");
}

TEST_CASE("template: a line holding only a section tag disappears whole") {
  std::string t = "a:\n  {{#on}}\n  b: 1\n  {{/on}}\n  {{^on}}\n  c: 2\n  {{/on}}\nd: 3\n";
  CHECK(render_template(t, json{{"on", true}}, "t") == "a:\n  b: 1\nd: 3\n");
  CHECK(render_template(t, json{{"on", false}}, "t") == "a:\n  c: 2\nd: 3\n");
}

TEST_CASE("template: mistakes name the template and line") {
  CHECK(error_of("a\n{{nope}}") == "template 't.yaml.mustache' line 2: no value named 'nope'");
  CHECK(error_of("{{#a}}\nx\n") == "template 't.yaml.mustache' line 1: section 'a' is never closed");
  CHECK(error_of("{{#a}}{{/b}}") == "template 't.yaml.mustache' line 1: '{{/b}}' closes section 'a' opened on line 1");
  CHECK(error_of("{{/a}}") == "template 't.yaml.mustache' line 1: '{{/a}}' closes no section");
  CHECK(error_of("x: {{{raw}}}").find("raw output") != std::string::npos);
  CHECK(error_of("x: {{&raw}}").find("raw output") != std::string::npos);
  CHECK(error_of("{{> partial}}").find("partials") != std::string::npos);
  CHECK(error_of("x: {{ oops").find("unclosed tag") != std::string::npos);
}

TEST_CASE("template: no value can break the document or inject keys") {
  const std::vector<std::string> hostile = {
      "two\nlines: injected",
      "quote\" : x",
      "key: value",
      "# comment",
      "- item",
      "{a: 1}",
      "[1, 2]",
      "'single'",
      "back\\slash",
      "tab\tand\r\ncrlf",
      "---\nkind: Secret",
      "...",
      "&anchor *alias !tag",
      "@at `tick` %pct |pipe >fold",
      "true",
      "123",
      "null",
      "~",
      "",
      "  leading and trailing  ",
      std::string("nul\0byte", 8),
      "unicode é ✓ \u2028 line separator \u0085 nel",
      "\xff\xfe invalid utf-8",
  };
  for (const auto& s : hostile) {
    CAPTURE(s);
    YAML::Node n = round_trip(s);
    REQUIRE(n.IsMap());
    CHECK(n.size() == 2);
    CHECK(n["b"].as<std::string>() == "fixed");
    REQUIRE(n["a"].IsScalar());
    // Strings stay strings ("true", "123" and "null" are not retyped).
    CHECK(n["a"].Tag() == "!");
    if (s.find('\xff') == std::string::npos) CHECK(n["a"].as<std::string>() == s);
  }
}

TEST_CASE("template: numbers, booleans, null, lists and mappings keep their types") {
  CHECK(round_trip(42)["a"].as<int>() == 42);
  CHECK(round_trip(0.5)["a"].as<double>() == 0.5);
  CHECK(round_trip(true)["a"].as<bool>() == true);
  CHECK(round_trip(nullptr)["a"].IsNull());
  YAML::Node m = round_trip(json{{"z", "1"}, {"a", "x\ny: 2"}});
  REQUIRE(m["a"].IsMap());
  CHECK(m["a"].size() == 2);
  CHECK(m["a"]["a"].as<std::string>() == "x\ny: 2");
  YAML::Node l = round_trip(json::array({"- a", 1}));
  REQUIRE(l["a"].IsSequence());
  CHECK(l["a"][0].as<std::string>() == "- a");
  // Keys of mappings are written sorted: the same values give the same bytes.
  CHECK(yaml_scalar(json{{"b", 1}, {"a", 2}}) == "{\"a\":2,\"b\":1}");
}

TEST_CASE("template: a value placed inside a larger scalar is caught when parsed back") {
  std::string text = render_template("name: {{n}}-svc\n", json{{"n", "iris"}}, "t");
  CHECK_THROWS_AS(parse_documents(text), Error);
}

TEST_CASE("parse back: alias expansion and nesting are bounded") {
  // The billion-laughs document grew without bound (each alias copied its whole value).
  CHECK_THROWS_WITH_AS(parse_documents(test::billion_laughs("kind: ConfigMap\n")),
                       doctest::Contains("aliases repeat too much"), Error);
  std::string deep =
      "a: " + std::string(limits::k_max_yaml_depth + 1, '[') + std::string(limits::k_max_yaml_depth + 1, ']');
  CHECK_THROWS_WITH_AS(parse_documents(deep), doctest::Contains("nested deeper than"), Error);
  // Ordinary anchors still work.
  auto docs = parse_documents("a: &x {b: [1, 2]}\nc: *x\n");
  REQUIRE(docs.size() == 1);
  CHECK(docs[0]["c"]["b"][1] == 2);
}

TEST_CASE("schema subset: each keyword") {
  json schema = json::parse(R"({
    "type": "object", "required": ["name", "n"], "additionalProperties": false,
    "properties": {
      "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 5, "minLength": 2},
      "n": {"type": "integer", "minimum": 1, "maximum": 10},
      "mode": {"enum": ["a", "b"]},
      "fixed": {"const": true},
      "ratio": {"type": "number"},
      "either": {"type": ["integer", "string"]},
      "list": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "string"}},
      "map": {"type": "object", "minProperties": 1, "additionalProperties": {"type": "integer"}}
    }})");
  auto problems = [&](const std::string& yaml) { return check_schema(parse_documents(yaml)[0], schema); };
  CHECK(problems("{name: abc, n: 3, ratio: 2, either: x, list: [a], map: {k: 1}}").empty());
  CHECK(problems("{n: 3}") == std::vector<std::string>{"name: required"});
  CHECK(problems("{name: abc, n: '3'}") == std::vector<std::string>{"n: expected integer, got string"});
  CHECK(problems("{name: abcdef, n: 0}") ==
        std::vector<std::string>{"n: 0 is below 1", "name: 'abcdef' is longer than 5 characters"});
  CHECK(problems("{name: A, n: 11}") == std::vector<std::string>{"n: 11 is above 10", "name: shorter than 2 characters",
                                                                 "name: 'A' does not match ^[a-z]+$"});
  CHECK(problems("{name: ab, n: 1, mode: c, fixed: false, extra: 1}") ==
        std::vector<std::string>{"extra: unknown field", "fixed: must be true",
                                 "mode: \"c\" is not one of [\"a\",\"b\"]"});
  CHECK(problems("{name: ab, n: 1, either: 1.5, list: [], map: {}}") ==
        std::vector<std::string>{"either: expected [\"integer\",\"string\"], got number",
                                 "list: needs at least 1 items", "map: needs at least 1 entries"});
  CHECK(problems("{name: ab, n: 1, list: [a, 2, c], map: {k: x}}") ==
        std::vector<std::string>{"list: takes at most 2 items", "list[1]: expected string, got integer",
                                 "map.k: expected integer, got string"});
  CHECK(check_schema(json::array(), schema) == std::vector<std::string>{"(document): expected object, got array"});
}

TEST_CASE("schema_pattern_matches: the written-out patterns agree with std::regex") {
  const char* patterns[] = {"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$", "^/",
                            "^[a-z][a-z0-9+.-]*://"};
  const std::string samples[] = {"",    "a",          "A",       "-",   "a-",  "-a",     "a-b",  "a--b",
                                 "a.b", "a_b",        "A.b_C-9", "_a",  "a_",  "0",      "iris", "Iris",
                                 "/",   "/v2/health", "v2/",     "a b", "a\n", "s3://b", "é",    std::string(70, 'a')};
  for (const char* p : patterns) {
    std::regex re(p);
    for (const auto& s : samples) {
      CAPTURE(p);
      CAPTURE(s);
      CHECK(render::schema_pattern_matches(p, s) == std::regex_search(s, re));
    }
  }
}
