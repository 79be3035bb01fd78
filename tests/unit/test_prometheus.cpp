#include "core/error.hpp"
#include "prometheus/client.hpp"
#include "prometheus/condition.hpp"
#include "prometheus/feedback.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <string>

using namespace mlops;
using namespace mlops::prometheus;

namespace {

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

ErrorKind kind_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  }
  FAIL("no error");
  return ErrorKind::operational;
}

} // namespace

TEST_CASE("parse_answer reads vectors, matrices and scalars with string values") {
  Answer v = parse_answer(R"({"status":"success","data":{"resultType":"vector","result":[
      {"metric":{"predictor_name":"a"},"value":[1700000000.5,"0.6"]},
      {"metric":{"predictor_name":"b"},"value":[1700000000.5,"NaN"]},
      {"metric":{},"value":[1700000000.5,"+Inf"]}]}})",
                          "'p'");
  REQUIRE(v.series.size() == 3);
  CHECK(v.series[0].labels.at("predictor_name") == "a");
  CHECK(v.series[0].samples[0].second == doctest::Approx(0.6));
  CHECK(std::isnan(v.series[1].samples[0].second));
  CHECK(std::isinf(v.series[2].samples[0].second));
  Answer m = parse_answer(
      R"({"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"],[2,"2"]]}]},"warnings":["w"]})",
      "'p'");
  CHECK(m.series[0].samples.size() == 2);
  CHECK(m.warnings == std::vector<std::string>{"w"});
  Answer s = parse_answer(R"({"status":"success","data":{"resultType":"scalar","result":[1,"3"]}})", "'p'");
  CHECK(s.series[0].samples[0].second == 3);
}

TEST_CASE("parse_answer says Prometheus's error and refuses malformed answers") {
  CHECK(message_of([] {
          parse_answer(R"({"status":"error","errorType":"bad_data","error":"parse error at char 5"})", "'p'");
        }) == "prometheus refused the query: bad_data: parse error at char 5");
  CHECK(kind_of([] { parse_answer("not json", "'p'"); }) == ErrorKind::operational);
  CHECK(message_of([] {
          parse_answer(R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,2]}]}})",
                       "'p'");
        }) == "malformed answer from 'p': a sample value is not a string");
  CHECK(message_of([] {
          parse_answer(
              R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"x1"]}]}})",
              "'p'");
        }) == "malformed answer from 'p': sample value 'x1' is not a number");
  CHECK(message_of([] { parse_answer(R"({"status":"success","data":{"resultType":"tree","result":[]}})", "'p'"); }) ==
        "malformed answer from 'p': unknown result type 'tree'");
}

TEST_CASE("exact counts: the counter now minus its value one window ago, 0 for a series born in the window") {
  CHECK(count_query("x{a=\"b\"}", "predictor_name", 30) ==
        "sum by (predictor_name) (x{a=\"b\"}) - (sum by (predictor_name) (x{a=\"b\"} offset 30s) or sum by "
        "(predictor_name) (x{a=\"b\"}) * 0)");
  CHECK(count_query("x", "", 3600) == "sum (x) - (sum (x offset 3600s) or sum (x) * 0)");
}

TEST_CASE("durations") {
  CHECK(parse_duration("90s", "--window") == 90);
  CHECK(parse_duration("1h30m", "--window") == 5400);
  CHECK(parse_duration("2d", "--window") == 172800);
  CHECK(message_of([] { parse_duration("1x", "--window"); }) ==
        "invalid --window '1x': expected a duration like 90s, 15m, 1h");
  CHECK(kind_of([] { parse_duration("", "--window"); }) == ErrorKind::usage);
  CHECK(kind_of([] { parse_duration("0s", "--window"); }) == ErrorKind::usage);
}

TEST_CASE("conditions: grammar, units and the column of a mistake") {
  Condition c = parse_condition("reward < 0.8");
  CHECK(c.measure == Measure::reward);
  CHECK(c.op == Compare::lt);
  CHECK(c.threshold == doctest::Approx(0.8));
  CHECK(parse_condition("error_rate>1%").threshold == doctest::Approx(0.01));
  CHECK(parse_condition("p95 >= 250ms").threshold == doctest::Approx(0.25));
  CHECK(parse_condition("p99 != 2 s").op == Compare::ne);
  CHECK(parse_condition("  requests <= 10 ").op == Compare::le);
  CHECK(message_of([] { parse_condition("reward <> 0.8"); }) ==
        "invalid --fail-if 'reward <> 0.8': column 9: expected a number");
  CHECK(message_of([] {
          parse_condition("rewards < 0.8");
        }).starts_with("invalid --fail-if 'rewards < 0.8': column 1: unknown metric 'rewards'"));
  CHECK(message_of([] { parse_condition("reward 0.8"); }) ==
        "invalid --fail-if 'reward 0.8': column 8: expected an operator (<, <=, >, >=, ==, !=)");
  CHECK(message_of([] { parse_condition("reward < 0.8ms"); }) ==
        "invalid --fail-if 'reward < 0.8ms': column 13: unit 'ms' does not fit 'reward' (%)");
  CHECK(message_of([] { parse_condition("p95 > 1s x"); }) ==
        "invalid --fail-if 'p95 > 1s x': column 10: unexpected 'x'");
  CHECK(kind_of([] { parse_condition(""); }) == ErrorKind::usage);
}

TEST_CASE("a condition on missing data is no data, never a breach") {
  VariantStatus v;
  v.requests = 0;
  v.errors = 0;
  CHECK_FALSE(measure_of(Measure::error_rate, v, 60)); // idle: no rate, not 0
  CHECK_FALSE(measure_of(Measure::reward, v, 60));
  CHECK(measure_of(Measure::requests, v, 60) == 0.0);
  v.requests = 30;
  v.errors = 3;
  CHECK(*measure_of(Measure::error_rate, v, 60) == doctest::Approx(0.1));
  CHECK(*measure_of(Measure::rate, v, 60) == doctest::Approx(0.5));
  CHECK(holds(parse_condition("error_rate > 5%"), 0.1));
  CHECK_FALSE(holds(parse_condition("error_rate > 50%"), 0.1));
}
