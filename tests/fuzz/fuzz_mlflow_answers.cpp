// lib/mlflow/client: every MLflow answer body the client reads (versions, models, listings,
// runs, logged-model metrics, artifact listings) and error bodies of any status.
#include "fuzz.hpp"
#include "mlflow/client.hpp"

namespace answer = mlops::mlflow::answer;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  auto body = mlops::fuzz::text_of(data + 1, size - 1);
  using mlops::fuzz::refusing_is_fine;
  // The first byte picks the status of the error answer; the body goes to every parser,
  // since a hostile server can send any body to any request.
  refusing_is_fine([&] { (void)answer::model_version(body); });
  refusing_is_fine([&] { (void)answer::model_versions(body); });
  refusing_is_fine([&] { (void)answer::registered_model(body); });
  refusing_is_fine([&] { (void)answer::registered_models(body); });
  refusing_is_fine([&] { (void)answer::run(body); });
  refusing_is_fine([&] { (void)answer::logged_model_metrics(body); });
  refusing_is_fine([&] { (void)answer::files(body); });
  mlops::http::Response resp;
  static constexpr long k_statuses[] = {400, 401, 403, 404, 409, 429, 500, 502, 503, 504, 200, 302, 418, 0, 999, -1};
  resp.status = k_statuses[data[0] % 16];
  resp.body = std::string(body);
  if (data[0] & 0x10) resp.headers["content-type"] = "text/html; charset=utf-8";
  refusing_is_fine([&] { (void)mlops::mlflow::error_from_response(resp, "cannot fuzz"); });
  return 0;
}
