#pragma once

#include "core/log.hpp"
#include "core/progress.hpp"
#include "gitops/git.hpp"
#include "gitops/workflow.hpp"
#include "http/client.hpp"
#include "mlflow/client.hpp"
#include "release/project.hpp"
#include "render/spec.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mlops::release {

/// The manifests of `spec` for `overrides` as promote commits them: file
/// name -> YAML, with a kustomization.yaml. Throws Error(usage) as render does.
std::map<std::string, std::string> render_files(const render::DeploySpec& spec, const render::Overrides& overrides);

/// What `mlops release` was asked to do.
struct ReleaseRequest {
  std::string model_uri; ///< models:/NAME/VERSION, models:/NAME@ALIAS, ...
  std::string env;
  bool dry_run = false;       ///< build, render and check; push, record and commit nothing
  bool skip_validate = false; ///< refused where the environment requires validation
  std::string actor;          ///< who releases (recorded in the commit)
  std::string message;        ///< the reason recorded in the commit
};

/// The servers and places a release works with, wired by the caller.
struct ReleaseServices {
  const Project& project;
  mlflow::Client& mlflow;
  gitops::Registry& registry;   ///< the model registry side of promote (MlflowRegistry)
  gitops::RemoteBranch& gitops; ///< the GitOps branch
  http::Client& registry_http;  ///< for image registries (no MLflow credentials)
  std::function<std::optional<std::string>(const std::string&)> getenv; ///< registry credentials
  bool insecure = false;                                                ///< plain HTTP to any registry
  std::filesystem::path cache; ///< $XDG_CACHE_HOME/mlops: models/, layers/, uploads/
  std::string tool;            ///< "mlops 0.1.0"
  int jobs = 0;                ///< parallel downloads (0 = automatic)
  std::optional<std::int64_t> source_date_epoch;
  LogSink& log;
  ProgressSink& progress;
  /// Told when a step starts ("pull", "validate", ...) and, with its record, ends.
  std::function<void(const std::string& step)> on_start;
};

/// One step of a release as the summary shows it.
struct StepRecord {
  std::string name;   ///< pull, validate, package, render, promote
  std::string status; ///< done, reused, skipped, dry-run
  std::string detail; ///< one line
  double seconds = 0;
};

/// What a release did.
struct ReleaseReport {
  std::string model, version, env;
  bool dry_run = false;
  std::vector<StepRecord> steps;
  std::vector<std::string> gates_passed;
  bool validation_reused = false;
  std::string image;                                  ///< REF@sha256:... pushed (or that would be pushed, dry run)
  std::uint64_t bytes_uploaded = 0, bytes_reused = 0; ///< reused: the registry had them, or mounted
  std::vector<std::string> manifests_changed;         ///< files of the environment's directory: "+ f", "~ f", "- f"
  std::string commit;                                 ///< the commit that holds the environment
  bool committed = false, alias_moved = false, already = false;
  std::string previous_version;
  std::vector<gitops::Check> checks; ///< the environment's policy checks
  std::string diff;                  ///< dry run: the manifest diff
};

/// Checks the request against the project before any step: the environment
/// exists, names a registry and a GitOps repository, a base and a format
/// that can be deployed, and --skip-validate is allowed. Throws Error(usage).
void check_release(const Project& project, const ReleaseRequest& req);

/// pull -> validate (recorded) -> package (pushed) -> render -> promote. Each
/// step is reused when its result is there already (pulled files, a recorded
/// passed validation of the same bytes and policy, blobs the registry has, a
/// promotion the repository holds), so a rerun after a failure resumes. The
/// first failing step's Error is thrown with the context "release step
/// 'STEP'" (its kind, so its exit code, unchanged); a failed gate or policy
/// check is Error(gate_failed). `steps_done` receives each finished step.
ReleaseReport run_release(ReleaseServices& s, const ReleaseRequest& req,
                          const std::function<void(const StepRecord&)>& steps_done = {});

} // namespace mlops::release
