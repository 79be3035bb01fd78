#pragma once

#include "cli/context.hpp"
#include "oci/registry.hpp"

#include <string>

namespace mlops::cli {

/// The HTTP options for registries: the global TLS settings, never MLflow's credentials.
http::Options registry_http_options(const Context& ctx);

/// True for localhost, 127.0.0.1 and [::1] (with or without a port): plain HTTP is allowed there.
bool is_local_registry(const std::string& registry);

/// An HTTP client and a registry client for one image reference, with the credentials
/// found for its host (REGISTRY_AUTH_FILE, DOCKER_CONFIG, ~/.docker/config.json).
struct RegistryClient {
  RegistryClient(Context& ctx, const oci::ImageRef& ref, const char* actions);
  http::Client http;
  oci::Registry registry;
};

} // namespace mlops::cli
