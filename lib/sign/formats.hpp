#pragma once
// The documents of cosign's signature and attestation format, built and parsed (every parser
// here reads outside input: bounded by limits::k_max_signature_payload_bytes and
// k_max_signature_layers, refusing with Error(gate_failed), and has a fuzz target):
//  - the simple-signing payload a signature signs (critical.image.docker-manifest-digest);
//  - a DSSE envelope (payloadType, base64 payload, signatures over the PAE) and the in-toto
//    statement inside it;
//  - the manifest stored at the sha256-<hex>.sig / .att tag: one layer per signature, the
//    signature in the layer annotation dev.cosignproject.cosign/signature.

#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mlops::sign {

inline constexpr const char* k_simple_signing_type = "application/vnd.dev.cosign.simplesigning.v1+json";
inline constexpr const char* k_dsse_type = "application/vnd.dsse.envelope.v1+json";
inline constexpr const char* k_intoto_type = "application/vnd.in-toto+json";
inline constexpr const char* k_signature_annotation = "dev.cosignproject.cosign/signature";
inline constexpr const char* k_certificate_annotation = "dev.sigstore.cosign/certificate";
inline constexpr const char* k_bundle_annotation = "dev.sigstore.cosign/bundle";
inline constexpr const char* k_cosign_signature_type = "cosign container image signature";
inline constexpr const char* k_slsa_provenance_v1 = "https://slsa.dev/provenance/v1";
inline constexpr const char* k_statement_v1 = "https://in-toto.io/Statement/v1";

/// The simple-signing payload for the image `repository` ("host/repo") at `digest`, as cosign
/// writes it ("optional": null).
std::string simple_signing_payload(const std::string& repository, const std::string& digest);

/// What a simple-signing payload claims.
struct SimpleSigning {
  std::string docker_reference;
  std::string digest; ///< critical.image.docker-manifest-digest
};
/// Parses a payload; Error(gate_failed) "<what> is not a cosign signature payload: why".
SimpleSigning parse_simple_signing(std::string_view text, const std::string& what);

/// DSSE's pre-authentication encoding: "DSSEv1 <len> <type> <len> <body>".
std::string dsse_pae(std::string_view type, std::string_view body);

/// A DSSE envelope with its payload and signatures decoded.
struct Envelope {
  std::string payload_type;
  std::string payload;
  struct Signature {
    std::string keyid;
    std::string sig; ///< DER bytes
  };
  std::vector<Signature> signatures;
};
/// The envelope JSON (payload and signature in standard base64, keyid "").
std::string envelope_json(const std::string& payload_type, const std::string& payload, const std::string& der_sig);
/// Parses an envelope; Error(gate_failed) "<what> is not a DSSE envelope: why".
Envelope parse_envelope(std::string_view text, const std::string& what);

/// An in-toto statement (v0.1 or v1).
struct Statement {
  std::string type, predicate_type;
  std::vector<std::pair<std::string, std::string>> subjects; ///< name, "sha256:<hex>" ("" without sha256)
  nlohmann::json predicate;
};
/// Parses a statement; Error(gate_failed) "<what> is not an in-toto statement: why".
Statement parse_statement(std::string_view text, const std::string& what);

/// One layer of a signature manifest.
struct SignatureLayer {
  std::string media_type, digest;
  std::uint64_t size = 0;
  std::map<std::string, std::string> annotations;
  nlohmann::json descriptor; ///< as stored (kept when the manifest is written again)
};
/// The layers of a `.sig`/`.att` manifest; Error(gate_failed) for a manifest that is not an
/// image manifest of descriptors, or has more than limits::k_max_signature_layers layers.
std::vector<SignatureLayer> parse_signature_manifest(const nlohmann::json& manifest, const std::string& what);

/// A `.sig`/`.att` manifest over `layers` with `config` (digest and size of the config blob
/// config_json() gives for them): OCI media types, as cosign writes.
std::string signature_manifest(const std::vector<SignatureLayer>& layers, const std::string& config_digest,
                               std::uint64_t config_size);
/// The image config of a signature manifest: empty platform and one diff_id per layer.
std::string signature_config(const std::vector<SignatureLayer>& layers);

} // namespace mlops::sign
