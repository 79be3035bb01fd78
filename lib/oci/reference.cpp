#include "oci/reference.hpp"

#include "core/error.hpp"
#include "core/limits.hpp"

#include <algorithm>
#include <cctype>

namespace mlops::oci {

namespace {

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

/// "sha256:" and 64 lowercase hex digits.
bool is_digest(std::string_view d) {
  return d.size() == 71 && d.substr(0, 7) == "sha256:" &&
         std::all_of(d.begin() + 7, d.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

} // namespace

std::string ImageRef::str() const {
  std::string s = registry + "/" + repository;
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

ImageRef parse_image_ref(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return Error(ErrorKind::usage, "invalid image reference " + quote(text) + ": " + why, "use HOST[:PORT]/REPO[:TAG]");
  };
  if (text.size() > limits::k_max_image_ref_bytes) {
    throw Error(ErrorKind::usage, "invalid image reference " + quote(text.substr(0, 64) + "...") + ": longer than " +
                                      std::to_string(limits::k_max_image_ref_bytes) + " characters");
  }
  ImageRef r;
  std::string rest = text;
  auto at = rest.find('@');
  if (at != std::string::npos) {
    r.digest = rest.substr(at + 1);
    rest = rest.substr(0, at);
    if (!is_digest(r.digest)) throw bad("bad digest");
  }
  auto slash = rest.find('/');
  if (slash == std::string::npos) throw bad("no registry host");
  r.registry = rest.substr(0, slash);
  if (r.registry.find('.') == std::string::npos && r.registry.find(':') == std::string::npos &&
      r.registry != "localhost") {
    throw bad("no registry host (mlops never guesses one)");
  }
  rest = rest.substr(slash + 1);
  auto colon = rest.rfind(':');
  if (colon != std::string::npos && rest.find('/', colon) == std::string::npos) {
    r.tag = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
  }
  r.repository = rest;
  if (r.repository.empty()) throw bad("no repository");
  for (char c : r.repository) {
    bool ok = std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '/' ||
              c == '.' || c == '_' || c == '-';
    if (!ok) throw bad("repository names are lowercase letters, digits and . _ - /");
  }
  // The distribution spec's tag grammar: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}.
  auto tag_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  };
  if (!r.tag.empty() && (r.tag.size() > 128 || r.tag.front() == '.' || r.tag.front() == '-' ||
                         !std::all_of(r.tag.begin(), r.tag.end(), tag_char))) {
    throw bad("a tag is at most 128 letters, digits and _ . - (not first)");
  }
  auto host_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']';
  };
  if (!std::all_of(r.registry.begin(), r.registry.end(), host_char)) throw bad("the registry is HOST[:PORT]");
  if (r.tag.empty() && r.digest.empty()) r.tag = "latest";
  return r;
}

bool is_image_reference(std::string_view text) {
  if (text.empty() || text.size() > limits::k_max_image_ref_bytes) return false;
  char first = text.front();
  if (!((first >= 'a' && first <= 'z') || (first >= '0' && first <= '9'))) return false;
  if (std::any_of(text.begin(), text.end(), is_space)) return false;
  auto at = text.find('@');
  return at == std::string_view::npos || is_digest(text.substr(at + 1));
}

bool is_pinned_reference(std::string_view text) {
  if (text.size() > limits::k_max_image_ref_bytes) return false;
  auto at = text.find('@');
  if (at == 0 || at == std::string_view::npos) return false;
  std::string_view name = text.substr(0, at);
  return std::none_of(name.begin(), name.end(), is_space) && is_digest(text.substr(at + 1));
}

bool is_loopback_registry(const std::string& registry) {
  std::string host =
      registry.substr(0, registry.rfind(':') == std::string::npos ? registry.size() : registry.rfind(':'));
  return host == "localhost" || host == "127.0.0.1" || host == "[::1]";
}

} // namespace mlops::oci
