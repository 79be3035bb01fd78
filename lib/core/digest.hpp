#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace mlops {

/// Incremental SHA-256 (OpenSSL EVP). Feed bytes with update(), read the
/// lowercase hex digest once with hex_digest().
class Sha256 {
public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, std::size_t size);
  void update(std::string_view data) { update(data.data(), data.size()); }
  /// Finishes the hash and returns 64 lowercase hex characters.
  std::string hex_digest();

private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

/// SHA-256 of a string, as lowercase hex.
std::string sha256_hex(std::string_view data);

/// SHA-256 of a file's contents, streamed; throws Error(io) when unreadable.
std::string sha256_file(const std::filesystem::path& path);

} // namespace mlops
