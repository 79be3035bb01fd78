// plan(): which resources each target renders, and the values their templates see.
#include "render/render.hpp"

#include "core/error.hpp"

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

} // namespace

std::vector<Planned> plan(const Resolved& r) {
  std::vector<Planned> out;
  if (r.target == "k8s") k8s(r, out);
  else if (r.target == "kserve") kserve(r, out);
  else if (r.target == "seldon-v1") seldon_v1(r, out);
  else seldon_v2(r, out);
  if (r.monitoring.enabled && r.target != "k8s") pod_monitor(r, out);
  return out;
}

} // namespace mlops::render
