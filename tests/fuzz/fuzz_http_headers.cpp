// Response headers a registry or MLflow server controls: WWW-Authenticate (lib/oci/
// registry_auth), the upload Range (lib/oci/registry_auth) Retry-After and Date (lib/http).
#include "fuzz.hpp"
#include "http/client.hpp"
#include "http/ranged.hpp"
#include "oci/registry_auth.hpp"

#include <chrono>
#include <cmath>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(mlops::fuzz::text_of(data, size));
  for (const auto& c : mlops::oci::parse_www_authenticate(text)) {
    if (c.scheme.empty()) __builtin_trap(); // a challenge always has a scheme
  }
  (void)mlops::oci::parse_upload_range(text);
  // A fixed "now" keeps runs reproducible; the wait must be a number, never NaN.
  auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1767225600));
  if (auto wait = mlops::http::parse_retry_after(text, now); wait && std::isnan(*wait)) __builtin_trap();
  (void)mlops::http::parse_http_date(text); // Date, for doctor's clock check
  if (auto cr = mlops::http::parse_content_range(text);
      cr && (cr->first > cr->last || (cr->total && cr->last >= *cr->total))) {
    __builtin_trap(); // an accepted range is satisfiable
  }
  return 0;
}
