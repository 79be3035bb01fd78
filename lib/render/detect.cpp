// Drift, outlier and adversarial detectors as each target runs them:
// seldon-v1 and kserve: an alibi-detect-server fed by the request logger
// (through a Knative broker and Triggers when configured); seldon-v2: detector
// Models as steps of a Pipeline.
#include "render/plan_internal.hpp"

namespace mlops::render::detail {

using nlohmann::json;

namespace {

/// Seldon's detector server for Alibi Detect artifacts (the seldon-core 1.18.2 release).
const std::string k_detector_image = "seldonio/alibi-detect-server:1.18.2";

/// Its sub-command per detector type.
std::string method(const std::string& type) {
  if (type == "drift") return "DriftDetector";
  if (type == "outlier") return "OutlierDetector";
  return "AdversarialDetector";
}

std::string broker_url(const Resolved& r) {
  return "http://broker-ingress.knative-eventing.svc.cluster.local/" + r.ns + "/" + r.knative.broker;
}

/// CloudEvents type prefix of the target's request logger.
std::string event_prefix(const Resolved& r) { return std::string(traits(r.target).logger_event_prefix); }

json server_args(const Resolved& r, const Detector& d, const std::string& service) {
  // The payload the logger forwards is the model's request: Seldon's JSON or the V2 protocol.
  std::string protocol = seldon_protocol(r) ? "seldon.http" : "kfserving.http";
  json args = {"--model_name",   d.name,
               "--http_port",    "8080",
               "--protocol",     protocol,
               "--storage_uri",  d.model_uri,
               "--event_type",   event_prefix(r) + d.type,
               "--event_source", "io.seldon.serving." + r.ns + "." + service};
  // Results go back to the broker, where other Triggers can pick them up.
  if (r.knative.enabled) args.insert(args.end(), {"--reply_url", broker_url(r)});
  args.push_back(method(d.type));
  if (d.type == "drift") args.insert(args.end(), {"--drift_batch_size", std::to_string(d.batch_size)});
  return args;
}

json detector_selector(const Resolved& r) {
  return pairs({{"app.kubernetes.io/name", r.name}, {"app.kubernetes.io/component", "detector"}});
}

/// seldon-v1, kserve: a Deployment and Service per detector; returns the logger URL.
std::string detector_servers(const Resolved& r, std::vector<Planned>& out) {
  std::string first;
  for (const auto& d : r.detectors) {
    std::string name = compose(r.name, d.name, d.key + ".name");
    json b = base(r, name);
    b["labels"].push_back({{"key", "app.kubernetes.io/component"}, {"value", "detector"}});
    b["selector"] = pairs({{"app.kubernetes.io/name", r.name}, {"app.kubernetes.io/instance", name}});
    b["image"] = k_detector_image;
    b["args"] = server_args(r, d, name);
    b["type"] = d.type;
    out.push_back({"Deployment", name, "detectors/deployment.yaml.mustache", b});
    out.push_back({"Service", name, "detectors/service.yaml.mustache", b});
    if (first.empty()) first = "http://" + name + "." + r.ns + ".svc.cluster.local";
  }
  if (r.knative.enabled) {
    for (const auto& d : r.detectors) {
      std::string name = compose(r.name, d.name, d.key + ".name");
      json b = base(r, name);
      b["broker"] = r.knative.broker;
      // The executor (seldon-v1) and KServe's agent name the model in this CloudEvents extension.
      b["filters"] = pairs({{"type", event_prefix(r) + "request"}, {"inferenceservicename", r.name}});
      b["service"] = name;
      out.push_back({"Trigger", name, "detectors/trigger.yaml.mustache", b});
    }
  }
  if (r.monitoring.enabled) {
    std::string name = compose(r.name, "detectors", "deploy.name");
    json m = base(r, name);
    m["selector"] = detector_selector(r);
    m["port"] = "http";
    m["path"] = "/v1/metrics"; // alibi-detect-server's Prometheus route
    out.push_back({"ServiceMonitor", name, "monitoring/servicemonitor.yaml.mustache", m});
  }
  return r.knative.enabled ? broker_url(r) : first;
}

/// seldon-v2: a Model per detector and a Pipeline running them beside the model.
void pipeline(const Resolved& r, std::vector<Planned>& out) {
  json steps = json::array({{{"name", r.name}, {"batch", false}}});
  json outputs = json::array({r.name});
  for (const auto& d : r.detectors) {
    std::string name = compose(r.name, d.name, d.key + ".name");
    json b = base(r, name);
    b["storage_uri"] = d.model_uri;
    b["requirements"] = json::array({"mlserver", "alibi-detect"});
    b["replicas"] = 1;
    b["autoscale"] = false;
    out.push_back({"Model", name, workload_template(r, "model.yaml.mustache"), b});
    // Drift is tested on batches of requests, asynchronously: not part of the answer.
    steps.push_back({{"name", name}, {"batch", d.type == "drift" ? json{{"size", d.batch_size}} : json(false)}});
    if (d.type == "outlier") outputs.push_back(name + ".outputs.is_outlier");
    if (d.type == "adversarial") outputs.push_back(name + ".outputs.is_adversarial");
  }
  std::string name = compose(r.name, "pipeline", "deploy.name");
  json b = base(r, name);
  b["steps"] = steps;
  b["outputs"] = outputs;
  out.push_back({"Pipeline", name, workload_template(r, "pipeline.yaml.mustache"), b});
}

} // namespace

std::vector<std::string> drift_services(const Resolved& r) {
  std::vector<std::string> out;
  if (traits(r.target).detectors != DetectorKind::logged || !r.monitoring.enabled) return out;
  for (const auto& d : r.detectors)
    if (d.type == "drift") out.push_back(compose(r.name, d.name, d.key + ".name"));
  return out;
}

json logger(const std::string& url) {
  if (url.empty()) return false;
  return {{"mode", "request"}, {"url", url}};
}

std::string detectors(const Resolved& r, std::vector<Planned>& out) {
  if (r.detectors.empty()) return "";
  switch (traits(r.target).detectors) {
  case DetectorKind::none:
    return ""; // resolve() refused them
  case DetectorKind::pipeline:
    pipeline(r, out);
    return "";
  case DetectorKind::logged:
    return detector_servers(r, out);
  }
  return "";
}

} // namespace mlops::render::detail
