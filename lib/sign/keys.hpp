#pragma once
// ECDSA P-256 keys for image signatures, as OpenSSL reads and writes them: a private key is a
// PKCS#8 PEM ("PRIVATE KEY", or "ENCRYPTED PRIVATE KEY" with a passphrase; "EC PRIVATE KEY"
// is read too), a public key a SubjectPublicKeyInfo PEM ("PUBLIC KEY"), the form cosign's
// --key reads. Signatures are ASN.1 DER ECDSA over SHA-256 of the message, as cosign makes.

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace mlops::sign {

namespace detail {
struct FreeKey {
  void operator()(void* pkey) const noexcept; // EVP_PKEY_free
};
} // namespace detail

/// A public key that verifies signatures.
class PublicKey {
public:
  /// Parses a PEM "PUBLIC KEY"; `what` names it in errors. Error(usage) when it is not
  /// one or not an EC P-256 key.
  static PublicKey from_pem(std::string_view pem, const std::string& what);
  /// Reads a public key file (at most limits::k_max_signature_payload_bytes). A private key
  /// file is refused with a hint (verification needs the .pub file).
  static PublicKey load(const std::filesystem::path& file);
  /// True when `der_signature` is a valid ECDSA signature of SHA-256(message).
  bool verify(std::string_view message, std::string_view der_signature) const;
  /// The key as PEM "PUBLIC KEY".
  std::string pem() const;
  /// "sha256:<hex>" of the DER SubjectPublicKeyInfo: names the signer in reports and commit
  /// trailers (the same key gives the same fingerprint in every format).
  std::string fingerprint() const;

private:
  std::unique_ptr<void, detail::FreeKey> m_key;
};

/// A private key that signs.
class PrivateKey {
public:
  /// Parses a PEM private key; `passphrase` decrypts an encrypted one. Error(usage) for a
  /// wrong or missing passphrase, or a key that is not EC P-256.
  static PrivateKey from_pem(std::string_view pem, const std::string& passphrase, const std::string& what);
  /// Reads a private key file (at most limits::k_max_signature_payload_bytes).
  static PrivateKey load(const std::filesystem::path& file, const std::string& passphrase);
  /// The DER ECDSA signature of SHA-256(message). Error(operational) when OpenSSL fails.
  std::string sign(std::string_view message) const;
  PublicKey public_key() const;

private:
  std::unique_ptr<void, detail::FreeKey> m_key;
};

/// A new P-256 pair as PEM text: the private key PKCS#8, encrypted with AES-256-CBC
/// (PBKDF2) when `passphrase` is not empty.
struct KeyPair {
  std::string private_pem, public_pem;
};
KeyPair generate_key_pair(const std::string& passphrase);

/// Strict standard base64 (RFC 4648 with padding, no whitespace); nullopt when `in` is not.
std::optional<std::string> base64_decode(std::string_view in);

} // namespace mlops::sign
