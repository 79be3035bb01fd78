#include "sign/provenance.hpp"

#include "core/error.hpp"

namespace mlops::sign {

using nlohmann::json;

namespace {

std::string at(const std::map<std::string, std::string>& m, const std::string& k) {
  auto it = m.find(k);
  return it == m.end() ? std::string() : it->second;
}

std::string hex_of(const std::string& digest) { return digest.rfind("sha256:", 0) == 0 ? digest.substr(7) : digest; }

std::string text(const json& o, const char* key) {
  return o.is_object() && o.contains(key) && o[key].is_string() ? o[key].get<std::string>() : std::string();
}

} // namespace

Provenance provenance_from_annotations(const std::map<std::string, std::string>& a, const std::string& image_name,
                                       const std::string& image_digest) {
  Provenance p;
  p.image_name = image_name;
  p.image_digest = image_digest;
  p.model_name = at(a, "io.mlflow.model.name");
  p.model_version = at(a, "io.mlflow.model.version");
  p.run_id = at(a, "io.mlflow.model.run_id");
  p.model_source = at(a, "io.mlflow.model.source");
  p.lock_digest = at(a, "io.mlops.lock.digest");
  p.base_name = at(a, "org.opencontainers.image.base.name");
  p.base_digest = at(a, "org.opencontainers.image.base.digest");
  p.builder_version = at(a, "io.mlops.tool");
  return p;
}

std::string provenance_statement(const Provenance& p) {
  json deps = json::array();
  if (!p.model_name.empty()) {
    json model = {{"uri", p.model_uri()}, {"name", "mlflow-model-version"}};
    if (!p.lock_digest.empty()) model["digest"] = {{"sha256", hex_of(p.lock_digest)}};
    json ann = json::object();
    if (!p.run_id.empty()) ann["run_id"] = p.run_id;
    if (!p.model_source.empty()) ann["source"] = p.model_source;
    if (!p.lock_digest.empty()) ann["digest_of"] = "the file list of mlops.lock.json";
    if (!ann.empty()) model["annotations"] = ann;
    deps.push_back(model);
  }
  if (!p.run_id.empty()) deps.push_back({{"uri", "runs:/" + p.run_id}, {"name", "mlflow-run"}});
  if (!p.base_digest.empty())
    deps.push_back({{"uri", p.base_name.empty() ? "oci:base" : p.base_name},
                    {"name", "base-image"},
                    {"digest", {{"sha256", hex_of(p.base_digest)}}}});
  json external = {{"image", p.image_name}};
  if (!p.model_name.empty()) external["source"] = p.model_uri();
  if (!p.format.empty()) external["format"] = p.format;
  json internal = json::object();
  if (!p.validation.empty()) {
    json v = json::object();
    for (const auto& [k, val] : p.validation)
      v[k] = val;
    internal["validation"] = v;
  }
  json build = {{"buildType", k_build_type}, {"externalParameters", external}, {"resolvedDependencies", deps}};
  if (!internal.empty()) build["internalParameters"] = internal;
  json builder = {{"id", k_builder_id}};
  if (!p.builder_version.empty()) builder["version"] = {{"mlops", p.builder_version}};
  json statement = {
      {"_type", k_statement_v1},
      {"subject", json::array({{{"name", p.image_name}, {"digest", {{"sha256", hex_of(p.image_digest)}}}}})},
      {"predicateType", k_slsa_provenance_v1},
      {"predicate", {{"buildDefinition", build}, {"runDetails", {{"builder", builder}}}}}};
  return statement.dump();
}

Provenance read_provenance(const Statement& s, const std::string& what) {
  const json& pred = s.predicate;
  if (!pred.is_object() || !pred.contains("buildDefinition") || !pred["buildDefinition"].is_object())
    throw Error(ErrorKind::gate_failed, what + " is not a SLSA provenance v1 predicate: no 'buildDefinition'");
  const json& build = pred["buildDefinition"];
  Provenance p;
  for (const auto& [name, digest] : s.subjects)
    if (!digest.empty() && p.image_digest.empty()) p.image_name = name, p.image_digest = digest;
  if (build.contains("resolvedDependencies") && build["resolvedDependencies"].is_array()) {
    for (const auto& d : build["resolvedDependencies"]) {
      std::string uri = text(d, "uri");
      std::string sha = d.is_object() && d.contains("digest") ? text(d["digest"], "sha256") : std::string();
      if (uri.rfind("models:/", 0) == 0 && p.model_name.empty()) {
        std::string rest = uri.substr(8);
        auto slash = rest.rfind('/');
        if (slash != std::string::npos) {
          p.model_name = rest.substr(0, slash);
          p.model_version = rest.substr(slash + 1);
        }
        if (!sha.empty()) p.lock_digest = "sha256:" + sha;
        if (d.contains("annotations")) {
          p.run_id = text(d["annotations"], "run_id");
          p.model_source = text(d["annotations"], "source");
        }
      } else if (uri.rfind("runs:/", 0) == 0 && p.run_id.empty()) {
        p.run_id = uri.substr(6);
      } else if (text(d, "name") == "base-image") {
        p.base_name = uri;
        if (!sha.empty()) p.base_digest = "sha256:" + sha;
      }
    }
  }
  if (build.contains("internalParameters") && build["internalParameters"].is_object() &&
      build["internalParameters"].contains("validation") && build["internalParameters"]["validation"].is_object())
    for (const auto& [k, v] : build["internalParameters"]["validation"].items())
      if (v.is_string()) p.validation[k] = v.get<std::string>();
  if (pred.contains("runDetails") && pred["runDetails"].is_object() && pred["runDetails"].contains("builder")) {
    const json& b = pred["runDetails"]["builder"];
    if (b.is_object() && b.contains("version")) p.builder_version = text(b["version"], "mlops");
  }
  return p;
}

} // namespace mlops::sign
