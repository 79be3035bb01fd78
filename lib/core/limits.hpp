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

}  // namespace mlops::limits
