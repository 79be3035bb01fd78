#pragma once

#include "core/config.hpp"
#include "gates/policy.hpp"
#include "gitops/promotion.hpp"
#include "oci/package.hpp"
#include "render/spec.hpp"

#include <filesystem>
#include <string>

namespace mlops::release {

/// Every section of a project file, each read by the loader of the command
/// that uses it (the same checks, the same messages).
struct Project {
  std::filesystem::path file;
  Settings settings;                 ///< mlflow:, pull: (from this file alone)
  gates::Policy gates;               ///< gates:
  oci::PackageConfig package;        ///< package:
  render::DeploySpec deploy;         ///< deploy:
  gitops::PromotionConfig promotion; ///< gitops:, environments:
};

/// Reads and checks every section of `file`. Throws Error(usage) naming the
/// file, line and key of the first bad value (Error(io) or not_found when the
/// file cannot be read).
Project load_project(const std::filesystem::path& file);

} // namespace mlops::release
