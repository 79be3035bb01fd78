#pragma once
// std::regex on outside input, bounded by length.

#include "core/limits.hpp"

#include <regex>
#include <string>

namespace mlops {

/// std::regex_match on text of at most limits::k_max_regex_subject_bytes; longer text does
/// not match. libstdc++'s matcher recurses per character: a 100 kB value overflowed the stack.
inline bool bounded_regex_match(const std::string& text, const std::regex& re) {
  return text.size() <= limits::k_max_regex_subject_bytes && std::regex_match(text, re);
}

/// As above, filling `m` with the groups.
inline bool bounded_regex_match(const std::string& text, std::smatch& m, const std::regex& re) {
  return text.size() <= limits::k_max_regex_subject_bytes && std::regex_match(text, m, re);
}

} // namespace mlops
