#include "core/json.hpp"
#include "core/limits.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace mlops;

TEST_CASE("json_depth counts nesting outside strings only") {
  CHECK(json_depth("", 10) == 0);
  CHECK(json_depth("1", 10) == 0);
  CHECK(json_depth("[]", 10) == 1);
  CHECK(json_depth(R"({"a":[{"b":[1]}]})", 10) == 4);
  CHECK(json_depth(R"(["[[[[", "\"[[["])", 10) == 1); // brackets and escaped quotes inside strings
  CHECK(json_depth(std::string(1000, '['), 5) == 6);  // stops once past the bound
}

TEST_CASE("parse_json refuses deep, large and malformed documents with a named error") {
  CHECK(parse_json(R"({"a": [1, 2]})", "'x'").at("a").size() == 2);

  std::string deep = std::string(100000, '[') + std::string(100000, ']');
  try {
    parse_json(deep, "the answer of 'http://h/x'");
    FAIL("a 100000-deep document was accepted");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::operational);
    CHECK(std::string(e.what()).find("the answer of 'http://h/x' is nested deeper than") == 0);
  }
  std::string at_limit = std::string(limits::k_max_json_depth, '[') + std::string(limits::k_max_json_depth, ']');
  CHECK_NOTHROW(parse_json(at_limit, "'x'"));

  try {
    parse_json(std::string(100, ' '), "'f'", ErrorKind::usage, 10);
    FAIL("an oversized document was accepted");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::usage);
    CHECK(std::string(e.what()) == "'f' is too large: 100 bytes, the limit is 10");
  }
  try {
    parse_json("{\"a\":", "'f'");
    FAIL("truncated JSON was accepted");
  } catch (const Error& e) {
    std::string what = e.what();
    CHECK(what.rfind("'f' is not valid JSON: ", 0) == 0);
    CHECK(what.find("json.exception") == std::string::npos); // no raw library text
  }
  CHECK(parse_ordered_json(R"({"b":1,"a":2})", "'x'").begin().key() == "b");
}
