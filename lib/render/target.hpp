#pragma once
// The render targets and what each can express: one row per target in
// target.cpp. Adding a target is a row there, its templates under
// templates/<name>/ and the workload planner its row names (CONTRIBUTING.md).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mlops::render {

struct Resolved;
struct Planned;

/// The platforms render writes manifests for.
enum class Target { k8s, kserve, seldon_v1, seldon_v2 };

/// How a target runs deploy.explainer.
enum class ExplainerKind {
  none,
  alibi, ///< an Alibi explainer server of a named type that loads `model_uri` (Seldon Core v1)
  art,   ///< an ART explainer of a named type, or a custom container (`image`) (KServe)
};

/// How a target runs deploy.detectors.
enum class DetectorKind {
  none,
  logged,   ///< a detector server per detector, fed by the predictor's request logger (one URL, or Knative)
  pipeline, ///< detector Models as steps of a Pipeline around the model (Seldon Core 2)
};

/// How Prometheus finds the model server's metrics.
struct Scrape {
  bool pod_monitor = false;        ///< a PodMonitor; false: the workload's own ServiceMonitor
  std::string_view pod_label{};    ///< the label whose value is the model's name on its pods ("": none)
  std::string_view shared_label{}; ///< pods many models share: the label and value selecting them
  std::string_view shared_value{};
  bool port_number = false; ///< the port is given by number (no named metrics port); else "metrics"
};

/// The model server's metrics on a target, for alerts and dashboards.
struct Metrics {
  /// What picks the model's series (besides its namespace).
  enum class Series {
    service_job,     ///< job="NAME": a ServiceMonitor on the model's Service
    pod_monitor_job, ///< job="NAMESPACE/NAME": the PodMonitor
    deployment,      ///< deployment_name="NAME", service="predictions" (the Seldon v1 executor)
    models,          ///< model=~"MODEL|...": the Models planned (Seldon Core 2 agents)
  };
  Series series = Series::service_job;
  std::string_view variant_label{}; ///< the label telling variants apart ("": one series per model)
  std::string_view requests{};      ///< counter of every request; "": `succeeded` plus `failed`
  std::string_view succeeded{};     ///< counters of succeeded and failed requests, when `requests` is ""
  std::string_view failed{};
  std::string_view failed_match{};    ///< label matchers picking the failures out of `requests`
  std::string_view latency_buckets{}; ///< histogram of request seconds; "": only a mean is known
  std::string_view latency_match{};   ///< label matchers on the histogram
  std::string_view latency_seconds{}; ///< counter of seconds spent, for the mean
  std::string_view mean_only_why{};   ///< why only a mean (said in the latency alert)
  std::string_view request_match{};   ///< matchers on `requests` and the histogram picking the model's requests

  // --- feedback (the Seldon protocol's /feedback route; "": the target's servers have none)
  std::string_view reward_sum{}; ///< counter of the rewards received, summed
  /// Counter of feedbacks the server counted with their reward. The Seldon wrapper skips a
  /// reward of 0 and a missing reward, so reward_sum / rewarded is biased upward.
  std::string_view rewarded{};
  std::string_view feedback_every{};       ///< counter of every feedback (the executor's requests)
  std::string_view feedback_every_match{}; ///< label matchers picking feedbacks out of `feedback_every`
  std::string_view no_feedback_why{};      ///< why the target has no feedback metrics
};

/// The label matchers of a model's series on its target, without braces: its namespace and
/// what the row's Metrics::series names (deployment, job or the Seldon Core 2 Models in
/// `v2_models`, "A|B"). Shared by the alerts, the dashboard and `mlops feedback`.
std::string series_selector(const Resolved& spec, const std::string& v2_models);

/// Plans the workload resources (and their traffic split) of a target; `logger_url`
/// is where the request logger posts ("" = none).
using Workload = void (*)(const Resolved& spec, const std::string& logger_url, std::vector<Planned>& out);

/// Everything that differs between targets, as data: resolve() checks a spec
/// against it, plan() and the monitoring read it. No code compares target names.
struct TargetTraits {
  Target id{};
  std::string_view name{};      ///< as written in deploy.target and --target
  std::string_view templates{}; ///< its folder under templates/
  Workload workload{};          ///< its planner (render/plan.cpp)

  // --- traffic and artifacts
  std::size_t max_live{};           ///< variants that take traffic (1: no A/B)
  std::size_t max_shadows{};        ///< variants that get a mirror of it
  std::string_view traffic_limit{}; ///< what it says beyond those: "target 'T' <traffic_limit>"
  bool runs_image{};                ///< a container image as the model server
  bool loads_model_uri{};           ///< a storage URI loaded by the operator's model server
  std::string_view no_oci_why{};    ///< why it cannot load an oci:// model_uri (a modelcar); "": it can
  std::string_view no_oci_hint{};
  bool seldon_protocol{}; ///< serves deploy.protocol 'seldon' besides v2
  bool cpu_autoscaler{};  ///< replicas min/max make an autoscaler on CPU (needs a CPU request)

  // --- components
  ExplainerKind explainer{};
  bool transformer{};    ///< deploy.transformer
  bool seldon_ingress{}; ///< deploy.ingress annotations and the executor's fixed routes
  DetectorKind detectors{};
  std::string_view logger_event_prefix{};   ///< CloudEvents type prefix of its request logger
  std::string_view no_network_policy_why{}; ///< why deploy.access cannot restrict callers; "": it can
  std::string_view no_network_policy_fix{};

  // --- monitoring
  Scrape scrape{};
  Metrics metrics{};
};

/// The row of `target`.
const TargetTraits& traits(Target target);

/// Every row, in the order targets are listed to users.
const std::vector<const TargetTraits*>& all_targets();

/// The target named `name` (as written in deploy.target), if any.
std::optional<Target> target_named(std::string_view name);

/// The name of `target` ("seldon-v1").
std::string target_name(Target target);

/// The names of the targets render knows, in table order.
const std::vector<std::string>& known_targets();

/// The targets whose row passes `pred`, for hints: "kserve, seldon-v1 or seldon-v2".
std::string targets_where(bool (*pred)(const TargetTraits&));

/// Writes a target as its name in JSON output (`{"target", resolved.target}`).
template <typename Json> void to_json(Json& j, Target target) { j = target_name(target); }

} // namespace mlops::render
