#pragma once

#include "core/process.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mlops::oci {

/// One challenge of a WWW-Authenticate header.
struct AuthChallenge {
  std::string scheme;                        ///< lowercase: "basic", "bearer", ...
  std::map<std::string, std::string> params; ///< lowercase names, unquoted values
};

/// Parses a WWW-Authenticate value into its challenges (RFC 7235: several
/// challenges separated by commas, `name=token` or `name="quoted"` with
/// backslash escapes). Never throws; unparseable text gives fewer challenges.
std::vector<AuthChallenge> parse_www_authenticate(std::string_view header);

/// "repository:NAME:ACTIONS", the scope a Bearer token is asked for.
std::string repository_scope(const std::string& repository, const std::string& actions);

/// Adds `scope` to `scopes` unless it is there; a new scope goes first,
/// since some token servers read only the first one.
void add_scope(std::vector<std::string>& scopes, const std::string& scope);

/// The number of bytes a registry holds of an upload, from its `Range: 0-N`
/// header (N inclusive, an optional "bytes=" prefix tolerated). Distribution
/// writes "0-0" for an empty session, so that reads as 0. nullopt when the
/// value is not a range starting at 0.
std::optional<std::uint64_t> parse_upload_range(std::string_view header);

/// Username and password (or an identity token) for a registry, and where
/// they came from.
struct RegistryCredentials {
  std::string username, password;
  /// A refresh token for the OAuth2 token flow (a helper's "<token>" user,
  /// or "identitytoken" in a config file); empty otherwise.
  std::string identity_token;
  std::string source; ///< e.g. "$DOCKER_CONFIG/config.json", for error messages
};

/// Parses the JSON a `docker-credential-<name> get` prints
/// ({"ServerURL", "Username", "Secret"}); a Username of "<token>" makes
/// Secret an identity token. Throws Error(auth) for malformed output; the
/// message never contains the output (it may hold a secret).
RegistryCredentials parse_helper_output(const std::string& output, const std::string& helper);

/// Runs a credential helper program with the server on stdin.
using HelperRunner = std::function<ProcessResult(const std::string& program, const std::string& server)>;

/// The default HelperRunner: `program get` with a 30 s timeout.
ProcessResult run_credential_helper(const std::string& program, const std::string& server);

/// Credentials for `registry` from REGISTRY_AUTH_FILE, then
/// $DOCKER_CONFIG/config.json or ~/.docker/config.json. In each file:
/// credHelpers[registry], then credsStore (through `docker-credential-<name>`),
/// then the `auths` entry. nullopt when none has any. Throws Error(auth) when
/// a configured helper is missing or fails other than "not found".
std::optional<RegistryCredentials>
find_credentials(const std::string& registry,
                 const std::function<std::optional<std::string>(const std::string&)>& getenv,
                 const HelperRunner& helper = run_credential_helper);

/// Standard base64 of `in` (for Basic auth).
std::string base64(std::string_view in);

} // namespace mlops::oci
