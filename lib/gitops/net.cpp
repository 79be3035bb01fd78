#include "gitops/net.hpp"

#include "core/cancel.hpp"
#include "core/strings.hpp"

#include <git2.h>
#include <git2/sys/stream.h>

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

namespace mlops::gitops {

using Clock = std::chrono::steady_clock;

struct NetScope::State {
  http::Options opts;
  Clock::time_point deadline = Clock::time_point::max();
  std::uint64_t max_bytes = UINT64_MAX;
  std::uint64_t received = 0;
  NetFault fault = NetFault::none;
  std::string detail;
  std::optional<double> retry_after;
  std::string tail;       ///< the end of the last read, so a header split across reads is still seen
  State* outer = nullptr; ///< the scope this one is nested in (a fetch inside a push)
};

namespace {

thread_local NetScope::State* t_scope = nullptr;

/// How far into an operation's answers a Retry-After header is looked for.
constexpr std::uint64_t k_sniff_bytes = 1u << 20;

/// The stream libgit2 sees; `parent` first, as libgit2 requires.
struct TcpStream {
  git_stream parent;
  struct Conn* conn;
};

struct Conn {
  std::string host, port;
  int fd = -1;
  NetScope::State* state = nullptr;
  std::unique_ptr<NetScope::State> own; ///< limits for a connection made outside any scope
};

Conn* conn_of(git_stream* s) { return reinterpret_cast<TcpStream*>(s)->conn; }

int fail(const std::string& message) noexcept {
  git_error_set_str(GIT_ERROR_NET, message.c_str());
  return -1;
}

int stop(NetScope::State& st, NetFault fault, const std::string& message) noexcept {
  st.fault = fault;
  try {
    st.detail = message;
  } catch (...) {
  }
  return fail(message);
}

std::string seconds(double s) {
  std::string t = std::to_string(s);
  t.erase(t.find_last_not_of('0') + 1);
  if (!t.empty() && t.back() == '.') t.pop_back();
  return t + " s";
}

/// Waits until `fd` is ready for `events`, at most `limit_s` or the deadline,
/// waking every 200 ms to notice Ctrl-C. Returns 0 when ready, else -1 with
/// the git error set and the scope's fault recorded.
int wait_ready(Conn& c, short events, double limit_s, const char* doing) noexcept {
  auto& st = *c.state;
  auto idle_end = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(limit_s));
  for (;;) {
    if (cancel_requested()) return stop(st, NetFault::interrupted, "interrupted");
    auto now = Clock::now();
    if (now >= st.deadline)
      return stop(st, NetFault::deadline,
                  std::string(doing) + " " + c.host + ":" + c.port + ": the operation ran past its deadline");
    if (now >= idle_end)
      return stop(st, NetFault::stalled,
                  std::string(doing) + " " + c.host + ":" + c.port + ": nothing moved for " + seconds(limit_s));
    auto until = std::min({idle_end, st.deadline, now + std::chrono::milliseconds(200)});
    int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count()) + 1;
    pollfd p{c.fd, events, 0};
    int rc = ::poll(&p, 1, ms);
    if (rc > 0) return 0;
    if (rc < 0 && errno != EINTR) return fail(std::string("poll failed: ") + std::strerror(errno));
  }
}

int connect_one(Conn& c, const addrinfo* ai, std::string& why) noexcept {
  c.fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
  if (c.fd < 0) {
    why = std::strerror(errno);
    return -1;
  }
  if (::connect(c.fd, ai->ai_addr, ai->ai_addrlen) == 0) return 0;
  if (errno == EINPROGRESS) {
    if (wait_ready(c, POLLOUT, c.state->opts.connect_timeout_s, "cannot connect to") != 0) {
      why = c.state->fault == NetFault::stalled ? "timed out after " + seconds(c.state->opts.connect_timeout_s)
                                                : c.state->detail;
      if (c.state->fault == NetFault::stalled) c.state->fault = NetFault::none; // a refused connect is retried as such
    } else {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err == 0) return 0;
      why = std::strerror(err);
    }
  } else {
    why = std::strerror(errno);
  }
  ::close(c.fd);
  c.fd = -1;
  return -1;
}

int tcp_connect(git_stream* s) noexcept {
  Conn& c = *conn_of(s);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(c.host.c_str(), c.port.c_str(), &hints, &res);
  if (rc != 0) return fail("failed to resolve address for " + c.host + ": " + gai_strerror(rc));
  std::string why = "no address";
  for (const addrinfo* ai = res; ai; ai = ai->ai_next) {
    if (connect_one(c, ai, why) == 0) break;
    if (c.state->fault != NetFault::none) break; // deadline or Ctrl-C: no further address
  }
  ::freeaddrinfo(res);
  if (c.fd < 0) {
    if (c.state->fault != NetFault::none) return -1;
    return fail("failed to connect to " + c.host + ":" + c.port + ": " + why);
  }
  return 0;
}

/// Remembers a Retry-After header in what was just read (plain HTTP only:
/// beneath TLS these bytes are ciphertext and never match).
void sniff_retry_after(NetScope::State& st, const char* data, std::size_t n) {
  st.tail.append(data, std::min<std::size_t>(n, 4096));
  std::string low = lower_ascii(st.tail);
  auto at = low.rfind("\nretry-after:");
  if (at != std::string::npos) {
    auto end = low.find('\r', at);
    if (end != std::string::npos)
      st.retry_after =
          http::parse_retry_after(st.tail.substr(at + 13, end - at - 13), std::chrono::system_clock::now());
  }
  if (st.tail.size() > 64) st.tail.erase(0, st.tail.size() - 64);
}

ssize_t tcp_read(git_stream* s, void* data, size_t len) noexcept {
  Conn& c = *conn_of(s);
  auto& st = *c.state;
  for (;;) {
    ssize_t n = ::recv(c.fd, data, len, 0);
    if (n > 0) {
      st.received += static_cast<std::uint64_t>(n);
      if (st.received > st.max_bytes)
        return stop(st, NetFault::oversized,
                    "the answer from " + c.host + ":" + c.port + " is larger than " +
                        std::to_string(st.max_bytes >> 20) + " MiB");
      try {
        // Answers that say when to come back are small: no need to look further.
        if (st.received <= k_sniff_bytes)
          sniff_retry_after(st, static_cast<const char*>(data), static_cast<std::size_t>(n));
      } catch (...) {
      }
      return n;
    }
    if (n == 0) return 0;
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      return fail("could not read from " + c.host + ":" + c.port + ": " + std::strerror(errno));
    if (wait_ready(c, POLLIN, st.opts.idle_timeout_s, "no answer from") != 0) return -1;
  }
}

ssize_t tcp_write(git_stream* s, const char* data, size_t len, int /*flags*/) noexcept {
  Conn& c = *conn_of(s);
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::send(c.fd, data + done, len - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
      return fail("could not write to " + c.host + ":" + c.port + ": " + std::strerror(errno));
    if (wait_ready(c, POLLOUT, c.state->opts.idle_timeout_s, "cannot send to") != 0) return -1;
  }
  return static_cast<ssize_t>(len);
}

int tcp_close(git_stream* s) noexcept {
  Conn& c = *conn_of(s);
  if (c.fd >= 0) ::close(c.fd);
  c.fd = -1;
  return 0;
}

void tcp_free(git_stream* s) noexcept {
  auto* ts = reinterpret_cast<TcpStream*>(s);
  tcp_close(s);
  delete ts->conn;
  delete ts;
}

int tcp_new(git_stream** out, const char* host, const char* port) noexcept {
  try {
    auto conn = std::make_unique<Conn>();
    conn->host = host;
    conn->port = port;
    if (t_scope) {
      conn->state = t_scope;
    } else {
      conn->own = std::make_unique<NetScope::State>();
      conn->state = conn->own.get();
    }
    auto* ts = new TcpStream{};
    ts->parent.version = GIT_STREAM_VERSION;
    ts->parent.connect = tcp_connect;
    ts->parent.read = tcp_read;
    ts->parent.write = tcp_write;
    ts->parent.close = tcp_close;
    ts->parent.free = tcp_free;
    ts->conn = conn.release();
    *out = &ts->parent;
    return 0;
  } catch (...) {
    return fail("out of memory");
  }
}

} // namespace

NetScope::NetScope(const http::Options& opts, Clock::time_point deadline, std::uint64_t max_bytes)
    : m_state(std::make_unique<State>()) {
  m_state->opts = opts;
  m_state->deadline = deadline;
  m_state->max_bytes = max_bytes;
  m_state->outer = t_scope;
  t_scope = m_state.get();
  git_stream_registration reg{};
  reg.version = GIT_STREAM_VERSION;
  reg.init = tcp_new;
  git_stream_register(GIT_STREAM_STANDARD, &reg);
}

NetScope::~NetScope() {
  t_scope = m_state->outer;
  if (!t_scope) git_stream_register(GIT_STREAM_STANDARD, nullptr);
}

void NetScope::set_max_bytes(std::uint64_t max_bytes) { m_state->max_bytes = m_state->received + max_bytes; }

NetFault NetScope::fault() const { return m_state->fault; }

const std::string& NetScope::fault_detail() const { return m_state->detail; }

std::optional<double> NetScope::retry_after() const { return m_state->retry_after; }

} // namespace mlops::gitops
