#include "sign/formats.hpp"

#include "core/error.hpp"
#include "core/json.hpp"
#include "core/limits.hpp"
#include "oci/registry_auth.hpp"
#include "sign/keys.hpp"

namespace mlops::sign {

using nlohmann::json;

namespace {

bool is_sha256_digest(const std::string& d) {
  if (d.size() != 71 || d.rfind("sha256:", 0) != 0) return false;
  for (std::size_t i = 7; i < d.size(); ++i)
    if (!((d[i] >= '0' && d[i] <= '9') || (d[i] >= 'a' && d[i] <= 'f'))) return false;
  return true;
}

/// The string at `key` of object `o`, or nullopt when absent or not a string.
std::optional<std::string> text_at(const json& o, const char* key) {
  if (!o.is_object()) return std::nullopt;
  auto it = o.find(key);
  if (it == o.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

json parse_bounded(std::string_view text, const std::string& what, const std::string& kind) {
  try {
    return parse_json(text, what, ErrorKind::gate_failed, limits::k_max_signature_payload_bytes);
  } catch (const Error& e) {
    throw Error(ErrorKind::gate_failed, what + " is not " + kind + ": " + e.what());
  }
}

} // namespace

std::string simple_signing_payload(const std::string& repository, const std::string& digest) {
  json p = {{"critical",
             {{"identity", {{"docker-reference", repository}}},
              {"image", {{"docker-manifest-digest", digest}}},
              {"type", k_cosign_signature_type}}},
            {"optional", nullptr}};
  return p.dump();
}

SimpleSigning parse_simple_signing(std::string_view text, const std::string& what) {
  json j = parse_bounded(text, what, "a cosign signature payload");
  auto bad = [&](const std::string& why) {
    return Error(ErrorKind::gate_failed, what + " is not a cosign signature payload: " + why);
  };
  if (!j.is_object() || !j.contains("critical") || !j["critical"].is_object()) throw bad("no 'critical' object");
  const json& c = j["critical"];
  if (text_at(c, "type") != std::string(k_cosign_signature_type))
    throw bad("'critical.type' is not " + quote(k_cosign_signature_type));
  SimpleSigning s;
  if (c.contains("image")) s.digest = text_at(c["image"], "docker-manifest-digest").value_or("");
  if (!is_sha256_digest(s.digest)) throw bad("'critical.image.docker-manifest-digest' is not a sha256 digest");
  if (c.contains("identity")) s.docker_reference = text_at(c["identity"], "docker-reference").value_or("");
  return s;
}

std::string dsse_pae(std::string_view type, std::string_view body) {
  std::string out = "DSSEv1 " + std::to_string(type.size()) + " ";
  out.append(type);
  out += " " + std::to_string(body.size()) + " ";
  out.append(body);
  return out;
}

std::string envelope_json(const std::string& payload_type, const std::string& payload, const std::string& der_sig) {
  json e = {{"payloadType", payload_type},
            {"payload", oci::base64(payload)},
            {"signatures", json::array({{{"keyid", ""}, {"sig", oci::base64(der_sig)}}})}};
  return e.dump();
}

Envelope parse_envelope(std::string_view text, const std::string& what) {
  json j = parse_bounded(text, what, "a DSSE envelope");
  auto bad = [&](const std::string& why) {
    return Error(ErrorKind::gate_failed, what + " is not a DSSE envelope: " + why);
  };
  if (!j.is_object()) throw bad("not a JSON object");
  Envelope e;
  auto type = text_at(j, "payloadType");
  auto payload = text_at(j, "payload");
  if (!type || type->empty()) throw bad("no 'payloadType'");
  if (!payload) throw bad("no 'payload'");
  e.payload_type = *type;
  auto decoded = base64_decode(*payload);
  if (!decoded) throw bad("'payload' is not base64");
  e.payload = std::move(*decoded);
  if (!j.contains("signatures") || !j["signatures"].is_array() || j["signatures"].empty()) throw bad("no 'signatures'");
  if (j["signatures"].size() > limits::k_max_signature_layers) throw bad("too many signatures");
  for (const auto& s : j["signatures"]) {
    auto sig = text_at(s, "sig");
    if (!sig || sig->size() > limits::k_max_signature_base64_bytes) throw bad("a signature without a valid 'sig'");
    auto der = base64_decode(*sig);
    if (!der) throw bad("a 'sig' that is not base64");
    e.signatures.push_back({text_at(s, "keyid").value_or(""), std::move(*der)});
  }
  return e;
}

Statement parse_statement(std::string_view text, const std::string& what) {
  json j = parse_bounded(text, what, "an in-toto statement");
  auto bad = [&](const std::string& why) {
    return Error(ErrorKind::gate_failed, what + " is not an in-toto statement: " + why);
  };
  if (!j.is_object()) throw bad("not a JSON object");
  Statement s;
  s.type = text_at(j, "_type").value_or("");
  if (s.type.rfind("https://in-toto.io/Statement/", 0) != 0) throw bad("'_type' is not an in-toto statement type");
  s.predicate_type = text_at(j, "predicateType").value_or("");
  if (s.predicate_type.empty()) throw bad("no 'predicateType'");
  if (!j.contains("subject") || !j["subject"].is_array()) throw bad("no 'subject' list");
  if (j["subject"].size() > limits::k_max_signature_layers) throw bad("too many subjects");
  for (const auto& sub : j["subject"]) {
    if (!sub.is_object()) throw bad("a subject is not an object");
    std::string digest;
    if (sub.contains("digest") && sub["digest"].is_object())
      if (auto hex = text_at(sub["digest"], "sha256")) digest = "sha256:" + *hex;
    s.subjects.emplace_back(text_at(sub, "name").value_or(""), is_sha256_digest(digest) ? digest : "");
  }
  s.predicate = j.contains("predicate") ? j["predicate"] : json(nullptr);
  return s;
}

std::vector<SignatureLayer> parse_signature_manifest(const json& m, const std::string& what) {
  auto bad = [&](const std::string& why) { return Error(ErrorKind::gate_failed, what + " " + why); };
  if (!m.is_object() || !m.contains("layers") || !m["layers"].is_array())
    throw bad("is not an image manifest with layers");
  if (m["layers"].size() > limits::k_max_signature_layers)
    throw bad("has more than " + std::to_string(limits::k_max_signature_layers) + " signatures");
  std::vector<SignatureLayer> out;
  for (const auto& l : m["layers"]) {
    SignatureLayer s;
    s.media_type = text_at(l, "mediaType").value_or("");
    s.digest = text_at(l, "digest").value_or("");
    if (!is_sha256_digest(s.digest)) throw bad("has a layer without a sha256 digest");
    if (!l.contains("size") || !l["size"].is_number_integer() || l["size"].get<std::int64_t>() < 0)
      throw bad("has a layer without a size");
    s.size = l["size"].get<std::uint64_t>();
    if (l.contains("annotations") && l["annotations"].is_object())
      for (const auto& [k, v] : l["annotations"].items())
        if (v.is_string()) s.annotations[k] = v.get<std::string>();
    s.descriptor = l;
    out.push_back(std::move(s));
  }
  return out;
}

std::string signature_config(const std::vector<SignatureLayer>& layers) {
  json diff_ids = json::array();
  for (const auto& l : layers)
    diff_ids.push_back(l.digest); // payloads are stored uncompressed: diff_id = digest
  json c = {{"architecture", ""},
            {"os", ""},
            {"config", json::object()},
            {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}};
  return c.dump();
}

std::string signature_manifest(const std::vector<SignatureLayer>& layers, const std::string& config_digest,
                               std::uint64_t config_size) {
  json ls = json::array();
  for (const auto& l : layers)
    ls.push_back(l.descriptor);
  json m = {
      {"schemaVersion", 2},
      {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
      {"config",
       {{"mediaType", "application/vnd.oci.image.config.v1+json"}, {"digest", config_digest}, {"size", config_size}}},
      {"layers", ls}};
  return m.dump();
}

} // namespace mlops::sign
