#pragma once

#include "core/error.hpp"
#include "core/log.hpp"
#include "gitops/git.hpp"
#include "gitops/promotion.hpp"
#include "http/client.hpp"
#include "mlflow/client.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace mlops::release {

enum class Verdict { pass, fail, skip };

/// "pass", "fail" or "skip".
const char* verdict_name(Verdict v);

/// One finding of `mlops doctor`.
struct DoctorCheck {
  std::string name; ///< config, mlflow, mlflow-auth, model, registry ENV, gitops, clock
  Verdict verdict = Verdict::skip;
  std::string detail; ///< one line: what was found
  std::string hint;   ///< how to fix a failure (or why it was skipped)
};

struct DoctorReport {
  std::vector<DoctorCheck> checks;
  /// True when no check failed (skipped ones are not required).
  bool ok() const;
};

/// What the doctor examines. Parts left empty are reported as skipped,
/// with a hint saying what would configure them.
struct DoctorSubject {
  std::optional<std::filesystem::path> project_file; ///< found by walking up, or --config
  std::optional<Error> settings_error;               ///< why the settings did not load
  std::string env;                                   ///< only this environment ("" = every one)
  std::string model;                                 ///< the model to read ("" = deploy.name)
  mlflow::Client* mlflow = nullptr;                  ///< null: no tracking server configured
  std::string mlflow_user;                           ///< MLFLOW_TRACKING_USERNAME, "" = none or a token
  http::Client* registry_http = nullptr;             ///< for registries (no MLflow credentials)
  bool insecure = false;                             ///< plain HTTP allowed for any registry
  std::function<std::optional<std::string>(const std::string&)> getenv; ///< registry credentials
  /// The GitOps remote for a config (credentials, cache, TLS); null: not checked.
  std::function<std::unique_ptr<gitops::Remote>(const gitops::GitopsConfig&)> open_gitops;
  std::function<std::int64_t()> now; ///< epoch seconds (the clock check)
};

/// Runs every check in order: config, mlflow, mlflow-auth, model, clock,
/// registry per environment, gitops. Never throws for a failed check (an
/// unknown --env is Error(usage)).
DoctorReport diagnose(const DoctorSubject& s, LogSink& log);

} // namespace mlops::release
