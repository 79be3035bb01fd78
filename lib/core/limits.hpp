#pragma once
// Every size, depth, count and time limit mlops applies to outside input, in one place.
// README.md ("Limits") lists each with the error it gives; tests/unit/test_core_limits.cpp
// checks that the table and this file agree. Add a limit here, never as a literal elsewhere.

#include <cstddef>
#include <cstdint>

namespace mlops::limits {

// --- JSON from servers and files ---------------------------------------------------------
/// Largest JSON document parsed from a server answer or a file (MLflow answers, OCI
/// manifests and configs, lock files, docker config.json, input examples are bounded
/// separately below).
inline constexpr std::size_t k_max_json_bytes = 64u << 20;
/// Deepest nesting of arrays and objects accepted in any JSON document: deeper input is
/// refused at parse time, before a recursive serializer or destructor can overflow the stack.
inline constexpr std::size_t k_max_json_depth = 256;

// --- YAML configuration and manifests ----------------------------------------------------
/// Largest configuration file read (mlops.yaml, the user config, --policy files, each project
/// of render --batch, each --templates file): larger ones are refused with exit 2 unparsed.
inline constexpr std::size_t k_max_config_bytes = 1u << 20;
/// Largest render --batch list file: larger ones are refused with exit 2.
inline constexpr std::size_t k_max_batch_list_bytes = 16u << 20;
/// Largest file parsed by render --check: larger ones are a finding naming the file (exit 3).
inline constexpr std::size_t k_max_checked_manifest_bytes = 32u << 20;
/// Deepest nesting of mappings and sequences in any YAML document read (config, MLmodel,
/// manifests): deeper ones are refused naming file and line.
inline constexpr std::size_t k_max_yaml_depth = 128;
/// Most nodes one YAML document may produce, each alias counted as the nodes it repeats
/// (stops billion-laughs expansion): more are refused naming file and line.
inline constexpr std::size_t k_max_yaml_nodes = 1u << 20;

// --- Model files -------------------------------------------------------------------------
/// Largest MLmodel file read: a larger one fails the format gate naming the file.
inline constexpr std::size_t k_max_mlmodel_bytes = 16u << 20;
/// Largest input_example.json / serving_input_example.json read: a larger one fails the
/// interface gate (and skips nothing silently in the serve gate) naming the file.
inline constexpr std::size_t k_max_input_example_bytes = 16u << 20;
/// Largest environment file of a model read (requirements.txt, python_env.yaml, conda.yaml):
/// a larger one fails the environment gate naming the file.
inline constexpr std::size_t k_max_env_file_bytes = 4u << 20;

// --- Numeric settings (mlops.yaml and MLFLOW_* variables; outside the range: exit 2) ----
/// Longest MLFLOW_HTTP_REQUEST_TIMEOUT / mlflow.timeout, in seconds.
inline constexpr double k_max_request_timeout_s = 86400;
/// Largest MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR / _JITTER, in seconds.
inline constexpr double k_max_backoff_s = 600;
/// Most retries of MLFLOW_HTTP_REQUEST_MAX_RETRIES / mlflow.max_retries.
inline constexpr int k_max_request_retries = 10;
/// Most parallel transfers of pull.jobs.
inline constexpr int k_max_jobs = 64;

}  // namespace mlops::limits
