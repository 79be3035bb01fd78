// plan(): which resources each target renders, and the values their templates see.
#include "render/plan_internal.hpp"

#include "core/error.hpp"

#include <algorithm>
#include <map>

namespace mlops::render {

using nlohmann::json;

std::string detail::compose(const std::string& base, const std::string& suffix, const std::string& key, bool add) {
  if (!add) return base;
  std::string name = base + "-" + suffix;
  if (name.size() > 63)
    throw Error(ErrorKind::usage,
                "invalid deploy spec: key " + quote(key) + ": resource name " + quote(name) +
                    " is longer than 63 characters",
                "shorten deploy.name or the name at " + key);
  return name;
}

json detail::pairs(const json& map) {
  json out = json::array();
  for (const auto& [k, v] : map.items())
    out.push_back({{"key", k}, {"value", v}});
  return out;
}

namespace {

using detail::pairs;

json labels(const Resolved& r, const std::string& instance) {
  json l = {{"app.kubernetes.io/name", r.name},
            {"app.kubernetes.io/instance", instance},
            {"app.kubernetes.io/managed-by", "mlops"}};
  if (!r.env.empty()) l["mlops/environment"] = r.env;
  return l;
}

json resources(const Resources& res) {
  json out = json::object();
  if (!res.requests.empty()) out["requests"] = {{"entries", pairs(res.requests)}};
  if (!res.limits.empty()) out["limits"] = {{"entries", pairs(res.limits)}};
  return out;
}

} // namespace

json detail::base(const Resolved& r, const std::string& name) {
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

std::string detail::metrics_path(const Resolved& r) {
  if (!r.monitoring.path.empty()) return r.monitoring.path;
  // The Seldon v1 Python wrapper serves its metrics on /prometheus.
  return detail::seldon_protocol(r) ? "/prometheus" : "/metrics";
}

bool detail::seldon_protocol(const Resolved& r) { return traits(r.target).seldon_protocol && r.protocol == "seldon"; }

std::string detail::workload_template(const Resolved& r, const std::string& file) {
  return std::string(traits(r.target).templates) + "/" + file;
}

using detail::base;
using detail::compose;
using detail::metrics_path;
using detail::workload_template;

void detail::plan_k8s(const Resolved& r, const std::string& /*logger_url: no request logger*/,
                      std::vector<Planned>& out) {
  const Variant& v = r.variants.front();
  json b = base(r, r.name);
  b["selector"] = pairs({{"app.kubernetes.io/name", r.name}, {"app.kubernetes.io/instance", r.name}});
  b["container"] = "model";
  b["image"] = v.image;
  if (r.monitoring.enabled)
    b["monitoring"] = {
        {"port", r.monitoring.port}, {"port_text", std::to_string(r.monitoring.port)}, {"path", metrics_path(r)}};
  out.push_back({"Deployment", r.name, workload_template(r, "deployment.yaml.mustache"), b});
  out.push_back({"Service", r.name, workload_template(r, "service.yaml.mustache"), b});
  if (r.replicas.autoscale())
    out.push_back(
        {"HorizontalPodAutoscaler", r.name, workload_template(r, "horizontalpodautoscaler.yaml.mustache"), b});
  out.push_back({"PodDisruptionBudget", r.name, workload_template(r, "poddisruptionbudget.yaml.mustache"), b});
  if (r.monitoring.enabled) {
    json m = base(r, r.name);
    m["selector"] = b["selector"];
    m["path"] = metrics_path(r);
    m["port"] = "metrics";
    out.push_back({"ServiceMonitor", r.name, "monitoring/servicemonitor.yaml.mustache", m});
  }
}

namespace {

/// A live variant's share of a split, which resolve() sets on every one.
int share(const Variant& v) {
  if (!v.traffic)
    throw Error(ErrorKind::operational, "cannot plan variant " + quote(v.name) + ": it has no traffic share");
  return *v.traffic;
}

/// The KServe predictor's artifact: model (storageUri) or a custom container.
void kserve_artifact(const Variant& v, json& into) {
  if (!v.model_uri.empty())
    into["model"] = {{"storage_uri", v.model_uri}};
  else
    into["container"] = {{"image", v.image}};
}

/// A spec.canary[].predictor, written as one flow mapping: the model (or
/// container) and resources of the variant.
json kserve_canary_predictor(const Resolved& r, const Variant& v) {
  json res = json::object();
  if (!r.resources.requests.empty()) res["requests"] = r.resources.requests;
  if (!r.resources.limits.empty()) res["limits"] = r.resources.limits;
  json p = {{"name", v.name},
            {"minReplicas", r.replicas.min.value_or(r.replicas.count)},
            {"maxReplicas", r.replicas.max.value_or(r.replicas.count)}};
  if (!v.model_uri.empty()) {
    // Unlike the predictor's, a canary's model is a full container: it needs a name.
    p["model"] = {{"name", "kserve-container"},
                  {"modelFormat", {{"name", "mlflow"}}},
                  {"protocolVersion", "v2"},
                  {"storageUri", v.model_uri}};
    if (!res.empty()) p["model"]["resources"] = res;
  } else {
    p["containers"] = json::array({{{"name", "kserve-container"}, {"image", v.image}}});
    if (!res.empty()) p["containers"][0]["resources"] = res;
  }
  return p;
}

} // namespace

void detail::plan_kserve(const Resolved& r, const std::string& logger_url, std::vector<Planned>& out) {
  json b = base(r, r.name);
  if (r.kserve.configured) {
    // The annotation's values were renamed in 0.20 (Serverless -> Knative, RawDeployment -> Standard).
    bool renamed = r.kserve.minor >= 20;
    std::string mode =
        r.kserve.mode == "standard" ? (renamed ? "Standard" : "RawDeployment") : (renamed ? "Knative" : "Serverless");
    b["annotations"] = {{"entries", pairs({{"serving.kserve.io/deploymentMode", mode}})}};
  }
  b["logger"] = detail::logger(logger_url);
  if (r.variants.size() == 2 && r.kserve.mode == "standard") {
    // Standard mode (0.20+): the first variant is the predictor, the second a
    // spec.canary entry with its share (canaryTrafficPercent is Knative's).
    kserve_artifact(r.variants.front(), b);
    b["canaries"] = json::array(
        {{{"percent", share(r.variants.back())}, {"predictor", kserve_canary_predictor(r, r.variants.back())}}});
  } else {
    // Knative: the predictor is the newest variant (the only one, or the
    // canary) and canaryTrafficPercent its share of the latest revision.
    if (r.variants.size() == 2) b["canary"] = share(r.variants.back());
    kserve_artifact(r.variants.back(), b);
  }
  if (r.explainer.enabled) {
    json e = {{"type", r.explainer.type}, {"storage_uri", r.explainer.model_uri}, {"image", r.explainer.image}};
    // Both keys always, so that neither section falls back to the predictor's `container`.
    bool art = !r.explainer.type.empty();
    b["explainer"] = {{"art", art ? e : json(false)},
                      {"container", art ? json(false) : json{{"image", r.explainer.image}}}};
  }
  if (r.transformer.enabled) b["transformer"] = {{"image", r.transformer.image}};
  out.push_back({"InferenceService", r.name, workload_template(r, "inferenceservice.yaml.mustache"), b});
}

namespace {

/// Annotations of the SeldonDeployment for the ingress in use.
json seldon_annotations(const Resolved& r) {
  json a = json::object();
  if (r.ingress.type == "istio") {
    if (!r.ingress.gateway.empty()) a["seldon.io/istio-gateway"] = r.ingress.gateway;
    if (!r.ingress.host.empty()) a["seldon.io/istio-host"] = r.ingress.host;
  } else if (r.ingress.type == "ambassador" && !r.ingress.gateway.empty()) {
    a["seldon.io/ambassador-id"] = r.ingress.gateway;
  }
  return a;
}

} // namespace

void detail::plan_seldon_v1(const Resolved& r, const std::string& logger_url, std::vector<Planned>& out) {
  json b = base(r, r.name);
  b["protocol"] = r.protocol;
  json annotations = seldon_annotations(r);
  if (!annotations.empty()) b["annotations"] = {{"entries", pairs(annotations)}};
  json preds = json::array();
  bool v2 = r.protocol == "v2";
  json explainer =
      r.explainer.enabled ? json{{"type", r.explainer.type}, {"model_uri", r.explainer.model_uri}} : json(false);
  for (const auto& v : r.variants) {
    json p = {{"name", v.name},
              {"replicas", r.replicas.count},
              {"shadow", v.shadow},
              {"node", r.name},
              {"image", v.image},
              {"model_uri", v.model_uri},
              {"ready_path", v2 ? "/v2/health/ready" : "/health/ping"},
              {"live_path", v2 ? "/v2/health/live" : "/health/ping"},
              {"logger", detail::logger(logger_url)},
              {"explainer", v.shadow ? json(false) : explainer}};
    if (v.traffic) p["traffic"] = *v.traffic; // for a shadow: the share mirrored
    preds.push_back(p);
  }
  b["predictors"] = preds;
  out.push_back({"SeldonDeployment", r.name, workload_template(r, "seldondeployment.yaml.mustache"), b});
}

void detail::plan_seldon_v2(const Resolved& r, const std::string& /*logger_url: detectors are pipeline steps*/,
                            std::vector<Planned>& out) {
  bool experiment = r.variants.size() > 1;
  json candidates = json::array();
  json mirror;
  std::string default_model;
  for (const auto& v : r.variants) {
    std::string name = compose(r.name, v.name, v.key + ".name", experiment);
    json b = base(r, name);
    b["storage_uri"] = v.model_uri;
    b["requirements"] = json::array({"mlflow"});
    b["workload"] = true;
    auto mem = r.resources.requests.count("memory") ? r.resources.requests : r.resources.limits;
    if (mem.count("memory")) b["memory"] = mem.at("memory");
    out.push_back({"Model", name, workload_template(r, "model.yaml.mustache"), b});
    if (v.shadow)
      mirror = {{"name", name}, {"percent", v.traffic.value_or(100)}};
    else {
      candidates.push_back({{"name", name}, {"weight", share(v)}});
      if (default_model.empty()) default_model = name;
    }
  }
  if (!experiment) return;
  json e = base(r, r.name);
  e["candidates"] = candidates;
  e["default"] = default_model;
  if (!mirror.is_null()) e["mirror"] = mirror;
  out.push_back({"Experiment", r.name, workload_template(r, "experiment.yaml.mustache"), e});
}

namespace {

/// Labels that select the model's pods: the operator's label where it sets
/// one, else the labels of our own Deployment (k8s).
json pod_selector(const Resolved& r) {
  const Scrape& s = traits(r.target).scrape;
  if (!s.pod_label.empty()) return pairs({{std::string(s.pod_label), r.name}});
  return pairs({{"app.kubernetes.io/name", r.name}, {"app.kubernetes.io/instance", r.name}});
}

void network_policy(const Resolved& r, std::vector<Planned>& out) {
  json b = base(r, r.name);
  b["selector"] = pod_selector(r);
  json peers = json::array();
  // Every peer names both keys, so a section never falls back to an outer
  // value (the resource's own `namespace`).
  for (const auto& ns : r.access.allow_namespaces)
    peers.push_back({{"from_namespace", ns}, {"from_pods", false}});
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
      {"ConfigMap", {"", "configmaps"}},
      {"Trigger", {"eventing.knative.dev", "triggers"}}};
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
  std::string name = compose(r.name, level, "deploy.name");
  for (auto& rule : rules)
    rule["verbs"] = verbs;
  json b = base(r, name);
  b["rules"] = std::move(rules);
  json subjects = json::array();
  for (const auto& u : who.users)
    subjects.push_back({{"kind", "User"}, {"name", u}});
  for (const auto& g : who.groups)
    subjects.push_back({{"kind", "Group"}, {"name", g}});
  b["role"] = name;
  b["subjects"] = subjects;
  out.push_back({"Role", name, "access/role.yaml.mustache", b});
  out.push_back({"RoleBinding", name, "access/rolebinding.yaml.mustache", b});
}

/// Alerts, network access and RBAC, after the workload and its monitoring.
void governance(const Resolved& r, std::vector<Planned>& out) {
  if (r.alerts.enabled) detail::prometheus_rule(r, out);
  if (r.dashboard) detail::dashboard(r, out);
  json rules = role_rules(out, out.size());
  if (r.access.restrict_ingress) network_policy(r, out);
  if (!r.access.readers.empty()) role(r, "reader", rules, json::array({"get", "list", "watch"}), r.access.readers, out);
  if (!r.access.editors.empty())
    role(r, "editor", rules, json::array({"get", "list", "watch", "update", "patch", "delete"}), r.access.editors, out);
}

} // namespace

std::vector<Planned> plan(const Resolved& r) {
  std::vector<Planned> out, detected;
  std::string logger_url = detail::detectors(r, detected);
  const TargetTraits& t = traits(r.target);
  t.workload(r, logger_url, out);
  out.insert(out.end(), detected.begin(), detected.end());
  if (r.monitoring.enabled && t.scrape.pod_monitor) detail::pod_monitor(r, out);
  governance(r, out);
  return out;
}

} // namespace mlops::render
