#pragma once

#include "core/error.hpp"
#include "core/log.hpp"
#include "http/client.hpp"
#include "oci/layout.hpp"

#include <functional>
#include <optional>
#include <string>

namespace mlops::oci {

/// "host[:port]/repo/path[:tag|@sha256:...]".
struct ImageRef {
  std::string registry;    ///< host[:port]
  std::string repository;  ///< e.g. models/iris
  std::string tag;         ///< may be empty when a digest is given
  std::string digest;
  std::string str() const;
};

/// Parses an image reference; Error(usage) when it is not one. A reference
/// without a registry host is refused (no implicit Docker Hub).
ImageRef parse_image_ref(const std::string& text);

/// Username and password for a registry, and where they came from.
struct RegistryCredentials {
  std::string username, password;
  std::string source;  ///< e.g. "~/.docker/config.json", for error messages
};

/// Credentials for `registry` from REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json
/// or ~/.docker/config.json (`auths` entries), nullopt when none.
std::optional<RegistryCredentials> find_credentials(const std::string& registry,
                                                    const std::function<std::optional<std::string>(const std::string&)>& getenv);

/// A client for one repository of an OCI distribution registry: Basic and
/// Bearer-token auth from the WWW-Authenticate challenge, blob existence
/// checks, monolithic uploads streamed from files, manifest PUT.
class Registry {
public:
  /// `plain_http_allowed`: the registry may be spoken to over plain HTTP
  /// (localhost, or --insecure); HTTPS is still tried first.
  Registry(http::Client& http, ImageRef ref, std::optional<RegistryCredentials> creds, bool plain_http_allowed, LogSink& log);

  /// GET /v2/: reachable and authenticated? Throws Error(auth|unavailable).
  void ping();
  bool has_blob(const std::string& digest);
  /// Uploads a blob from a file unless the registry has it; true if uploaded.
  bool push_blob(const std::filesystem::path& file, const std::string& digest);
  /// PUTs a manifest under `reference` (tag or digest).
  void push_manifest(const std::string& bytes, const std::string& media_type, const std::string& reference);

private:
  http::Response send(http::Request req);
  std::string base() const;
  Error failure(const http::Response& r, const std::string& what) const;

  http::Client& m_http;
  ImageRef m_ref;
  std::optional<RegistryCredentials> m_creds;
  bool m_plain_allowed;
  bool m_plain = false;
  LogSink& m_log;
  std::string m_authorization;  ///< the header that last worked
};

/// What a push moved.
struct PushStats {
  std::uint64_t uploaded = 0, skipped = 0;
  std::size_t blobs_uploaded = 0, blobs_skipped = 0;
};

/// Pushes the manifest `manifest` of `layout` (its config and layers, then
/// itself) to the registry under `reference`; blobs the registry has are skipped.
PushStats push_image(Registry& registry, const Layout& layout, const Descriptor& manifest, const std::string& reference);

} // namespace mlops::oci
