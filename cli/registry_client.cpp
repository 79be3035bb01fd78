#include "cli/registry_client.hpp"

#include "core/config.hpp"

namespace mlops::cli {

http::Options registry_http_options(const Context& ctx) {
  http::Options o = ctx.http_options();
  o.username.clear();
  o.password.clear();
  o.bearer_token.clear();
  o.extra_headers.clear();
  o.unreachable_hint = "is the registry running? check the registry in the image reference";
  return o;
}

bool is_local_registry(const std::string& registry) {
  std::string host =
      registry.substr(0, registry.rfind(':') == std::string::npos ? registry.size() : registry.rfind(':'));
  return host == "localhost" || host == "127.0.0.1" || host == "[::1]";
}

RegistryClient::RegistryClient(Context& ctx, const oci::ImageRef& ref, const char* actions)
    : http(registry_http_options(ctx), ctx.log()),
      registry(http, ref, oci::find_credentials(ref.registry, process_getenv),
               is_local_registry(ref.registry) || ctx.global().insecure, ctx.log(), actions) {}

} // namespace mlops::cli
