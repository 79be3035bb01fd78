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

// --- directory trees (model directories, layouts) --------------------------------------
/// Deepest directory nesting fs::walk_tree() descends into below its root; deeper is
/// Error(operational) "'PATH' is nested deeper than N directories".
inline constexpr std::size_t k_max_walk_depth = 256;

// --- OCI blobs, manifests and references ---------------------------------------------------
/// Largest blob (base layer, config) a descriptor may declare or a copy may carry; a larger
/// declared size is Error(operational) "blob ... declares N bytes, more than the limit".
inline constexpr std::uint64_t k_max_blob_bytes = std::uint64_t{1} << 40;
/// Largest manifest, index or image config read from a layout or a registry (the
/// distribution spec's 4 MiB): larger is Error(operational) "... is larger than 4 MiB".
inline constexpr std::size_t k_max_manifest_bytes = 4u << 20;
/// Longest image reference accepted (HOST/REPO:TAG@DIGEST); longer is Error(usage)
/// "invalid image reference ...: longer than N characters", before any other parsing.
inline constexpr std::size_t k_max_image_ref_bytes = 1024;

// --- git remotes (promote, rollback, history) -----------------------------------------
/// Longest one fetch or push of the GitOps repository may take, retries included: past it
/// the operation stops with "ran past its deadline" (exit 6).
inline constexpr double k_git_network_deadline_s = 900;
/// Most bytes a git server may send in its refs advertisement, and in everything it sends
/// during a push: more is refused as "the answer ... is larger than" (exit 1, not retried).
inline constexpr std::uint64_t k_max_git_refs_bytes = 16u << 20;
/// Most bytes one fetch of the GitOps repository may download: more is refused as
/// "the answer ... is larger than" (exit 1, not retried).
inline constexpr std::uint64_t k_max_git_fetch_bytes = std::uint64_t{2} << 30;
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

// --- HTTP transfers (lib/http) -----------------------------------------------------------
/// Slowest transfer accepted, averaged over the timeout window (MLFLOW_HTTP_REQUEST_TIMEOUT,
/// default 120 s): slower is a stall, "cannot reach '...': timed out" (retried, then exit 6).
inline constexpr long k_min_transfer_bytes_per_s = 1024;
/// Overall deadline of one buffered request (an API call): "timed out", retried, then exit 6.
inline constexpr double k_request_deadline_s = 300;
/// Deadline of one transfer of known size (a listed file, an uploaded blob): this base plus
/// the size at k_deadline_min_average_bytes_per_s, so a 10 GiB file may take 3 hours but a
/// server can never hold a transfer open forever. Streams of unknown size have no deadline
/// (the stall rule above still ends them).
inline constexpr double k_deadline_base_s = 300;
inline constexpr double k_deadline_min_average_bytes_per_s = 1 << 20;
/// Longest wait honoured from one Retry-After header; a longer ask is cut to this and said
/// on stderr ("waiting 30 s: ... asked to wait 100000 s").
inline constexpr double k_max_retry_after_s = 30;
/// Most time spent waiting between the retries of one request: past it the request fails
/// ("... (after N attempts)", exit 6).
inline constexpr double k_max_retry_wait_s = 90;
/// Most time spent retrying refused connections to a server before giving up (exit 6):
/// a wrong port fails in seconds, not minutes.
inline constexpr double k_max_refused_retry_s = 3;

// --- MLflow answers (lib/mlflow) ----------------------------------------------------------
/// Deepest directory nesting of a model version's artifact tree: "artifact tree of '...' is
/// nested deeper than 64 directories" (a protocol error, exit 1).
inline constexpr std::size_t k_max_listing_depth = 64;
/// Most entries (files and directories) in a model version's artifact tree: "artifact tree
/// of '...' has more than 100000 entries" (exit 1).
inline constexpr std::size_t k_max_listing_entries = 100000;
/// Largest file size an artifact listing may give (1 TiB): larger is a malformed answer
/// (exit 1).
inline constexpr std::uint64_t k_max_artifact_file_bytes = std::uint64_t{1} << 40;
/// Longest model version number accepted from a server (decimal digits): longer or not
/// decimal is a malformed answer (exit 1).
inline constexpr std::size_t k_max_version_digits = 18;

// --- Prometheus answers (lib/prometheus) -------------------------------------------------
/// Largest answer of /api/v1/query or query_range read: "... is too large" (exit 1).
inline constexpr std::size_t k_max_prometheus_answer_bytes = std::size_t{16} << 20;
/// Most series in one answer: "malformed answer from '...': more than 10000 series" (exit 1).
inline constexpr std::size_t k_max_prometheus_series = 10000;
/// Most samples in one answer, every series together (exit 1).
inline constexpr std::size_t k_max_prometheus_samples = 1000000;
/// Most labels on one series (exit 1).
inline constexpr std::size_t k_max_prometheus_labels = 256;

} // namespace mlops::limits
