#pragma once

#include "core/log.hpp"
#include "core/progress.hpp"
#include "mlflow/client.hpp"
#include "mlflow/model_uri.hpp"
#include "model/lock.hpp"

#include <filesystem>

namespace mlops::mlflow {

/// What `mlops pull` was asked to do.
struct PullOptions {
  ModelUri uri;
  std::filesystem::path dest; ///< empty: ./NAME-vVERSION
  int jobs = 0;               ///< parallel downloads; 0 = automatic
  bool force = false;         ///< replace a non-empty dest that is not a pull of this model
  int file_attempts = 3;      ///< downloads of one file before giving up on it
  std::string tool;           ///< "mlops 0.1.0", written into the lock file
};

/// What a pull did.
struct PullResult {
  model::LockFile lock;
  std::filesystem::path dir;
  std::uint64_t files_downloaded = 0, bytes_downloaded = 0;
  std::uint64_t files_reused = 0, bytes_reused = 0;
  bool unchanged = false; ///< dest already held exactly this version
};

/// Resolves `opts.uri` to one model version (status must be READY).
/// Returns it with the alias or stage that was used.
ModelVersion resolve_version(Client& client, const ModelUri& uri);

/// Downloads every file of the version into a partial directory beside the
/// destination (resumable: verified files from an interrupted pull or from
/// a previous pull in dest are reused), checks sizes and sha256, writes the
/// lock file, and only then swaps the result into place.
/// Throws Error; on failure dest is untouched.
PullResult pull(Client& client, const PullOptions& opts, LogSink& log, ProgressSink& progress);

/// The default destination for a version: "NAME-vVERSION" with characters
/// unsafe in a file name (in either part) replaced by '_': always one path component.
std::filesystem::path default_dest(const std::string& name, const std::string& version);

} // namespace mlops::mlflow
