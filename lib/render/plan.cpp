// plan(): which resources each target renders, and the values their templates see.
#include "render/render.hpp"

#include "core/error.hpp"

#include <algorithm>
#include <map>

namespace mlops::render {

namespace {

using nlohmann::json;

/// A composed resource name, refused when it outgrows a DNS-1123 label.
std::string compose(const std::string& base, const Variant& v, bool suffix) {
  if (!suffix) return base;
  std::string name = base + "-" + v.name;
  if (name.size() > 63)
    throw Error(ErrorKind::usage, "invalid deploy spec: key " + quote(v.key + ".name") + ": resource name " + quote(name) +
                                      " is longer than 63 characters",
                "shorten deploy.name or the variant's name");
  return name;
}

json labels(const Resolved& r, const std::string& instance) {
  json l = {{"app.kubernetes.io/name", r.name}, {"app.kubernetes.io/instance", instance},
            {"app.kubernetes.io/managed-by", "mlops"}};
  if (!r.env.empty()) l["mlops/environment"] = r.env;
  return l;
}

/// A mapping as a list of {key, value}, which templates write one entry per line.
json pairs(const json& map) {
  json out = json::array();
  for (const auto& [k, v] : map.items()) out.push_back({{"key", k}, {"value", v}});
  return out;
}

json resources(const Resources& res) {
  json out = json::object();
  if (!res.requests.empty()) out["requests"] = {{"entries", pairs(res.requests)}};
  if (!res.limits.empty()) out["limits"] = {{"entries", pairs(res.limits)}};
  return out;
}

/// Values every template of one resource sees.
json base(const Resolved& r, const std::string& name) {
  return {{"name", name},
          {"namespace", r.ns},
          {"labels", pairs(labels(r, name))},
          {"resources", resources(r.resources)},
          {"replicas", r.replicas.count},
          {"autoscale", r.replicas.autoscale()},
          {"min", r.replicas.min.value_or(r.replicas.count)},
          {"max", r.replicas.max.value_or(r.replicas.count)},
          {"target_cpu", r.replicas.target_cpu}};
}

std::string metrics_path(const Resolved& r) {
  if (!r.monitoring.path.empty()) return r.monitoring.path;
  // The Seldon v1 Python wrapper serves its metrics on /prometheus.
  return r.target == "seldon-v1" && r.protocol == "seldon" ? "/prometheus" : "/metrics";
}

void k8s(const Resolved& r, std::vector<Planned>& out) {
  const Variant& v = r.variants.front();
  json b = base(r, r.name);
  b["selector"] = pairs({{"app.kubernetes.io/name", r.name}, {"app.kubernetes.io/instance", r.name}});
  b["container"] = "model";
  b["image"] = v.image;
  if (r.monitoring.enabled)
    b["monitoring"] = {{"port", r.monitoring.port}, {"port_text", std::to_string(r.monitoring.port)}, {"path", metrics_path(r)}};
  out.push_back({"Deployment", r.name, "k8s/deployment.yaml.mustache", b});
  out.push_back({"Service", r.name, "k8s/service.yaml.mustache", b});
  if (r.replicas.autoscale()) out.push_back({"HorizontalPodAutoscaler", r.name, "k8s/horizontalpodautoscaler.yaml.mustache", b});
  out.push_back({"PodDisruptionBudget", r.name, "k8s/poddisruptionbudget.yaml.mustache", b});
  if (r.monitoring.enabled) {
    json m = base(r, r.name);
    m["selector"] = b["selector"];
    m["path"] = metrics_path(r);
    out.push_back({"ServiceMonitor", r.name, "monitoring/servicemonitor.yaml.mustache", m});
  }
}

void kserve(const Resolved& r, std::vector<Planned>& out) {
  // The predictor is the newest variant: the only one, or the canary.
  const Variant& v = r.variants.back();
  json b = base(r, r.name);
  if (r.variants.size() == 2) b["canary"] = *v.traffic;
  if (!v.model_uri.empty()) b["model"] = {{"storage_uri", v.model_uri}};
  else b["container"] = {{"image", v.image}};
  out.push_back({"InferenceService", r.name, "kserve/inferenceservice.yaml.mustache", b});
}

void seldon_v1(const Resolved& r, std::vector<Planned>& out) {
  json b = base(r, r.name);
  b["protocol"] = r.protocol;
  json preds = json::array();
  bool v2 = r.protocol == "v2";
  for (const auto& v : r.variants) {
    json p = {{"name", v.name},   {"replicas", r.replicas.count}, {"shadow", v.shadow},
              {"node", r.name},   {"image", v.image},             {"model_uri", v.model_uri},
              {"ready_path", v2 ? "/v2/health/ready" : "/health/ping"},
              {"live_path", v2 ? "/v2/health/live" : "/health/ping"}};
    if (v.traffic) p["traffic"] = *v.traffic;  // for a shadow: the share mirrored
    preds.push_back(p);
  }
  b["predictors"] = preds;
  out.push_back({"SeldonDeployment", r.name, "seldon-v1/seldondeployment.yaml.mustache", b});
}

void seldon_v2(const Resolved& r, std::vector<Planned>& out) {
  bool experiment = r.variants.size() > 1;
  json candidates = json::array();
  json mirror;
  std::string default_model;
  for (const auto& v : r.variants) {
    std::string name = compose(r.name, v, experiment);
    json b = base(r, name);
    b["storage_uri"] = v.model_uri;
    auto mem = r.resources.requests.count("memory") ? r.resources.requests : r.resources.limits;
    if (mem.count("memory")) b["memory"] = mem.at("memory");
    out.push_back({"Model", name, "seldon-v2/model.yaml.mustache", b});
    if (v.shadow) mirror = {{"name", name}, {"percent", v.traffic.value_or(100)}};
    else {
      candidates.push_back({{"name", name}, {"weight", *v.traffic}});
      if (default_model.empty()) default_model = name;
    }
  }
  if (!experiment) return;
  json e = base(r, r.name);
  e["candidates"] = candidates;
  e["default"] = default_model;
  if (!mirror.is_null()) e["mirror"] = mirror;
  out.push_back({"Experiment", r.name, "seldon-v2/experiment.yaml.mustache", e});
}

/// A PodMonitor for the targets whose pods an operator creates.
void pod_monitor(const Resolved& r, std::vector<Planned>& out) {
  json m = base(r, r.name);
  m["path"] = metrics_path(r);
  if (r.target == "kserve") {
    m["selector"] = pairs({{"serving.kserve.io/inferenceservice", r.name}});
    m["port_number"] = r.monitoring.port;
  } else if (r.target == "seldon-v1") {
    m["selector"] = pairs({{"seldon-deployment-id", r.name}});
    m["port_name"] = "metrics";
  } else {
    // Seldon v2 models share Server pods; their agents export per-model metrics.
    m["selector"] = pairs({{"app.kubernetes.io/managed-by", "seldon-core"}});
    m["port_name"] = "metrics";
  }
  out.push_back({"PodMonitor", r.name, "monitoring/podmonitor.yaml.mustache", m});
}

/// Labels that select the model's pods on each target (seldon-v2: none of its own).
json pod_selector(const Resolved& r) {
  if (r.target == "kserve") return pairs({{"serving.kserve.io/inferenceservice", r.name}});
  if (r.target == "seldon-v1") return pairs({{"seldon-deployment-id", r.name}});
  return pairs({{"app.kubernetes.io/name", r.name}, {"app.kubernetes.io/instance", r.name}});
}

/// `n` hundredths as a decimal ("0.05"), and `ms` milliseconds as seconds ("0.5").
std::string decimal(int whole, int frac, int digits) {
  std::string f = std::to_string(frac);
  f.insert(0, static_cast<std::size_t>(digits) - f.size(), '0');
  while (!f.empty() && f.back() == '0') f.pop_back();
  return std::to_string(whole) + (f.empty() ? "" : "." + f);
}

/// The PromQL of the two alerts, in the metric names the target's server exports
/// (../shared/reference/serving-manifests.md section 5).
struct Queries {
  std::string errors;
  std::string latency;
  std::string latency_what;
};

Queries queries(const Resolved& r, const std::vector<Planned>& planned) {
  std::string ratio = decimal(r.alerts.error_rate_percent / 100, r.alerts.error_rate_percent % 100, 2);
  std::string secs = decimal(r.alerts.latency_p95_ms / 1000, r.alerts.latency_p95_ms % 1000, 3);
  std::string ns = "namespace=\"" + r.ns + "\"";
  auto rate = [](const std::string& metric, const std::string& filter) {
    return "sum(rate(" + metric + "{" + filter + "}[5m]))";
  };
  Queries q;
  q.latency_what = "95th percentile latency";
  if (r.target == "seldon-v1") {
    // The executor's histogram, for every protocol.
    std::string f = ns + ",deployment_name=\"" + r.name + "\",service=\"predictions\"";
    std::string m = "seldon_api_executor_server_requests_seconds";
    q.errors = rate(m + "_count", f + ",code!~\"2..\"") + " / " + rate(m + "_count", f) + " > " + ratio;
    q.latency = "histogram_quantile(0.95, sum by (le, predictor_name) (rate(" + m + "_bucket{" + f + "}[5m]))) > " + secs;
  } else if (r.target == "seldon-v2") {
    // The agent's per-model counters; it keeps no per-model histogram, so the mean.
    std::string models;
    for (const auto& p : planned)
      if (p.kind == "Model") models += (models.empty() ? "" : "|") + p.name;
    std::string f = ns + ",model=~\"" + models + "\"";
    q.errors = rate("seldon_model_infer_total", f + ",code!~\"2..|OK\"") + " / " + rate("seldon_model_infer_total", f) +
               " > " + ratio;
    q.latency = rate("seldon_model_infer_seconds_total", f) + " / " + rate("seldon_model_infer_total", f) + " > " + secs;
    q.latency_what = "mean latency (Seldon v2 agents keep no per-model histogram)";
  } else {
    // MLServer; the operator's job label: the Service (ServiceMonitor) or NAMESPACE/PodMonitor.
    std::string f = ns + ",job=\"" + (r.target == "k8s" ? r.name : r.ns + "/" + r.name) + "\"";
    std::string failed = rate("model_infer_request_failure_total", f);
    q.errors = failed + " / (" + rate("model_infer_request_success_total", f) + " + " + failed + ") > " + ratio;
    q.latency = "histogram_quantile(0.95, sum by (le) (rate(rest_server_request_duration_seconds_bucket{" + f +
                ",path=~\".*/infer\"}[5m]))) > " + secs;
  }
  return q;
}

void prometheus_rule(const Resolved& r, std::vector<Planned>& out) {
  Queries q = queries(r, out);
  json b = base(r, r.name);
  std::string who = r.ns + "/" + r.name;
  json labels = pairs({{"severity", "warning"}, {"model", r.name}});
  b["group"] = "mlops-" + r.name;
  b["rules"] = json::array(
      {{{"alert", "ModelHighErrorRate"}, {"expr", q.errors}, {"for", r.alerts.for_duration}, {"labels", labels},
        {"summary", "model " + who + " fails more than " + std::to_string(r.alerts.error_rate_percent) + "% of requests"},
        {"description", "share of failed requests over 5m: {{ $value | humanizePercentage }}"}},
       {{"alert", "ModelHighLatency"}, {"expr", q.latency}, {"for", r.alerts.for_duration}, {"labels", labels},
        {"summary", "model " + who + " " + q.latency_what + " is above " + std::to_string(r.alerts.latency_p95_ms) + " ms"},
        {"description", q.latency_what + " over 5m: {{ $value | humanizeDuration }}"}}});
  out.push_back({"PrometheusRule", r.name, "monitoring/prometheusrule.yaml.mustache", b});
}

void network_policy(const Resolved& r, std::vector<Planned>& out) {
  json b = base(r, r.name);
  b["selector"] = pod_selector(r);
  json peers = json::array();
  // Every peer names both keys, so a section never falls back to an outer
  // value (the resource's own `namespace`).
  for (const auto& ns : r.access.allow_namespaces) peers.push_back({{"from_namespace", ns}, {"from_pods", false}});
  for (const auto& pod : r.access.allow_pods)
    peers.push_back({{"from_namespace", ""}, {"from_pods", {{"match", pairs(pod)}}}});
  b["peers"] = peers;
  b["has_peers"] = !peers.empty();
  out.push_back({"NetworkPolicy", r.name, "access/networkpolicy.yaml.mustache", b});
}

/// The API group and resource of each kind render writes.
std::pair<std::string, std::string> api_resource(const std::string& kind) {
  static const std::map<std::string, std::pair<std::string, std::string>> k_kinds = {
      {"Deployment", {"apps", "deployments"}},
      {"Service", {"", "services"}},
      {"HorizontalPodAutoscaler", {"autoscaling", "horizontalpodautoscalers"}},
      {"PodDisruptionBudget", {"policy", "poddisruptionbudgets"}},
      {"InferenceService", {"serving.kserve.io", "inferenceservices"}},
      {"SeldonDeployment", {"machinelearning.seldon.io", "seldondeployments"}},
      {"Model", {"mlops.seldon.io", "models"}},
      {"Experiment", {"mlops.seldon.io", "experiments"}},
      {"Pipeline", {"mlops.seldon.io", "pipelines"}},
      {"ServiceMonitor", {"monitoring.coreos.com", "servicemonitors"}},
      {"PodMonitor", {"monitoring.coreos.com", "podmonitors"}},
      {"PrometheusRule", {"monitoring.coreos.com", "prometheusrules"}},
      {"ConfigMap", {"", "configmaps"}}};
  auto it = k_kinds.find(kind);
  return it == k_kinds.end() ? std::pair<std::string, std::string>{} : it->second;
}

/// Role rules over the first `count` planned resources: one per API group and
/// resource, naming the resources (not the NetworkPolicy: governance stays
/// with whoever applies it).
json role_rules(const std::vector<Planned>& planned, std::size_t count) {
  json rules = json::array();
  std::map<std::pair<std::string, std::string>, std::size_t> index;
  for (std::size_t i = 0; i < count; ++i) {
    auto key = api_resource(planned[i].kind);
    if (key.second.empty()) continue;
    auto [it, added] = index.emplace(key, rules.size());
    if (added) rules.push_back({{"group", key.first}, {"resource", key.second}, {"names", json::array()}});
    json& names = rules[it->second]["names"];
    if (std::find(names.begin(), names.end(), planned[i].name) == names.end()) names.push_back(planned[i].name);
  }
  return rules;
}

/// A Role with `rules` and `verbs`, and its RoleBinding for `who`.
void role(const Resolved& r, const std::string& level, json rules, const json& verbs, const Subjects& who,
          std::vector<Planned>& out) {
  std::string name = r.name + "-" + level;
  if (name.size() > 63)
    throw Error(ErrorKind::usage, "invalid deploy spec: key 'deploy.name': Role name " + quote(name) +
                                      " is longer than 63 characters", "shorten deploy.name");
  for (auto& rule : rules) rule["verbs"] = verbs;
  json b = base(r, name);
  b["rules"] = std::move(rules);
  json subjects = json::array();
  for (const auto& u : who.users) subjects.push_back({{"kind", "User"}, {"name", u}});
  for (const auto& g : who.groups) subjects.push_back({{"kind", "Group"}, {"name", g}});
  b["role"] = name;
  b["subjects"] = subjects;
  out.push_back({"Role", name, "access/role.yaml.mustache", b});
  out.push_back({"RoleBinding", name, "access/rolebinding.yaml.mustache", b});
}

/// Alerts, network access and RBAC, after the workload and its monitoring.
void governance(const Resolved& r, std::vector<Planned>& out) {
  if (r.alerts.enabled) prometheus_rule(r, out);
  json rules = role_rules(out, out.size());
  if (r.access.restrict_ingress) network_policy(r, out);
  if (!r.access.readers.empty())
    role(r, "reader", rules, json::array({"get", "list", "watch"}), r.access.readers, out);
  if (!r.access.editors.empty())
    role(r, "editor", rules, json::array({"get", "list", "watch", "update", "patch", "delete"}), r.access.editors, out);
}

} // namespace

std::vector<Planned> plan(const Resolved& r) {
  std::vector<Planned> out;
  if (r.target == "k8s") k8s(r, out);
  else if (r.target == "kserve") kserve(r, out);
  else if (r.target == "seldon-v1") seldon_v1(r, out);
  else seldon_v2(r, out);
  if (r.monitoring.enabled && r.target != "k8s") pod_monitor(r, out);
  governance(r, out);
  return out;
}

} // namespace mlops::render
