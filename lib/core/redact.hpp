#pragma once

#include <string>
#include <string_view>

namespace mlops {

/// Replaces the user-info part of a URL with '***' ("https://u:p@h/x" ->
/// "https://***@h/x"); leaves other text unchanged.
std::string redact_url(std::string_view url);

/// Redacts the value of an HTTP header line whose name carries credentials
/// (Authorization, Proxy-Authorization, Cookie, Set-Cookie, X-*-Token, ...).
std::string redact_header(std::string_view header_line);

/// Redacts every occurrence of each non-empty secret in `text` with '***'.
std::string redact_secrets(std::string text, std::initializer_list<std::string_view> secrets);

} // namespace mlops
