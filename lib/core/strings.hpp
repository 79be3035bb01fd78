#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mlops {

/// Edit distance between two strings (insert, delete, substitute, swap).
std::size_t edit_distance(std::string_view a, std::string_view b);

/// Candidates close enough to `word` to suggest ("did you mean"), best first.
std::vector<std::string> suggest(std::string_view word, const std::vector<std::string>& candidates);

/// Percent-encodes everything but unreserved characters; keeps '/' when
/// `keep_slash` (for URL paths).
std::string url_encode(std::string_view s, bool keep_slash = false);

/// ASCII lowercase copy.
std::string lower_ascii(std::string_view s);

/// Case-insensitive ASCII equality.
bool iequals(std::string_view a, std::string_view b);

/// "1.5 MiB" style rendering of a byte count.
std::string human_bytes(std::uint64_t bytes);

/// `v` as printf's "%.<precision>g" (general) or "%.<precision>f" (fixed) writes it in the
/// C locale (std::to_chars), without printf's unchecked buffer.
std::string format_double(double v, std::chars_format style, int precision);

/// Replaces every byte sequence that is not valid UTF-8 with U+FFFD, so the
/// text can go into JSON and XML (captured output of other programs).
std::string valid_utf8(std::string_view text);

/// Text from outside (a server's message, a name it sent) made safe to print in one
/// message line: invalid UTF-8 becomes U+FFFD, C0 controls, DEL and C1 controls become
/// `\xNN` / `\uNNNN`, as do the bidirectional overrides (U+202A-E, U+2066-9), so no
/// escape sequence reaches a terminal. Longer than `max` bytes: cut at a character and
/// "..." appended.
std::string printable(std::string_view text, std::size_t max = std::string_view::npos);

/// SCHEME://REST: a lowercase scheme ([a-z][a-z0-9+.-]*), "://", then one or more characters
/// none of which is ASCII whitespace (the pattern ^[a-z][a-z0-9+.-]*://\S+$, any length).
bool looks_like_uri(std::string_view s);

/// Strips ASCII whitespace from both ends.
std::string_view trim(std::string_view s);

/// The items with `sep` between them ("" for none).
std::string join(const std::vector<std::string>& items, std::string_view sep);

} // namespace mlops
