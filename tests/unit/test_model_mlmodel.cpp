#include "core/error.hpp"
#include "model/mlmodel.hpp"
#include "yaml_fixtures.hpp"

#include <doctest/doctest.h>

using namespace mlops;
using namespace mlops::model;
using nlohmann::json;

namespace {

const char* k_mlmodel = R"(artifact_path: mlflow-artifacts:/1/models/m-1/artifacts
flavors:
  python_function:
    env: {conda: conda.yaml, virtualenv: python_env.yaml}
    loader_module: mlflow.sklearn
    model_path: model.skops
    python_version: 3.11.7
  sklearn:
    code: null
    pickled_model: model.skops
    serialization_format: skops
    sklearn_version: 1.5.2
mlflow_version: 3.17.2
model_id: m-1
future_key: {anything: [1, 2]}
saved_input_example_info: {artifact_path: input_example.json, type: dataframe, pandas_orient: split, serving_input_path: serving_input_example.json}
signature:
  inputs: '[{"type": "double", "name": "a", "required": true}, {"type": "long", "name": "b", "required": false}, {"type": "string", "name": "c"}]'
  outputs: '[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]'
  params: '[{"name": "temperature", "type": "double", "default": 0.5, "shape": null}]'
)";

Signature tensor_sig() {
  Signature s;
  s.inputs = parse_signature_part(R"([{"type":"tensor","tensor-spec":{"dtype":"float32","shape":[-1,4]}}])", "inputs");
  return s;
}

} // namespace

TEST_CASE("MLmodel: current layout with unknown keys") {
  MlModel m = MlModel::parse(k_mlmodel, "MLmodel");
  CHECK(m.flavors == std::vector<std::string>{"python_function", "sklearn"});
  CHECK(m.model_id == "m-1");
  CHECK(m.flavor("python_function")["python_version"] == "3.11.7");
  REQUIRE(m.signature.has_value());
  CHECK(m.signature->inputs.size() == 3);
  CHECK_FALSE(m.signature->inputs[1].required);
  CHECK(m.signature->outputs.at(0).tensor);
  CHECK(m.signature->outputs.at(0).shape == std::vector<long>{-1});
  REQUIRE(m.signature->params.size() == 1);
  CHECK(m.signature->params[0].name == "temperature");
  REQUIRE(m.input_example.has_value());
  CHECK(m.input_example->serving_input_path == "serving_input_example.json");
  auto files = m.referenced_files();
  for (const char* f :
       {"model.skops", "conda.yaml", "python_env.yaml", "input_example.json", "serving_input_example.json"}) {
    CHECK(std::find(files.begin(), files.end(), f) != files.end());
  }
}

TEST_CASE("MLmodel: old layout with env as a string") {
  MlModel m = MlModel::parse(
      "flavors:\n  python_function:\n    env: conda.yaml\n    loader_module: m\n    data: model.pkl\n", "MLmodel");
  auto files = m.referenced_files();
  CHECK(files == std::vector<std::string>{"conda.yaml", "model.pkl"});
  CHECK_FALSE(m.signature.has_value());
}

TEST_CASE("MLmodel: broken files are clear errors") {
  CHECK_THROWS_WITH_AS(MlModel::parse("flavors: [unclosed", "x/MLmodel"),
                       doctest::Contains("invalid MLmodel 'x/MLmodel:1'"), Error);
  CHECK_THROWS_WITH_AS(MlModel::parse("run_id: 1\n", "MLmodel"), doctest::Contains("no 'flavors'"), Error);
  CHECK_THROWS_WITH_AS(MlModel::parse("flavors: {p: {}}\nsignature:\n  inputs: '[{\"type\": '\n", "MLmodel"),
                       doctest::Contains("not valid JSON"), Error);
  CHECK_THROWS_AS(
      parse_signature_part(R"([{"type":"tensor","tensor-spec":{"dtype":"float32","shape":[1]}},{"type":"double"}])",
                           "inputs"),
      Error);
}

TEST_CASE("input example: dataframe split and records") {
  MlModel m = MlModel::parse(k_mlmodel, "MLmodel");
  const Signature& s = *m.signature;
  InputExampleInfo split{"input_example.json", "dataframe", "split", ""};
  CHECK(check_input_example(s, split, json::parse(R"({"columns":["a","b","c"],"data":[[1.5,2,"x"],[3,null,"y"]]})"))
            .empty());
  // An optional column may be left out.
  CHECK(check_input_example(s, split, json::parse(R"({"columns":["a","c"],"data":[[1.5,"x"]]})")).empty());

  auto wrong_name = check_input_example(s, split, json::parse(R"({"columns":["A","c"],"data":[[1.5,"x"]]})"));
  REQUIRE(wrong_name.size() == 2);
  CHECK(wrong_name[0] == "column 'a' is required by the signature but missing from the example");
  CHECK(wrong_name[1] == "column 'A' is not in the signature");

  auto wrong_type =
      check_input_example(s, split, json::parse(R"({"columns":["a","b","c"],"data":[[1.5,2,"x"],["abc",2.5,"y"]]})"));
  REQUIRE(wrong_type.size() == 2);
  CHECK(wrong_type[0] == "column 'a' row 1: \"abc\" is not a double");
  CHECK(wrong_type[1] == "column 'b' row 1: 2.5 is not a long");

  InputExampleInfo records{"input_example.json", "dataframe", "records", ""};
  CHECK(check_input_example(s, records, json::parse(R"([{"a":1.0,"c":"x"}])")).empty());
  CHECK(check_input_example(s, records, json::parse(R"([{"a":1.0}])")).size() == 1);
}

TEST_CASE("input example: tensors, shapes with -1 and dtypes") {
  Signature s = tensor_sig();
  InputExampleInfo nd{"input_example.json", "ndarray", "", ""};
  CHECK(check_input_example(s, nd, json::parse(R"({"inputs": [[1,2,3,4],[5,6,7,8.5]]})")).empty());
  auto bad_shape = check_input_example(s, nd, json::parse(R"({"inputs": [[1,2,3],[4,5,6]]})"));
  REQUIRE(bad_shape.size() == 1);
  CHECK(bad_shape[0] == "input tensor dimension 1 is 3, the signature says 4");
  auto bad_rank = check_input_example(s, nd, json::parse(R"({"inputs": [1,2,3,4]})"));
  CHECK(bad_rank.at(0) == "input tensor has 1 dimensions, the signature 2");
  auto ragged = check_input_example(s, nd, json::parse(R"({"inputs": [[1,2,3,4],[1,2]]})"));
  CHECK(ragged.at(0).find("ragged") != std::string::npos);
  auto bad_dtype = check_input_example(s, nd, json::parse(R"({"inputs": [[1,2,3,"x"]]})"));
  CHECK(bad_dtype.at(0) == "input tensor: value \"x\" is not float32");
}

TEST_CASE("serving example: payload forms and params") {
  MlModel m = MlModel::parse(k_mlmodel, "MLmodel");
  const Signature& s = *m.signature;
  CHECK(
      check_serving_example(
          s, json::parse(R"({"dataframe_split":{"columns":["a","c"],"data":[[1,"x"]]},"params":{"temperature":0.7}})"))
          .empty());
  CHECK(check_serving_example(s, json::parse(R"({"dataframe_records":[{"a":1,"c":"x"}]})")).empty());
  CHECK(check_serving_example(s, json::parse(R"({"instances":[{"a":1,"c":"x"}]})")).empty());
  auto p = check_serving_example(
      s, json::parse(R"({"dataframe_records":[{"a":1,"c":"x"}],"params":{"temp":1,"temperature":"hot"}})"));
  REQUIRE(p.size() == 2);
  CHECK(p[0] == "param 'temp' is not in the signature");
  CHECK(p[1] == "param 'temperature': \"hot\" is not a double");
  CHECK(check_serving_example(s, json::parse(R"({"foo": 1})")).size() == 1);
  CHECK(check_serving_example(tensor_sig(), json::parse(R"({"inputs": [[1,2,3,4]]})")).empty());
}

TEST_CASE("MLmodel: wrong JSON types and hostile YAML are errors naming the file, never library text") {
  auto message = [](const std::string& text) {
    try {
      MlModel::parse(text, "m/MLmodel");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  // Was "[json.exception.type_error.306] cannot use value() with array".
  std::string m = message("flavors: {p: {}}\nsignature:\n  inputs: '[{\"type\": \"double\"}]'\n  params: '[[1]]'\n");
  CHECK(m.find("invalid MLmodel 'm/MLmodel'") == 0);
  CHECK(m.find("[json.exception") == std::string::npos);
  m = message("flavors: {p: {}}\nsignature:\n  inputs: '[{\"type\": \"double\", \"required\": \"yes\"}]'\n");
  CHECK(m.find("signature inputs has an invalid entry") != std::string::npos);
  CHECK(m.find("[json.exception") == std::string::npos);
  m = message("flavors: {p: {}}\nsignature:\n  inputs: '" + std::string(100000, '[') + "'\n");
  CHECK(m.find("nested deeper than") != std::string::npos);
  CHECK(message("flavors: {p: {}, p: {}}\n") == "invalid MLmodel 'm/MLmodel:1': key 'flavors.p' is repeated");
  CHECK(message(test::billion_laughs("flavors: {p: {}}\n")).find("aliases repeat too much") != std::string::npos);
}
