#pragma once

#include "render/target.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mlops::render {

/// Replica count, or a range that makes the target autoscale.
struct Replicas {
  int count = 1;
  std::optional<int> min; ///< set together with max
  std::optional<int> max;
  int target_cpu = 80; ///< HPA CPU utilisation target, percent
  bool autoscale() const { return min.has_value(); }
};

/// Container resources: `requests` and `limits`, each a mapping of resource
/// name to quantity string (cpu: 500m, memory: 1Gi).
struct Resources {
  std::map<std::string, std::string> requests;
  std::map<std::string, std::string> limits;
  bool empty() const { return requests.empty() && limits.empty(); }
};

/// One A/B variant (a predictor, candidate or revision).
struct Variant {
  std::string name;
  std::string image;          ///< REF[:TAG][@sha256:DIGEST]; empty: inherit
  std::string model_uri;      ///< storage URI; empty: inherit
  std::optional<int> traffic; ///< percent
  bool shadow = false;
  bool inherited = false; ///< artifact from deploy.image/model_uri or a flag
  std::string key;        ///< "deploy.variants[1]", for errors
};

/// Per-environment overrides (`deploy.environments.<env>`).
struct EnvOverride {
  std::optional<std::string> ns;
  std::optional<Replicas> replicas;
  std::optional<Resources> resources;
  std::map<std::string, int> traffic; ///< variant name -> percent
};

/// Monitoring of the model server's metrics port.
struct Monitoring {
  bool enabled = false;
  int port = 8082;  ///< MLServer's default metrics port
  std::string path; ///< empty: the target's default (/metrics; /prometheus for seldon-v1 with protocol seldon)
};

/// Alerts on the model server's metrics (`deploy.alerts`): a PrometheusRule.
struct Alerts {
  bool enabled = false;
  int error_rate_percent = 5;      ///< alert when more than this share of requests fail
  int latency_p95_ms = 1000;       ///< alert when the 95th percentile exceeds this
  std::string for_duration = "5m"; ///< how long a condition holds before it fires
};

/// Users and groups given one level of access (`deploy.access.readers`).
struct Subjects {
  std::vector<std::string> users;
  std::vector<std::string> groups;
  bool empty() const { return users.empty() && groups.empty(); }
};

/// Who may call the model and who may read or change its resources
/// (`deploy.access`): a NetworkPolicy, Roles and RoleBindings.
struct Access {
  bool restrict_ingress = false; ///< allow_namespaces or allow_pods given (empty lists deny all)
  std::vector<std::string> allow_namespaces;
  std::vector<std::map<std::string, std::string>> allow_pods; ///< label selectors, same namespace
  Subjects readers;                                           ///< get, list, watch
  Subjects editors; ///< and update, patch, delete (of the rendered resources, by name)
};

/// A model explainer (`deploy.explainer`): seldon-v1 predictors' `explainer`,
/// KServe's `explainer` component (ART or a custom container).
struct Explainer {
  bool enabled = false;
  std::string type;      ///< seldon-v1: AnchorTabular, KernelShap, ...; kserve: an ART attack (SquareAttack)
  std::string model_uri; ///< the explainer artifact (required for seldon-v1)
  std::string image;     ///< kserve: a custom explainer container instead of ART
};

/// A KServe transformer (`deploy.transformer`): a custom container before the predictor.
struct Transformer {
  bool enabled = false;
  std::string image;
};

/// An Alibi Detect artifact shipped in the model (`deploy.detectors[]`),
/// named by its path in the model like `gates.extras.artifacts`.
struct Detector {
  std::string name;      ///< default: the type
  std::string type;      ///< drift, outlier or adversarial
  std::string artifact;  ///< path inside the model directory
  std::string model_uri; ///< where the detector server loads it; empty: MODEL_URI/ARTIFACT
  int batch_size = 20;   ///< drift: requests gathered before each test
  std::string key;       ///< "deploy.detectors[0]", for errors
};

/// Knative Eventing (`deploy.knative`): the request logger posts to a broker
/// and a Trigger per detector delivers the requests.
struct Knative {
  bool enabled = false;
  std::string broker = "default";
};

/// The ingress Seldon Core v1 is installed with (`deploy.ingress`).
struct Ingress {
  std::string type;    ///< istio or ambassador; empty: not configured
  std::string gateway; ///< istio: [NAMESPACE/]GATEWAY; ambassador: the Ambassador id
  std::string host;    ///< host of the endpoint URL printed (istio: also the VirtualService host)
};

/// The KServe installation (`deploy.kserve`): which canary field works.
struct KServe {
  bool configured = false;
  std::string mode = "knative"; ///< knative (serverless) or standard (raw)
  int minor = 20;               ///< 0.MINOR
  std::string version = "0.20";
};

/// What is deployed around the model: its variants and components. The spec
/// holds them as written, Resolved as resolved (artifacts, traffic, detector
/// URIs, names), so resolve() copies them in one step.
struct Components {
  std::string protocol = "v2";
  std::vector<Variant> variants; ///< resolved: at least one, each with an image or model_uri
  Monitoring monitoring;
  Alerts alerts;
  Access access;
  bool dashboard = false; ///< a Grafana dashboard ConfigMap
  Explainer explainer;
  Transformer transformer;
  std::vector<Detector> detectors; ///< resolved: model_uri set
  Knative knative;
  Ingress ingress;
  KServe kserve;
};

/// The `deploy:` section of mlops.yaml, as written (before environments and
/// flags are applied).
struct DeploySpec : Components {
  std::string name;
  std::string target; ///< as written; resolve() checks it names a Target
  std::string ns = "default";
  Replicas replicas;
  Resources resources;
  std::string image;
  std::string model_uri;
  std::map<std::string, EnvOverride> environments;
  std::vector<std::string> extras; ///< gates.extras.artifacts, when the project declares them
  bool extras_declared = false;
  std::string file;                 ///< where it was read from, for errors
  std::map<std::string, int> lines; ///< key path -> line in `file`
};

/// Parses a `deploy:` mapping. `file` names it in errors. Throws Error(usage)
/// "invalid deploy spec 'FILE:LINE': key 'deploy.x.y': why" for an unknown
/// key, a wrong type or a value out of range.
DeploySpec parse_spec(const std::string& yaml_text, const std::string& file);

/// Reads the `deploy:` section of a project file; an empty spec (file name
/// set, nothing else) when the file has none. Throws Error(usage) as parse_spec.
DeploySpec load_spec(const std::filesystem::path& project_file);

/// What the command line adds (flags beat the file).
struct Overrides {
  std::string env; ///< dev|staging|prod (any key of deploy.environments)
  std::string target;
  std::string image;
  std::string model_uri;
  std::string ns;
  bool strict = false; ///< fail on names that are not DNS-1123 instead of renaming
};

/// The spec for one environment and target with every default applied.
struct Resolved : Components {
  std::string name;
  Target target = Target::k8s;
  std::string env;
  std::string ns;
  Replicas replicas;
  Resources resources;
  std::vector<std::string> warnings; ///< renames made (never with strict)
};

/// Applies the environment's overrides and the flags, renames names that are
/// not DNS-1123 labels (or fails with `strict`), and checks the cross-field
/// rules: traffic of non-shadow variants sums to 100, one artifact per
/// variant, digests in prod, what the target can express. Throws Error(usage)
/// naming the key path (deploy.environments.prod.traffic) or the flag.
Resolved resolve(const DeploySpec& spec, const Overrides& overrides);

/// Where the rendered model answers (seldon-v1): `path` on the ingress, and
/// `url` when deploy.ingress.host is set.
struct Endpoint {
  std::string name; ///< predictions, infer or explain
  std::string path;
  std::string url;
};

/// The endpoints of a resolved spec; empty for targets without a fixed path.
std::vector<Endpoint> endpoints(const Resolved& spec);

/// A DNS-1123 label made from `name`: lowercase, runs of other characters
/// replaced by '-', trimmed of '-', at most 63 characters.
std::string dns_label(const std::string& name);

/// True when `name` is a DNS-1123 label (RFC 1123, at most 63 characters).
bool is_dns_label(const std::string& name);

/// Whether `name` has a DNS-1123 label's shape, ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$,
/// whatever its length.
bool has_dns_label_shape(std::string_view name);

/// True when `image` is pinned: REF@sha256:<64 hex>.
bool is_pinned(const std::string& image);

} // namespace mlops::render
