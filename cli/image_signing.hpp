#pragma once
// Signing and verifying pushed images from the CLI: keys from files (the passphrase from
// MLOPS_SIGNING_PASSWORD), provenance from the image's annotations and, when a tracking server
// is configured, the validation verdict recorded on the model version. Used by `mlops image`,
// `mlops package --sign` and promote's signature policy.

#include "cli/context.hpp"
#include "oci/registry.hpp"
#include "sign/cosign.hpp"

#include <string>

namespace mlops::cli {

/// Reads a private key; the passphrase comes from MLOPS_SIGNING_PASSWORD.
sign::PrivateKey load_signing_key(const std::string& path);

/// Signs the image `digest` of `registry`'s repository; with `provenance`, attests the
/// provenance built from its manifest annotations plus the recorded validation.
sign::SignResult sign_pushed(Context& ctx, oci::Registry& registry, const std::string& digest,
                             const sign::PrivateKey& key, bool provenance);

/// What verify_pushed() checks.
struct VerifyRequest {
  std::string image; ///< HOST/REPO[:TAG|@DIGEST]
  std::string key;   ///< public key file
  std::string model; ///< models:/NAME/VERSION (or @alias), "" = any
  bool provenance = false;
  /// When `model` is set: the expected lock digest, "" = pull the version into the cache
  /// and take its lock digest.
  std::string lock_digest;
};

/// Verifies a pushed image (see sign::verify_image). Throws Error.
sign::Verification verify_pushed(Context& ctx, const VerifyRequest& req);

} // namespace mlops::cli
