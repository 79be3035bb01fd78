// lib/model/example_check: input_example.json and serving_input_example.json checked against
// column and tensor signatures, and turned into V2 requests, as the interface gate does.
#include "core/json.hpp"
#include "fuzz.hpp"
#include "model/mlmodel.hpp"

namespace {
using mlops::model::Signature;
using mlops::model::SignatureSpec;

Signature columns() {
  Signature s;
  s.inputs = {{false, "sepal length (cm)", "double", true, {}},
              {false, "n", "long", true, {}},
              {false, "label", "string", false, {}},
              {false, "ok", "boolean", true, {}}};
  return s;
}

Signature tensors() {
  Signature s;
  s.inputs = {{true, "x", "float32", true, {-1, 4}}, {true, "", "int64", true, {-1}}};
  return s;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto text = mlops::fuzz::text_of(data, size);
  nlohmann::json example;
  try {
    example = mlops::parse_json(text, "'input_example.json'");
  } catch (const mlops::Error&) {
    return 0;
  }
  static const Signature sigs[] = {columns(), tensors()};
  for (const auto& sig : sigs) {
    for (const char* type : {"dataframe", "ndarray", "json_object", "sparse_matrix_csc", ""}) {
      for (const char* orient : {"split", "records", ""}) {
        mlops::model::InputExampleInfo info{"input_example.json", type, orient, "serving_input_example.json"};
        mlops::fuzz::refusing_is_fine([&] {
          (void)mlops::model::check_input_example(sig, info, example);
          std::size_t rows = 0;
          std::string why;
          if (auto req = mlops::model::v2_request(sig, info, example, rows, why)) (void)req->dump();
        });
      }
    }
    mlops::fuzz::refusing_is_fine([&] { (void)mlops::model::check_serving_example(sig, example); });
  }
  return 0;
}
