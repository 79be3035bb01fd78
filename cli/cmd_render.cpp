#include "cli/command.hpp"
#include "core/error.hpp"
#include "core/limits.hpp"
#include "render/render.hpp"
#include "render/validate.hpp"

#include <string>

namespace mlops::cli {

namespace {

struct RenderArgs {
  render::Overrides overrides;
  std::string out_dir;
  std::string templates;
  std::string check;
  std::string batch;
};

/// --templates, checked.
render::RenderOptions render_options(const RenderArgs& a) {
  render::RenderOptions opts;
  opts.templates = templates_dir(a.templates);
  return opts;
}

/// --batch FILE: every listed project rendered and validated before any is
/// written; one directory per model under -o DIR, or one stream.
int run_batch(Context& ctx, const RenderArgs& a) {
  if (ctx.json()) throw Error(ErrorKind::usage, "invalid --batch: it writes YAML; --json is not supported with it");
  auto projects = render::read_batch_list(a.batch);
  render::Batch batch = render::render_batch(projects, a.overrides, render_options(a));
  for (std::size_t i = 0; i < batch.models.size(); ++i)
    for (const auto& w : batch.models[i].spec.warnings)
      ctx.log().warn(projects[i].string() + ": " + w);
  if (batch.error) std::rethrow_exception(batch.error);
  const auto& models = batch.models;
  if (!a.out_dir.empty()) {
    render::write_batch(a.out_dir, models);
    ctx.log().debug(1, "wrote " + std::to_string(models.size()) + " models to " + a.out_dir);
    return 0;
  }
  std::string all;
  for (const auto& m : models)
    all += render::stream(m.manifests);
  ctx.out().data(all);
  return 0;
}

int run_check(Context& ctx, const RenderArgs& a) {
  int checked = 0;
  auto findings = render::check_dir(a.check, a.overrides.env == "prod", checked);
  if (ctx.json()) {
    nlohmann::ordered_json j = {{"dir", a.check}, {"checked", checked}, {"findings", nlohmann::ordered_json::array()}};
    for (const auto& f : findings)
      j["findings"].push_back({{"file", f.file}, {"problem", f.what}});
    ctx.out().json(j);
  } else {
    for (const auto& f : findings)
      ctx.out().line(f.file + ": " + f.what);
    ctx.out().line("check " + quote(a.check) + ": " + std::to_string(checked) + " documents, " +
                   std::to_string(findings.size()) + " problems");
  }
  // Findings first: a directory whose files all fail to parse names them (exit 3), it is
  // not "empty"; only a directory with nothing to check says so.
  if (!findings.empty())
    throw Error(ErrorKind::gate_failed,
                "invalid manifest " + quote(findings.front().file) + ": " + findings.front().what);
  if (checked == 0) throw Error(ErrorKind::gate_failed, "cannot check " + quote(a.check) + ": no manifests in it");
  return 0;
}

int run_render(Context& ctx, const RenderArgs& a) {
  if (!a.check.empty()) return run_check(ctx, a);
  if (!a.batch.empty()) return run_batch(ctx, a);
  const auto& project = ctx.settings().project_file;
  if (!project)
    throw Error(ErrorKind::usage, "cannot render: no mlops.yaml with a 'deploy:' section",
                "run in a project (mlops.yaml found by walking up) or pass --config FILE");
  render::DeploySpec spec = render::load_spec(*project);
  render::Resolved resolved = render::resolve(spec, a.overrides);
  for (const auto& w : resolved.warnings)
    ctx.log().warn(w);
  render::RenderOptions opts = render_options(a);
  opts.prod_digests = resolved.env == "prod";
  auto manifests = render::render(resolved, opts);
  if (!a.out_dir.empty()) render::write_dir(a.out_dir, resolved, manifests);
  auto endpoints = render::endpoints(resolved);
  if (ctx.json()) {
    nlohmann::ordered_json j = {{"target", resolved.target}, {"environment", resolved.env}, {"namespace", resolved.ns}};
    if (!a.out_dir.empty()) j["dir"] = a.out_dir;
    j["manifests"] = nlohmann::ordered_json::array();
    for (const auto& m : manifests)
      j["manifests"].push_back({{"kind", m.kind}, {"name", m.name}, {"file", m.file}, {"yaml", m.yaml}});
    j["warnings"] = resolved.warnings;
    j["endpoints"] = nlohmann::ordered_json::array();
    for (const auto& e : endpoints) {
      nlohmann::ordered_json x = {{"name", e.name}, {"path", e.path}};
      if (!e.url.empty()) x["url"] = e.url;
      j["endpoints"].push_back(x);
    }
    ctx.out().json(j);
    return 0;
  }
  if (a.out_dir.empty())
    ctx.out().data(render::stream(manifests));
  else
    ctx.log().debug(1, "wrote " + std::to_string(manifests.size() + 1) + " files to " + a.out_dir);
  // Where to call it: diagnostics, so stdout stays a YAML stream.
  for (const auto& e : endpoints)
    ctx.out().note("endpoint " + e.name + ": " +
                   (e.url.empty() ? e.path + " (on the ingress host; deploy.ingress.host gives the URL)" : e.url));
  return 0;
}

} // namespace

Command render_command() {
  Command c;
  c.name = "render";
  c.summary = "write Kubernetes manifests for a model from the deploy spec";
  // Command holds string_views: text built at run time (the limits below) must outlive it.
  static const std::string description =
      "Renders the 'deploy:' section of mlops.yaml for one target and environment, validates every resource, "
      "and prints them as one multi-document YAML stream (or writes them with -o). Targets: k8s (Deployment, "
      "Service, PodDisruptionBudget, and a HorizontalPodAutoscaler when replicas is {min, max}; MLServer probes on "
      "/v2/health/ready and /v2/health/live, non-root, no privilege escalation, all capabilities dropped), kserve "
      "(InferenceService serving.kserve.io/v1beta1: predictor.model with modelFormat mlflow, protocolVersion v2 and "
      "storageUri for a model_uri or modelcar, predictor.containers for an image; with two variants the second is "
      "the canary and its traffic is canaryTrafficPercent, the first being the revision rolled out before), seldon-v1 "
      "(SeldonDeployment machinelearning.seldon.io/v1, "
      "one predictor per variant, the container named as the graph node, MLFLOW_SERVER for a model_uri, shadow "
      "predictors, an hpaSpec for replicas {min, max}) and seldon-v2 (a Model mlops.seldon.io/v1alpha1 per variant, "
      "and an Experiment with weighted "
      "candidates, the first as default and a shadow as mirror; models are fetched with rclone, so an oci:// modelcar "
      "URI is refused). With monitoring enabled, a ServiceMonitor (k8s) or "
      "PodMonitor (monitoring.coreos.com/v1) scrapes the metrics port. With alerts (which need monitoring), a "
      "PrometheusRule alerts when more than error_rate_percent of requests fail or the 95th percentile latency "
      "(seldon-v2: the mean) exceeds latency_p95_ms, in the metric names of the target's server. With access, "
      "allow_namespaces and allow_pods give a NetworkPolicy that admits only those namespaces and same-namespace "
      "pods to the model's pods (an empty list admits none; not for seldon-v2, whose Server pods are shared): the "
      "Prometheus namespace and any ingress namespaces (istio-system, knative-serving, ambassador, ...) must be in "
      "access.allow_namespaces, or scraping and external calls stop; readers and editors ({users, groups}) get a "
      "Role and RoleBinding each, for get, list and watch (editors also update, patch and delete) on the rendered "
      "resources by name. With dashboard (needs monitoring), a ConfigMap labelled grafana_dashboard \"1\" for the "
      "Grafana sidecar holds a dashboard (JSON in one quoted scalar): request rate, errors, latency p50/p95/p99 "
      "(seldon-v2: the mean), reward per variant (seldon-v1 with protocol seldon) and drift.\n\n"
      "Components: explainer {type, model_uri} becomes each seldon-v1 predictor's explainer (type one of "
      "AnchorTabular, AnchorImages, AnchorText, Counterfactuals, Contrastive, KernelShap, IntegratedGradients, ALE, "
      "TreeShap; model_uri required) and KServe's explainer (an ART type such as SquareAttack, or image for a custom "
      "container); transformer {image} is KServe's transformer. detectors (each {name, type: drift|outlier|"
      "adversarial, artifact: PATH in the model, model_uri, batch_size}) are Alibi Detect artifacts shipped in the "
      "model; when gates.extras.artifacts is declared each artifact must be listed there. seldon-v1 and kserve run "
      "each in seldonio/alibi-detect-server (a Deployment and Service) fed by the predictor's request logger; with "
      "knative {broker} the logger posts to the Knative broker and a Trigger per detector delivers the requests "
      "(without it, one detector). seldon-v2 runs them as detector Models (mlserver, alibi-detect) in a Pipeline "
      "NAME-pipeline beside the model. With alerts, a drift detector adds ModelDriftDetected on the detector "
      "server's seldon_metric_drift_is_drift (not for seldon-v2, whose detectors export no metric: a warning says "
      "so). ingress (istio or ambassador, or {type, gateway, host}) gives seldon-v1's annotations "
      "(seldon.io/istio-gateway, seldon.io/istio-host, seldon.io/ambassador-id) and prints the endpoint on stderr "
      "(\"endpoints\" with --json): /seldon/NS/NAME/api/v1.0/predictions, or /seldon/NS/NAME/v2/models/NAME/infer "
      "for protocol v2, as a URL when host is set. kserve {mode: knative|standard, version} chooses the canary "
      "field: knative (serverless) uses predictor.canaryTrafficPercent, standard (raw) with 0.20 or later uses "
      "spec.canary (the first variant stays the predictor), and sets the serving.kserve.io/deploymentMode "
      "annotation (Knative/Standard from 0.20, Serverless/RawDeployment before).\n\n"
      "--batch FILE renders every project FILE lists (one mlops.yaml or project directory per line, relative to "
      "FILE; '#' comments) with the same --env, --target and --templates in one run: all are validated before "
      "anything is written, then -o DIR gets DIR/NAMESPACE/NAME/ per model and a kustomization.yaml listing them "
      "(without -o, one YAML stream).\n\n"
      "The spec (schemas/mlops.schema.json) holds name, target, namespace, replicas (a number or {min, max, "
      "target_cpu}), resources {requests, limits}, protocol (v2 or seldon), image (REF@sha256:DIGEST) or model_uri "
      "(oci://, s3://, gs://, https://, pvc://), environments {dev, staging, prod: namespace, replicas, resources, "
      "traffic: {VARIANT: PERCENT}}, variants (name, image or model_uri, traffic, shadow), monitoring {enabled, "
      "port, path}, alerts {enabled, error_rate_percent, latency_p95_ms, for} and access {allow_namespaces, "
      "allow_pods, readers, editors}. Flags beat the file: --target, --image and --model-uri replace the spec's "
      "values, --env applies "
      "that environment's overrides. Rules: traffic of the non-shadow variants sums to 100; in environment 'prod' "
      "every image and oci:// URI is pinned by digest; names are DNS-1123 labels of at most 63 characters: a name "
      "that is not is renamed (lowercase, other characters to '-') with a warning, and refused with --strict.\n\n"
      "Templates are logic-less (a mustache subset) and every value is written as a quoted YAML scalar, so no value "
      "can break a document or add keys; the built-in ones are compiled in, and --templates DIR overrides any of "
      "them by relative path (e.g. DIR/k8s/deployment.yaml.mustache). Every rendered document is parsed back and "
      "checked against schemas/render/KIND.schema.json and the cross-field rules before anything is written. -o "
      "DIR writes KIND-NAME.yaml per resource and a kustomization.yaml into a temporary directory beside DIR and "
      "renames it into place, replacing a DIR that render wrote before (any other non-empty DIR is refused, exit 7); "
      "nothing is written on failure. The output "
      "is byte-for-byte the same for the same inputs.\n\n"
      "--check DIR validates the manifests under DIR the same way (with --env prod, also digests) and exits 3 "
      "naming the file and the problem: a file that does not parse as YAML (or is larger than " +
      std::to_string(limits::k_max_checked_manifest_bytes >> 20) + " MiB, nested deeper than " +
      std::to_string(limits::k_max_yaml_depth) + " levels, or expands aliases past " +
      std::to_string(limits::k_max_yaml_nodes) +
      " nodes) is such a problem, named with its line; a directory that "
      "cannot be walked is exit 1; --json prints the manifests or findings (schemas/output.render.schema.json). Exit 2 "
      "for a bad spec or flag (the message names the key path, such as "
      "deploy.environments.prod.traffic), or a template that renders invalid YAML.";
  c.description = description;
  c.examples =
      "  mlops render --target kserve --image registry.example/iris@sha256:<digest>\n"
      "  mlops render --env prod -o deploy/prod\n"
      "  mlops render --target kserve --model-uri oci://registry.example/iris-modelcar@sha256:<digest> | kubectl apply "
      "-f -\n"
      "  mlops render --check deploy/prod --env prod\n"
      "  find models -name mlops.yaml > models.txt && mlops render --batch models.txt --env prod -o deploy/prod";
  c.setup = [](CLI::App& app) -> Runner {
    auto a = std::make_shared<RenderArgs>();
    auto& o = a->overrides;
    app.add_option("--env", o.env, "apply the overrides of deploy.environments.ENV (dev, staging, prod)")
        ->type_name("ENV");
    app.add_option("--target", o.target, "seldon-v1, seldon-v2, kserve or k8s (default: deploy.target)")
        ->type_name("TARGET");
    auto* image =
        app.add_option("--image", o.image, "the model server image, pinned: REF@sha256:DIGEST")->type_name("REF");
    app.add_option("--model-uri", o.model_uri, "a storage URI for the model (oci://, s3://, gs://, ...)")
        ->type_name("URI")
        ->excludes(image);
    app.add_option("-o,--output-dir", a->out_dir, "write one file per resource and a kustomization.yaml to DIR")
        ->type_name("DIR");
    app.add_option("--templates", a->templates, "directory of templates overriding the built-in ones")
        ->type_name("DIR");
    app.add_flag("--strict", o.strict, "refuse names that are not DNS-1123 labels instead of renaming them");
    app.add_option("--check", a->check, "validate the manifests under DIR instead of rendering")
        ->type_name("DIR")
        ->excludes("--target")
        ->excludes("--image")
        ->excludes("--model-uri")
        ->excludes("--output-dir")
        ->excludes("--templates")
        ->excludes("--strict");
    app.add_option("--batch", a->batch,
                   "render every project listed in FILE (one mlops.yaml or project directory per line) in one run")
        ->type_name("FILE")
        ->excludes("--check")
        ->excludes("--image")
        ->excludes("--model-uri");
    return [a](Context& ctx) { return run_render(ctx, *a); };
  };
  return c;
}

} // namespace mlops::cli
