#include "sign/cosign.hpp"

#include "core/digest.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/limits.hpp"
#include "core/strings.hpp"
#include "oci/registry_auth.hpp"

namespace mlops::sign {

using nlohmann::json;

namespace {

std::string tag_for(const std::string& digest, const char* suffix) {
  std::string t = digest;
  if (auto colon = t.find(':'); colon != std::string::npos) t[colon] = '-';
  return t + suffix;
}

/// The layers of the manifest at `tag`, or none when the tag does not exist.
std::vector<SignatureLayer> layers_at(oci::Registry& r, const std::string& tag) {
  try {
    oci::RemoteManifest m = r.get_manifest(tag);
    return parse_signature_manifest(m.json, "the signature manifest " + quote(tag));
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::not_found) return {};
    throw;
  }
}

/// Uploads `bytes` as a blob (when the registry lacks it); returns its digest.
std::string put_blob(oci::Registry& r, const fs::TempDir& tmp, const std::string& bytes) {
  std::string digest = "sha256:" + sha256_hex(bytes);
  auto file = tmp.path() / digest.substr(7);
  fs::atomic_write(file, bytes, false);
  r.push_blob(file, digest);
  return digest;
}

/// Appends `layer` (with the blob `payload`) to the manifest at `tag`, unless an identical
/// layer is there. Returns true when it was there already.
bool append_layer(oci::Registry& r, const std::string& tag, const std::string& payload, SignatureLayer layer) {
  auto layers = layers_at(r, tag);
  fs::TempDir tmp("sign");
  layer.digest = put_blob(r, tmp, payload);
  layer.size = payload.size();
  json d = {{"mediaType", layer.media_type}, {"digest", layer.digest}, {"size", layer.size}};
  if (!layer.annotations.empty()) d["annotations"] = layer.annotations;
  layer.descriptor = d;
  for (const auto& l : layers)
    if (l.digest == layer.digest && l.annotations == layer.annotations) return true;
  if (layers.size() >= limits::k_max_signature_layers)
    throw Error(ErrorKind::operational, "the signature manifest " + quote(tag) + " holds " +
                                            std::to_string(layers.size()) + " signatures already");
  layers.push_back(std::move(layer));
  std::string config = signature_config(layers);
  std::string config_digest = put_blob(r, tmp, config);
  r.push_manifest(signature_manifest(layers, config_digest, config.size()),
                  "application/vnd.oci.image.manifest.v1+json", tag);
  return false;
}

std::string image_name(const oci::Registry& r) { return r.ref().registry + "/" + r.ref().repository; }

/// The payload blob of `l`, bounded.
std::string fetch(oci::Registry& r, const SignatureLayer& l) {
  if (l.size > limits::k_max_signature_payload_bytes)
    throw Error(ErrorKind::gate_failed, "layer " + l.digest + " is larger than 1 MiB");
  return r.get_blob(l.digest, l.size);
}

/// Checks one signature layer; "" when it is a signature by `key` of `digest`, else why not.
std::string check_signature(oci::Registry& r, const SignatureLayer& l, const PublicKey& key,
                            const std::string& digest) {
  if (l.annotations.count(k_certificate_annotation) && !l.annotations.count(k_signature_annotation))
    return "a keyless signature (certificate), which mlops does not verify yet";
  auto it = l.annotations.find(k_signature_annotation);
  if (it == l.annotations.end() || it->second.empty()) return "a layer without a signature annotation";
  if (it->second.size() > limits::k_max_signature_base64_bytes) return "a signature that is too long";
  auto der = base64_decode(it->second);
  if (!der) return "a signature that is not base64";
  std::string payload = fetch(r, l);
  if (!key.verify(payload, *der)) {
    if (l.annotations.count(k_certificate_annotation))
      return "a keyless signature (certificate), which mlops does not verify yet";
    return "a signature by another key, or over other bytes";
  }
  SimpleSigning s = parse_simple_signing(payload, "the payload " + l.digest.substr(0, 19));
  if (s.digest != digest) return "a valid signature by the key for another image (" + s.digest + ")";
  return {};
}

/// Looks for a provenance attestation by `key` about `digest`; sets `out` or returns why none.
std::string find_provenance(oci::Registry& r, const std::string& digest, const PublicKey& key,
                            std::optional<Provenance>& out) {
  auto layers = layers_at(r, attestation_tag(digest));
  if (layers.empty()) return "no attestations (" + attestation_tag(digest) + ")";
  std::vector<std::string> why;
  for (const auto& l : layers) {
    std::string what = "the attestation " + l.digest.substr(0, 19);
    try {
      Envelope e = parse_envelope(fetch(r, l), what);
      if (e.payload_type != k_intoto_type) {
        why.push_back(what + " has payload type " + quote(e.payload_type));
        continue;
      }
      std::string pae = dsse_pae(e.payload_type, e.payload);
      bool signed_by_key = false;
      for (const auto& s : e.signatures)
        signed_by_key = signed_by_key || key.verify(pae, s.sig);
      if (!signed_by_key) {
        why.push_back(what + " is not signed by the key");
        continue;
      }
      Statement st = parse_statement(e.payload, what);
      if (st.predicate_type != k_slsa_provenance_v1) continue; // another kind of attestation
      bool about = false;
      for (const auto& [name, d] : st.subjects)
        about = about || d == digest;
      if (!about) {
        why.push_back(what + " is about another image");
        continue;
      }
      out = read_provenance(st, what);
      return {};
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::gate_failed) throw;
      why.push_back(e.what());
    }
  }
  return why.empty() ? "no SLSA provenance v1 attestation" : join(why, "; ");
}

} // namespace

std::string signature_tag(const std::string& digest) { return tag_for(digest, ".sig"); }
std::string attestation_tag(const std::string& digest) { return tag_for(digest, ".att"); }

std::string Signer::str() const {
  if (kind == Kind::certificate) return "certificate " + subject + " (" + issuer + ")";
  return "key " + key_fingerprint.substr(0, 23);
}

SignResult sign_image(oci::Registry& registry, const std::string& digest, const PrivateKey& key,
                      const std::optional<Provenance>& provenance) {
  SignResult res;
  res.image = image_name(registry) + "@" + digest;
  res.signer.key_fingerprint = key.public_key().fingerprint();
  registry.ping();
  std::string payload = simple_signing_payload(image_name(registry), digest);
  SignatureLayer sig;
  sig.media_type = k_simple_signing_type;
  sig.annotations[k_signature_annotation] = oci::base64(key.sign(payload));
  res.signature_tag = signature_tag(digest);
  // ECDSA signatures are randomised: the same payload signed twice gives two layers. A
  // payload already signed by this key is left as it is.
  bool present = false;
  for (const auto& l : layers_at(registry, res.signature_tag)) {
    if (l.digest != "sha256:" + sha256_hex(payload) || !l.annotations.count(k_signature_annotation)) continue;
    auto der = base64_decode(l.annotations.at(k_signature_annotation));
    present = present || (der && key.public_key().verify(payload, *der));
  }
  res.signature_existed = present || append_layer(registry, res.signature_tag, payload, sig);
  if (provenance) {
    Provenance p = *provenance;
    p.image_name = image_name(registry);
    p.image_digest = digest;
    std::string statement = provenance_statement(p);
    std::string envelope = envelope_json(k_intoto_type, statement, key.sign(dsse_pae(k_intoto_type, statement)));
    SignatureLayer att;
    att.media_type = k_dsse_type;
    att.annotations[k_signature_annotation] = "";
    att.annotations["predicateType"] = k_slsa_provenance_v1;
    res.attestation_tag = attestation_tag(digest);
    append_layer(registry, res.attestation_tag, envelope, att);
  }
  return res;
}

Verification verify_image(oci::Registry& registry, const std::string& reference, const PublicKey& key,
                          const Expectations& want) {
  Verification v;
  oci::RemoteManifest image = registry.get_manifest(reference); // Error(not_found): exit 4
  v.image = image_name(registry) + "@" + image.digest;
  v.signer.key_fingerprint = key.fingerprint();
  auto fail = [&](const std::string& why) {
    return Error(ErrorKind::gate_failed, "cannot verify " + quote(v.image) + ": " + why);
  };
  auto sigs = layers_at(registry, signature_tag(image.digest));
  if (sigs.empty()) throw fail("it is not signed (no " + signature_tag(image.digest) + ")");
  bool ok = false;
  for (const auto& l : sigs) {
    ++v.signatures;
    std::string why;
    try {
      why = check_signature(registry, l, key, image.digest);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::gate_failed) throw;
      why = e.what();
    }
    if (why.empty()) {
      ok = true;
      break;
    }
    v.notes.push_back(l.digest.substr(0, 19) + ": " + why);
  }
  if (!ok)
    throw fail("no signature by the key " + v.signer.key_fingerprint.substr(0, 23) + " (" + join(v.notes, "; ") + ")");
  bool need = want.provenance || !want.model_name.empty();
  std::string why = find_provenance(registry, image.digest, key, v.provenance);
  if (!v.provenance) {
    if (need) throw fail("no provenance: " + why);
    return v;
  }
  const Provenance& p = *v.provenance;
  if (!want.model_name.empty()) {
    std::string wanted = "models:/" + want.model_name + "/" + want.model_version;
    if (p.model_name != want.model_name || p.model_version != want.model_version)
      throw fail("the provenance names " + quote(p.model_name.empty() ? "no model" : p.model_uri()) + ", not " +
                 quote(wanted));
    if (!want.lock_digest.empty() && p.lock_digest != want.lock_digest)
      throw fail("the provenance names the lock digest " + (p.lock_digest.empty() ? "(none)" : p.lock_digest) +
                 ", but " + wanted + " has " + want.lock_digest);
  }
  return v;
}

} // namespace mlops::sign
