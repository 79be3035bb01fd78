#include "core/error.hpp"

#include "core/limits.hpp"
#include "core/strings.hpp"

#include <array>

namespace mlops {

namespace {

// The table every exit code comes from; see ErrorKindInfo.
constexpr std::array k_error_kinds = {
    ErrorKindInfo{ErrorKind::operational, 1, "operational", "error",
                  "operational error (a local file system failure, a malformed answer from a server)"},
    ErrorKindInfo{ErrorKind::io, 1, "io", "error", "local file system failure"},
    ErrorKindInfo{ErrorKind::usage, 2, "usage", "usage",
                  "usage: bad command line, configuration file or environment variable"},
    ErrorKindInfo{ErrorKind::gate_failed, 3, "gate_failed", "check failed",
                  "a check ran and said no: a gate, a policy, a digest that does not match ('pull --verify')"},
    ErrorKindInfo{ErrorKind::not_found, 4, "not_found", "not found", "not found: model, version, alias, stage or file"},
    ErrorKindInfo{ErrorKind::auth, 5, "auth", "auth", "authentication failed or permission denied"},
    ErrorKindInfo{ErrorKind::unavailable, 6, "unavailable", "unavailable", "remote unavailable after retries"},
    ErrorKindInfo{ErrorKind::conflict, 7, "conflict", "conflict",
                  "conflict: lost a race or state diverged (another pull writing the same directory, a moved branch)"},
    ErrorKindInfo{ErrorKind::timed_out, 8, "timed_out", "timed out",
                  "timed out waiting (reserved for commands to come: rollout waits)"},
    ErrorKindInfo{ErrorKind::inconclusive, 9, "inconclusive", "inconclusive",
                  "inconclusive: not enough data for a verdict yet (reserved for commands to come: feedback checks)"},
    ErrorKindInfo{ErrorKind::partial, 10, "partial", "partial",
                  "partial: some items done, some failed, each named (reserved for commands to come)"},
    ErrorKindInfo{ErrorKind::interrupted, 130, "interrupted", "interrupted", "interrupted (SIGINT or SIGTERM)"},
};

const ErrorKindInfo& info(ErrorKind kind) {
  for (const auto& row : k_error_kinds)
    if (row.kind == kind) return row;
  return k_error_kinds.front(); // unreachable: every kind has a row (tested)
}

} // namespace

std::span<const ErrorKindInfo> error_kinds() { return k_error_kinds; }

const std::vector<ExitStatus>& exit_statuses() {
  static const std::vector<ExitStatus> table = [] {
    std::vector<ExitStatus> out = {{0, "ok", "success"}};
    for (const auto& row : k_error_kinds)
      if (out.back().code != row.code) out.push_back({row.code, row.label, row.meaning});
    return out;
  }();
  return table;
}

int exit_code(ErrorKind kind) { return info(kind).code; }

std::string_view kind_name(ErrorKind kind) { return info(kind).name; }

Error Error::with_context(std::string_view context) const {
  Error e(m_kind, std::string(context) + ": " + what(), m_hint);
  e.because(m_cause).with_status(m_http_status);
  return e;
}

std::string quote(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 2);
  out += '\'';
  // Names often come from servers, files and flags: no escape sequences, no megabyte lines.
  out += printable(name, limits::k_max_quoted_bytes);
  out += '\'';
  return out;
}

} // namespace mlops
