#pragma once
// `mlops feedback`: how each variant of a deployed model is doing, from the counters its
// servers export (the metric names of render's target table, render/target.cpp), and
// conditions on those numbers for scripts (condition.hpp).

#include "prometheus/client.hpp"
#include "render/spec.hpp"

#include <optional>
#include <string>
#include <vector>

namespace mlops::prometheus {

/// The numbers of one variant over the window. Counts are exact differences of the
/// counters (`sum(x) - sum(x offset W)`), not rate()'s extrapolation; nullopt: no series.
struct VariantStatus {
  std::string variant;                 ///< the variant label's value, or the model's name
  std::optional<double> requests;      ///< requests in the window
  std::optional<double> errors;        ///< failed requests in the window
  std::optional<double> p50, p95, p99; ///< seconds, from the histogram's buckets
  std::optional<double> mean_latency;  ///< seconds, where only a sum of seconds is kept
  std::optional<double> feedback;      ///< every feedback (reward 0 and none included)
  std::optional<double> rewarded;      ///< feedbacks the server counted with a reward
  std::optional<double> reward_sum;
  /// The mean reward: reward_sum / feedback; with no counter of every feedback, reward_sum /
  /// rewarded, which is biased upward (mean_reward_biased).
  std::optional<double> mean_reward;
  bool mean_reward_biased = false;

  std::optional<double> error_rate() const;          ///< errors / requests; nullopt without requests
  std::optional<double> rate(double window_s) const; ///< requests per second
  bool has_data() const;
};

/// What status() looked at and found.
struct Status {
  std::string model, env, target;
  double window_s = 0;
  bool mean_only = false;      ///< the server keeps no latency histogram
  std::string mean_only_why;   ///< and why
  std::string no_feedback_why; ///< the target has no feedback route ("" when it has)
  std::vector<VariantStatus> variants;
  std::vector<std::string> warnings; ///< said on stderr (the biased mean, Prometheus's warnings)
};

/// Options of status().
struct StatusOptions {
  double window_s = 3600;
  /// A counter of every feedback the model exports, e.g. `m_calls_total{method="feedback"}`
  /// (the denominator of the mean reward where no executor counts them); "": none.
  std::string feedback_counter;
};

/// Queries Prometheus for every number of `spec`'s variants. Throws Error(not_found)
/// "no data for 'MODEL' in env 'ENV' over W" when no series at all answers, and what
/// Client::query() throws.
Status status(Client& client, const render::Resolved& spec, const StatusOptions& options);

/// A window as PromQL writes it: "3600s".
std::string window_text(double seconds);

/// Parses a duration ("90s", "15m", "1h", "2d", "1h30m"); throws Error(usage) naming `what`.
double parse_duration(const std::string& text, const std::string& what);

/// The query of an exact count of `metric{selector}` over the window, per `by`: the counter's
/// value now minus its value W ago (0 for a series born in the window).
std::string count_query(const std::string& metric_with_matchers, const std::string& by, double window_s);

} // namespace mlops::prometheus
