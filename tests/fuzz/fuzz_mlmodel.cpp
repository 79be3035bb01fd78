// lib/model/mlmodel: the MLmodel file of a model directory (YAML holding JSON signatures).
#include "fuzz.hpp"
#include "model/mlmodel.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(mlops::fuzz::text_of(data, size));
  mlops::fuzz::refusing_is_fine([&] {
    auto m = mlops::model::MlModel::parse(text, "MLmodel");
    (void)m.referenced_files();
    for (const auto& f : m.flavors)
      (void)m.flavor(f);
  });
  mlops::fuzz::refusing_is_fine([&] { (void)mlops::model::parse_signature_part(text, "signature inputs"); });
  return 0;
}
