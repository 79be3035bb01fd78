#include "model/mlmodel.hpp"

#include "core/error.hpp"
#include "core/input_file.hpp"
#include "core/json.hpp"
#include "core/limits.hpp"
#include "core/yaml_reader.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <set>

namespace mlops::model {

using nlohmann::json;

namespace {

bool looks_int(const std::string& s) {
  std::size_t i = (s.size() > 1 && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  return i < s.size() &&
         std::all_of(s.begin() + static_cast<long>(i), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

json scalar_to_json(const YAML::Node& n) {
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") return s; // quoted: always a string
  if (s == "null" || s == "~" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True") return true;
  if (s == "false" || s == "False") return false;
  if (looks_int(s)) {
    try {
      return std::stoll(s);
    } catch (...) {
    }
  }
  char* end = nullptr;
  double d = std::strtod(s.c_str(), &end);
  if (!s.empty() && end && *end == '\0' && s.find_first_of("0123456789") != std::string::npos) return d;
  return s;
}

json yaml_to_json(const YAML::Node& n) {
  switch (n.Type()) {
  case YAML::NodeType::Null:
  case YAML::NodeType::Undefined:
    return nullptr;
  case YAML::NodeType::Scalar:
    return scalar_to_json(n);
  case YAML::NodeType::Sequence: {
    json arr = json::array();
    for (const auto& item : n)
      arr.push_back(yaml_to_json(item));
    return arr;
  }
  case YAML::NodeType::Map: {
    json obj = json::object();
    for (const auto& kv : n) {
      if (!kv.first.IsScalar())
        throw Error(ErrorKind::operational,
                    "line " + std::to_string(kv.first.Mark().line + 1) + ": a key that is not a plain word");
      obj[kv.first.Scalar()] = yaml_to_json(kv.second);
    }
    return obj;
  }
  }
  return nullptr;
}

std::string get_str(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  return it->is_string() ? it->get<std::string>() : it->dump();
}

const json k_null = nullptr;

} // namespace

std::vector<SignatureSpec> parse_signature_part(const std::string& json_text, const std::string& what) {
  std::vector<SignatureSpec> out;
  json arr = parse_json(json_text, "signature " + what, ErrorKind::operational);
  if (arr.is_null()) return out;
  if (!arr.is_array()) throw Error(ErrorKind::operational, "signature " + what + " must be a JSON list");
  for (const auto& s : arr)
    try {
      if (!s.is_object())
        throw Error(ErrorKind::operational, "signature " + what + " has an entry that is not an object");
      SignatureSpec spec;
      spec.name = get_str(s, "name");
      spec.type = get_str(s, "type");
      if (spec.type == "tensor") {
        spec.tensor = true;
        const json& ts = s.contains("tensor-spec") ? s["tensor-spec"] : k_null;
        if (!ts.is_object())
          throw Error(ErrorKind::operational, "signature " + what + ": tensor without 'tensor-spec'");
        spec.type = get_str(ts, "dtype");
        if (ts.contains("shape") && ts["shape"].is_array()) {
          for (const auto& d : ts["shape"])
            spec.shape.push_back(d.is_number_integer() ? d.get<long>() : -1);
        }
      } else {
        if (spec.type.empty()) throw Error(ErrorKind::operational, "signature " + what + ": a column has no 'type'");
        spec.required = s.value("required", true);
      }
      out.push_back(std::move(spec));
    } catch (const json::exception& e) {
      throw Error(ErrorKind::operational,
                  "signature " + what + " has an invalid entry " + s.dump().substr(0, 80) + ": " + json_error_text(e));
    }
  bool any_tensor = std::any_of(out.begin(), out.end(), [](auto& s) { return s.tensor; });
  bool all_tensor = std::all_of(out.begin(), out.end(), [](auto& s) { return s.tensor; });
  if (any_tensor && !all_tensor) {
    throw Error(ErrorKind::operational, "signature " + what + " mixes columns and tensors");
  }
  return out;
}

const json& MlModel::flavor(const std::string& name) const {
  if (raw.contains("flavors") && raw["flavors"].is_object() && raw["flavors"].contains(name))
    return raw["flavors"][name];
  return k_null;
}

bool MlModel::has_flavor(const std::string& name) const {
  return std::find(flavors.begin(), flavors.end(), name) != flavors.end();
}

std::vector<std::string> MlModel::referenced_files() const {
  std::set<std::string> files;
  auto add = [&](const json& v) {
    if (v.is_string() && !v.get<std::string>().empty()) files.insert(v.get<std::string>());
  };
  for (const auto& name : flavors) {
    const json& f = flavor(name);
    if (!f.is_object()) continue;
    for (const char* key : {"model_path", "pickled_model", "data", "python_model", "model_code_path", "saved_model_dir",
                            "model_data", "model_file"}) {
      if (f.contains(key)) add(f[key]);
    }
    if (f.contains("code")) {
      if (f["code"].is_array())
        for (const auto& c : f["code"])
          add(c);
      else
        add(f["code"]);
    }
    if (f.contains("env")) {
      if (f["env"].is_object())
        for (const auto& [k, v] : f["env"].items())
          add(v);
      else
        add(f["env"]); // old models: the conda file as a plain string
    }
    if (f.contains("artifacts") && f["artifacts"].is_object()) {
      for (const auto& [k, v] : f["artifacts"].items()) {
        if (v.is_object() && v.contains("path")) add(v["path"]);
      }
    }
  }
  if (input_example) {
    add(json(input_example->artifact_path));
    add(json(input_example->serving_input_path));
  }
  return {files.begin(), files.end()};
}

MlModel MlModel::parse(const std::string& text, const std::string& origin) {
  // One document, bounded in size, depth and alias expansion before yaml_to_json walks it.
  YamlReader reader{"MLmodel", origin};
  reader.kind = ErrorKind::operational;
  reader.max_bytes = limits::k_max_mlmodel_bytes;
  YAML::Node root = reader.load(text);
  if (!root.IsMap()) throw Error(ErrorKind::operational, "invalid MLmodel " + quote(origin) + ": not a YAML mapping");
  MlModel m;
  try {
    m.raw = yaml_to_json(root);
  } catch (const Error& e) {
    throw Error(ErrorKind::operational, "invalid MLmodel " + quote(origin) + ": " + e.what());
  }
  auto bad = [&](const std::string& why) {
    return Error(ErrorKind::operational, "invalid MLmodel " + quote(origin) + ": " + why);
  };
  if (!m.raw.contains("flavors") || !m.raw["flavors"].is_object() || m.raw["flavors"].empty())
    throw bad("no 'flavors'");
  for (const auto& kv : root["flavors"])
    m.flavors.push_back(kv.first.Scalar());
  m.run_id = get_str(m.raw, "run_id");
  m.model_uuid = get_str(m.raw, "model_uuid");
  m.model_id = get_str(m.raw, "model_id");
  m.mlflow_version = get_str(m.raw, "mlflow_version");
  if (m.raw.contains("signature") && m.raw["signature"].is_object()) {
    const json& s = m.raw["signature"];
    Signature sig;
    try {
      if (s.contains("inputs") && s["inputs"].is_string()) sig.inputs = parse_signature_part(s["inputs"], "inputs");
      if (s.contains("outputs") && s["outputs"].is_string())
        sig.outputs = parse_signature_part(s["outputs"], "outputs");
      if (s.contains("params") && s["params"].is_string()) {
        json params = parse_json(s["params"].get<std::string>(), "signature params", ErrorKind::operational);
        if (params.is_array()) {
          for (const auto& p : params) {
            if (!p.is_object())
              throw Error(ErrorKind::operational, "signature params has an entry that is not an object");
            sig.params.push_back(ParamSpec{get_str(p, "name"), get_str(p, "type"), p.value("default", json()),
                                           p.contains("shape") && !p["shape"].is_null()});
          }
        }
      }
    } catch (const json::exception& e) {
      throw bad("signature params are invalid: " + json_error_text(e));
    } catch (const Error& e) {
      throw bad(e.what());
    }
    m.signature = std::move(sig);
  }
  if (m.raw.contains("saved_input_example_info") && m.raw["saved_input_example_info"].is_object()) {
    const json& i = m.raw["saved_input_example_info"];
    m.input_example = InputExampleInfo{get_str(i, "artifact_path"), get_str(i, "type"), get_str(i, "pandas_orient"),
                                       get_str(i, "serving_input_path")};
  }
  return m;
}

MlModel MlModel::load(const std::filesystem::path& dir) {
  auto path = dir / "MLmodel";
  if (!regular_file_exists(path, "MLmodel", ErrorKind::operational)) {
    throw Error(ErrorKind::operational, "no MLmodel in " + quote(dir.string()), "is this an MLflow model directory?");
  }
  return parse(read_input_file(path, limits::k_max_mlmodel_bytes, "MLmodel", ErrorKind::operational), path.string());
}

} // namespace mlops::model
