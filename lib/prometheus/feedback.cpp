#include "prometheus/feedback.hpp"

#include "core/error.hpp"

#include <cmath>
#include <cstdio>
#include <map>

namespace mlops::prometheus {

std::optional<double> VariantStatus::error_rate() const {
  if (!requests || *requests <= 0 || !errors) return std::nullopt;
  return *errors / *requests;
}

std::optional<double> VariantStatus::rate(double window_s) const {
  if (!requests || window_s <= 0) return std::nullopt;
  return *requests / window_s;
}

bool VariantStatus::has_data() const {
  return requests || errors || p50 || mean_latency || feedback || rewarded || reward_sum;
}

std::string window_text(double seconds) { return std::to_string(static_cast<long long>(std::llround(seconds))) + "s"; }

double parse_duration(const std::string& text, const std::string& what) {
  static const std::map<char, double> unit = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 604800}};
  double total = 0;
  std::size_t i = 0;
  auto bad = [&] {
    return Error(ErrorKind::usage, "invalid " + what + " " + quote(text) + ": expected a duration like 90s, 15m, 1h",
                 "units: s, m, h, d, w");
  };
  if (text.empty() || text.size() > 32) throw bad();
  while (i < text.size()) {
    std::size_t start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])))
      ++i;
    if (i == start || i == text.size() || !unit.count(text[i])) throw bad();
    total += std::stod(text.substr(start, i - start)) * unit.at(text[i]);
    ++i;
  }
  if (total <= 0) throw bad();
  return total;
}

std::string count_query(const std::string& m, const std::string& by, double window_s) {
  std::string sum = "sum" + (by.empty() ? std::string() : " by (" + by + ")");
  std::string now = sum + " (" + m + ")";
  // A series born inside the window has no value W ago: it counts from 0.
  return now + " - (" + sum + " (" + m + " offset " + window_text(window_s) + ") or " + now + " * 0)";
}

namespace {

struct Queries {
  Client& client;
  std::string by;    ///< the variant label, or ""
  std::string model; ///< the row name when there is no variant label
  double w;
  std::vector<std::string>* warnings;

  /// value per variant of `promql`
  std::map<std::string, double> run(const std::string& promql) const {
    Answer a = client.query(promql);
    for (const auto& x : a.warnings)
      warnings->push_back("prometheus: " + x);
    std::map<std::string, double> out;
    for (const auto& s : a.series) {
      if (s.samples.empty() || std::isnan(s.samples.back().second)) continue;
      auto it = by.empty() ? s.labels.end() : s.labels.find(by);
      out[by.empty() ? model : (it == s.labels.end() ? std::string() : it->second)] = s.samples.back().second;
    }
    return out;
  }
  std::map<std::string, double> count(const std::string& metric, const std::string& selector) const {
    return run(count_query(metric + "{" + selector + "}", by, w));
  }
  std::map<std::string, double> quantile(const std::string& q, const std::string& buckets,
                                         const std::string& selector) const {
    return run("histogram_quantile(" + q + ", " +
               count_query(buckets + "{" + selector + "}", by.empty() ? "le" : "le, " + by, w) + ")");
  }
};

void put(std::map<std::string, VariantStatus>& rows, const std::map<std::string, double>& values,
         std::optional<double> VariantStatus::*field) {
  for (const auto& [v, x] : values) {
    rows[v].variant = v;
    rows[v].*field = x;
  }
}

/// A metric with matchers written as `name{a="b"}` split into name and `,a="b"`.
std::pair<std::string, std::string> split_metric(const std::string& text) {
  auto brace = text.find('{');
  if (brace == std::string::npos) return {text, ""};
  std::string inner = text.substr(brace + 1);
  if (!inner.empty() && inner.back() == '}') inner.pop_back();
  return {text.substr(0, brace), inner.empty() ? "" : "," + inner};
}

} // namespace

Status status(Client& client, const render::Resolved& spec, const StatusOptions& o) {
  const render::Metrics& m = render::traits(spec.target).metrics;
  Status st;
  st.model = spec.name;
  st.env = spec.env;
  st.target = render::target_name(spec.target);
  st.window_s = o.window_s;
  st.mean_only = m.latency_buckets.empty();
  st.mean_only_why = std::string(m.mean_only_why);
  st.no_feedback_why = std::string(m.no_feedback_why);
  std::string v2;
  for (const auto& v : spec.variants)
    v2 += (v2.empty() ? "" : "|") + spec.name + "-" + v.name;
  std::string sel = render::series_selector(spec, v2);
  std::string req = sel + std::string(m.request_match);
  Queries q{client, std::string(m.variant_label), spec.name, o.window_s, &st.warnings};
  std::map<std::string, VariantStatus> rows;
  if (!m.requests.empty()) {
    put(rows, q.count(std::string(m.requests), req), &VariantStatus::requests);
    put(rows, q.count(std::string(m.requests), req + std::string(m.failed_match)), &VariantStatus::errors);
  } else {
    auto ok = q.count(std::string(m.succeeded), req);
    auto failed = q.count(std::string(m.failed), req);
    std::map<std::string, double> all = ok;
    for (const auto& [v, x] : failed)
      all[v] += x;
    put(rows, all, &VariantStatus::requests);
    put(rows, failed, &VariantStatus::errors);
  }
  if (!st.mean_only) {
    std::string b(m.latency_buckets), lsel = req + std::string(m.latency_match);
    put(rows, q.quantile("0.5", b, lsel), &VariantStatus::p50);
    put(rows, q.quantile("0.95", b, lsel), &VariantStatus::p95);
    put(rows, q.quantile("0.99", b, lsel), &VariantStatus::p99);
  } else if (!m.latency_seconds.empty()) {
    auto secs = q.count(std::string(m.latency_seconds), req);
    for (auto& [v, x] : secs) {
      auto it = rows.find(v);
      if (it != rows.end() && it->second.requests && *it->second.requests > 0)
        it->second.mean_latency = x / *it->second.requests;
    }
  }
  if (!m.reward_sum.empty()) {
    put(rows, q.count(std::string(m.reward_sum), sel), &VariantStatus::reward_sum);
    put(rows, q.count(std::string(m.rewarded), sel), &VariantStatus::rewarded);
    auto every = o.feedback_counter.empty()
                     ? q.count(std::string(m.feedback_every), sel + std::string(m.feedback_every_match))
                     : [&] {
                         auto [name, matchers] = split_metric(o.feedback_counter);
                         return q.count(name, sel + matchers);
                       }();
    put(rows, every, &VariantStatus::feedback);
  }
  for (auto& [v, r] : rows) {
    if (!r.reward_sum) continue;
    if (r.feedback) {
      if (*r.feedback > 0) r.mean_reward = *r.reward_sum / *r.feedback;
    } else if (r.rewarded && *r.rewarded > 0) {
      r.mean_reward = *r.reward_sum / *r.rewarded;
      r.mean_reward_biased = true;
    }
  }
  bool biased = false;
  for (auto& [v, r] : rows) {
    if (r.has_data()) st.variants.push_back(r);
    biased = biased || r.mean_reward_biased;
  }
  if (biased)
    st.warnings.push_back(
        "the mean reward is biased upward: the Seldon wrapper counts neither a feedback with reward 0 nor one "
        "without a reward, and no counter of every feedback was found (the executor's service=\"feedback\" "
        "requests; or name the model's own with --feedback-counter)");
  if (st.variants.empty())
    throw Error(ErrorKind::not_found,
                "no data for " + quote(spec.name) + " in env " + quote(spec.env.empty() ? "default" : spec.env) +
                    " over " + window_text(o.window_s),
                "no series matches {" + sel + "} in " + quote(client.url()) +
                    ": is Prometheus scraping the model's pods, and has it served requests?");
  return st;
}

} // namespace mlops::prometheus
