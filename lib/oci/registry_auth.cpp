#include "oci/registry_auth.hpp"

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/json.hpp"
#include "core/limits.hpp"
#include "core/strings.hpp"

#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include <algorithm>
#include <charconv>

namespace mlops::oci {

using nlohmann::json;

namespace {

bool is_space(char c) { return c == ' ' || c == '\t'; }

std::string unbase64(const std::string& in) {
  std::string out(3 * (in.size() / 4) + 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  if (n < 0) return {};
  out.resize(static_cast<std::size_t>(n));
  std::size_t pad = 0;
  for (auto it = in.rbegin(); it != in.rend() && *it == '='; ++it)
    ++pad;
  out.resize(out.size() - std::min(pad, out.size()));
  return out;
}

/// A quoted-string starting at s[pos] == '"', backslash escapes undone.
std::string read_quoted(std::string_view s, std::size_t& pos) {
  std::string out;
  for (++pos; pos < s.size() && s[pos] != '"'; ++pos) {
    if (s[pos] == '\\' && pos + 1 < s.size()) ++pos;
    out += s[pos];
  }
  if (pos < s.size()) ++pos; // closing quote
  return out;
}

/// Does a config key ("host", "https://host/v1/") name `registry`?
bool key_matches(std::string key, const std::string& registry) {
  for (const char* scheme : {"https://", "http://"}) {
    if (key.rfind(scheme, 0) == 0) key.erase(0, std::string(scheme).size());
  }
  key = key.substr(0, key.find('/'));
  return key == registry;
}

const json* find_entry(const json& object, const std::string& registry) {
  if (!object.is_object()) return nullptr;
  for (const auto& [k, v] : object.items()) {
    if (key_matches(k, registry)) return &v;
  }
  return nullptr;
}

/// Credentials from a credential helper; nullopt when it has none for `registry`.
std::optional<RegistryCredentials> from_helper(const std::string& name, const std::string& registry,
                                               const std::string& why, const HelperRunner& run) {
  std::string program = "docker-credential-" + name;
  ProcessResult r = run(program, registry);
  std::string label = "credential helper " + quote(program) + " (" + why + ")";
  if (r.not_found) {
    throw Error(ErrorKind::auth, "cannot get credentials for " + quote(registry) + ": " + label + " is not installed",
                "install it on PATH, or remove it from the configuration");
  }
  if (r.exit_code != 0) {
    if (lower_ascii(r.output).find("credentials not found") != std::string::npos) return std::nullopt;
    // The output is not shown: a failing helper may still have printed a secret.
    throw Error(ErrorKind::auth, "cannot get credentials for " + quote(registry) + ": " + label +
                                     " failed with exit code " + std::to_string(r.exit_code) +
                                     (r.timed_out ? " (timed out)" : ""));
  }
  RegistryCredentials c = parse_helper_output(r.output, program);
  c.source = label;
  return c;
}

std::optional<RegistryCredentials> from_auths(const json& auths, const std::string& registry,
                                              const std::string& label) {
  const json* a = find_entry(auths, registry);
  if (!a || !a->is_object()) return std::nullopt;
  RegistryCredentials c;
  c.source = label;
  if (a->contains("auth") && (*a)["auth"].is_string()) {
    std::string decoded = unbase64((*a)["auth"].get<std::string>());
    auto colon = decoded.find(':');
    if (colon != std::string::npos) {
      c.username = decoded.substr(0, colon);
      c.password = decoded.substr(colon + 1);
    }
  } else {
    c.username = a->value("username", "");
    c.password = a->value("password", "");
  }
  c.identity_token = a->value("identitytoken", "");
  if (c.username.empty() && c.identity_token.empty()) return std::nullopt;
  return c;
}

} // namespace

std::vector<AuthChallenge> parse_www_authenticate(std::string_view s) {
  std::vector<AuthChallenge> out;
  std::size_t pos = 0;
  while (pos < s.size()) {
    while (pos < s.size() && (is_space(s[pos]) || s[pos] == ','))
      ++pos;
    std::size_t start = pos;
    while (pos < s.size() && !is_space(s[pos]) && s[pos] != ',' && s[pos] != '=')
      ++pos;
    std::string token(s.substr(start, pos - start));
    if (token.empty()) {
      ++pos; // a stray '='
      continue;
    }
    std::size_t after = pos;
    while (after < s.size() && is_space(s[after]))
      ++after;
    if (after < s.size() && s[after] == '=') {
      pos = after + 1;
      while (pos < s.size() && is_space(s[pos]))
        ++pos;
      std::string value;
      if (pos < s.size() && s[pos] == '"') {
        value = read_quoted(s, pos);
      } else {
        std::size_t vs = pos;
        while (pos < s.size() && s[pos] != ',' && !is_space(s[pos]))
          ++pos;
        value = std::string(s.substr(vs, pos - vs));
      }
      if (!out.empty()) out.back().params[lower_ascii(token)] = value;
    } else {
      out.push_back({lower_ascii(token), {}});
    }
  }
  return out;
}

std::string repository_scope(const std::string& repository, const std::string& actions) {
  return "repository:" + repository + ":" + actions;
}

void add_scope(std::vector<std::string>& scopes, const std::string& scope) {
  if (scope.empty() || std::find(scopes.begin(), scopes.end(), scope) != scopes.end()) return;
  scopes.insert(scopes.begin(), scope);
}

std::optional<std::uint64_t> parse_upload_range(std::string_view header) {
  std::string_view v = trim(header);
  if (v.rfind("bytes=", 0) == 0) v.remove_prefix(6);
  auto dash = v.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  std::uint64_t first = 0, last = 0;
  auto a = std::from_chars(v.data(), v.data() + dash, first);
  auto b = std::from_chars(v.data() + dash + 1, v.data() + v.size(), last);
  if (a.ec != std::errc() || a.ptr != v.data() + dash || b.ec != std::errc() || b.ptr != v.data() + v.size())
    return std::nullopt;
  if (dash == 0 || dash + 1 == v.size() || first != 0 || last < first) return std::nullopt;
  return last == 0 ? 0 : last + 1;
}

RegistryCredentials parse_helper_output(const std::string& output, const std::string& helper) {
  // Only stdout should be JSON, but stderr shares the capture: take the object.
  auto open = output.find('{');
  auto close = output.rfind('}');
  json j;
  try {
    if (open != std::string::npos && close != std::string::npos && close > open) {
      j = parse_json(std::string_view(output).substr(open, close - open + 1), "the output of " + quote(helper),
                     ErrorKind::auth, limits::k_max_manifest_bytes);
    }
  } catch (const Error&) {
    // Said below, without the helper's output (it may hold a secret).
  }
  if (!j.is_object() || !j.contains("Secret") || !j["Secret"].is_string() ||
      (j.contains("Username") && !j["Username"].is_string())) {
    throw Error(ErrorKind::auth,
                "credential helper " + quote(helper) + " printed no {\"Username\", \"Secret\"} object");
  }
  RegistryCredentials c;
  std::string user = j.value("Username", "");
  if (user == "<token>") {
    c.identity_token = j["Secret"].get<std::string>();
  } else {
    c.username = user;
    c.password = j["Secret"].get<std::string>();
  }
  return c;
}

ProcessResult run_credential_helper(const std::string& program, const std::string& server) {
  return run_process({program, "get"}, {}, {}, std::chrono::seconds(30), 64 * 1024, server + "\n");
}

std::optional<RegistryCredentials>
find_credentials(const std::string& registry,
                 const std::function<std::optional<std::string>(const std::string&)>& getenv,
                 const HelperRunner& helper) {
  std::vector<std::pair<std::filesystem::path, std::string>> files;
  if (auto f = getenv("REGISTRY_AUTH_FILE"); f && !f->empty()) files.emplace_back(*f, "REGISTRY_AUTH_FILE");
  if (auto d = getenv("DOCKER_CONFIG"); d && !d->empty()) {
    files.emplace_back(std::filesystem::path(*d) / "config.json", "$DOCKER_CONFIG/config.json");
  } else if (auto h = getenv("HOME"); h && !h->empty()) {
    files.emplace_back(std::filesystem::path(*h) / ".docker" / "config.json", "~/.docker/config.json");
  }
  for (const auto& [path, label] : files) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) continue;
    json j = parse_json(fs::read_file(path), "the registry credentials file " + quote(path.string()), ErrorKind::usage,
                        limits::k_max_manifest_bytes);
    if (!j.is_object())
      throw Error(ErrorKind::usage,
                  "invalid registry credentials file " + quote(path.string()) + ": not a JSON object");
    const json helpers = j.value("credHelpers", json::object());
    const json* named = find_entry(helpers, registry);
    if (named && named->is_string() && !named->get<std::string>().empty()) {
      if (auto c = from_helper(named->get<std::string>(), registry, "credHelpers in " + label, helper)) return c;
    } else if (j.contains("credsStore") && j["credsStore"].is_string() && !j["credsStore"].get<std::string>().empty()) {
      if (auto c = from_helper(j["credsStore"].get<std::string>(), registry, "credsStore in " + label, helper))
        return c;
    }
    if (auto c = from_auths(j.value("auths", json::object()), registry, label)) return c;
  }
  return std::nullopt;
}

std::string base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

} // namespace mlops::oci
