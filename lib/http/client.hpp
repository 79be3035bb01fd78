#pragma once

#include "core/log.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace mlops::http {

/// How the client connects, authenticates and retries.
struct Options {
  std::string user_agent = "mlops";
  double connect_timeout_s = 30;
  /// The stall window: a transfer moving fewer than limits::k_min_transfer_bytes_per_s
  /// on average over this many seconds is abandoned (and retried). Large transfers are
  /// bounded by the size-based deadline instead (see Request::deadline_s).
  double idle_timeout_s = 120;
  int max_retries = 5;             ///< extra attempts after the first
  double backoff_factor_s = 0.5;   ///< wait factor * 2^(n-1) before retry n
  double backoff_jitter_s = 0.5;   ///< plus a random 0..jitter
  double backoff_max_s = 60;       ///< cap of one backoff wait
  bool respect_retry_after = true; ///< capped at limits::k_max_retry_after_s, with a warning
  bool verify_tls = true;
  std::string ca_bundle;          ///< PEM bundle to verify servers with
  std::string client_cert;        ///< PEM with client certificate and key (mTLS)
  std::string username, password; ///< basic auth; wins over the token
  std::string bearer_token;
  /// AWS Signature V4 for every request (libcurl's CURLOPT_AWS_SIGV4), e.g.
  /// "aws:amz:us-east-1:s3"; the key id and secret are then `username` and `password`.
  std::string aws_sigv4;
  std::vector<std::string> extra_headers; ///< "Name: value" on every request
  /// The hint of the error when a server refuses connections (the caller knows which
  /// setting names the server: "check --tracking-uri / MLFLOW_TRACKING_URI").
  std::string unreachable_hint = "is the server running?";
};

/// One HTTP request.
struct Request {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers; ///< "Name: value"
  std::string body;
  /// When set, the body is streamed from this file instead (uploads of large
  /// blobs); it is reopened for every attempt.
  std::string body_file;
  /// False for requests that must not be sent twice (e.g. create-version):
  /// those are retried only when the connection was never made.
  bool idempotent = true;
  // The fields below come after the ones above so that positional
  // initializers written before them keep their meaning.
  /// With body_file: send only `body_length` bytes from `body_offset` (a
  /// chunk of a blob); body_length 0 means to the end of the file.
  std::uint64_t body_offset = 0, body_length = 0;
  /// When set (and body_file is empty), the body is pulled from this
  /// function until it returns 0, sent with chunked transfer encoding (its
  /// length is not known in advance). Such a request is never re-sent:
  /// it is treated as not idempotent. The function may throw; the exception
  /// is carried across libcurl and rethrown by send().
  std::function<std::size_t(char* buffer, std::size_t capacity)> body_reader = nullptr;
  /// The size the 2xx body must have when known (a listed file): a body growing past it
  /// is aborted at once, a protocol error (Error(operational)), not retried. It also
  /// sets the deadline (see deadline_s).
  std::optional<std::uint64_t> expected_size = std::nullopt;
  /// Overall deadline of one attempt in seconds; 0 picks one: limits::k_request_deadline_s
  /// for buffered answers, a size-based one for transfers of known size (expected_size,
  /// body_file), none for streams of unknown size (the stall rule still applies).
  double deadline_s = 0;
};

/// The deadline of one attempt of `req` in seconds (0 = none); see Request::deadline_s.
/// `streamed`: the body goes to a BodySink; `upload_bytes`: the size of a body_file upload.
double request_deadline(const Request& req, bool streamed, std::uint64_t upload_bytes = 0);

/// A response whose status the caller interprets (errors are not thrown for
/// HTTP statuses, only for transport failures).
struct Response {
  long status = 0;
  std::string body;                           ///< empty for streamed downloads
  std::map<std::string, std::string> headers; ///< lowercase names
  std::uint64_t bytes = 0;                    ///< body bytes received
  std::string header(const std::string& lower_name) const;
};

/// Receives a streamed body. reset() is called before each new attempt so
/// the sink can start over. write() may throw; the exception is carried
/// across libcurl and rethrown by download().
class BodySink {
public:
  virtual ~BodySink() = default;
  virtual void reset() = 0;
  virtual void write(const char* data, std::size_t size) = 0;
};

/// Byte-level progress for streamed transfers (called from worker threads).
using ProgressFn = std::function<void(std::int64_t delta_bytes)>;

/// True for statuses worth retrying: 408, 429, 500, 502, 503, 504.
bool is_retryable_status(long status);

/// Epoch seconds of an HTTP date (a Date or Retry-After header: "Sun, 06 Nov 1994
/// 08:49:37 GMT" and the older forms); nullopt when it is not one.
std::optional<std::int64_t> parse_http_date(const std::string& value);

/// Seconds to wait from a Retry-After value (delta seconds or HTTP date);
/// nullopt when absent or unparseable.
std::optional<double> parse_retry_after(const std::string& value, std::chrono::system_clock::time_point now);

/// The wait before retry `attempt` (1-based) without jitter.
double backoff_delay(const Options& opts, int attempt);

/// The wait before retry `attempt` after a refused connection, without jitter: short, so
/// that all of them fit in limits::k_max_refused_retry_s.
double refused_backoff_delay(const Options& opts, int attempt);

/// One libcurl-based client for the whole library. Thread-safe: each call
/// borrows an easy handle from a pool, so connections are reused and calls
/// from several threads run in parallel.
class Client {
public:
  explicit Client(Options opts, LogSink& log = null_log());
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// Sends a request, buffering the body; retries transport errors and
  /// retryable statuses. Throws Error(unavailable) when the server cannot be
  /// reached after the retries, Error(operational) for TLS/URL problems,
  /// Error(interrupted) on cancellation. Returns the final response otherwise.
  Response send(const Request& req);

  /// Like send() but streams a 2xx body into `sink`; an error body is
  /// buffered into Response::body instead. A body shorter than the
  /// Content-Length is a transport error (retried).
  Response download(const Request& req, BodySink& sink, const ProgressFn& progress = {});

  const Options& options() const { return m_opts; }

private:
  struct Handle;
  struct Transfer;
  std::unique_ptr<Handle> borrow();
  void give_back(std::unique_ptr<Handle> h);
  Response perform(const Request& req, BodySink* sink, const ProgressFn& progress);
  void log_request(const Request& req, const std::string& shown);
  /// The wait before retrying a retryable status: backoff, or Retry-After up to its cap
  /// (a long or capped wait is said on the log's warning channel).
  double status_wait(const Response& resp, int n, const std::string& shown, int max_attempts);
  struct Attempt;
  /// One try of `req` on `h`: a transport failure is returned, an HTTP status is in the response.
  Attempt attempt(Handle& h, const Request& req, BodySink* sink, const ProgressFn& progress);

  Options m_opts;
  LogSink& m_log;
  std::mutex m_mutex;
  std::vector<std::unique_ptr<Handle>> m_pool;
};

} // namespace mlops::http
