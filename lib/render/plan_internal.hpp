#pragma once
// Pieces plan() shares between its files (plan.cpp, monitor.cpp, detect.cpp).

#include "render/render.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace mlops::render::detail {

/// `base` + "-" + `suffix` when `add`, refused (naming `key`) past 63 characters.
std::string compose(const std::string& base, const std::string& suffix, const std::string& key, bool add = true);

/// A mapping as a list of {key, value}, which templates write one entry per line.
nlohmann::json pairs(const nlohmann::json& map);

/// Values every template of one resource sees: name, namespace, labels,
/// resources and replicas.
nlohmann::json base(const Resolved& r, const std::string& name);

/// The metrics path of the model server on the target.
std::string metrics_path(const Resolved& r);

/// True when the model speaks the Seldon protocol (a target that serves it, and deploy.protocol 'seldon').
bool seldon_protocol(const Resolved& r);

/// The path of a workload template of the target: "<its templates folder>/<file>".
std::string workload_template(const Resolved& r, const std::string& file);

/// The workload planners the target rows name (render/target.cpp): the
/// model's resources on each target and their traffic split.
void plan_k8s(const Resolved& r, const std::string& logger_url, std::vector<Planned>& out);
void plan_kserve(const Resolved& r, const std::string& logger_url, std::vector<Planned>& out);
void plan_seldon_v1(const Resolved& r, const std::string& logger_url, std::vector<Planned>& out);
void plan_seldon_v2(const Resolved& r, const std::string& logger_url, std::vector<Planned>& out);

/// The name of the drift alert's and dashboard's detector Services (empty: none scraped).
std::vector<std::string> drift_services(const Resolved& r);

/// Model servers whose per-model metrics carry the label `model` (seldon-v2): their names.
std::string v2_models(const std::vector<Planned>& planned);

/// PodMonitor (targets with operator-made pods), PrometheusRule and Grafana dashboard.
void pod_monitor(const Resolved& r, std::vector<Planned>& out);
void prometheus_rule(const Resolved& r, std::vector<Planned>& out);
void dashboard(const Resolved& r, std::vector<Planned>& out);

/// The detectors: seldon-v1 and kserve: a detector server (Deployment and
/// Service) each, with a Trigger per detector under Knative; seldon-v2: a
/// Model per detector and a Pipeline. Returns the URL the request logger
/// posts to (empty for seldon-v2).
std::string detectors(const Resolved& r, std::vector<Planned>& out);

/// The request logger of a predictor feeding `url`: {mode, url}, or null.
nlohmann::json logger(const std::string& url);

} // namespace mlops::render::detail
