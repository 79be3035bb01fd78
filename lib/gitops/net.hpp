#pragma once

#include "http/client.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace mlops::gitops {

/// Why the transport stopped a git network operation itself.
enum class NetFault {
  none,
  stalled,     ///< no byte moved for the idle timeout (exit 6 after retries)
  deadline,    ///< the operation ran past its overall deadline (exit 6)
  oversized,   ///< the server sent more than the operation may receive (exit 1)
  interrupted, ///< SIGINT/SIGTERM arrived while waiting (exit 130)
};

/// Bounds every TCP connection libgit2 opens on this thread while it lives:
/// http:// remotes, and https:// ones beneath their TLS layer (libgit2 wraps
/// its TLS stream around the plain socket stream registered here). SSH
/// remotes are not covered (libssh2 reads the socket itself). Connecting
/// waits at most `opts.connect_timeout_s`, every read or write at most
/// `opts.idle_timeout_s` without progress, everything together ends at
/// `deadline`, and at most `max_bytes` may be received. A plain-HTTP
/// `Retry-After` header is remembered for the caller's retry. One scope per
/// thread at a time; libgit2 runs its transfers on the calling thread.
class NetScope {
public:
  NetScope(const http::Options& opts, std::chrono::steady_clock::time_point deadline, std::uint64_t max_bytes);
  ~NetScope();
  NetScope(const NetScope&) = delete;
  NetScope& operator=(const NetScope&) = delete;

  /// Changes the receive cap from now on (e.g. after the refs advertisement).
  void set_max_bytes(std::uint64_t max_bytes);
  /// How the transport stopped the operation (none when it did not).
  NetFault fault() const;
  /// The transport's own account of the fault, for the error message.
  const std::string& fault_detail() const;
  /// Seconds from the last Retry-After header seen in a plain-HTTP answer.
  std::optional<double> retry_after() const;

  struct State;

private:
  std::unique_ptr<State> m_state;
};

} // namespace mlops::gitops
