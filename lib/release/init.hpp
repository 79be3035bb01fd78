#pragma once

#include <filesystem>
#include <string>

namespace mlops::release {

/// What `mlops init` writes into a new project file. Empty values are
/// written as commented examples.
struct InitOptions {
  std::string name;         ///< deploy.name (the registered model); "" = the directory's name
  std::string target;       ///< deploy.target; "" = kserve
  std::string registry;     ///< HOST[:PORT][/REPO] for environments.*.registry ("/models/NAME" added to a bare host)
  std::string gitops;       ///< gitops.url
  std::string tracking_uri; ///< mlflow.tracking_uri
  std::string base;         ///< package.base
};

/// The commented text of a project file for `opts` (`dir` names the
/// project when opts.name is empty). Throws Error(usage) for a target that
/// is not known.
std::string init_text(const InitOptions& opts, const std::filesystem::path& dir);

/// Writes init_text() to `file` after reading it back with every loader of
/// the project file (release::load_project): a file that would not load is
/// never written (Error(usage) naming the key). Without `force`, an existing
/// `file` is refused with Error(conflict) and left as it is, even when one
/// appears meanwhile. The write is atomic.
void write_init(const std::filesystem::path& file, const InitOptions& opts, bool force);

} // namespace mlops::release
