#include "core/redact.hpp"

#include "core/strings.hpp"

#include <algorithm>
#include <cctype>

namespace mlops {

namespace {

bool is_secret_header(std::string_view name) {
  std::string n = lower_ascii(name);
  return n == "authorization" || n == "proxy-authorization" || n == "cookie" || n == "set-cookie" ||
         n.find("token") != std::string::npos || n.find("secret") != std::string::npos ||
         n.find("api-key") != std::string::npos || n.find("apikey") != std::string::npos ||
         n.find("password") != std::string::npos;
}

} // namespace

std::string redact_url(std::string_view url) {
  std::size_t scheme = url.find("://");
  // Without a scheme ("user:pw@host:5000") the authority starts at once.
  std::size_t host_start = scheme == std::string_view::npos ? 0 : scheme + 3;
  std::size_t host_end = url.find_first_of("/?#", host_start);
  if (host_end == std::string_view::npos) host_end = url.size();
  std::string_view authority = url.substr(host_start, host_end - host_start);
  std::size_t at = authority.rfind('@');
  if (at == std::string_view::npos) return std::string(url);
  std::string out(url.substr(0, host_start));
  out += "***@";
  out += url.substr(host_start + at + 1);
  return out;
}

std::string redact_header(std::string_view header_line) {
  std::size_t colon = header_line.find(':');
  if (colon == std::string_view::npos) return std::string(header_line);
  std::string_view name = header_line.substr(0, colon);
  if (!is_secret_header(name)) return std::string(header_line);
  std::string_view value = header_line.substr(colon + 1);
  // Keep the scheme word ("Basic", "Bearer") so logs still say which kind was used.
  std::size_t first = value.find_first_not_of(' ');
  std::string out(name);
  out += ": ";
  if (first != std::string_view::npos) {
    std::string_view v = value.substr(first);
    std::size_t sp = v.find(' ');
    if (sp != std::string_view::npos && (iequals(v.substr(0, sp), "basic") || iequals(v.substr(0, sp), "bearer"))) {
      out += v.substr(0, sp);
      out += ' ';
    }
  }
  out += "***";
  return out;
}

std::string redact_secrets(std::string text, std::initializer_list<std::string_view> secrets) {
  for (std::string_view secret : secrets) {
    if (secret.empty()) continue;
    std::size_t pos = 0;
    while ((pos = text.find(secret, pos)) != std::string::npos) {
      text.replace(pos, secret.size(), "***");
      pos += 3;
    }
  }
  return text;
}

} // namespace mlops
