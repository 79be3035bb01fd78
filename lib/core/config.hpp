#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace mlops {

/// Settings for talking to MLflow and for local behaviour, after merging
/// every source. Fields keep MLflow's meanings where MLflow has the setting.
struct Settings {
  std::string tracking_uri;        ///< MLFLOW_TRACKING_URI, without credentials
  std::string username;            ///< MLFLOW_TRACKING_USERNAME (environment only)
  std::string password;            ///< MLFLOW_TRACKING_PASSWORD (environment only)
  std::string token;               ///< MLFLOW_TRACKING_TOKEN (environment only)
  bool insecure_tls = false;       ///< MLFLOW_TRACKING_INSECURE_TLS
  std::string ca_bundle;           ///< MLFLOW_TRACKING_SERVER_CERT_PATH / --ca-bundle
  std::string client_cert;         ///< MLFLOW_TRACKING_CLIENT_CERT_PATH
  int max_retries = 5;             ///< MLFLOW_HTTP_REQUEST_MAX_RETRIES
  double backoff_factor = 0.5;     ///< MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR (seconds)
  double backoff_jitter = 0.5;     ///< MLFLOW_HTTP_REQUEST_BACKOFF_JITTER (seconds)
  double timeout_s = 120;          ///< MLFLOW_HTTP_REQUEST_TIMEOUT (seconds without progress)
  bool respect_retry_after = true; ///< MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER
  std::string workspace;           ///< MLFLOW_WORKSPACE
  int jobs = 0;                    ///< parallel transfers; 0 = automatic
  /// Where each setting came from ("flag", "env MLFLOW_TRACKING_URI",
  /// "/p/mlops.yaml:3", "default"), for `-v` output.
  std::map<std::string, std::string> origin;
  /// The project file that was read, if any.
  std::optional<std::filesystem::path> project_file;
};

/// Values given on the command line; unset ones do not override.
struct FlagOverrides {
  std::optional<std::string> tracking_uri;
  std::optional<std::string> ca_bundle;
  std::optional<bool> insecure_tls;
  std::optional<int> jobs;
};

/// Everything resolve_settings() reads, injectable for tests.
struct ConfigInputs {
  std::filesystem::path cwd;                        ///< where to start the walk up
  std::optional<std::filesystem::path> config_file; ///< --config FILE (replaces the walk)
  std::optional<std::filesystem::path> user_config; ///< default: $XDG_CONFIG_HOME/mlops/config.yaml
  std::function<std::optional<std::string>(const std::string&)> getenv;
  FlagOverrides flags;
  bool no_files = false; ///< read no config file at all (flags, environment and defaults only)
};

/// Finds `mlops.yaml` (or `mlops.yml`) in `start` or the nearest parent.
std::optional<std::filesystem::path> find_project_file(const std::filesystem::path& start);

/// The user config path: $XDG_CONFIG_HOME/mlops/config.yaml or ~/.config/...
std::optional<std::filesystem::path>
default_user_config(const std::function<std::optional<std::string>(const std::string&)>& getenv);

/// Merges flags > environment > project file > user config > defaults.
/// Throws Error(usage) naming file, line and key for a bad configuration
/// value, and for credentials embedded in a tracking URI in a file.
Settings resolve_settings(const ConfigInputs& inputs);

/// Applies the text of one config file (mlops.yaml or the user config) to the defaults with
/// every check resolve_settings() makes; `origin` names it in errors and anchors relative
/// paths. Throws Error(usage). The entry point a fuzz target calls.
Settings parse_config_text(const std::string& text, const std::string& origin);

/// Reads the process environment (std::getenv), for ConfigInputs::getenv.
std::optional<std::string> process_getenv(const std::string& name);

/// Parses a boolean the way MLflow does ("true"/"1"/"yes", case-insensitive);
/// nullopt when not a boolean word.
std::optional<bool> parse_bool(const std::string& text);

} // namespace mlops
