// resolve(): one environment and target of a DeploySpec, with the cross-field rules.
#include "render/spec.hpp"

#include "core/error.hpp"
#include "core/strings.hpp"
#include "oci/reference.hpp"

#include <algorithm>
#include <regex>
#include <set>

namespace mlops::render {

namespace {

/// Errors naming a key path of the spec (with the line it was read from) or a flag.
struct Fail {
  const DeploySpec& spec;

  [[noreturn]] void key(const std::string& key, const std::string& why, const std::string& hint = {}) const {
    // The nearest enclosing key that was read gives the line.
    std::string k = key;
    for (;;) {
      if (auto it = spec.lines.find(k); it != spec.lines.end()) {
        throw Error(ErrorKind::usage,
                    "invalid deploy spec '" + spec.file + ":" + std::to_string(it->second) + "': key " + quote(key) +
                        ": " + why,
                    hint);
      }
      std::size_t dot = k.rfind('.'), bracket = k.rfind('[');
      std::size_t cut = dot == std::string::npos       ? bracket
                        : bracket == std::string::npos ? dot
                                                       : std::max(dot, bracket);
      if (cut == std::string::npos || cut == 0) break;
      k.resize(cut);
    }
    throw Error(ErrorKind::usage, "invalid deploy spec '" + spec.file + "': key " + quote(key) + ": " + why, hint);
  }
  [[noreturn]] void flag(const std::string& flag, const std::string& why, const std::string& hint = {}) const {
    throw Error(ErrorKind::usage, "invalid " + flag + ": " + why, hint);
  }
};

std::string list(const std::vector<std::string>& items) { return join(items, ", "); }

/// A name that must be a DNS-1123 label: kept, renamed with a warning, or refused with strict.
std::string dns_name(const Fail& fail, const std::string& name, const std::string& key, bool strict,
                     std::vector<std::string>& warnings) {
  if (is_dns_label(name)) return name;
  std::string renamed = dns_label(name);
  if (renamed.empty()) fail.key(key, quote(name) + " is not a DNS-1123 label and has nothing to keep");
  std::string why = quote(name) + " is not a DNS-1123 label (lowercase letters, digits and '-', at most 63)";
  if (strict) fail.key(key, why, "use " + quote(renamed) + ", or drop --strict to have it renamed");
  warnings.push_back("key " + quote(key) + ": " + why + "; rendered as " + quote(renamed) + " (--strict refuses)");
  return renamed;
}

Target resolve_target(const Fail& fail, const DeploySpec& spec, const Overrides& o) {
  std::string t = o.target.empty() ? spec.target : o.target;
  if (t.empty())
    fail.key("deploy.target", "no target", "set deploy.target or pass --target (" + list(known_targets()) + ")");
  if (auto target = target_named(t)) return *target;
  const auto& known = known_targets();
  auto near = suggest(t, known);
  std::string why = "unknown target " + quote(t);
  std::string hint = near.empty() ? "known targets: " + list(known) : "did you mean " + quote(near.front()) + "?";
  if (!o.target.empty()) fail.flag("--target", why, hint);
  fail.key("deploy.target", why, hint);
}

/// Gives every variant its artifact (own, inherited, or from the flags).
void resolve_artifacts(const Fail& fail, const DeploySpec& spec, const Overrides& o, std::vector<Variant>& vs) {
  std::string image = spec.image, uri = spec.model_uri;
  if (!o.image.empty()) image = o.image, uri.clear();
  if (!o.model_uri.empty()) uri = o.model_uri, image.clear();
  for (auto& v : vs) {
    v.inherited = v.image.empty() && v.model_uri.empty();
    if (v.inherited) v.image = image, v.model_uri = uri;
    std::string where = !v.inherited ? v.key : (!o.image.empty() || !o.model_uri.empty()) ? "" : "deploy";
    auto bad = [&](const std::string& field, const std::string& why) {
      if (where.empty()) fail.flag(field == "image" ? "--image" : "--model-uri", why);
      fail.key(where + "." + field, why);
    };
    if (v.image.empty() && v.model_uri.empty())
      fail.key("deploy.image", "no image or model_uri for variant " + quote(v.name),
               "set deploy.image or deploy.model_uri, or pass --image REF@DIGEST or --model-uri URI");
    if (!v.image.empty() && !oci::is_image_reference(v.image))
      bad("image", quote(v.image) + " is not an image reference (REF[:TAG][@sha256:DIGEST], lowercase registry)");
    if (!v.model_uri.empty() && !looks_like_uri(v.model_uri))
      bad("model_uri", quote(v.model_uri) + " is not a storage URI (oci://, s3://, gs://, https://, pvc://)");
  }
}

/// Applies an environment's traffic, then checks the split.
void resolve_traffic(const Fail& fail, const std::string& env, const EnvOverride* eo, std::vector<Variant>& vs) {
  std::string tkey = "deploy.environments." + env + ".traffic";
  if (eo) {
    for (const auto& [name, pct] : eo->traffic) {
      auto it = std::find_if(vs.begin(), vs.end(), [&](const Variant& v) { return v.name == name; });
      if (it == vs.end()) fail.key(tkey + "." + name, "no variant named " + quote(name));
      it->traffic = pct;
    }
  }
  bool from_env = eo && !eo->traffic.empty();
  std::vector<Variant*> live;
  for (auto& v : vs)
    if (!v.shadow) live.push_back(&v);
  if (live.empty()) fail.key("deploy.variants", "every variant is a shadow; one must take the traffic");
  if (live.size() == 1 && !live[0]->traffic) live[0]->traffic = 100;
  int sum = 0;
  for (auto* v : live) {
    if (!v->traffic)
      fail.key(from_env ? tkey : v->key + ".traffic", "variant " + quote(v->name) + " has no traffic share");
    sum += *v->traffic;
  }
  if (sum != 100)
    fail.key(from_env ? tkey : "deploy.variants",
             "traffic of the non-shadow variants sums to " + std::to_string(sum) + ", not 100");
}

/// "target 'NAME'", as messages name the target of `r`.
std::string target_word(const Resolved& r) { return "target " + quote(traits(r.target).name); }

/// The targets that serve protocol 'seldon', as a message names them.
std::string seldon_protocol_targets() {
  std::vector<std::string> names;
  for (const auto* t : all_targets())
    if (t->seldon_protocol) names.push_back(quote(t->name));
  return (names.size() == 1 ? "target " : "targets ") + join(names, " or ");
}

/// What the target can express (its row in target.cpp).
void check_target(const Fail& fail, const Resolved& r) {
  const TargetTraits& t = traits(r.target);
  const std::string target = target_word(r);
  std::size_t live = 0, shadows = 0;
  for (const auto& v : r.variants)
    (v.shadow ? shadows : live)++;
  if (r.protocol == "seldon" && !t.seldon_protocol)
    fail.key("deploy.protocol", "protocol 'seldon' is only served by " + seldon_protocol_targets(), "use protocol v2");
  if (live > t.max_live || shadows > t.max_shadows)
    fail.key("deploy.variants", target + " " + std::string(t.traffic_limit),
             t.max_live > 1 ? "" : "use " + targets_where([](const TargetTraits& x) {
                                     return x.max_live > 1;
                                   }) + " for A/B");
  if (!t.loads_model_uri && r.variants[0].image.empty())
    fail.key("deploy.image", target + " runs an image; a model_uri alone needs an operator",
             "pass --image REF@DIGEST (from 'mlops package') or use " +
                 targets_where([](const TargetTraits& x) { return x.loads_model_uri; }));
  if (!t.runs_image)
    for (const auto& v : r.variants)
      if (v.model_uri.empty())
        fail.key(!v.inherited ? v.key + ".image" : "deploy.image",
                 target + " loads models from a storage URI, not an image",
                 "set model_uri or pass --model-uri with a storage URI (s3://, gs://, https://, ...)");
  if (r.alerts.enabled && !r.monitoring.enabled)
    fail.key("deploy.alerts", "alerts need the model server's metrics, which nothing scrapes",
             "enable deploy.monitoring (a ServiceMonitor or PodMonitor) too");
  if (r.access.restrict_ingress && !t.no_network_policy_why.empty())
    fail.key(r.access.allow_pods.empty() ? "deploy.access.allow_namespaces" : "deploy.access.allow_pods",
             target + " " + std::string(t.no_network_policy_why),
             std::string(t.no_network_policy_fix) + ", or use " +
                 targets_where([](const TargetTraits& x) { return x.no_network_policy_why.empty(); }));
  if (t.cpu_autoscaler && r.replicas.autoscale() && !r.resources.requests.count("cpu"))
    fail.key("deploy.resources.requests.cpu",
             "the autoscaler (replicas min/max) scales on CPU and needs a CPU request");
}

/// A target that cannot load an oci:// URI (a modelcar) says why, e.g. Seldon
/// Core 2, which copies models with rclone (serving-manifests.md, section 2).
void check_oci_storage(const Fail& fail, const Overrides& o, const Resolved& r) {
  const TargetTraits& t = traits(r.target);
  if (t.no_oci_why.empty()) return;
  for (const auto& v : r.variants) {
    if (v.model_uri.rfind("oci://", 0) != 0) continue;
    std::string why = target_word(r) + " cannot load " + quote(v.model_uri) + ": " + std::string(t.no_oci_why);
    std::string hint(t.no_oci_hint);
    if (v.inherited && !o.model_uri.empty()) fail.flag("--model-uri", why, hint);
    fail.key(v.inherited ? "deploy.model_uri" : v.key + ".model_uri", why, hint);
  }
}

const std::vector<std::string> k_v1_explainers = {"AnchorTabular",       "AnchorImages", "AnchorText",
                                                  "Counterfactuals",     "Contrastive",  "KernelShap",
                                                  "IntegratedGradients", "ALE",          "TreeShap"};

/// An Alibi explainer (Seldon Core v1): a known type and its artifact's URI.
void check_alibi_explainer(const Fail& fail, const Resolved& r) {
  const Explainer& e = r.explainer;
  if (e.type.empty())
    fail.key("deploy.explainer.type", "a Seldon explainer needs a type", "one of: " + list(k_v1_explainers));
  if (std::find(k_v1_explainers.begin(), k_v1_explainers.end(), e.type) == k_v1_explainers.end()) {
    auto near = suggest(e.type, k_v1_explainers);
    fail.key("deploy.explainer.type", "unknown explainer type " + quote(e.type) + " for " + target_word(r),
             near.empty() ? "one of: " + list(k_v1_explainers) : "did you mean " + quote(near.front()) + "?");
  }
  if (e.model_uri.empty())
    fail.key("deploy.explainer.model_uri",
             "a Seldon explainer loads its artifact from a storage URI (modelUri); none given");
  if (!e.image.empty())
    fail.key("deploy.explainer.image", target_word(r) + " runs its own explainer server; give type and model_uri");
}

/// An ART explainer type or a container (KServe).
void check_art_explainer(const Fail& fail, const Resolved& r) {
  const Explainer& e = r.explainer;
  if (e.type.empty() && e.image.empty())
    fail.key("deploy.explainer",
             "a KServe explainer is an ART explainer (type, e.g. SquareAttack) or a container (image)");
  static const std::regex k_art(R"(^[A-Z][A-Za-z0-9]*$)");
  if (!e.type.empty() && !std::regex_match(e.type, k_art))
    fail.key("deploy.explainer.type", quote(e.type) + " is not an ART explainer type (such as SquareAttack)");
}

/// deploy.explainer and deploy.transformer: which target has them, and what each needs.
void check_components(const Fail& fail, const Resolved& r) {
  const TargetTraits& t = traits(r.target);
  const std::string target = target_word(r);
  if (r.explainer.enabled) {
    switch (t.explainer) {
    case ExplainerKind::none:
      fail.key("deploy.explainer", target + " has no explainer component",
               "use " + targets_where([](const TargetTraits& x) { return x.explainer != ExplainerKind::none; }));
    case ExplainerKind::alibi:
      check_alibi_explainer(fail, r);
      break;
    case ExplainerKind::art:
      check_art_explainer(fail, r);
      break;
    }
  }
  if (r.transformer.enabled && !t.transformer)
    fail.key("deploy.transformer", target + " has no transformer component",
             "use " + targets_where([](const TargetTraits& x) { return x.transformer; }));
  if (!r.ingress.type.empty() && !t.seldon_ingress)
    fail.key("deploy.ingress", "the ingress annotations are Seldon Core v1's; " + target + " takes none",
             "drop deploy.ingress or render with --target " +
                 targets_where([](const TargetTraits& x) { return x.seldon_ingress; }));
  if (r.dashboard && !r.monitoring.enabled)
    fail.key("deploy.dashboard", "a dashboard needs the model server's metrics, which nothing scrapes",
             "enable deploy.monitoring (a ServiceMonitor or PodMonitor) too");
  // deploy.kserve describes the KServe installation: only that target reads it.
  if (r.target == Target::kserve && r.kserve.mode == "standard" && r.kserve.minor < 20 && r.variants.size() > 1)
    fail.key("deploy.kserve.version",
             "KServe " + r.kserve.version + " in standard (raw) mode has no canary traffic split",
             "use KServe 0.20 or later (spec.canary) or mode knative (canaryTrafficPercent)");
}

/// deploy.detectors: where each runs, what feeds it and where its artifact is.
void resolve_detectors(const Fail& fail, const DeploySpec& spec, bool strict, Resolved& r) {
  if (r.detectors.empty()) return;
  const TargetTraits& t = traits(r.target);
  const std::string target = target_word(r);
  if (t.detectors == DetectorKind::none)
    fail.key("deploy.detectors", target + " has no request logger to feed a detector",
             "use " + targets_where([](const TargetTraits& x) { return x.detectors != DetectorKind::none; }));
  if (t.detectors == DetectorKind::logged && r.detectors.size() > 1 && !r.knative.enabled)
    fail.key("deploy.detectors",
             "the request logger of " + target + " posts to one URL, so " + std::to_string(r.detectors.size()) +
                 " detectors need Knative Eventing",
             "set deploy.knative (a broker and one Trigger per detector) or keep one detector");
  if (t.detectors == DetectorKind::pipeline && r.variants.size() > 1)
    fail.key("deploy.detectors", target + " runs detectors as steps of a Pipeline around one model, not an Experiment",
             "render the detectors for one variant (no deploy.variants), or use " +
                 targets_where([](const TargetTraits& x) { return x.detectors == DetectorKind::logged; }));
  const Variant& model = r.variants.front();
  for (auto& d : r.detectors) {
    d.name = dns_name(fail, d.name, d.key + ".name", strict, r.warnings);
    if (spec.extras_declared && std::find(spec.extras.begin(), spec.extras.end(), d.artifact) == spec.extras.end())
      fail.key(d.key + ".artifact",
               quote(d.artifact) + " is not declared in gates.extras.artifacts, so 'mlops validate' "
                                   "does not check that the model ships it",
               "add it to gates.extras.artifacts");
    if (!d.model_uri.empty()) continue;
    if (model.model_uri.empty() || model.model_uri.rfind("oci://", 0) == 0)
      fail.key(d.key + ".model_uri",
               "the detector server cannot read " + quote(d.artifact) + " inside an image or modelcar",
               "give the detector's storage URI (e.g. s3://bucket/model/" + d.artifact + ")");
    std::string base = model.model_uri;
    while (!base.empty() && base.back() == '/')
      base.pop_back();
    d.model_uri = base + "/" + d.artifact;
  }
  bool drift = std::any_of(r.detectors.begin(), r.detectors.end(), [](const Detector& d) { return d.type == "drift"; });
  if (drift && r.alerts.enabled && t.detectors == DetectorKind::pipeline)
    r.warnings.push_back("no drift alert for " + target +
                         ": its drift detector is a pipeline step whose result goes "
                         "to the pipeline's Kafka topic, and no drift metric reaches Prometheus");
}

void check_prod(const Fail& fail, const Overrides& o, const Resolved& r) {
  if (r.env != "prod") return;
  for (const auto& [image, key] : {std::pair{r.explainer.image, "deploy.explainer.image"},
                                   std::pair{r.transformer.image, "deploy.transformer.image"}})
    if (!image.empty() && !is_pinned(image))
      fail.key(key, "image " + quote(image) + " is not pinned by digest, which environment 'prod' requires",
               "use REF@sha256:<digest>");
  for (const auto& v : r.variants) {
    bool own = !v.inherited;
    if (!v.image.empty() && !is_pinned(v.image)) {
      std::string why = "image " + quote(v.image) + " is not pinned by digest, which environment 'prod' requires";
      std::string hint = "use REF@sha256:<digest> (printed by 'mlops package')";
      if (!own && !o.image.empty()) fail.flag("--image", why, hint);
      fail.key(own ? v.key + ".image" : "deploy.image", why, hint);
    }
    if (v.model_uri.rfind("oci://", 0) == 0 && !is_pinned(v.model_uri.substr(6))) {
      std::string why =
          "model_uri " + quote(v.model_uri) + " is not pinned by digest, which environment 'prod' requires";
      if (!own && !o.model_uri.empty()) fail.flag("--model-uri", why);
      fail.key(own ? v.key + ".model_uri" : "deploy.model_uri", why);
    }
  }
}

} // namespace

Resolved resolve(const DeploySpec& spec, const Overrides& o) {
  Fail fail{spec};
  Resolved r;
  r.target = resolve_target(fail, spec, o);
  r.env = o.env;
  const EnvOverride* eo = nullptr;
  if (!r.env.empty()) {
    if (auto it = spec.environments.find(r.env); it != spec.environments.end())
      eo = &it->second;
    else if (r.env != "dev" && r.env != "staging" && r.env != "prod") {
      std::set<std::string> known = {"dev", "staging", "prod"}; // sorted, each once
      for (const auto& [k, _] : spec.environments)
        known.insert(k);
      fail.flag("--env", "unknown environment " + quote(r.env),
                "known environments: " + list(std::vector<std::string>(known.begin(), known.end())));
    }
  }
  if (spec.name.empty()) fail.key("deploy.name", "no model name", "set deploy.name in mlops.yaml");
  r.name = dns_name(fail, spec.name, "deploy.name", o.strict, r.warnings);
  r.ns = eo && eo->ns ? *eo->ns : spec.ns;
  r.ns = dns_name(fail, r.ns, eo && eo->ns ? "deploy.environments." + r.env + ".namespace" : "deploy.namespace",
                  o.strict, r.warnings);
  r.replicas = eo && eo->replicas ? *eo->replicas : spec.replicas;
  r.resources = eo && eo->resources ? *eo->resources : spec.resources;
  static_cast<Components&>(r) = spec; // as written; resolved below
  if (r.variants.empty()) {
    Variant only;
    only.name = "default";
    only.key = "deploy";
    r.variants.push_back(only);
  }
  std::set<std::string> seen;
  for (auto& v : r.variants) {
    if (v.key != "deploy") v.name = dns_name(fail, v.name, v.key + ".name", o.strict, r.warnings);
    if (!seen.insert(v.name).second) fail.key(v.key + ".name", "variant " + quote(v.name) + " is named twice");
  }
  resolve_artifacts(fail, spec, o, r.variants);
  resolve_traffic(fail, r.env, eo, r.variants);
  check_target(fail, r);
  check_oci_storage(fail, o, r);
  check_components(fail, r);
  resolve_detectors(fail, spec, o.strict, r);
  check_prod(fail, o, r);
  return r;
}

std::vector<Endpoint> endpoints(const Resolved& r) {
  if (!traits(r.target).seldon_ingress) return {};
  // The executor's routes through the ingress (serving-manifests.md section 1).
  std::string root = "/seldon/" + r.ns + "/" + r.name;
  std::vector<Endpoint> out;
  if (r.protocol == "seldon")
    out.push_back({"predictions", root + "/api/v1.0/predictions", ""});
  else
    out.push_back({"infer", root + "/v2/models/" + r.name + "/infer", ""});
  if (r.explainer.enabled)
    out.push_back({"explain",
                   "/seldon/" + r.ns + "/" + r.name + "-explainer/" + r.variants.front().name + "/api/v1.0/explain",
                   ""});
  if (!r.ingress.host.empty())
    for (auto& e : out)
      e.url = "http://" + r.ingress.host + e.path;
  return out;
}

} // namespace mlops::render
