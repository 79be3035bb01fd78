#include "cli/image_signing.hpp"

#include "cli/model_source.hpp"
#include "cli/registry_client.hpp"
#include "core/config.hpp"
#include "core/error.hpp"
#include "mlflow/model_uri.hpp"

namespace mlops::cli {

sign::PrivateKey load_signing_key(const std::string& path) {
  return sign::PrivateKey::load(path, process_getenv("MLOPS_SIGNING_PASSWORD").value_or(""));
}

namespace {

/// The validation verdict `validate --record` left on the version, when MLflow can say.
std::map<std::string, std::string> recorded_validation(Context& ctx, const sign::Provenance& p) {
  std::map<std::string, std::string> out;
  if (p.model_name.empty() || ctx.settings().tracking_uri.empty()) return out;
  try {
    mlflow::ModelVersion v = ctx.mlflow().get_model_version(p.model_name, p.model_version);
    for (const char* k : {"status", "digest", "policy", "time"}) {
      auto it = v.tags.find(std::string("mlops.validation.") + k);
      if (it != v.tags.end()) out[k] = it->second;
    }
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::not_found) throw;
    ctx.log().debug(1, std::string("no validation recorded: ") + e.what());
  }
  return out;
}

std::map<std::string, std::string> annotations_of(const oci::RemoteManifest& m) {
  std::map<std::string, std::string> a;
  if (m.json.contains("annotations") && m.json["annotations"].is_object())
    for (const auto& [k, v] : m.json["annotations"].items())
      if (v.is_string()) a[k] = v.get<std::string>();
  return a;
}

} // namespace

sign::SignResult sign_pushed(Context& ctx, oci::Registry& registry, const std::string& digest,
                             const sign::PrivateKey& key, bool provenance) {
  registry.ping(); // how to speak to it (HTTPS, or plain HTTP where allowed) and whether we may
  std::optional<sign::Provenance> p;
  if (provenance) {
    oci::RemoteManifest m = registry.get_manifest(digest); // Error(not_found): exit 4
    p = sign::provenance_from_annotations(annotations_of(m), registry.ref().registry + "/" + registry.ref().repository,
                                          digest);
    if (p->model_name.empty()) {
      ctx.log().debug(1, "the image names no MLflow model version: provenance without one");
    }
    p->validation = recorded_validation(ctx, *p);
  }
  return sign::sign_image(registry, digest, key, p);
}

sign::Verification verify_pushed(Context& ctx, const VerifyRequest& req) {
  oci::ImageRef ref = oci::parse_image_ref(req.image);
  sign::PublicKey key = sign::PublicKey::load(req.key);
  sign::Expectations want;
  want.provenance = req.provenance;
  if (!req.model.empty()) {
    mlflow::ModelUri uri = mlflow::parse_model_uri(req.model);
    want.lock_digest = req.lock_digest;
    if (uri.kind == mlflow::ModelUri::Kind::version && !req.lock_digest.empty()) {
      want.model_name = uri.name;
      want.model_version = uri.reference;
    } else {
      // The version's lock digest: its files pulled (or found) in the cache.
      ModelSource src = open_model_source(ctx, req.model);
      if (!src.lock) throw Error(ErrorKind::operational, "cannot compute the lock digest of " + quote(req.model));
      want.model_name = src.lock->name;
      want.model_version = src.lock->version;
      want.lock_digest = src.lock->digest;
    }
  }
  RegistryClient client(ctx, ref, "pull");
  std::string reference = ref.digest.empty() ? ref.tag : ref.digest;
  try {
    client.registry.ping();
    return sign::verify_image(client.registry, reference, key, want);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::gate_failed) throw;
    throw e.with_context("cannot verify " + quote(req.image));
  }
}

} // namespace mlops::cli
