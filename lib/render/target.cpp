// The render targets, one row each. A new target: add its enumerator, a row
// here, its workload planner in plan.cpp and its templates under templates/.
#include "render/target.hpp"

#include "render/plan_internal.hpp"
#include "render/spec.hpp"

#include <array>
#include <cstdint>

namespace mlops::render {

namespace {

using Series = Metrics::Series;

/// MLServer's metrics (the k8s image and KServe's mlflow runtime serve with it):
/// counters of succeeded and failed requests, and starlette_exporter's
/// request histogram with the route template as `path` (MLServer 1.7.1).
constexpr Metrics mlserver(Series series) {
  return {.series = series,
          .succeeded = "model_infer_request_success_total",
          .failed = "model_infer_request_failure_total",
          .latency_buckets = "rest_server_request_duration_seconds_bucket",
          .latency_match = ",path=~\".*/infer\"",
          .no_feedback_why = "MLServer (protocol v2) has no feedback route"};
}

constexpr std::size_t k_any = SIZE_MAX;

// serving-manifests.md (in ../shared/reference) describes what each target's resources hold.
constexpr std::array<TargetTraits, 4> k_targets = {{
    {.id = Target::k8s,
     .name = "k8s",
     .templates = "k8s",
     .workload = detail::plan_k8s,
     .max_live = 1,
     .max_shadows = 0,
     .traffic_limit = "cannot split or mirror traffic between variants",
     .runs_image = true,
     .loads_model_uri = false,
     .seldon_protocol = false,
     .cpu_autoscaler = true,
     .explainer = ExplainerKind::none,
     .transformer = false,
     .seldon_ingress = false,
     .detectors = DetectorKind::none,
     .logger_event_prefix = "",
     .scrape = {.pod_monitor = false},
     .metrics = mlserver(Series::service_job)},
    {.id = Target::kserve,
     .name = "kserve",
     .templates = "kserve",
     .workload = detail::plan_kserve,
     .max_live = 2,
     .max_shadows = 0,
     .traffic_limit = "expresses one canary: at most 2 variants and no shadow",
     .runs_image = true,
     .loads_model_uri = true,
     .seldon_protocol = false,
     .cpu_autoscaler = false,
     .explainer = ExplainerKind::art,
     .transformer = true,
     .seldon_ingress = false,
     .detectors = DetectorKind::logged,
     .logger_event_prefix = "org.kubeflow.serving.inference.",
     .scrape = {.pod_monitor = true, .pod_label = "serving.kserve.io/inferenceservice", .port_number = true},
     .metrics = mlserver(Series::pod_monitor_job)},
    {.id = Target::seldon_v1,
     .name = "seldon-v1",
     .templates = "seldon-v1",
     .workload = detail::plan_seldon_v1,
     .max_live = k_any,
     .max_shadows = k_any,
     .runs_image = true,
     .loads_model_uri = true,
     .seldon_protocol = true,
     .cpu_autoscaler = true,
     .explainer = ExplainerKind::alibi,
     .transformer = false,
     .seldon_ingress = true,
     .detectors = DetectorKind::logged,
     .logger_event_prefix = "io.seldon.serving.inference.",
     .scrape = {.pod_monitor = true, .pod_label = "seldon-deployment-id"},
     .metrics = {.series = Series::deployment,
                 .variant_label = "predictor_name",
                 .requests = "seldon_api_executor_server_requests_seconds_count",
                 .failed_match = ",code!~\"2..\"",
                 .latency_buckets = "seldon_api_executor_server_requests_seconds_bucket",
                 .request_match = ",service=\"predictions\"",
                 // The Python wrapper's counters (reward-0 pitfall: ../shared/reference/feedback-stack.md);
                 // the executor counts every feedback request.
                 .reward_sum = "seldon_api_model_feedback_reward_total",
                 .rewarded = "seldon_api_model_feedback_total",
                 .feedback_every = "seldon_api_executor_server_requests_seconds_count",
                 .feedback_every_match = ",service=\"feedback\""}},
    {.id = Target::seldon_v2,
     .name = "seldon-v2",
     .templates = "seldon-v2",
     .workload = detail::plan_seldon_v2,
     .max_live = k_any,
     .max_shadows = 1,
     .traffic_limit = "mirrors to one shadow only",
     .runs_image = false,
     .loads_model_uri = true,
     // Seldon Core 2 copies models with rclone, which has no OCI backend.
     .no_oci_why = "Seldon Core 2 fetches models with rclone, which reads no oci:// (modelcar) URIs",
     .no_oci_hint = "give a storage URI (s3://, gs://, https://, ...), or use target kserve for a modelcar",
     .seldon_protocol = false,
     .cpu_autoscaler = false,
     .explainer = ExplainerKind::none,
     .transformer = false,
     .seldon_ingress = false,
     .detectors = DetectorKind::pipeline,
     .logger_event_prefix = "",
     .no_network_policy_why = "serves models from shared Server pods behind seldon-mesh, so a NetworkPolicy cannot "
                              "restrict who calls one model",
     .no_network_policy_fix = "restrict the seldon-mesh gateway's namespace",
     .scrape = {.pod_monitor = true, .shared_label = "app.kubernetes.io/managed-by", .shared_value = "seldon-core"},
     .metrics = {.series = Series::models,
                 .variant_label = "model",
                 .requests = "seldon_model_infer_total",
                 .failed_match = ",code!~\"2..|OK\"",
                 .latency_seconds = "seldon_model_infer_seconds_total",
                 .mean_only_why = "Seldon v2 agents keep no per-model histogram",
                 .no_feedback_why = "Seldon Core 2 has no feedback route"}},
}};

constexpr bool rows_in_enum_order() {
  for (std::size_t i = 0; i < k_targets.size(); ++i)
    if (static_cast<std::size_t>(k_targets[i].id) != i) return false;
  return true;
}
static_assert(rows_in_enum_order(), "k_targets must list the targets in the order of enum Target");

} // namespace

const TargetTraits& traits(Target target) { return k_targets.at(static_cast<std::size_t>(target)); }

const std::vector<const TargetTraits*>& all_targets() {
  static const std::vector<const TargetTraits*> all = [] {
    std::vector<const TargetTraits*> v;
    for (const auto& t : k_targets)
      v.push_back(&t);
    return v;
  }();
  return all;
}

std::optional<Target> target_named(std::string_view name) {
  for (const auto& t : k_targets)
    if (t.name == name) return t.id;
  return std::nullopt;
}

std::string series_selector(const Resolved& r, const std::string& v2_models) {
  std::string ns = "namespace=\"" + r.ns + "\"";
  switch (traits(r.target).metrics.series) {
  case Metrics::Series::deployment:
    return ns + ",deployment_name=\"" + r.name + "\"";
  case Metrics::Series::models:
    return ns + ",model=~\"" + v2_models + "\"";
  // The operator's job label: the Service (ServiceMonitor) or NAMESPACE/PodMonitor.
  case Metrics::Series::service_job:
    return ns + ",job=\"" + r.name + "\"";
  case Metrics::Series::pod_monitor_job:
    return ns + ",job=\"" + r.ns + "/" + r.name + "\"";
  }
  return ns;
}

std::string target_name(Target target) { return std::string(traits(target).name); }

const std::vector<std::string>& known_targets() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& t : k_targets)
      v.emplace_back(t.name);
    return v;
  }();
  return names;
}

std::string targets_where(bool (*pred)(const TargetTraits&)) {
  std::vector<std::string> names;
  for (const auto& t : k_targets)
    if (pred(t)) names.emplace_back(t.name);
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out += names[i];
  }
  return out;
}

} // namespace mlops::render
