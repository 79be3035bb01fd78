#pragma once
// A client of the Prometheus HTTP API (/api/v1/query, /api/v1/query_range) on the one HTTP
// client (lib/http): its retries, deadlines, TLS and auth. Answers are parsed with bounds.

#include "http/client.hpp"

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mlops::prometheus {

/// One series of an answer: its labels and its samples (one for an instant vector).
struct Series {
  std::map<std::string, std::string> labels;
  std::vector<std::pair<double, double>> samples; ///< (unix time, value); values may be NaN or +-Inf
};

/// A parsed answer of /api/v1/query or /api/v1/query_range.
struct Answer {
  std::string result_type;           ///< vector, matrix, scalar or string
  std::vector<Series> series;        ///< a scalar is one series without labels
  std::vector<std::string> warnings; ///< what Prometheus warned about
};

/// Parses the body of a query answer. `what` names the source in errors. Throws
/// Error(operational) for a malformed answer or one over the limits (series, samples, size),
/// and for a well-formed error envelope: "prometheus refused the query: <type>: <error>".
/// The entry point of the fuzz target.
Answer parse_answer(std::string_view body, std::string_view what);

/// Where and how to reach Prometheus.
struct Endpoint {
  std::string url; ///< base URL, e.g. http://prometheus:9090 (a path prefix is kept)
};

/// The client. Not copyable; borrows the HTTP client.
class Client {
public:
  Client(http::Client& http, Endpoint endpoint);

  /// Evaluates `promql` at `time` (unix seconds; nullopt: now). Throws Error(unavailable)
  /// when Prometheus cannot be reached after the retries, Error(auth) on 401/403,
  /// Error(not_found) when the URL is not a Prometheus API, Error(operational) when
  /// Prometheus refuses the query (its error type and text said) or answers malformed.
  Answer query(const std::string& promql, std::optional<double> time = std::nullopt);

  /// Evaluates `promql` over [start, end] every `step_s` seconds; throws as query().
  Answer query_range(const std::string& promql, double start, double end, double step_s);

  const std::string& url() const { return m_endpoint.url; }

private:
  Answer post(const std::string& path, const std::string& form);

  http::Client& m_http;
  Endpoint m_endpoint;
};

/// `text` form-encoded (application/x-www-form-urlencoded).
std::string form_encode(std::string_view text);

} // namespace mlops::prometheus
