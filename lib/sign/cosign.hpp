#pragma once
// Signatures and attestations stored in a registry the way cosign stores them (its "legacy"
// tag scheme, which every registry serves): for the image REPO@sha256:HEX, signatures are the
// layers of the manifest tagged sha256-HEX.sig and attestations (DSSE envelopes) the layers of
// sha256-HEX.att, in the same repository. Adding one appends a layer; others stay.
//
// Keyless signatures (a Fulcio certificate in dev.sigstore.cosign/certificate, a Rekor entry in
// dev.sigstore.cosign/bundle) are recognised and reported as not verifiable by mlops: the
// Signer type below is where they will be described (see README "Keyless signing").

#include "oci/registry.hpp"
#include "sign/keys.hpp"
#include "sign/provenance.hpp"

#include <optional>
#include <string>
#include <vector>

namespace mlops::sign {

/// "sha256-<hex>.sig" / "sha256-<hex>.att" for an image digest.
std::string signature_tag(const std::string& digest);
std::string attestation_tag(const std::string& digest);

/// Who signed: today a key (fingerprint of its public half). A keyless signer would carry
/// the certificate's subject and issuer, and the transparency-log entry that vouches for it.
struct Signer {
  enum class Kind { key, certificate };
  Kind kind = Kind::key;
  std::string key_fingerprint; ///< "sha256:<hex>" of the public key (Kind::key)
  std::string subject, issuer; ///< Kind::certificate (not produced or verified yet)
  std::string rekor_log_index; ///< Kind::certificate (not produced or verified yet)
  /// "key sha256:<first 16 hex>", for trailers and reports.
  std::string str() const;
};

/// What sign_image() stored.
struct SignResult {
  std::string image; ///< host/repo@sha256:...
  Signer signer;
  std::string signature_tag;
  std::string attestation_tag; ///< "" when no provenance was attested
  bool signature_existed = false;
};

/// Signs the image `digest` of `registry`'s repository with `key`: the simple-signing payload
/// appended to the .sig manifest (unless the same signature is there), and with `provenance`
/// its statement in a DSSE envelope appended to the .att manifest (predicateType annotation
/// as cosign writes). `registry` needs pull and push.
SignResult sign_image(oci::Registry& registry, const std::string& digest, const PrivateKey& key,
                      const std::optional<Provenance>& provenance);

/// What a verification must find.
struct Expectations {
  bool provenance = false;   ///< a SLSA v1 provenance attestation signed by the key
  std::string model_name;    ///< when set: the provenance names this model ...
  std::string model_version; ///< ... and this version ...
  std::string lock_digest;   ///< ... with this lock digest (when set)
};

/// The outcome of verify_image().
struct Verification {
  std::string image; ///< host/repo@sha256:...
  Signer signer;
  int signatures = 0;                   ///< signature layers looked at
  std::optional<Provenance> provenance; ///< the verified provenance, when one was found
  std::vector<std::string> notes;       ///< signatures skipped and why
};

/// Verifies the image `reference` (a tag or digest) of `registry`'s repository: some layer of
/// its .sig manifest has a signature by `key` over a payload naming the image's digest; with
/// `want.provenance` (or a model) some layer of its .att manifest is a DSSE envelope signed by
/// `key` holding a SLSA v1 statement about this digest that names the expected model version
/// and lock digest. Throws Error(not_found) when the image is missing, Error(gate_failed)
/// naming what does not match (unsigned, another key, another digest, another version).
Verification verify_image(oci::Registry& registry, const std::string& reference, const PublicKey& key,
                          const Expectations& want);

} // namespace mlops::sign
