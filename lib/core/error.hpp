#pragma once

#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace mlops {

/// What kind of failure an Error is; decides the process exit code through
/// error_kinds(), the one table of exit codes (README.md's "Exit codes",
/// `man mlops` and `mlops help` come from it or are tested against it).
enum class ErrorKind {
  operational,  ///< anything else that went wrong (exit 1)
  usage,        ///< bad command line or configuration value (exit 2)
  gate_failed,  ///< checks ran and said no (exit 3)
  not_found,    ///< the named model, version, alias or file does not exist (exit 4)
  auth,         ///< authentication failed or permission denied (exit 5)
  unavailable,  ///< remote unreachable or failing after retries (exit 6)
  conflict,     ///< lost a race or state diverged (exit 7)
  io,           ///< local file system failure (exit 1)
  interrupted,  ///< SIGINT/SIGTERM (exit 130)
  timed_out,    ///< a wait (a rollout, ...) not done by its deadline (exit 8)
  inconclusive, ///< not enough data for a verdict yet (exit 9)
  partial,      ///< some items done, some failed, each named (exit 10)
};

/// Why an error happened, finer than its kind, for callers that must tell
/// causes apart (a refused permission from a refused login, both `auth`).
/// Set by the code that saw the cause (an HTTP status, an error code), so
/// nobody has to search the message for words.
enum class Cause {
  unspecified,
  unauthenticated,   ///< the credentials were missing or refused (HTTP 401)
  permission_denied, ///< the identity is known but may not do this (HTTP 403)
  invalid_parameter, ///< the server refused an argument (HTTP 400, e.g. an unknown MLflow alias)
};

/// One row of the exit-code table: an error kind, its exit code, its stable
/// name (JSON error output), a short label (`mlops help`) and what it means
/// (`man mlops`). Several kinds may share a code; the first row of a code
/// gives its label and meaning.
struct ErrorKindInfo {
  ErrorKind kind;
  int code;
  std::string_view name;
  std::string_view label;
  std::string_view meaning;
};

/// Every error kind, ordered by exit code: the one source of the exit codes.
std::span<const ErrorKindInfo> error_kinds();

/// One documented exit status: a code, its short label and its meaning.
struct ExitStatus {
  int code;
  std::string_view label;
  std::string_view meaning;
};

/// Every exit status mlops documents, in order: 0 (success), then one per
/// distinct code of error_kinds().
const std::vector<ExitStatus>& exit_statuses();

/// The exit code of `kind` (from error_kinds()).
int exit_code(ErrorKind kind);

/// Short stable name of `kind` ("not_found", ...), used in JSON error output.
std::string_view kind_name(ErrorKind kind);

/// The one error type of the library. `what()` is the full message in the
/// `<what failed>: <why>` form, without the `mlops: error: ` prefix; `hint()`
/// optionally says how to fix it. Messages never contain secrets. `cause()`
/// and `http_status()` carry what the message says as data.
class Error : public std::runtime_error {
public:
  Error(ErrorKind kind, const std::string& message, std::string hint = {})
      : std::runtime_error(message), m_kind(kind), m_hint(std::move(hint)) {}

  ErrorKind kind() const { return m_kind; }
  const std::string& hint() const { return m_hint; }
  /// Why, where the thrower knew (Cause::unspecified otherwise).
  Cause cause() const { return m_cause; }
  /// The HTTP status of the answer that caused it; 0 when none.
  int http_status() const { return m_http_status; }

  /// Records the cause; returns *this, so that `throw Error(...).because(c)` works.
  Error& because(Cause cause) {
    m_cause = cause;
    return *this;
  }
  /// Records the HTTP status of the answer behind the error; returns *this.
  Error& with_status(int status) {
    m_http_status = status;
    return *this;
  }

  /// A copy of this error (kind, hint, cause, status) whose message is prefixed with `context: `.
  Error with_context(std::string_view context) const;

private:
  ErrorKind m_kind;
  std::string m_hint;
  Cause m_cause = Cause::unspecified;
  int m_http_status = 0;
};

/// Quotes a name the way every message does: 'name', made printable() and cut at
/// limits::k_max_quoted_bytes (names come from files, flags and servers, of any length).
std::string quote(std::string_view name);

} // namespace mlops
