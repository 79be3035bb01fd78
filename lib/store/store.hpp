#pragma once

#include "core/error.hpp"
#include "core/log.hpp"
#include "http/client.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mlops::store {

/// Reads an environment variable (process_getenv, or a map in tests).
using Getenv = std::function<std::optional<std::string>(const std::string&)>;

/// One file below a store location; `path` is relative to the location.
struct Object {
  std::string path;
  std::uint64_t size = 0;
};

/// An artifact location in a storage service that MLflow's own client reads directly
/// (the tracking server hands out its URI and does not proxy it). Thread-safe.
class Store {
public:
  virtual ~Store() = default;
  /// The location's URI as MLflow gave it (never holds a secret).
  virtual const std::string& uri() const = 0;
  /// Every object below the location (all pages), sorted by path. Throws Error: auth (5)
  /// naming the store and the credential source, not_found (4), unavailable (6), a
  /// malformed answer (operational, 1).
  virtual std::vector<Object> list() = 0;
  /// The signed-on-send GET of one object, `rel` relative to the location.
  virtual http::Request request(const std::string& rel) const = 0;
  /// The HTTP client the store's requests go through (its own: no MLflow credentials).
  virtual http::Client& http() = 0;
  /// The error for a refused request (`what` names the failed operation).
  virtual Error error_from(const http::Response& resp, const std::string& what) const = 0;
};

/// True for URIs a store reader handles (s3://).
bool is_store_uri(const std::string& uri);

/// Opens the store reader of `uri`, its credentials and endpoint found as MLflow's client
/// finds them (see s3.hpp). `base` gives timeouts and retries (its MLflow credentials are
/// not used). Throws Error(usage) for a URI it cannot read, Error(auth) without credentials.
std::shared_ptr<Store> open_store(const std::string& uri, const http::Options& base, const Getenv& getenv,
                                  LogSink& log);

} // namespace mlops::store
