#pragma once
// Conditions on a variant's numbers, as `mlops feedback check --fail-if` takes them:
//
//   condition := METRIC OP NUMBER [UNIT]        (spaces anywhere between the parts)
//   METRIC    := reward | error_rate | requests | rate | p50 | p95 | p99 | latency_mean | feedback
//   OP        := <  <=  >  >=  ==  !=
//   UNIT      := %  (reward, error_rate: 1% = 0.01)  |  ms  s  (latencies; without a unit: seconds)
//
// A condition holding means the check fails ("fail if").

#include "prometheus/feedback.hpp"

#include <optional>
#include <string>

namespace mlops::prometheus {

/// The numbers a condition can name.
enum class Measure { reward, error_rate, requests, rate, p50, p95, p99, latency_mean, feedback };

/// Comparison operators.
enum class Compare { lt, le, gt, ge, eq, ne };

/// One parsed condition.
struct Condition {
  std::string text; ///< as written
  Measure measure{};
  Compare op{};
  double threshold = 0; ///< in the measure's unit (seconds, a share, a count)
};

/// Parses `text`. Throws Error(usage) "invalid --fail-if 'TEXT': column N: why".
Condition parse_condition(const std::string& text);

/// The measure's value for `v` over `window_s`; nullopt when there is no data for it.
std::optional<double> measure_of(Measure m, const VariantStatus& v, double window_s);

/// Whether `value` satisfies the condition (the check fails when it does).
bool holds(const Condition& c, double value);

/// The measure's name as written in conditions ("error_rate").
std::string measure_name(Measure m);

} // namespace mlops::prometheus
