#include "core/error.hpp"

#include "core/strings.hpp"

namespace mlops {

int exit_code(ErrorKind kind) {
  switch (kind) {
  case ErrorKind::operational: return 1;
  case ErrorKind::io: return 1;
  case ErrorKind::usage: return 2;
  case ErrorKind::gate_failed: return 3;
  case ErrorKind::not_found: return 4;
  case ErrorKind::auth: return 5;
  case ErrorKind::unavailable: return 6;
  case ErrorKind::conflict: return 7;
  case ErrorKind::timed_out: return 8;
  case ErrorKind::inconclusive: return 9;
  case ErrorKind::partial: return 10;
  case ErrorKind::interrupted: return 130;
  }
  return 1;
}

std::string_view kind_name(ErrorKind kind) {
  switch (kind) {
  case ErrorKind::operational: return "operational";
  case ErrorKind::io: return "io";
  case ErrorKind::usage: return "usage";
  case ErrorKind::gate_failed: return "gate_failed";
  case ErrorKind::not_found: return "not_found";
  case ErrorKind::auth: return "auth";
  case ErrorKind::unavailable: return "unavailable";
  case ErrorKind::conflict: return "conflict";
  case ErrorKind::timed_out: return "timed_out";
  case ErrorKind::inconclusive: return "inconclusive";
  case ErrorKind::partial: return "partial";
  case ErrorKind::interrupted: return "interrupted";
  }
  return "operational";
}

Error Error::with_context(std::string_view context) const {
  Error e(m_kind, std::string(context) + ": " + what(), m_hint);
  e.because(m_cause).with_status(m_http_status);
  return e;
}

std::string quote(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 2);
  out += '\'';
  out += printable(name);  // names often come from servers and files: no escape sequences
  out += '\'';
  return out;
}

} // namespace mlops
