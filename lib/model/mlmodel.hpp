#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace mlops::model {

/// One column or tensor of a signature.
struct SignatureSpec {
  bool tensor = false;
  std::string name;        ///< may be empty (unnamed columns/tensors)
  std::string type;        ///< column type (double, long, string, ...) or tensor dtype (float32, ...)
  bool required = true;    ///< columns only
  std::vector<long> shape; ///< tensors only; -1 = any size
};

/// A model parameter declared in the signature.
struct ParamSpec {
  std::string name;
  std::string type;
  nlohmann::json default_value;
  bool has_shape = false;
};

/// A parsed MLmodel signature.
struct Signature {
  std::vector<SignatureSpec> inputs;
  std::vector<SignatureSpec> outputs;
  std::vector<ParamSpec> params;
  bool tensor_inputs() const { return !inputs.empty() && inputs.front().tensor; }
};

/// How the input example was saved (MLmodel saved_input_example_info).
struct InputExampleInfo {
  std::string artifact_path;      ///< e.g. input_example.json
  std::string type;               ///< dataframe, ndarray, json_object, sparse_matrix_csc, ...
  std::string pandas_orient;      ///< split or records (dataframe)
  std::string serving_input_path; ///< e.g. serving_input_example.json
};

/// The MLmodel file of a model directory. Unknown keys are kept in `raw`
/// and otherwise ignored.
struct MlModel {
  nlohmann::json raw;               ///< the whole document as JSON
  std::vector<std::string> flavors; ///< flavor names in file order
  std::optional<Signature> signature;
  std::optional<InputExampleInfo> input_example;
  std::string run_id, model_uuid, model_id, mlflow_version;

  /// The flavor's configuration, or null JSON when absent.
  const nlohmann::json& flavor(const std::string& name) const;
  bool has_flavor(const std::string& name) const;

  /// Files the MLmodel names, relative to the model directory: model files
  /// of every flavor, env files, code paths, data, the input example.
  std::vector<std::string> referenced_files() const;

  /// Parses DIR/MLmodel. Throws Error(operational) naming the file and what
  /// is wrong (YAML syntax, signature JSON, wrong types).
  static MlModel load(const std::filesystem::path& dir);
  static MlModel parse(const std::string& yaml_text, const std::string& origin);
};

/// Parses one signature part (the JSON string inside MLmodel).
std::vector<SignatureSpec> parse_signature_part(const std::string& json_text, const std::string& what);

/// Problems of an input example against the signature's inputs; empty when
/// it conforms. Each problem names the column or dimension.
/// `example` is the parsed input_example.json, interpreted per `info.type`.
std::vector<std::string> check_input_example(const Signature& sig, const InputExampleInfo& info,
                                             const nlohmann::json& example);

/// Problems of a serving payload (serving_input_example.json:
/// dataframe_split, dataframe_records, inputs, instances, params).
std::vector<std::string> check_serving_example(const Signature& sig, const nlohmann::json& payload);

/// The Open Inference Protocol (V2) datatype for a column type or tensor
/// dtype: FP64, FP32, INT64, INT32, BOOL, BYTES.
std::string v2_datatype(const std::string& type);

/// An Open Inference Protocol (V2) request built from the input example:
/// one input per column for column signatures, one per tensor otherwise.
/// Sets `rows` to the batch size. nullopt (with `why`) when the example
/// cannot be expressed that way.
std::optional<nlohmann::json> v2_request(const Signature& sig, const InputExampleInfo& info,
                                         const nlohmann::json& example, std::size_t& rows, std::string& why);

} // namespace mlops::model
