// lib/mlflow/model_uri: models:/ URIs from the command line, config files and servers.
#include "fuzz.hpp"
#include "mlflow/model_uri.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = mlops::fuzz::text_of(data, size);
  (void)mlops::mlflow::canonical_stage(text);
  mlops::fuzz::refusing_is_fine([&] {
    auto uri = mlops::mlflow::parse_model_uri(text);
    // The canonical form of a parsed URI is itself a URI naming the same thing.
    auto again = mlops::mlflow::parse_model_uri(uri.str());
    if (again.name != uri.name || again.reference != uri.reference || again.kind != uri.kind) __builtin_trap();
  });
  return 0;
}
