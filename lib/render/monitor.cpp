// The model's monitoring: PodMonitor, PrometheusRule and Grafana dashboard, in
// the metric names each target's server exports
// (../shared/reference/serving-manifests.md section 5).
#include "render/plan_internal.hpp"

#include "core/error.hpp"

#include <tuple>

namespace mlops::render::detail {

using nlohmann::json;

void pod_monitor(const Resolved& r, std::vector<Planned>& out) {
  json m = base(r, r.name);
  m["path"] = metrics_path(r);
  const Scrape& s = traits(r.target).scrape;
  // Pods shared by many models (Seldon v2 Servers) export per-model metrics.
  if (!s.pod_label.empty())
    m["selector"] = pairs({{std::string(s.pod_label), r.name}});
  else
    m["selector"] = pairs({{std::string(s.shared_label), std::string(s.shared_value)}});
  if (s.port_number)
    m["port_number"] = r.monitoring.port;
  else
    m["port_name"] = "metrics";
  out.push_back({"PodMonitor", r.name, "monitoring/podmonitor.yaml.mustache", m});
}

std::string v2_models(const std::vector<Planned>& planned) {
  std::string models;
  for (const auto& p : planned)
    if (p.kind == "Model" && p.values.value("workload", false)) models += (models.empty() ? "" : "|") + p.name;
  return models;
}

namespace {

/// `whole`.`frac` with `digits` fraction digits, trailing zeros dropped ("0.05", "1.5").
std::string decimal(int whole, int frac, int digits) {
  std::string f = std::to_string(frac);
  f.insert(0, static_cast<std::size_t>(digits) - f.size(), '0');
  while (!f.empty() && f.back() == '0')
    f.pop_back();
  return std::to_string(whole) + (f.empty() ? "" : "." + f);
}

/// PromQL over the target's server metrics (its row's Metrics); `by` is the
/// label that tells variants apart (empty: one series for the model).
struct Promql {
  const Resolved& r;
  const Metrics& m;
  std::string filter;  ///< label matchers of the model's series
  std::string variant; ///< the row's variant label

  Promql(const Resolved& spec, const std::vector<Planned>& planned)
      : r(spec), m(traits(spec.target).metrics),
        filter(series_selector(spec, v2_models(planned)) + std::string(m.request_match)), variant(m.variant_label) {}

  static std::string sum(const std::string& by, const std::string& inner) {
    return "sum" + (by.empty() ? "" : " by (" + by + ") ") + "(" + inner + ")";
  }
  std::string rate(std::string_view metric, std::string_view extra, const std::string& by,
                   const std::string& window = "5m") const {
    return sum(by, "rate(" + std::string(metric) + "{" + filter + std::string(extra) + "}[" + window + "])");
  }
  std::string by(bool per_variant) const { return per_variant ? variant : ""; }
  /// True when the server keeps no latency histogram, only a count of seconds.
  bool mean_only() const { return m.latency_buckets.empty(); }

  std::string requests(bool per_variant) const {
    if (!m.requests.empty()) return rate(m.requests, "", by(per_variant));
    return rate(m.succeeded, "", "") + " + " + rate(m.failed, "", "");
  }
  std::string error_ratio(bool per_variant) const {
    if (!m.requests.empty()) return rate(m.requests, m.failed_match, by(per_variant)) + " / " + requests(per_variant);
    return rate(m.failed, "", "") + " / (" + requests(false) + ")";
  }
  /// The `q` quantile from the server's histogram, or the mean where it keeps none.
  std::string latency(const std::string& q, bool per_variant) const {
    std::string b = by(per_variant);
    if (mean_only()) return rate(m.latency_seconds, "", b) + " / " + rate(m.requests, "", b);
    std::string le = b.empty() ? "le" : "le, " + b;
    return "histogram_quantile(" + q + ", " + rate(m.latency_buckets, m.latency_match, le) + ")";
  }
  /// Mean reward per variant (Seldon protocol only: the Python wrapper's counters).
  std::string reward() const {
    std::string f = "{namespace=\"" + r.ns + "\",deployment_name=\"" + r.name + "\"}[1h]";
    return sum("predictor_name", "increase(" + std::string(m.reward_sum) + f + ")") + " / " +
           sum("predictor_name", "increase(" + std::string(m.rewarded) + f + ")");
  }
  /// 1 while a drift detector's last test found drift (alibi-detect-server's gauge).
  std::string drift() const {
    std::string services;
    for (const auto& s : drift_services(r))
      services += (services.empty() ? "" : "|") + s;
    return "max by (service) (seldon_metric_drift_is_drift{namespace=\"" + r.ns + "\",service=~\"" + services + "\"})";
  }
};

json alert(const std::string& name, const std::string& expr, const Resolved& r, const std::string& summary,
           const std::string& description) {
  return {{"alert", name},
          {"expr", expr},
          {"for", r.alerts.for_duration},
          {"labels", pairs({{"severity", "warning"}, {"model", r.name}})},
          {"summary", summary},
          {"description", description}};
}

} // namespace

void prometheus_rule(const Resolved& r, std::vector<Planned>& out) {
  Promql q(r, out);
  std::string ratio = decimal(r.alerts.error_rate_percent / 100, r.alerts.error_rate_percent % 100, 2);
  std::string secs = decimal(r.alerts.latency_p95_ms / 1000, r.alerts.latency_p95_ms % 1000, 3);
  std::string what =
      q.mean_only() ? "mean latency (" + std::string(q.m.mean_only_why) + ")" : "95th percentile latency";
  std::string who = r.ns + "/" + r.name;
  json b = base(r, r.name);
  b["group"] = "mlops-" + r.name;
  b["rules"] = json::array(
      {alert("ModelHighErrorRate", q.error_ratio(false) + " > " + ratio, r,
             "model " + who + " fails more than " + std::to_string(r.alerts.error_rate_percent) + "% of requests",
             "share of failed requests over 5m: {{ $value | humanizePercentage }}"),
       // Per variant where a histogram gives each its quantile.
       alert("ModelHighLatency", q.latency("0.95", !q.mean_only()) + " > " + secs, r,
             "model " + who + " " + what + " is above " + std::to_string(r.alerts.latency_p95_ms) + " ms",
             what + " over 5m: {{ $value | humanizeDuration }}")});
  if (!drift_services(r).empty())
    b["rules"].push_back(alert("ModelDriftDetected", q.drift() + " > 0", r,
                               "model " + who + ": the drift detector found the inputs drifted",
                               "detector {{ $labels.service }} reported drift in its last batch"));
  out.push_back({"PrometheusRule", r.name, "monitoring/prometheusrule.yaml.mustache", b});
}

namespace {

json panel(int id, const std::string& title, const std::string& unit, json targets, int x, int y) {
  return {{"id", id},
          {"type", "timeseries"},
          {"title", title},
          {"datasource", {{"type", "prometheus"}, {"uid", "${datasource}"}}},
          {"gridPos", {{"h", 8}, {"w", 12}, {"x", x}, {"y", y}}},
          {"fieldConfig", {{"defaults", {{"unit", unit}}}, {"overrides", json::array()}}},
          {"targets", std::move(targets)}};
}

json target(const std::string& ref, const std::string& expr, const std::string& legend) {
  return {{"refId", ref}, {"expr", expr}, {"legendFormat", legend}};
}

/// The dashboard's JSON: request rate, errors, latency percentiles, and where
/// the target has them, reward per variant and drift.
json dashboard_json(const Resolved& r, const std::vector<Planned>& planned) {
  Promql q(r, planned);
  std::string legend = q.variant.empty() ? r.name : "{{" + q.variant + "}}";
  json latency = json::array();
  if (q.mean_only())
    latency.push_back(target("A", q.latency("", true), legend + " mean"));
  else
    for (const auto& [ref, quantile, label] :
         {std::tuple{"A", "0.5", " p50"}, {"B", "0.95", " p95"}, {"C", "0.99", " p99"}})
      latency.push_back(target(ref, q.latency(quantile, true), legend + label));
  json panels =
      json::array({panel(1, "Request rate", "reqps", json::array({target("A", q.requests(true), legend)}), 0, 0),
                   panel(2, "Errors (share of requests)", "percentunit",
                         json::array({target("A", q.error_ratio(true), legend)}), 12, 0),
                   panel(3, q.mean_only() ? "Latency (mean)" : "Latency (p50, p95, p99)", "s", latency, 0, 8)});
  int next = 4, x = 12, y = 8;
  auto add = [&](const std::string& title, const std::string& unit, const std::string& expr, const std::string& lg) {
    panels.push_back(panel(next++, title, unit, json::array({target("A", expr, lg)}), x, y));
    x = x == 0 ? 12 : 0;
    if (x == 0) y += 8;
  };
  if (seldon_protocol(r)) add("Mean reward per variant (1h)", "none", q.reward(), "{{predictor_name}}");
  if (!drift_services(r).empty()) add("Drift detected", "none", q.drift(), "{{service}}");
  std::string uid = "mlops-" + r.ns + "-" + r.name;
  if (uid.size() > 40) uid.resize(40); // Grafana's limit
  return {
      {"uid", uid},
      {"title", "mlops " + r.ns + "/" + r.name + " (" + target_name(r.target) + ")"},
      {"tags", json::array({"mlops", target_name(r.target)})},
      {"schemaVersion", 39},
      {"editable", false},
      {"refresh", "30s"},
      {"time", {{"from", "now-6h"}, {"to", "now"}}},
      {"templating",
       {{"list",
         json::array(
             {{{"name", "datasource"}, {"label", "Prometheus"}, {"type", "datasource"}, {"query", "prometheus"}}})}}},
      {"panels", panels}};
}

} // namespace

void dashboard(const Resolved& r, std::vector<Planned>& out) {
  std::string name = compose(r.name, "dashboard", "deploy.name");
  json b = base(r, name);
  // The Grafana sidecar loads ConfigMaps carrying this label.
  b["labels"].push_back({{"key", "grafana_dashboard"}, {"value", "1"}});
  b["file"] = r.name + ".json";
  // nlohmann::json sorts keys and prints no spaces: the same spec gives the same bytes.
  b["dashboard"] = dashboard_json(r, out).dump();
  out.push_back({"ConfigMap", name, "monitoring/dashboard.yaml.mustache", b});
}

} // namespace mlops::render::detail
