#pragma once

#include "cli/context.hpp"
#include "model/lock.hpp"

#include <filesystem>
#include <string>

namespace mlops::cli {

/// A model a command works on: a directory, pulled first when the user
/// gave a models:/ URI (into $XDG_CACHE_HOME/mlops/models, reusing what a
/// previous pull left there).
struct ModelSource {
  std::filesystem::path dir;
  std::optional<model::LockFile> lock;
  std::string uri; ///< the models:/ URI given, or the lock's requested URI
};

/// $XDG_CACHE_HOME/mlops/SUB (or ~/.cache/mlops/SUB).
std::filesystem::path cache_dir(const std::string& sub);

/// SOURCE_DATE_EPOCH, when set: pins every time stamp of a package. Throws
/// Error(usage) for a value that is not a count of seconds.
std::optional<std::int64_t> source_date_epoch();

/// Resolves `text` (a directory or a models:/ URI). Throws Error.
ModelSource open_model_source(Context& ctx, const std::string& text);

} // namespace mlops::cli
