#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace mlops::oci {

inline constexpr const char* k_manifest_type = "application/vnd.oci.image.manifest.v1+json";
inline constexpr const char* k_index_type = "application/vnd.oci.image.index.v1+json";
inline constexpr const char* k_config_type = "application/vnd.oci.image.config.v1+json";
inline constexpr const char* k_empty_type = "application/vnd.oci.empty.v1+json";

/// An OCI content descriptor.
struct Descriptor {
  std::string media_type;
  std::string digest; ///< "sha256:<hex>"
  std::uint64_t size = 0;
  std::map<std::string, std::string> annotations;
  std::string artifact_type;
  nlohmann::json platform; ///< null when absent
  nlohmann::json to_json() const;
  static Descriptor from_json(const nlohmann::json& j);
};

/// "oci:PATH[:TAG]" split into its parts; throws Error(usage) otherwise.
struct LayoutRef {
  std::filesystem::path path;
  std::string tag; ///< empty when not given
};
LayoutRef parse_layout_ref(const std::string& text);

/// An OCI image layout directory (oci-layout, index.json, blobs/sha256/).
/// Blobs are content-addressed and written before index.json, which is
/// replaced atomically last, so an interrupted write leaves the old index.
class Layout {
public:
  /// Opens a layout, creating the directory and its oci-layout file when
  /// missing (index.json is only written by tag()).
  static Layout open_or_create(const std::filesystem::path& dir);
  /// Opens an existing layout; Error(not_found) when it is not one.
  static Layout open(const std::filesystem::path& dir);

  const std::filesystem::path& dir() const { return m_dir; }
  std::filesystem::path blob_path(const std::string& digest) const;
  bool has_blob(const std::string& digest) const;

  /// Moves a finished file (in this layout's tmp_dir()) into blobs/.
  void adopt_blob(const std::filesystem::path& file, const std::string& digest);
  /// Stores bytes as a blob and returns its descriptor.
  Descriptor put_blob(const std::string& bytes, const std::string& media_type);
  /// Copies (hard-links when possible) a blob of `size` bytes (its
  /// descriptor's) from another layout, hashing it on the way: only a
  /// regular file is read (never through a link), its size must be `size`
  /// (at most limits::k_max_blob_bytes) and its digest `digest`, else
  /// Error(operational) and nothing is stored.
  void copy_blob_from(const Layout& other, const std::string& digest, std::uint64_t size);
  /// Reads a small blob (a manifest, index or config: at most
  /// limits::k_max_manifest_bytes), from a regular file only, checking its
  /// digest and, when given, its size; Error(operational) otherwise.
  std::string read_blob(const std::string& digest, std::optional<std::uint64_t> size = std::nullopt) const;
  /// read_blob() of `d` parsed with parse_json() (bounded size and depth).
  nlohmann::json read_json_blob(const Descriptor& d) const;

  /// The manifest tagged `tag` (or the only one when `tag` is empty);
  /// an index is resolved to its linux/amd64 (else first) manifest.
  Descriptor resolve(const std::string& tag) const;
  /// Points `tag` at `manifest` in index.json (replacing an older entry).
  void tag(const Descriptor& manifest, const std::string& tag);

  /// A directory for temporary files on the same file system.
  std::filesystem::path tmp_dir() const;

private:
  explicit Layout(std::filesystem::path dir) : m_dir(std::move(dir)) {}
  nlohmann::json read_index() const;
  std::filesystem::path m_dir;
};

} // namespace mlops::oci
