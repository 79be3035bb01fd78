#include "http/client.hpp"

#include "core/cancel.hpp"
#include "core/error.hpp"
#include "core/limits.hpp"
#include "core/redact.hpp"
#include "core/strings.hpp"

#include <curl/curl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <random>
#include <thread>

namespace mlops::http {

namespace {

constexpr std::size_t k_max_error_body = 64 * 1024;

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool is_retryable_transport(CURLcode code) {
  switch (code) {
  case CURLE_COULDNT_CONNECT:
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
  case CURLE_SEND_FAIL_REWIND:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
    return true;
  default:
    return false;
  }
}

bool is_tls_error(CURLcode code) {
  switch (code) {
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_ENGINE_NOTFOUND:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
    return true;
  default:
    return false;
  }
}

/// Sleeps in short slices so that Ctrl-C is noticed while waiting.
void cancellable_sleep(double seconds) {
  auto end = std::chrono::steady_clock::now() +
             std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(seconds));
  while (std::chrono::steady_clock::now() < end) {
    throw_if_cancelled();
    std::chrono::steady_clock::duration left = end - std::chrono::steady_clock::now();
    std::chrono::steady_clock::duration slice = std::chrono::milliseconds(50);
    std::this_thread::sleep_for(std::min(left, slice));
  }
  throw_if_cancelled();
}

double jitter(double max) {
  if (max <= 0) return 0;
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0, max)(rng);
}

std::string host_of(const std::string& url) {
  auto scheme = url.find("://");
  auto start = scheme == std::string::npos ? 0 : scheme + 3;
  auto end = url.find_first_of("/?#", start);
  std::string authority = url.substr(start, end == std::string::npos ? std::string::npos : end - start);
  auto at = authority.rfind('@');
  if (at != std::string::npos) authority.erase(0, at + 1);
  return url.substr(0, start) + authority;
}

} // namespace

std::string Response::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

bool is_retryable_status(long status) {
  return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

std::optional<std::int64_t> parse_http_date(const std::string& value) {
  std::string v(trim(value));
  if (v.empty()) return std::nullopt;
  time_t when = curl_getdate(v.c_str(), nullptr);
  if (when < 0) return std::nullopt;
  return static_cast<std::int64_t>(when);
}

std::optional<double> parse_retry_after(const std::string& value, std::chrono::system_clock::time_point now) {
  std::string v(trim(value));
  if (v.empty()) return std::nullopt;
  if (std::all_of(v.begin(), v.end(), [](unsigned char c) { return std::isdigit(c); })) {
    double secs = std::strtod(v.c_str(), nullptr); // huge values become HUGE_VAL; callers cap the wait
    return std::isfinite(secs) ? std::min(secs, 1e9) : 1e9;
  }
  auto when = parse_http_date(v);
  if (!when) return std::nullopt;
  double delta = std::difftime(static_cast<time_t>(*when), std::chrono::system_clock::to_time_t(now));
  return std::max(0.0, delta);
}

double backoff_delay(const Options& opts, int attempt) {
  double d = opts.backoff_factor_s * std::pow(2.0, std::max(0, attempt - 1));
  return std::min(d, opts.backoff_max_s);
}

double refused_backoff_delay(const Options& opts, int attempt) {
  // A refused connection is answered at once: waits of 0.1, 0.2, 0.4, 0.8 s (less with a
  // smaller backoff factor) retry a server that is restarting without adding up to minutes.
  double d = std::min(opts.backoff_factor_s, 0.1) * std::pow(2.0, std::max(0, attempt - 1));
  return std::min(d, limits::k_max_refused_retry_s / 3);
}

double request_deadline(const Request& req, bool streamed, std::uint64_t upload_bytes) {
  if (req.deadline_s > 0) return req.deadline_s;
  auto by_size = [](std::uint64_t bytes) {
    return limits::k_deadline_base_s + static_cast<double>(bytes) / limits::k_deadline_min_average_bytes_per_s;
  };
  if (req.expected_size) return by_size(std::max(*req.expected_size, upload_bytes));
  if (!req.body_file.empty()) return by_size(upload_bytes);
  if (streamed || req.body_reader) return 0; // unknown size: the stall rule ends it
  return limits::k_request_deadline_s;
}

struct Client::Handle {
  CURL* easy = nullptr;
  curl_socket_t sock = CURL_SOCKET_BAD; // the socket libcurl opened last for this handle

  static int on_socket(void* self, curl_socket_t fd, curlsocktype purpose) {
    if (purpose == CURLSOCKTYPE_IPCXN) static_cast<Handle*>(self)->sock = fd;
    return CURL_SOCKOPT_OK;
  }
  Handle() {
    global_init();
    easy = curl_easy_init();
    if (!easy) throw Error(ErrorKind::operational, "cannot initialise libcurl");
  }
  ~Handle() {
    if (easy) curl_easy_cleanup(easy);
  }
};

/// State shared with libcurl callbacks for one attempt. No exception leaves
/// a callback: it is stored here and rethrown after curl_easy_perform.
struct Client::Transfer {
  const curl_socket_t* sock = nullptr; // the handle's current socket
  Response* response = nullptr;
  BodySink* sink = nullptr;
  const ProgressFn* progress = nullptr;
  std::exception_ptr error;
  bool streaming = false; // true once a 2xx status was seen with a sink
  curl_off_t last_reported = 0;
  std::uint64_t max_stream = UINT64_MAX; // Request::expected_size
  const std::string* shown_url = nullptr;

  /// The body went past what the request allows: abort, said once, never retried.
  static Error too_large(const Transfer& t, std::uint64_t limit, const char* what) {
    return Error(ErrorKind::operational, "the answer of " + quote(*t.shown_url) + " is larger than the " +
                                             std::to_string(limit) + " bytes " + what);
  }

  static std::size_t on_header(char* data, std::size_t size, std::size_t n, void* self) {
    auto* t = static_cast<Transfer*>(self);
    std::string line(data, size * n);
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n'))
      line.pop_back();
    if (line.empty()) {
      // End of the headers. Servers that write headers and body separately
      // (uvicorn does) stall on a reused connection: Nagle on their side waits
      // for our ACK, which Linux delays by up to 40 ms. Ask for the ACK now.
      if (t->sock && *t->sock != CURL_SOCKET_BAD) {
        int one = 1;
        ::setsockopt(*t->sock, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
      }
      return size * n;
    }
    if (line.rfind("HTTP/", 0) == 0) {
      // A new status line (redirect, 100-continue): start over.
      t->response->headers.clear();
      auto sp = line.find(' ');
      t->response->status = sp == std::string::npos ? 0 : std::atol(line.c_str() + sp + 1);
      return size * n;
    }
    auto colon = line.find(':');
    if (colon != std::string::npos) {
      t->response->headers[lower_ascii(line.substr(0, colon))] = std::string(trim(line.substr(colon + 1)));
    }
    return size * n;
  }

  static std::size_t on_body(char* data, std::size_t size, std::size_t n, void* self) {
    auto* t = static_cast<Transfer*>(self);
    std::size_t len = size * n;
    try {
      t->response->bytes += len;
      long st = t->response->status;
      if (t->sink && st >= 200 && st < 300) {
        t->streaming = true;
        if (t->response->bytes > t->max_stream) throw too_large(*t, t->max_stream, "expected");
        t->sink->write(data, len);
      } else if (!t->sink) {
        if (t->response->body.size() + len > limits::k_max_json_bytes) {
          throw too_large(*t, limits::k_max_json_bytes, "an answer may have");
        }
        t->response->body.append(data, len);
      } else if (t->response->body.size() < k_max_error_body) {
        t->response->body.append(data, len);
      }
    } catch (...) {
      t->error = std::current_exception();
      return 0; // makes libcurl abort with CURLE_WRITE_ERROR
    }
    return len;
  }

  static int on_progress(void* self, curl_off_t, curl_off_t now, curl_off_t, curl_off_t) {
    auto* t = static_cast<Transfer*>(self);
    if (cancel_requested()) return 1;
    if (t->streaming && t->progress && *t->progress && now > t->last_reported) {
      try {
        (*t->progress)(now - t->last_reported);
      } catch (...) {
        t->error = std::current_exception();
        return 1;
      }
      t->last_reported = now;
    }
    return 0;
  }
};

Client::Client(Options opts, LogSink& log) : m_opts(std::move(opts)), m_log(log) { global_init(); }

Client::~Client() = default;

std::unique_ptr<Client::Handle> Client::borrow() {
  std::lock_guard lock(m_mutex);
  if (m_pool.empty()) return std::make_unique<Handle>();
  auto h = std::move(m_pool.back());
  m_pool.pop_back();
  return h;
}

void Client::give_back(std::unique_ptr<Handle> h) {
  std::lock_guard lock(m_mutex);
  m_pool.push_back(std::move(h));
}

Response Client::send(const Request& req) { return perform(req, nullptr, {}); }

Response Client::download(const Request& req, BodySink& sink, const ProgressFn& progress) {
  return perform(req, &sink, progress);
}

namespace {

/// The request body of an upload: a range of a file, or a function.
struct BodyReader {
  std::FILE* file;
  std::uint64_t left;
  const std::function<std::size_t(char*, std::size_t)>* fn;
  std::exception_ptr* error;           // where a thrown exception is kept
  std::uint64_t start = 0, length = 0; // the file range, for rewinds

  static std::size_t from_file(char* buf, std::size_t size, std::size_t n, void* self) {
    auto* r = static_cast<BodyReader*>(self);
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(size * n, r->left));
    std::size_t got = want ? std::fread(buf, 1, want, r->file) : 0;
    r->left -= got;
    return got;
  }
  /// libcurl rewinds a body to send it again (a reused connection that was
  /// closed under it, a redirect, an auth round).
  static int seek(void* self, curl_off_t offset, int origin) {
    auto* r = static_cast<BodyReader*>(self);
    if (origin != SEEK_SET || offset < 0 || static_cast<std::uint64_t>(offset) > r->length)
      return CURL_SEEKFUNC_CANTSEEK;
    if (::fseeko(r->file, static_cast<off_t>(r->start + static_cast<std::uint64_t>(offset)), SEEK_SET) != 0)
      return CURL_SEEKFUNC_FAIL;
    r->left = r->length - static_cast<std::uint64_t>(offset);
    return CURL_SEEKFUNC_OK;
  }
  static std::size_t from_function(char* buf, std::size_t size, std::size_t n, void* self) {
    auto* r = static_cast<BodyReader*>(self);
    try {
      return (*r->fn)(buf, size * n);
    } catch (...) {
      *r->error = std::current_exception();
      return CURL_READFUNC_ABORT;
    }
  }
};

/// Frees a header list libcurl built.
struct SlistFree {
  void operator()(curl_slist* l) const noexcept { curl_slist_free_all(l); }
};
using HeaderList = std::unique_ptr<curl_slist, SlistFree>;

/// Appends `line` to `list` (curl_slist_append returns the head, or null when out of memory).
void append_header(HeaderList& list, const std::string& line) {
  if (curl_slist* head = curl_slist_append(list.get(), line.c_str())) {
    (void)list.release();
    list.reset(head);
  }
}

/// Closes a stdio file.
struct FileClose {
  void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};

/// Upload mode with a 2 MiB buffer; the read function and size are set by the caller.
void set_upload(CURL* c, HeaderList& headers, const std::string& method) {
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, 2L * 1024 * 1024);
  // No "Expect: 100-continue": registries rarely answer it and libcurl
  // would wait a second before sending every blob.
  append_header(headers, "Expect:");
  if (method != "PUT") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
}

} // namespace

/// What one attempt gave: the response, libcurl's result, and when that is
/// not CURLE_OK the transport failure in words (URLs redacted).
struct Client::Attempt {
  Response response;
  CURLcode curl_code = CURLE_OK;
  std::string transport_error;
};

Client::Attempt Client::attempt(Handle& h, const Request& req, BodySink* sink, const ProgressFn& progress) {
  CURL* c = h.easy;
  curl_easy_reset(c); // keeps the connection cache
  Response resp;
  Transfer t;
  t.sock = &h.sock;
  t.response = &resp;
  t.sink = sink;
  t.progress = &progress;
  if (req.expected_size) t.max_stream = *req.expected_size;
  const std::string shown = redact_url(req.url.substr(0, req.url.find('?')));
  t.shown_url = &shown;
  char errbuf[CURL_ERROR_SIZE] = {0};

  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_USERAGENT, m_opts.user_agent.c_str());
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(m_opts.connect_timeout_s * 1000));
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, limits::k_min_transfer_bytes_per_s);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, std::max(1L, static_cast<long>(m_opts.idle_timeout_s)));
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, m_opts.verify_tls ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, m_opts.verify_tls ? 2L : 0L);
  if (!m_opts.ca_bundle.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, m_opts.ca_bundle.c_str());
  if (!m_opts.client_cert.empty()) curl_easy_setopt(c, CURLOPT_SSLCERT, m_opts.client_cert.c_str());
  if (!sink)
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
  else
    curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 256L * 1024);

  HeaderList headers;
  for (const auto& hd : m_opts.extra_headers)
    append_header(headers, hd);
  for (const auto& hd : req.headers)
    append_header(headers, hd);
  if (!m_opts.aws_sigv4.empty()) {
    // libcurl signs each attempt afresh (date, host, the x-amz-* headers given).
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, m_opts.aws_sigv4.c_str());
    curl_easy_setopt(c, CURLOPT_USERNAME, m_opts.username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, m_opts.password.c_str());
  } else if (!m_opts.username.empty() || !m_opts.password.empty()) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERNAME, m_opts.username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, m_opts.password.c_str());
  } else if (!m_opts.bearer_token.empty()) {
    append_header(headers, "Authorization: Bearer " + m_opts.bearer_token);
  }
  std::unique_ptr<std::FILE, FileClose> upload;
  std::uint64_t upload_bytes = 0;
  BodyReader reader{nullptr, 0, &req.body_reader, &t.error};
  if (!req.body_file.empty()) {
    upload.reset(std::fopen(req.body_file.c_str(), "rb"));
    if (!upload) {
      throw Error(ErrorKind::io, "cannot read " + quote(req.body_file) + ": " + std::strerror(errno));
    }
    std::error_code ec;
    std::uint64_t size = std::filesystem::file_size(req.body_file, ec);
    std::uint64_t offset = std::min<std::uint64_t>(req.body_offset, size);
    std::uint64_t length = req.body_length ? std::min(req.body_length, size - offset) : size - offset;
    if (offset) ::fseeko(upload.get(), static_cast<off_t>(offset), SEEK_SET);
    reader.file = upload.get();
    reader.left = reader.length = length;
    reader.start = offset;
    curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, &BodyReader::seek);
    curl_easy_setopt(c, CURLOPT_SEEKDATA, &reader);
    set_upload(c, headers, req.method);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, &BodyReader::from_file);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(length));
    upload_bytes = length;
  } else if (req.body_reader) {
    set_upload(c, headers, req.method);
    // No size: libcurl sends "Transfer-Encoding: chunked".
    curl_easy_setopt(c, CURLOPT_READFUNCTION, &BodyReader::from_function);
  } else if (req.method == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else if (req.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else {
    if (req.method != "POST") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
  }
  if (double deadline = request_deadline(req, sink != nullptr, upload_bytes); deadline > 0) {
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(deadline * 1000));
  }
  curl_easy_setopt(c, CURLOPT_READDATA, &reader);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_SOCKOPTFUNCTION, &Handle::on_socket);
  curl_easy_setopt(c, CURLOPT_SOCKOPTDATA, &h);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &Transfer::on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &Transfer::on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &Transfer::on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);

  if (sink) sink->reset();
  CURLcode rc = curl_easy_perform(c);
  headers.reset();
  upload.reset();
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status) resp.status = status;
  if (t.error) std::rethrow_exception(t.error);
  if (rc == CURLE_OK) return {std::move(resp), rc, {}};
  if (rc == CURLE_ABORTED_BY_CALLBACK && cancel_requested()) {
    throw Error(ErrorKind::interrupted, "interrupted");
  }
  std::string why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
  long os_errno = 0;
  curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
  if (rc == CURLE_COULDNT_CONNECT && os_errno != 0) {
    why = lower_ascii(std::strerror(static_cast<int>(os_errno)));
  } else if (rc == CURLE_OPERATION_TIMEDOUT) {
    why = "timed out (" + why + ")";
  }
  while (!why.empty() && (why.back() == '\n' || why.back() == '.'))
    why.pop_back();
  return {std::move(resp), rc, redact_url(why)};
}

Response Client::perform(const Request& req, BodySink* sink, const ProgressFn& progress) {
  const std::string shown = redact_url(req.url);
  int max_attempts = 1 + std::max(0, m_opts.max_retries);
  double waited = 0; // between attempts, bounded by limits::k_max_retry_wait_s
  std::optional<std::chrono::steady_clock::time_point> first_refused;
  for (int n = 1;; ++n) {
    throw_if_cancelled();
    log_request(req, shown);
    auto start = std::chrono::steady_clock::now();
    auto handle = borrow();
    Attempt result;
    try {
      result = attempt(*handle, req, sink, progress);
    } catch (...) {
      give_back(std::move(handle));
      throw;
    }
    give_back(std::move(handle));
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const CURLcode cc = result.curl_code;
    Response& resp = result.response;
    bool last = n >= max_attempts;

    if (cc != CURLE_OK) {
      const std::string& why = result.transport_error;
      m_log.debug(1, "< " + req.method + " " + shown + " failed: " + why);
      if (is_tls_error(cc)) {
        throw Error(
            ErrorKind::operational, "TLS connection to " + quote(host_of(shown)) + " failed: " + why,
            "pass the server's CA bundle with --ca-bundle FILE (for MLflow also MLFLOW_TRACKING_SERVER_CERT_PATH)");
      }
      if (cc == CURLE_UNSUPPORTED_PROTOCOL || cc == CURLE_URL_MALFORMAT) {
        throw Error(ErrorKind::usage, "invalid URL " + quote(shown) + ": " + why);
      }
      bool refused = cc == CURLE_COULDNT_CONNECT;
      bool resendable = req.idempotent && !req.body_reader;
      bool retryable = is_retryable_transport(cc) && (resendable || refused);
      double wait = 0;
      if (retryable && !last) {
        if (refused) {
          // A refused connection is retried briefly: all of it within k_max_refused_retry_s.
          if (!first_refused) first_refused = start;
          wait = refused_backoff_delay(m_opts, n) + jitter(std::min(m_opts.backoff_jitter_s, 0.1));
          double spent = std::chrono::duration<double>(std::chrono::steady_clock::now() - *first_refused).count();
          last = spent + wait > limits::k_max_refused_retry_s;
        } else {
          wait = backoff_delay(m_opts, n) + jitter(m_opts.backoff_jitter_s);
          last = waited + wait > limits::k_max_retry_wait_s;
        }
      }
      if (!retryable || last) {
        std::string attempts = n > 1 ? " (after " + std::to_string(n) + " attempts)" : "";
        throw Error(retryable || is_retryable_transport(cc) ? ErrorKind::unavailable : ErrorKind::operational,
                    "cannot reach " + quote(host_of(shown)) + ": " + why + attempts,
                    refused ? m_opts.unreachable_hint : std::string());
      }
      m_log.debug(1, "  retrying in " + std::to_string(wait).substr(0, 4) + " s (attempt " + std::to_string(n + 1) +
                         " of " + std::to_string(max_attempts) + ")");
      waited += wait;
      cancellable_sleep(wait);
      continue;
    }

    m_log.debug(1, "< " + std::to_string(resp.status) + " " + req.method + " " + shown + " (" +
                       human_bytes(resp.bytes) + ", " + std::to_string(secs).substr(0, 5) + " s)");
    for (const auto& [k, v] : resp.headers)
      m_log.debug(2, "< " + redact_header(k + ": " + v));
    if (is_retryable_status(resp.status) && req.idempotent && !req.body_reader && !last) {
      double wait = status_wait(resp, n, shown, max_attempts);
      if (waited + wait > limits::k_max_retry_wait_s) return std::move(resp); // the caller reports the status
      waited += wait;
      cancellable_sleep(wait);
      continue;
    }
    return std::move(resp);
  }
}

void Client::log_request(const Request& req, const std::string& shown) {
  m_log.debug(1, "> " + req.method + " " + shown);
  for (const auto& hd : req.headers)
    m_log.debug(2, "> " + redact_header(hd));
  if (!m_opts.aws_sigv4.empty()) {
    m_log.debug(2, "> Authorization: AWS4-HMAC-SHA256 ***");
  } else if (!m_opts.username.empty() || !m_opts.password.empty()) {
    m_log.debug(2, "> " + redact_header("Authorization: Basic " + m_opts.username));
  } else if (!m_opts.bearer_token.empty()) {
    m_log.debug(2, "> " + redact_header("Authorization: Bearer " + m_opts.bearer_token));
  }
  if (!req.body.empty()) m_log.debug(2, "> body: " + std::to_string(req.body.size()) + " bytes");
}

double Client::status_wait(const Response& resp, int n, const std::string& shown, int max_attempts) {
  double wait = backoff_delay(m_opts, n) + jitter(m_opts.backoff_jitter_s);
  std::optional<double> asked;
  if (m_opts.respect_retry_after)
    asked = parse_retry_after(resp.header("retry-after"), std::chrono::system_clock::now());
  if (asked) wait = std::min({*asked, m_opts.backoff_max_s, limits::k_max_retry_after_s});
  std::string next = "attempt " + std::to_string(n + 1) + " of " + std::to_string(max_attempts);
  auto secs = [](double v) { return v >= 10 ? std::to_string(std::llround(v)) : std::to_string(v).substr(0, 3); };
  m_log.debug(1, "  HTTP " + std::to_string(resp.status) + ", retrying in " + secs(wait) + " s (" + next + ")");
  // A long wait is said even without -v: mlops is not hung, it was asked to wait.
  if (asked && (wait >= 5 || *asked > wait)) {
    m_log.warn("waiting " + secs(wait) + " s before retrying " + quote(host_of(shown)) + " (HTTP " +
               std::to_string(resp.status) + " with Retry-After: " + secs(*asked) + " s" +
               (*asked > wait ? ", capped at " + secs(wait) + " s" : std::string()) + "; " + next + ")");
  }
  return wait;
}

} // namespace mlops::http
