#include "render/spec.hpp"

#include "core/config.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/regex.hpp"
#include "core/strings.hpp"
#include "core/yaml_reader.hpp"
#include "oci/reference.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <regex>
#include <set>

namespace mlops::render {

namespace {

/// Reads YAML nodes into the spec: YamlReader's checks (every mistake a usage
/// error "invalid deploy spec 'FILE:LINE': key ...", every key read recording
/// its line in spec.lines), a null where a mapping belongs refused, and the
/// spec's own shapes.
struct Reader : YamlReader {
  explicit Reader(DeploySpec& spec) : YamlReader{"deploy spec", spec.file, &spec.lines, false} {}

  Replicas replicas(const YAML::Node& n, const std::string& key) const {
    Replicas r;
    if (n.IsScalar()) {
      r.count = integer(n, key, 0, 10000);
      return r;
    }
    keys(n, key, {"min", "max", "target_cpu"});
    if (!n["min"] || !n["max"]) fail(n, key, "give both 'min' and 'max' (or a number)");
    r.min = integer(n["min"], key + ".min", 1, 10000);
    r.max = integer(n["max"], key + ".max", 1, 10000);
    if (*r.max < *r.min) fail(n["max"], key + ".max", "is smaller than min");
    r.count = *r.min;
    if (n["target_cpu"]) r.target_cpu = integer(n["target_cpu"], key + ".target_cpu", 1, 100);
    return r;
  }

  std::map<std::string, std::string> quantities(const YAML::Node& n, const std::string& key) const {
    static const std::regex k_name(R"(^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$)");
    static const std::regex k_quantity(
        R"(^([0-9]+(\.[0-9]+)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][0-9]+)?$)");
    if (!n.IsMap()) fail(n, key, "expected a mapping of resource name to quantity (cpu: 500m)");
    std::map<std::string, std::string> out;
    for (const auto& kv : n) {
      std::string name = kv.first.Scalar();
      std::string k = key + "." + name;
      if (!bounded_regex_match(name, k_name)) fail(kv.first, k, "not a resource name");
      if (!kv.second.IsScalar() || !bounded_regex_match(kv.second.Scalar(), k_quantity))
        fail(kv.second, k, "expected a quantity such as 500m, 2 or 1Gi");
      out[name] = kv.second.Scalar();
    }
    return out;
  }

  Resources resources(const YAML::Node& n, const std::string& key) const {
    keys(n, key, {"requests", "limits"});
    Resources r;
    if (n["requests"]) r.requests = quantities(n["requests"], key + ".requests");
    if (n["limits"]) r.limits = quantities(n["limits"], key + ".limits");
    return r;
  }

  Variant variant(const YAML::Node& n, const std::string& key) const {
    keys(n, key, {"name", "image", "model_uri", "traffic", "shadow"});
    Variant v;
    v.key = key;
    if (!n["name"]) fail(n, key + ".name", "every variant needs a name");
    v.name = nonempty(n["name"], key + ".name");
    if (n["image"]) v.image = nonempty(n["image"], key + ".image");
    if (n["model_uri"]) v.model_uri = nonempty(n["model_uri"], key + ".model_uri");
    if (!v.image.empty() && !v.model_uri.empty()) fail(n, key, "give 'image' or 'model_uri', not both");
    if (n["traffic"]) v.traffic = integer(n["traffic"], key + ".traffic", 0, 100);
    if (n["shadow"]) v.shadow = boolean(n["shadow"], key + ".shadow");
    return v;
  }

  EnvOverride environment(const YAML::Node& n, const std::string& key) const {
    EnvOverride e;
    if (n.IsNull()) return e;
    keys(n, key, {"namespace", "replicas", "resources", "traffic"});
    if (n["namespace"]) e.ns = nonempty(n["namespace"], key + ".namespace");
    if (n["replicas"]) e.replicas = replicas(n["replicas"], key + ".replicas");
    if (n["resources"]) e.resources = resources(n["resources"], key + ".resources");
    if (const auto& t = n["traffic"]) {
      if (!t.IsMap()) fail(t, key + ".traffic", "expected a mapping of variant name to percent");
      for (const auto& kv : t)
        e.traffic[kv.first.Scalar()] = integer(kv.second, key + ".traffic." + kv.first.Scalar(), 0, 100);
    }
    return e;
  }

  Monitoring monitoring(const YAML::Node& n, const std::string& key) const {
    Monitoring m;
    if (n.IsScalar()) {
      m.enabled = boolean(n, key);
      return m;
    }
    keys(n, key, {"enabled", "port", "path"});
    m.enabled = n["enabled"] ? boolean(n["enabled"], key + ".enabled") : true;
    if (n["port"]) m.port = integer(n["port"], key + ".port", 1, 65535);
    if (n["path"]) {
      m.path = nonempty(n["path"], key + ".path");
      if (m.path[0] != '/') fail(n["path"], key + ".path", "must start with '/'");
    }
    return m;
  }

  Alerts alerts(const YAML::Node& n, const std::string& key) const {
    Alerts a;
    if (n.IsScalar()) {
      a.enabled = boolean(n, key);
      return a;
    }
    keys(n, key, {"enabled", "error_rate_percent", "latency_p95_ms", "for"});
    a.enabled = n["enabled"] ? boolean(n["enabled"], key + ".enabled") : true;
    if (n["error_rate_percent"])
      a.error_rate_percent = integer(n["error_rate_percent"], key + ".error_rate_percent", 1, 100);
    if (n["latency_p95_ms"]) a.latency_p95_ms = integer(n["latency_p95_ms"], key + ".latency_p95_ms", 1, 3600000);
    if (n["for"]) {
      static const std::regex k_duration("^[0-9]+(ms|s|m|h|d)$");
      a.for_duration = nonempty(n["for"], key + ".for");
      if (!bounded_regex_match(a.for_duration, k_duration))
        fail(n["for"], key + ".for", "expected a duration such as 30s, 5m or 1h");
    }
    return a;
  }

  Subjects subjects(const YAML::Node& n, const std::string& key) const {
    keys(n, key, {"users", "groups"});
    Subjects s;
    if (n["users"]) s.users = strings(n["users"], key + ".users", true);
    if (n["groups"]) s.groups = strings(n["groups"], key + ".groups", true);
    return s;
  }

  std::map<std::string, std::string> selector(const YAML::Node& n, const std::string& key) const {
    static const std::regex k_key(
        R"(^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$)");
    static const std::regex k_value(R"(^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$)");
    if (!n.IsMap() || n.size() == 0) fail(n, key, "expected a mapping of pod label to value (app: frontend)");
    std::map<std::string, std::string> out;
    for (const auto& kv : n) {
      std::string k = kv.first.Scalar();
      if (!bounded_regex_match(k, k_key)) fail(kv.first, key + "." + k, "not a label key");
      if (!kv.second.IsScalar() || !bounded_regex_match(kv.second.Scalar(), k_value))
        fail(kv.second, key + "." + k, "not a label value (at most 63 letters, digits, '-', '_', '.')");
      out[k] = kv.second.Scalar();
    }
    return out;
  }

  Access access(const YAML::Node& n, const std::string& key) const {
    keys(n, key, {"allow_namespaces", "allow_pods", "readers", "editors"});
    Access a;
    if (n["allow_namespaces"]) {
      a.restrict_ingress = true;
      a.allow_namespaces = strings(n["allow_namespaces"], key + ".allow_namespaces", true);
      for (std::size_t i = 0; i < a.allow_namespaces.size(); ++i)
        if (!is_dns_label(a.allow_namespaces[i]))
          fail(n["allow_namespaces"][i], key + ".allow_namespaces[" + std::to_string(i) + "]",
               quote(a.allow_namespaces[i]) + " is not a namespace name (a DNS-1123 label)");
    }
    if (const auto& p = n["allow_pods"]) {
      a.restrict_ingress = true;
      if (!p.IsSequence()) fail(p, key + ".allow_pods", "expected a list of pod label selectors");
      for (std::size_t i = 0; i < p.size(); ++i)
        a.allow_pods.push_back(selector(p[i], key + ".allow_pods[" + std::to_string(i) + "]"));
    }
    if (n["readers"]) a.readers = subjects(n["readers"], key + ".readers");
    if (n["editors"]) a.editors = subjects(n["editors"], key + ".editors");
    return a;
  }

  /// `KEY: true|false` or a mapping with `enabled` (default true) and `allowed` keys.
  bool toggle(const YAML::Node& n, const std::string& key, const std::vector<std::string>& allowed) const {
    if (n.IsScalar()) return boolean(n, key);
    keys(n, key, allowed);
    return n["enabled"] ? boolean(n["enabled"], key + ".enabled") : true;
  }

  std::string uri(const YAML::Node& n, const std::string& key) const {
    std::string u = nonempty(n, key);
    if (!looks_like_uri(u)) fail(n, key, quote(u) + " is not a storage URI (s3://, gs://, https://, pvc://, ...)");
    return u;
  }

  Explainer explainer(const YAML::Node& n, const std::string& key) const {
    Explainer e;
    if (!n.IsMap()) fail(n, key, "expected a mapping with 'type' and 'model_uri' (or 'image')");
    keys(n, key, {"type", "model_uri", "image"});
    e.enabled = true;
    if (n["type"]) e.type = nonempty(n["type"], key + ".type");
    if (n["model_uri"]) e.model_uri = uri(n["model_uri"], key + ".model_uri");
    if (n["image"]) e.image = nonempty(n["image"], key + ".image");
    return e;
  }

  Detector detector(const YAML::Node& n, const std::string& key) const {
    static const std::vector<std::string> k_types = {"drift", "outlier", "adversarial"};
    keys(n, key, {"name", "type", "artifact", "model_uri", "batch_size"});
    Detector d;
    d.key = key;
    if (!n["type"]) fail(n, key + ".type", "every detector needs a type (drift, outlier or adversarial)");
    d.type = nonempty(n["type"], key + ".type");
    if (std::find(k_types.begin(), k_types.end(), d.type) == k_types.end()) {
      auto near = suggest(d.type, k_types);
      fail(n["type"], key + ".type",
           "unknown detector type " + quote(d.type) + ": expected drift, outlier or adversarial" +
               (near.empty() ? "" : " (did you mean " + quote(near.front()) + "?)"));
    }
    d.name = n["name"] ? nonempty(n["name"], key + ".name") : d.type;
    if (!n["artifact"])
      fail(n, key + ".artifact", "name the detector's directory in the model (as in gates.extras.artifacts)");
    d.artifact = nonempty(n["artifact"], key + ".artifact");
    std::string a = "/" + d.artifact + "/";
    if (d.artifact[0] == '/' || a.find("/../") != std::string::npos || a.find("/./") != std::string::npos)
      fail(n["artifact"], key + ".artifact", quote(d.artifact) + " is not a relative path inside the model");
    while (!d.artifact.empty() && d.artifact.back() == '/')
      d.artifact.pop_back();
    if (n["model_uri"]) d.model_uri = uri(n["model_uri"], key + ".model_uri");
    if (n["batch_size"]) {
      if (d.type != "drift") fail(n["batch_size"], key + ".batch_size", "only a drift detector tests batches");
      d.batch_size = integer(n["batch_size"], key + ".batch_size", 1, 1000000);
    }
    return d;
  }

  Ingress ingress(const YAML::Node& n, const std::string& key) const {
    Ingress i;
    const YAML::Node type = n.IsScalar() ? n : n["type"];
    if (!n.IsScalar()) keys(n, key, {"type", "gateway", "host"});
    if (!type) fail(n, key + ".type", "expected istio or ambassador");
    i.type = nonempty(type, n.IsScalar() ? key : key + ".type");
    if (i.type != "istio" && i.type != "ambassador")
      fail(type, n.IsScalar() ? key : key + ".type",
           "unknown ingress " + quote(i.type) + ": expected istio or ambassador");
    if (n.IsScalar()) return i;
    if (n["gateway"]) i.gateway = nonempty(n["gateway"], key + ".gateway");
    if (n["host"]) {
      static const std::regex k_host(R"(^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?$)");
      i.host = nonempty(n["host"], key + ".host");
      if (!bounded_regex_match(i.host, k_host))
        fail(n["host"], key + ".host", quote(i.host) + " is not a host name (HOST[:PORT])");
    }
    return i;
  }

  KServe kserve(const YAML::Node& n, const std::string& key) const {
    keys(n, key, {"mode", "version"});
    KServe k;
    k.configured = true;
    if (n["mode"]) {
      std::string m = nonempty(n["mode"], key + ".mode");
      if (m == "knative" || m == "serverless" || m == "Knative" || m == "Serverless")
        k.mode = "knative";
      else if (m == "standard" || m == "raw" || m == "Standard" || m == "RawDeployment")
        k.mode = "standard";
      else
        fail(n["mode"], key + ".mode",
             "unknown mode " + quote(m) + ": expected knative (serverless) or standard (raw)");
    }
    if (n["version"]) {
      static const std::regex k_version(R"(^v?0\.([0-9]{1,3})(\.[0-9]+)?$)");
      std::smatch m;
      k.version = nonempty(n["version"], key + ".version");
      if (!bounded_regex_match(k.version, m, k_version))
        fail(n["version"], key + ".version",
             quote(k.version) + " is not a KServe version such as \"0.15\" or \"0.20\"");
      k.minor = std::stoi(m[1].str());
    }
    return k;
  }

  Knative knative(const YAML::Node& n, const std::string& key) const {
    Knative k;
    k.enabled = toggle(n, key, {"enabled", "broker"});
    if (!n.IsScalar() && n["broker"]) {
      k.broker = nonempty(n["broker"], key + ".broker");
      if (!is_dns_label(k.broker))
        fail(n["broker"], key + ".broker", quote(k.broker) + " is not a broker name (a DNS-1123 label)");
    }
    return k;
  }
};

const std::vector<std::string> k_top_keys = {"name",        "target",    "namespace", "replicas",     "resources",
                                             "protocol",    "image",     "model_uri", "environments", "variants",
                                             "monitoring",  "alerts",    "access",    "dashboard",    "explainer",
                                             "transformer", "detectors", "knative",   "ingress",      "kserve"};

void read_top(const Reader& r, const YAML::Node& d, DeploySpec& s) {
  if (d["name"]) s.name = r.nonempty(d["name"], "deploy.name");
  if (d["target"]) s.target = r.nonempty(d["target"], "deploy.target");
  if (d["namespace"]) s.ns = r.nonempty(d["namespace"], "deploy.namespace");
  if (d["replicas"]) s.replicas = r.replicas(d["replicas"], "deploy.replicas");
  if (d["resources"]) s.resources = r.resources(d["resources"], "deploy.resources");
  if (d["protocol"]) {
    s.protocol = r.nonempty(d["protocol"], "deploy.protocol");
    if (s.protocol != "v2" && s.protocol != "seldon")
      r.fail(d["protocol"], "deploy.protocol", "expected 'v2' or 'seldon'");
  }
  if (d["image"]) s.image = r.nonempty(d["image"], "deploy.image");
  if (d["model_uri"]) s.model_uri = r.nonempty(d["model_uri"], "deploy.model_uri");
  if (!s.image.empty() && !s.model_uri.empty()) r.fail(d, "deploy", "give 'image' or 'model_uri', not both");
  if (d["monitoring"]) s.monitoring = r.monitoring(d["monitoring"], "deploy.monitoring");
  if (d["alerts"]) s.alerts = r.alerts(d["alerts"], "deploy.alerts");
  if (d["access"]) s.access = r.access(d["access"], "deploy.access");
  if (d["dashboard"]) s.dashboard = r.toggle(d["dashboard"], "deploy.dashboard", {"enabled"});
  if (d["explainer"]) s.explainer = r.explainer(d["explainer"], "deploy.explainer");
  if (const auto& t = d["transformer"]) {
    if (!t.IsMap()) r.fail(t, "deploy.transformer", "expected a mapping with 'image'");
    r.keys(t, "deploy.transformer", {"image"});
    s.transformer.enabled = true;
    if (!t["image"]) r.fail(t, "deploy.transformer.image", "a transformer is a container: give its image");
    s.transformer.image = r.nonempty(t["image"], "deploy.transformer.image");
  }
  if (const auto& ds = d["detectors"]) {
    if (!ds.IsSequence()) r.fail(ds, "deploy.detectors", "expected a list of detectors");
    std::set<std::string> names;
    for (std::size_t i = 0; i < ds.size(); ++i) {
      std::string key = "deploy.detectors[" + std::to_string(i) + "]";
      s.detectors.push_back(r.detector(ds[i], key));
      if (!names.insert(s.detectors.back().name).second)
        r.fail(ds[i], key + ".name",
               "detector " + quote(s.detectors.back().name) + " is named twice (give each a name)");
    }
  }
  if (d["knative"]) s.knative = r.knative(d["knative"], "deploy.knative");
  if (d["ingress"]) s.ingress = r.ingress(d["ingress"], "deploy.ingress");
  if (d["kserve"]) s.kserve = r.kserve(d["kserve"], "deploy.kserve");
}

} // namespace

namespace {

/// Reads a `deploy:` node (null: nothing configured) into `s`.
void read_deploy(const YAML::Node& d, DeploySpec& s) {
  Reader r(s);
  if (!d || d.IsNull()) return;
  r.keys(d, "deploy", k_top_keys);
  read_top(r, d, s);
  if (const auto& envs = d["environments"]) {
    if (!envs.IsMap()) r.fail(envs, "deploy.environments", "expected a mapping of environment name to overrides");
    for (const auto& kv : envs) {
      std::string key = "deploy.environments." + kv.first.Scalar();
      r.mark(kv.first, key);
      s.environments[kv.first.Scalar()] = r.environment(kv.second, key);
    }
  }
  if (const auto& vs = d["variants"]) {
    if (!vs.IsSequence()) r.fail(vs, "deploy.variants", "expected a list of variants");
    for (std::size_t i = 0; i < vs.size(); ++i)
      s.variants.push_back(r.variant(vs[i], "deploy.variants[" + std::to_string(i) + "]"));
  }
}

YAML::Node load_yaml(const std::string& text, const std::string& file) {
  return YamlReader{"deploy spec", file}.load(text);
}

} // namespace

DeploySpec parse_spec(const std::string& yaml_text, const std::string& file) {
  DeploySpec s;
  s.file = file;
  read_deploy(load_yaml(yaml_text, file), s);
  return s;
}

DeploySpec load_spec(const std::filesystem::path& project_file) {
  DeploySpec s;
  s.file = project_file.string();
  YAML::Node root = YamlReader{"deploy spec", s.file}.load_file(project_file);
  if (root.IsMap() && root["deploy"]) read_deploy(root["deploy"], s);
  // Detectors are artifacts of the model; validate checks the declared ones ship.
  if (root.IsMap() && root["gates"] && root["gates"].IsMap() && root["gates"]["extras"] &&
      root["gates"]["extras"].IsMap() && root["gates"]["extras"]["artifacts"]) {
    Reader r(s);
    s.extras_declared = true;
    s.extras = r.strings(root["gates"]["extras"]["artifacts"], "gates.extras.artifacts", true);
  }
  return s;
}

std::string dns_label(const std::string& name) {
  std::string out;
  for (unsigned char c : name) {
    char l = static_cast<char>(std::tolower(c));
    bool ok = (l >= 'a' && l <= 'z') || (l >= '0' && l <= '9');
    if (ok)
      out += l;
    else if (!out.empty() && out.back() != '-')
      out += '-';
  }
  if (out.size() > 63) out.resize(63);
  while (!out.empty() && out.back() == '-')
    out.pop_back();
  return out;
}

bool has_dns_label_shape(std::string_view name) {
  auto ok = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (name.empty() || !ok(name.front()) || !ok(name.back())) return false;
  return std::all_of(name.begin(), name.end(), [&](char c) { return ok(c) || c == '-'; });
}

bool is_dns_label(const std::string& name) { return name.size() <= 63 && has_dns_label_shape(name); }

bool is_pinned(const std::string& image) { return oci::is_pinned_reference(image); }

} // namespace mlops::render
