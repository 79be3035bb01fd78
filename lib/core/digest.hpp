#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace mlops {

/// Incremental SHA-256 (OpenSSL EVP). Feed bytes with update(), read the
/// lowercase hex digest once with hex_digest(). Owns its OpenSSL context:
/// moving from a Sha256 leaves it empty, assigning to one frees the context
/// it held.
class Sha256 {
public:
  Sha256();

  void update(const void* data, std::size_t size);
  void update(std::string_view data) { update(data.data(), data.size()); }
  /// Finishes the hash and returns 64 lowercase hex characters.
  std::string hex_digest();

private:
  struct FreeContext {
    void operator()(void* ctx) const noexcept;
  };
  std::unique_ptr<void, FreeContext> m_ctx; // an EVP_MD_CTX
};

/// SHA-256 of a string, as lowercase hex.
std::string sha256_hex(std::string_view data);

/// SHA-256 of a file's contents, streamed; throws Error(io) when unreadable.
std::string sha256_file(const std::filesystem::path& path);

} // namespace mlops
