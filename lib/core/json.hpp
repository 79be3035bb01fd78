#pragma once
// Bounded JSON parsing for outside input: size and nesting depth are checked before
// nlohmann's parser runs, and every parse failure becomes an Error naming what was read.

#include "core/error.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace mlops {

/// The deepest nesting of arrays/objects in `text` (strings are skipped, escapes honoured);
/// stops counting once `stop_at` is exceeded, so hostile input costs one linear scan.
std::size_t json_depth(std::string_view text, std::size_t stop_at);

/// Parses `text` as JSON, refusing documents larger than `max_bytes` or nested deeper than
/// limits::k_max_json_depth. `what` names the source in errors ("the answer of 'http://...'",
/// "'model/MLmodel'"); failures are Error(kind, "<what> is not valid JSON: <why>").
/// The reason text of a nlohmann exception without its "[json.exception.type_error.302] " prefix.
std::string json_error_text(const nlohmann::json::exception& e);

nlohmann::json parse_json(std::string_view text, std::string_view what, ErrorKind kind = ErrorKind::operational,
                          std::size_t max_bytes = 0);
nlohmann::ordered_json parse_ordered_json(std::string_view text, std::string_view what,
                                          ErrorKind kind = ErrorKind::operational, std::size_t max_bytes = 0);

} // namespace mlops
