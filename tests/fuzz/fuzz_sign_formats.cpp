// lib/sign: what a registry hands back for a signed image: the simple-signing payload of a
// signature, a DSSE envelope and the in-toto statement (SLSA provenance) inside it, and the
// manifest of a .sig/.att tag; and the PEM key files a user hands over. The first byte picks the parser; the rest is
// its input.
#include "core/json.hpp"
#include "fuzz.hpp"
#include "sign/formats.hpp"
#include "sign/keys.hpp"
#include "sign/provenance.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string text(mlops::fuzz::text_of(data + 1, size - 1));
  switch (data[0] % 5) {
  case 0:
    mlops::fuzz::refusing_is_fine([&] { (void)mlops::sign::parse_simple_signing(text, "payload"); });
    break;
  case 1:
    mlops::fuzz::refusing_is_fine([&] {
      auto e = mlops::sign::parse_envelope(text, "envelope");
      (void)mlops::sign::dsse_pae(e.payload_type, e.payload);
    });
    break;
  case 2:
    mlops::fuzz::refusing_is_fine([&] {
      auto s = mlops::sign::parse_statement(text, "statement");
      auto p = mlops::sign::read_provenance(s, "statement");
      (void)mlops::sign::provenance_statement(p);
    });
    break;
  case 3:
    mlops::fuzz::refusing_is_fine([&] { (void)mlops::sign::PublicKey::from_pem(text, "key"); });
    mlops::fuzz::refusing_is_fine([&] { (void)mlops::sign::PrivateKey::from_pem(text, "pass", "key"); });
    (void)mlops::sign::base64_decode(text);
    break;
  default:
    mlops::fuzz::refusing_is_fine([&] {
      auto j = mlops::parse_json(text, "manifest", mlops::ErrorKind::gate_failed, 1u << 20);
      auto layers = mlops::sign::parse_signature_manifest(j, "manifest");
      (void)mlops::sign::signature_manifest(layers, "sha256:" + std::string(64, '0'), 2);
      (void)mlops::sign::signature_config(layers);
    });
  }
  return 0;
}
