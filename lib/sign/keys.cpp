#include "sign/keys.hpp"

#include "core/digest.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/limits.hpp"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstring>

namespace mlops::sign {

void detail::FreeKey::operator()(void* pkey) const noexcept { EVP_PKEY_free(static_cast<EVP_PKEY*>(pkey)); }

namespace {

struct FreeBio {
  void operator()(BIO* b) const noexcept { BIO_free(b); }
};
using Bio = std::unique_ptr<BIO, FreeBio>;
struct FreeMdCtx {
  void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, FreeMdCtx>;

Bio read_bio(std::string_view text) {
  Bio b(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  if (!b) throw Error(ErrorKind::operational, "cannot read a key: out of memory");
  return b;
}

std::string bio_text(BIO* b) {
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

/// The OpenSSL error queue's first reason, lowercase, and the queue emptied.
std::string openssl_reason() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "not a PEM key";
  const char* r = ERR_reason_error_string(e);
  return r ? r : "unreadable key";
}

/// Error(usage) unless `key` is an EC key on P-256 (the curve cosign's format uses).
void require_p256(EVP_PKEY* key, const std::string& what) {
  char group[64] = {};
  std::size_t len = 0;
  if (!EVP_PKEY_is_a(key, "EC") ||
      !EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len) ||
      (std::strcmp(group, "prime256v1") != 0 && std::strcmp(group, "P-256") != 0)) {
    ERR_clear_error();
    throw Error(
        ErrorKind::usage, "cannot use the key " + quote(what) + ": not an ECDSA P-256 key",
        "create one with 'mlops image keygen' or 'openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256'");
  }
}

std::string read_key_file(const std::filesystem::path& file) {
  std::error_code ec;
  auto size = std::filesystem::file_size(file, ec);
  if (ec) throw Error(ErrorKind::usage, "cannot read the key " + quote(file.string()) + ": " + ec.message());
  if (size > limits::k_max_signature_payload_bytes)
    throw Error(ErrorKind::usage, "cannot read the key " + quote(file.string()) + ": larger than 1 MiB");
  std::string text = fs::read_file(file);
  return text;
}

int passphrase_cb(char* buf, int size, int, void* user) {
  const auto* p = static_cast<const std::string*>(user);
  if (!p || p->empty() || static_cast<int>(p->size()) > size) return 0;
  std::memcpy(buf, p->data(), p->size());
  return static_cast<int>(p->size());
}

} // namespace

PublicKey PublicKey::from_pem(std::string_view pem, const std::string& what) {
  if (pem.find("PRIVATE KEY-----") != std::string_view::npos)
    throw Error(ErrorKind::usage, "cannot use the key " + quote(what) + ": it is a private key",
                "verification takes the public key (the .pub file)");
  Bio b = read_bio(pem);
  EVP_PKEY* k = PEM_read_bio_PUBKEY(b.get(), nullptr, nullptr, nullptr);
  if (!k) throw Error(ErrorKind::usage, "cannot use the key " + quote(what) + ": " + openssl_reason());
  PublicKey out;
  out.m_key.reset(k);
  require_p256(k, what);
  return out;
}

PublicKey PublicKey::load(const std::filesystem::path& file) { return from_pem(read_key_file(file), file.string()); }

bool PublicKey::verify(std::string_view message, std::string_view der_signature) const {
  MdCtx ctx(EVP_MD_CTX_new());
  bool ok =
      ctx &&
      EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, static_cast<EVP_PKEY*>(m_key.get())) == 1 &&
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(der_signature.data()), der_signature.size(),
                       reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  ERR_clear_error();
  return ok;
}

std::string PublicKey::pem() const {
  Bio b(BIO_new(BIO_s_mem()));
  if (!b || PEM_write_bio_PUBKEY(b.get(), static_cast<EVP_PKEY*>(m_key.get())) != 1)
    throw Error(ErrorKind::operational, "cannot write a public key: " + openssl_reason());
  return bio_text(b.get());
}

std::string PublicKey::fingerprint() const {
  unsigned char* der = nullptr;
  int n = i2d_PUBKEY(static_cast<EVP_PKEY*>(m_key.get()), &der);
  if (n <= 0) throw Error(ErrorKind::operational, "cannot encode a public key: " + openssl_reason());
  std::string hex = sha256_hex(std::string_view(reinterpret_cast<const char*>(der), static_cast<std::size_t>(n)));
  OPENSSL_free(der);
  return "sha256:" + hex;
}

PrivateKey PrivateKey::from_pem(std::string_view pem, const std::string& passphrase, const std::string& what) {
  bool encrypted = pem.find("ENCRYPTED") != std::string_view::npos;
  if (pem.find("SIGSTORE PRIVATE KEY") != std::string_view::npos ||
      pem.find("COSIGN PRIVATE KEY") != std::string_view::npos) {
    throw Error(ErrorKind::usage, "cannot use the key " + quote(what) + ": a cosign-encrypted key",
                "mlops reads PKCS#8 PEM keys (OpenSSL): create the pair with 'mlops image keygen' and give cosign "
                "'cosign import-key-pair --key KEY'");
  }
  if (encrypted && passphrase.empty())
    throw Error(ErrorKind::usage, "cannot use the key " + quote(what) + ": it is encrypted",
                "set MLOPS_SIGNING_PASSWORD to its passphrase");
  Bio b = read_bio(pem);
  std::string pass = passphrase;
  EVP_PKEY* k = PEM_read_bio_PrivateKey(b.get(), nullptr, passphrase_cb, &pass);
  if (!k) {
    std::string why = openssl_reason();
    throw Error(ErrorKind::usage,
                "cannot use the key " + quote(what) + ": " + (encrypted ? "wrong passphrase or damaged key" : why));
  }
  PrivateKey out;
  out.m_key.reset(k);
  require_p256(k, what);
  return out;
}

PrivateKey PrivateKey::load(const std::filesystem::path& file, const std::string& passphrase) {
  return from_pem(read_key_file(file), passphrase, file.string());
}

std::string PrivateKey::sign(std::string_view message) const {
  MdCtx ctx(EVP_MD_CTX_new());
  std::size_t len = 0;
  auto* key = static_cast<EVP_PKEY*>(m_key.get());
  const auto* msg = reinterpret_cast<const unsigned char*>(message.data());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, msg, message.size()) != 1)
    throw Error(ErrorKind::operational, "cannot sign: " + openssl_reason());
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, msg, message.size()) != 1)
    throw Error(ErrorKind::operational, "cannot sign: " + openssl_reason());
  sig.resize(len);
  return sig;
}

PublicKey PrivateKey::public_key() const {
  Bio b(BIO_new(BIO_s_mem()));
  if (!b || PEM_write_bio_PUBKEY(b.get(), static_cast<EVP_PKEY*>(m_key.get())) != 1)
    throw Error(ErrorKind::operational, "cannot write a public key: " + openssl_reason());
  return PublicKey::from_pem(bio_text(b.get()), "the signing key's public half");
}

KeyPair generate_key_pair(const std::string& passphrase) {
  std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  if (!key) throw Error(ErrorKind::operational, "cannot generate a key: " + openssl_reason());
  Bio priv(BIO_new(BIO_s_mem()));
  const EVP_CIPHER* cipher = passphrase.empty() ? nullptr : EVP_aes_256_cbc();
  std::string pass = passphrase;
  if (!priv || PEM_write_bio_PKCS8PrivateKey(priv.get(), key.get(), cipher, pass.empty() ? nullptr : pass.data(),
                                             static_cast<int>(pass.size()), nullptr, nullptr) != 1)
    throw Error(ErrorKind::operational, "cannot write a private key: " + openssl_reason());
  Bio pub(BIO_new(BIO_s_mem()));
  if (!pub || PEM_write_bio_PUBKEY(pub.get(), key.get()) != 1)
    throw Error(ErrorKind::operational, "cannot write a public key: " + openssl_reason());
  return {bio_text(priv.get()), bio_text(pub.get())};
}

std::optional<std::string> base64_decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    bool last = i + 4 == in.size();
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      char c = in[i + static_cast<std::size_t>(j)];
      if (c == '=' && last && j >= 2) {
        v[j] = 0;
        ++pad;
        continue;
      }
      if (pad > 0) return std::nullopt; // data after padding
      v[j] = value(c);
      if (v[j] < 0) return std::nullopt;
    }
    unsigned n = (unsigned(v[0]) << 18) | (unsigned(v[1]) << 12) | (unsigned(v[2]) << 6) | unsigned(v[3]);
    out += static_cast<char>((n >> 16) & 0xff);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(n & 0xff);
  }
  return out;
}

} // namespace mlops::sign
