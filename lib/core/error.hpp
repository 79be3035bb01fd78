#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace mlops {

/// What kind of failure an Error is; decides the process exit code.
enum class ErrorKind {
  operational,   ///< anything else that went wrong (exit 1)
  usage,         ///< bad command line or configuration value (exit 2)
  gate_failed,   ///< checks ran and said no (exit 3)
  not_found,     ///< the named model, version, alias or file does not exist (exit 4)
  auth,          ///< authentication failed or permission denied (exit 5)
  unavailable,   ///< remote unreachable or failing after retries (exit 6)
  conflict,      ///< lost a race or state diverged (exit 7)
  io,            ///< local file system failure (exit 1)
  interrupted,   ///< SIGINT/SIGTERM (exit 130)
};

/// The exit code DESIGN.md assigns to `kind`.
int exit_code(ErrorKind kind);

/// Short stable name of `kind` ("not_found", ...), used in JSON error output.
std::string_view kind_name(ErrorKind kind);

/// The one error type of the library. `what()` is the full message in the
/// `<what failed>: <why>` form, without the `mlops: error: ` prefix; `hint()`
/// optionally says how to fix it. Messages never contain secrets.
class Error : public std::runtime_error {
public:
  Error(ErrorKind kind, const std::string& message, std::string hint = {})
    : std::runtime_error(message), m_kind(kind), m_hint(std::move(hint)) {}

  ErrorKind kind() const { return m_kind; }
  const std::string& hint() const { return m_hint; }

  /// A copy of this error whose message is prefixed with `context: `.
  Error with_context(std::string_view context) const;

private:
  ErrorKind m_kind;
  std::string m_hint;
};

/// Quotes a name the way every message does: 'name'.
std::string quote(std::string_view name);

} // namespace mlops
