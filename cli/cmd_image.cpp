#include "cli/command.hpp"
#include "cli/image_signing.hpp"
#include "cli/registry_client.hpp"
#include "core/config.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"

#include <sys/stat.h>

namespace mlops::cli {

namespace {

struct ImageArgs {
  std::string image, key, model, output = "mlops";
  bool no_provenance = false, provenance = false, force = false;
  CLI::App* keygen = nullptr;
  CLI::App* sign = nullptr;
  CLI::App* verify = nullptr;
};

int run_keygen(Context& ctx, const ImageArgs& a) {
  std::filesystem::path priv = a.output + ".key", pub = a.output + ".pub";
  std::error_code ec;
  for (const auto& f : {priv, pub})
    if (!a.force && std::filesystem::exists(f, ec))
      throw Error(ErrorKind::usage, "cannot write " + quote(f.string()) + ": it exists", "pass --force to replace it");
  std::string pass = process_getenv("MLOPS_SIGNING_PASSWORD").value_or("");
  sign::KeyPair pair = sign::generate_key_pair(pass);
  mode_t old = ::umask(077); // the private key is readable by its owner only, from its first byte
  try {
    fs::atomic_write(priv, pair.private_pem);
  } catch (...) {
    ::umask(old);
    throw;
  }
  ::umask(old);
  fs::atomic_write(pub, pair.public_pem);
  std::string fp = sign::PrivateKey::from_pem(pair.private_pem, pass, priv.string()).public_key().fingerprint();
  if (ctx.json()) {
    ctx.out().json({{"private_key", priv.string()},
                    {"public_key", pub.string()},
                    {"fingerprint", fp},
                    {"encrypted", !pass.empty()}});
    return 0;
  }
  ctx.out().line("wrote " + priv.string() +
                 (pass.empty() ? " (not encrypted: set MLOPS_SIGNING_PASSWORD to encrypt)"
                               : " (encrypted with MLOPS_SIGNING_PASSWORD)"));
  ctx.out().line("wrote " + pub.string() + " (" + fp + ")");
  return 0;
}

int run_sign(Context& ctx, const ImageArgs& a) {
  oci::ImageRef ref = oci::parse_image_ref(a.image);
  if (ref.digest.empty())
    throw Error(ErrorKind::usage, "cannot sign " + quote(a.image) + ": not pinned by digest",
                "sign HOST/REPO@sha256:DIGEST (the digest 'mlops package --push' printed)");
  sign::PrivateKey key = load_signing_key(a.key);
  RegistryClient client(ctx, ref, "pull,push");
  sign::SignResult r;
  try {
    r = sign_pushed(ctx, client.registry, ref.digest, key, !a.no_provenance);
  } catch (const Error& e) {
    throw e.with_context("cannot sign " + quote(a.image));
  }
  if (ctx.json()) {
    ctx.out().json({{"image", r.image},
                    {"signer", r.signer.key_fingerprint},
                    {"signature_tag", r.signature_tag},
                    {"attestation_tag", r.attestation_tag.empty() ? nlohmann::ordered_json(nullptr)
                                                                  : nlohmann::ordered_json(r.attestation_tag)},
                    {"already_signed", r.signature_existed}});
    return 0;
  }
  ctx.out().line("signed " + r.image + " with " + r.signer.str() + ": " + r.signature_tag +
                 (r.attestation_tag.empty() ? "" : ", provenance " + r.attestation_tag) +
                 (r.signature_existed ? " (the signature was there already)" : ""));
  return 0;
}

int run_verify(Context& ctx, const ImageArgs& a) {
  VerifyRequest req;
  req.image = a.image;
  req.key = a.key;
  req.model = a.model;
  req.provenance = a.provenance;
  sign::Verification v = verify_pushed(ctx, req);
  if (ctx.json()) {
    nlohmann::ordered_json prov = nullptr;
    if (v.provenance) {
      const auto& p = *v.provenance;
      nlohmann::ordered_json validation = nlohmann::ordered_json::object();
      for (const auto& [k, val] : p.validation)
        validation[k] = val;
      prov = {{"model", p.model_name.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(p.model_uri())},
              {"run_id", p.run_id},
              {"lock_digest", p.lock_digest},
              {"base", p.base_name},
              {"base_digest", p.base_digest},
              {"builder", p.builder_version},
              {"validation", validation}};
    }
    ctx.out().json({{"image", v.image},
                    {"verified", true},
                    {"signer", v.signer.key_fingerprint},
                    {"signatures_checked", v.signatures},
                    {"provenance", prov}});
    return 0;
  }
  ctx.out().line("verified " + v.image + ": signed by " + v.signer.str());
  if (v.provenance) {
    const auto& p = *v.provenance;
    std::string line = "provenance: " + (p.model_name.empty() ? std::string("no model") : p.model_uri());
    if (!p.lock_digest.empty()) line += ", lock " + p.lock_digest.substr(0, 19);
    if (!p.run_id.empty()) line += ", run " + p.run_id;
    if (!p.builder_version.empty()) line += ", built by " + p.builder_version;
    if (auto it = p.validation.find("status"); it != p.validation.end()) line += ", validation " + it->second;
    ctx.out().line(line);
  }
  return 0;
}

} // namespace

Command image_command() {
  Command c;
  c.name = "image";
  c.summary = "sign pushed images and verify their signatures and SLSA provenance (cosign's format)";
  c.description =
      "'mlops image keygen' writes an ECDSA P-256 key pair: PREFIX.key (PKCS#8 PEM, mode 0600, encrypted with "
      "AES-256 when MLOPS_SIGNING_PASSWORD is set) and PREFIX.pub (PEM public key; cosign's --key reads it, and "
      "'cosign import-key-pair --key PREFIX.key' turns an unencrypted private key into cosign's own format, so one "
      "pair serves both tools).\n\n"
      "'mlops image sign HOST/REPO@sha256:DIGEST --key KEY' signs the image in cosign's format: the simple-signing "
      "payload naming the digest, an ECDSA P-256/SHA-256 signature over it, stored as a layer of the manifest "
      "tagged sha256-DIGEST.sig in the same repository with the base64 signature in the annotation "
      "dev.cosignproject.cosign/signature (other signatures in that manifest are kept). It also attests SLSA "
      "provenance v1 (unless --no-provenance): an in-toto statement about the digest naming the MLflow model "
      "version (models:/NAME/VERSION, with the lock digest of its files), the run, the base image and its digest, "
      "the mlops version that built it (all from the image's annotations, which the signed digest covers) and "
      "the validation verdict and policy digest 'mlops validate --record' left on the version (when a tracking "
      "server is configured), in a DSSE envelope signed with the same key and stored as a layer of the "
      "sha256-DIGEST.att manifest, as 'cosign attest' stores attestations. 'cosign verify --key KEY.pub "
      "--insecure-ignore-tlog' and 'cosign verify-attestation --type slsaprovenance1 --key KEY.pub "
      "--insecure-ignore-tlog' accept both.\n\n"
      "'mlops image verify IMAGE --key KEY.pub' checks that the image (a tag is resolved to its digest) has a "
      "signature by the key over a payload naming its digest, and when there is a provenance attestation by the "
      "key about the digest, reads it. --provenance requires one; --model models:/NAME/VERSION requires one "
      "naming that version and the lock digest of its files (pulled into the cache when needed, so a tracking "
      "server is needed). Signatures and attestations made by cosign verify the same way. Exit 3 naming what "
      "does not match (unsigned, another key, a payload naming another digest, provenance of another version or "
      "other bytes), 4 when the image is missing. Keyless signatures (Fulcio certificates, Rekor entries) are "
      "recognised and reported as not verifiable yet.";
  c.examples = "  MLOPS_SIGNING_PASSWORD=... mlops image keygen --output ci\n"
               "  mlops image sign registry.example/iris@sha256:<digest> --key ci.key\n"
               "  mlops image verify registry.example/iris:3 --key ci.pub --model models:/iris/3";
  c.setup = [](CLI::App& app) -> Runner {
    auto a = std::make_shared<ImageArgs>();
    app.require_subcommand(1, 1);
    a->keygen = app.add_subcommand("keygen", "write an ECDSA P-256 key pair (PREFIX.key, PREFIX.pub)");
    a->keygen->fallthrough();
    a->keygen->add_option("--output", a->output, "file name prefix (default mlops)")->type_name("PREFIX");
    a->keygen->add_flag("--force", a->force, "replace existing key files");
    a->sign = app.add_subcommand("sign", "sign a pushed image and attest its provenance");
    a->sign->fallthrough();
    a->sign->add_option("IMAGE", a->image, "HOST[:PORT]/REPO@sha256:DIGEST")->required();
    a->sign->add_option("--key", a->key, "the private key (PKCS#8 PEM)")->required()->type_name("FILE");
    a->sign->add_flag("--no-provenance", a->no_provenance, "sign only; attest no provenance");
    a->verify = app.add_subcommand("verify", "verify an image's signature and provenance");
    a->verify->fallthrough();
    a->verify->add_option("IMAGE", a->image, "HOST[:PORT]/REPO[:TAG|@sha256:DIGEST]")->required();
    a->verify->add_option("--key", a->key, "the public key (PEM)")->required()->type_name("FILE");
    a->verify->add_option("--model", a->model, "the provenance must name this version: models:/NAME/VERSION")
        ->type_name("MODEL_URI");
    a->verify->add_flag("--provenance", a->provenance, "require a provenance attestation");
    return [a](Context& ctx) {
      if (a->keygen->parsed()) return run_keygen(ctx, *a);
      if (a->sign->parsed()) return run_sign(ctx, *a);
      return run_verify(ctx, *a);
    };
  };
  return c;
}

} // namespace mlops::cli
