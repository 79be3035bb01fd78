// lib/sign: keys, cosign's signature payload, DSSE envelopes, in-toto statements, SLSA
// provenance and signature manifests.
#include "core/error.hpp"
#include "sign/cosign.hpp"
#include "sign/formats.hpp"
#include "sign/keys.hpp"
#include "sign/provenance.hpp"

#include <doctest/doctest.h>

using namespace mlops;
using namespace mlops::sign;

namespace {

const std::string k_digest = "sha256:" + std::string(64, 'a');
const std::string k_other = "sha256:" + std::string(64, 'b');

template <typename F> ErrorKind kind_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  }
  FAIL("no error");
  return ErrorKind::operational;
}

} // namespace

TEST_CASE("sign: a generated key signs and its public half verifies; another key does not") {
  KeyPair pair = generate_key_pair("");
  CHECK(pair.private_pem.find("-----BEGIN PRIVATE KEY-----") == 0);
  CHECK(pair.public_pem.find("-----BEGIN PUBLIC KEY-----") == 0);
  PrivateKey key = PrivateKey::from_pem(pair.private_pem, "", "k");
  PublicKey pub = PublicKey::from_pem(pair.public_pem, "p");
  CHECK(key.public_key().fingerprint() == pub.fingerprint());
  std::string sig = key.sign("payload");
  CHECK(pub.verify("payload", sig));
  CHECK_FALSE(pub.verify("payload!", sig));
  CHECK_FALSE(pub.verify("payload", sig.substr(1)));
  PublicKey other = PublicKey::from_pem(generate_key_pair("").public_pem, "o");
  CHECK_FALSE(other.verify("payload", sig));
  CHECK(other.fingerprint() != pub.fingerprint());
}

TEST_CASE("sign: an encrypted key needs its passphrase") {
  KeyPair pair = generate_key_pair("s3cret");
  CHECK(pair.private_pem.find("ENCRYPTED PRIVATE KEY") != std::string::npos);
  CHECK(kind_of([&] { PrivateKey::from_pem(pair.private_pem, "", "k"); }) == ErrorKind::usage);
  CHECK(kind_of([&] { PrivateKey::from_pem(pair.private_pem, "wrong", "k"); }) == ErrorKind::usage);
  PrivateKey key = PrivateKey::from_pem(pair.private_pem, "s3cret", "k");
  CHECK(PublicKey::from_pem(pair.public_pem, "p").verify("x", key.sign("x")));
  // A private key where a public one belongs, and garbage, are usage errors.
  CHECK(kind_of([&] { PublicKey::from_pem(pair.private_pem, "p"); }) == ErrorKind::usage);
  CHECK(kind_of([&] { PublicKey::from_pem("not a key", "p"); }) == ErrorKind::usage);
  CHECK(kind_of([&] { PrivateKey::from_pem("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----", "x", "k"); }) ==
        ErrorKind::usage);
}

TEST_CASE("sign: strict base64") {
  CHECK(base64_decode("aGVsbG8=") == std::optional<std::string>("hello"));
  CHECK(base64_decode("aGVsbA==") == std::optional<std::string>("hell"));
  CHECK(base64_decode("") == std::optional<std::string>(""));
  CHECK_FALSE(base64_decode("aGVsbG8"));
  CHECK_FALSE(base64_decode("aGV sbG8="));
  CHECK_FALSE(base64_decode("a=Vs"));
  CHECK_FALSE(base64_decode("aGVs\nbG8="));
}

TEST_CASE("sign: the simple-signing payload names the digest, as cosign writes it") {
  std::string p = simple_signing_payload("127.0.0.1:5000/iris", k_digest);
  CHECK(p ==
        R"({"critical":{"identity":{"docker-reference":"127.0.0.1:5000/iris"},"image":{"docker-manifest-digest":")" +
            k_digest + R"("},"type":"cosign container image signature"},"optional":null})");
  SimpleSigning s = parse_simple_signing(p, "p");
  CHECK(s.digest == k_digest);
  CHECK(s.docker_reference == "127.0.0.1:5000/iris");
  for (std::string bad :
       {std::string("[]"), std::string("{}"), std::string(R"({"critical":{"type":"x"}})"),
        std::string(R"({"critical":{"type":"cosign container image signature","image":{}}})"), std::string("{")}) {
    CHECK(kind_of([&] { parse_simple_signing(bad, "p"); }) == ErrorKind::gate_failed);
  }
}

TEST_CASE("sign: DSSE pre-authentication encoding and envelopes") {
  CHECK(dsse_pae("http://example.com/HelloWorld", "hello world") ==
        "DSSEv1 29 http://example.com/HelloWorld 11 hello world");
  std::string env = envelope_json(k_intoto_type, "{\"a\":1}", "\x30\x01");
  Envelope e = parse_envelope(env, "e");
  CHECK(e.payload_type == k_intoto_type);
  CHECK(e.payload == "{\"a\":1}");
  REQUIRE(e.signatures.size() == 1);
  CHECK(e.signatures[0].sig == std::string("\x30\x01"));
  for (std::string bad : {std::string("{}"), std::string(R"({"payloadType":"t","payload":"!!"})"),
                          std::string(R"({"payloadType":"t","payload":"","signatures":[]})"),
                          std::string(R"({"payloadType":"t","payload":"","signatures":[{"sig":"*"}]})")}) {
    CHECK(kind_of([&] { parse_envelope(bad, "e"); }) == ErrorKind::gate_failed);
  }
}

TEST_CASE("sign: provenance round trip through the statement") {
  Provenance p = provenance_from_annotations({{"io.mlflow.model.name", "iris"},
                                              {"io.mlflow.model.version", "3"},
                                              {"io.mlflow.model.run_id", "r1"},
                                              {"io.mlops.lock.digest", k_other},
                                              {"org.opencontainers.image.base.name", "127.0.0.1:5000/busybox"},
                                              {"org.opencontainers.image.base.digest", k_digest},
                                              {"io.mlops.tool", "mlops 0.1.0"}},
                                             "127.0.0.1:5000/iris", k_digest);
  p.validation = {{"status", "passed"}, {"policy", "sha256:p"}};
  std::string text = provenance_statement(p);
  Statement s = parse_statement(text, "s");
  CHECK(s.predicate_type == k_slsa_provenance_v1);
  REQUIRE(s.subjects.size() == 1);
  CHECK(s.subjects[0].second == k_digest);
  Provenance back = read_provenance(s, "s");
  CHECK(back.model_uri() == "models:/iris/3");
  CHECK(back.lock_digest == k_other);
  CHECK(back.run_id == "r1");
  CHECK(back.base_digest == k_digest);
  CHECK(back.builder_version == "mlops 0.1.0");
  CHECK(back.validation.at("status") == "passed");
  CHECK(kind_of([&] { parse_statement(R"({"_type":"x","predicateType":"p","subject":[]})", "s"); }) ==
        ErrorKind::gate_failed);
  Statement empty =
      parse_statement(R"({"_type":"https://in-toto.io/Statement/v0.1","predicateType":"p","subject":[]})", "s");
  CHECK(kind_of([&] { read_provenance(empty, "s"); }) == ErrorKind::gate_failed);
}

TEST_CASE("sign: signature manifests keep other layers and bound their count") {
  nlohmann::json m = {{"schemaVersion", 2},
                      {"layers",
                       {{{"mediaType", k_simple_signing_type},
                         {"digest", k_digest},
                         {"size", 10},
                         {"annotations", {{k_signature_annotation, "MEUC"}, {k_bundle_annotation, "{}"}}}}}}};
  auto layers = parse_signature_manifest(m, "m");
  REQUIRE(layers.size() == 1);
  CHECK(layers[0].annotations.at(k_signature_annotation) == "MEUC");
  std::string again = signature_manifest(layers, k_other, 5);
  CHECK(again.find(k_bundle_annotation) != std::string::npos); // cosign's annotations survive a rewrite
  CHECK(signature_config(layers).find(k_digest) != std::string::npos);
  nlohmann::json many = {{"layers", nlohmann::json::array()}};
  for (int i = 0; i < 257; ++i)
    many["layers"].push_back(m["layers"][0]);
  CHECK(kind_of([&] { parse_signature_manifest(many, "m"); }) == ErrorKind::gate_failed);
  CHECK(kind_of([&] {
          parse_signature_manifest({{"layers", {{{"digest", "x"}, {"size", 1}}}}}, "m");
        }) == ErrorKind::gate_failed);
  CHECK(signature_tag(k_digest) == "sha256-" + std::string(64, 'a') + ".sig");
  CHECK(attestation_tag(k_digest) == "sha256-" + std::string(64, 'a') + ".att");
}
