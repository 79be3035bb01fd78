#pragma once

#include "core/time.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace mlops::model {

/// One file of a pulled model.
struct LockedFile {
  std::string path; ///< relative, '/'-separated
  std::uint64_t size = 0;
  std::string sha256; ///< lowercase hex
  bool operator==(const LockedFile&) const = default;
};

/// The provenance record `mlops pull` writes as `mlops.lock.json`
/// (schemas/mlops.lock.schema.json).
struct LockFile {
  static constexpr int k_schema_version = 1;
  static constexpr const char* k_file_name = "mlops.lock.json";

  std::string tracking_uri; ///< no credentials
  std::string name;
  std::string version;
  std::string requested_uri; ///< as the user gave it: models:/iris@champion
  std::string alias;         ///< when resolved through an alias
  std::string stage;         ///< when resolved through a stage
  std::string run_id;
  std::string source;
  std::string download_uri;
  std::int64_t creation_timestamp = 0; ///< epoch ms of the model version
  std::string pulled_at;               ///< ISO 8601 UTC; not covered by the digest
  std::string tool;                    ///< "mlops 0.1.0"
  std::vector<LockedFile> files;       ///< sorted by path
  std::string digest;                  ///< "sha256:..." over files (see compute_digest)

  /// sha256 over "<sha256> <size> <path>\n" of every file in path order.
  static std::string compute_digest(const std::vector<LockedFile>& files);

  /// Serialises with sorted files and a fresh digest; stable key order.
  std::string to_json() const;
  /// Parses and checks the record, including that the digest matches the
  /// files. Throws Error(operational) naming `origin` when invalid.
  static LockFile from_json(const std::string& text, const std::string& origin);
  /// Reads DIR/mlops.lock.json; nullopt when it does not exist.
  static std::optional<LockFile> load(const std::filesystem::path& dir);
};

/// What differs between a directory and its lock file.
struct VerifyReport {
  std::vector<std::string> modified;   ///< size or sha256 differ
  std::vector<std::string> missing;    ///< in the lock, not on disk
  std::vector<std::string> unexpected; ///< on disk, not in the lock
  bool ok() const { return modified.empty() && missing.empty() && unexpected.empty(); }
};

/// Re-hashes every file of `dir` against `lock`.
VerifyReport verify_dir(const std::filesystem::path& dir, const LockFile& lock);

/// ISO 8601 UTC of an epoch-milliseconds time (core/time.hpp), where the lock file's readers look for it.
using mlops::iso8601_utc_ms;

} // namespace mlops::model
