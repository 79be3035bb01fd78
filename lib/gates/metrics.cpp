#include "core/error.hpp"
#include "core/strings.hpp"
#include "gates/checks.hpp"

#include <chrono>
#include <cmath>

namespace mlops::gates {

namespace {

std::string num(double v) { return format_double(v, std::chars_format::general, 6); }

/// Latest metric values of a version: its run's, completed by its logged
/// model's (MLflow 3.x can log metrics on either).
std::map<std::string, mlflow::Metric> metrics_of(mlflow::Client& c, const std::string& run_id,
                                                 const std::string& source) {
  std::map<std::string, mlflow::Metric> out;
  if (!run_id.empty()) out = c.get_run(run_id).metrics;
  if (source.rfind("models:/m-", 0) == 0) {
    try {
      for (auto& [k, v] : c.get_logged_model_metrics(source.substr(8)))
        out.emplace(k, v);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::not_found) throw;
    }
  }
  return out;
}

} // namespace

GateResult metrics_gate(const Target& t, const Policy& p, const std::optional<model::MlModel>& m,
                        mlflow::Client* client) {
  GateResult g;
  g.name = "metrics";
  auto start = std::chrono::steady_clock::now();
  auto done = [&] {
    g.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return g;
  };
  std::string run_id = !t.run_id.empty() ? t.run_id : (m ? m->run_id : std::string());
  if (!client) {
    g.status = Status::fail;
    g.reason = "no tracking server configured: cannot read the run's metrics (set MLFLOW_TRACKING_URI)";
    return done();
  }
  if (run_id.empty() && t.source.rfind("models:/m-", 0) != 0) {
    g.status = Status::fail;
    g.reason = "the model names no run: cannot read its metrics";
    return done();
  }
  auto metrics = metrics_of(*client, run_id, t.source);
  std::vector<std::string> problems, notes;
  for (const auto& th : p.thresholds) {
    auto it = metrics.find(th.metric);
    if (it == metrics.end()) {
      problems.push_back("metric " + quote(th.metric) + " was never logged on run " + quote(run_id) + " (needed for '" +
                         th.text + "')");
    } else if (!th.holds(it->second.value) || std::isnan(it->second.value)) {
      problems.push_back("metric " + quote(th.metric) + " is " + num(it->second.value) + ", the policy needs " + th.op +
                         " " + num(th.value));
    } else {
      notes.push_back(th.metric + " " + num(it->second.value) + " " + th.op + " " + num(th.value));
    }
  }
  for (const auto& cmp : p.comparisons) {
    if (t.name.empty()) {
      problems.push_back("cannot compare " + quote(cmp.metric) + " with " + cmp.against +
                         ": the registered model is unknown");
      continue;
    }
    mlflow::ModelVersion other;
    try {
      other = cmp.against[0] == '@' ? client->get_version_by_alias(t.name, cmp.against.substr(1))
                                    : client->get_model_version(t.name, cmp.against);
    } catch (const Error& e) {
      if (e.kind() == ErrorKind::unavailable || e.kind() == ErrorKind::auth) throw;
      problems.push_back("cannot compare with " + cmp.against + ": " + e.what());
      continue;
    }
    auto mine = metrics.find(cmp.metric);
    auto theirs_all = metrics_of(*client, other.run_id, other.source);
    auto theirs = theirs_all.find(cmp.metric);
    std::string label = cmp.against + " (version " + other.version + ")";
    if (mine == metrics.end()) {
      problems.push_back("metric " + quote(cmp.metric) + " was never logged on run " + quote(run_id));
      continue;
    }
    if (theirs == theirs_all.end()) {
      problems.push_back("metric " + quote(cmp.metric) + " was never logged for " + label);
      continue;
    }
    double a = mine->second.value, b = theirs->second.value;
    double worse_by = cmp.higher_is_better ? b - a : a - b;
    if (std::isnan(a) || std::isnan(b)) {
      problems.push_back(cmp.metric + " cannot be compared: " + (std::isnan(a) ? "this version's" : label + "'s") +
                         " value is NaN");
    } else if (worse_by > cmp.tolerance + 1e-12) {
      problems.push_back(cmp.metric + " " + num(a) + " is worse than " + label + " (" + num(b) + ") by " +
                         num(worse_by) + ", more than the allowed " + num(cmp.tolerance));
    } else {
      notes.push_back(cmp.metric + " " + num(a) + " vs " + label + " " + num(b));
    }
  }
  if (notes.empty()) notes.push_back("no metric checks configured");
  conclude(g, std::move(problems), std::move(notes), "; ");
  return done();
}

} // namespace mlops::gates
