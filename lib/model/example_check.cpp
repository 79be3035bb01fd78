// Conformance of input examples to an MLmodel signature.
#include "model/mlmodel.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <set>

namespace mlops::model {

using nlohmann::json;

namespace {

std::string shown(const json& v) {
  std::string s = v.dump();
  return s.size() > 40 ? s.substr(0, 40) + "..." : s;
}

/// Integer columns want JSON integers: 1.0 is a float in JSON.
bool is_integral(const json& v) { return v.is_number_integer() || v.is_number_unsigned(); }

/// Does a JSON value fit a column type or tensor dtype?
bool fits(const std::string& type, const json& v) {
  if (v.is_null()) return true; // missing values are the model's business, not the interface's
  if (type == "double" || type == "float" || type.rfind("float", 0) == 0) {
    return v.is_number() || (v.is_string() && (v == "NaN" || v == "Infinity" || v == "-Infinity"));
  }
  if (type == "integer" || type == "long" || type.rfind("int", 0) == 0 || type.rfind("uint", 0) == 0)
    return is_integral(v);
  if (type == "boolean" || type == "bool") return v.is_boolean();
  if (type == "string" || type == "str" || type == "binary" || type == "bytes" || type == "datetime")
    return v.is_string();
  if (type == "array") return v.is_array();
  if (type == "object" || type == "map") return v.is_object();
  return true; // Any, object dtype, composite types we do not model further
}

/// A table: column names and rows of values in that order.
struct Table {
  std::vector<std::string> columns;
  std::vector<std::vector<json>> rows;
};

std::optional<Table> table_from_split(const json& j, std::vector<std::string>& problems) {
  if (!j.is_object() || !j.contains("data")) {
    problems.push_back("the example is not a pandas 'split' document (no 'data')");
    return std::nullopt;
  }
  Table t;
  if (j.contains("columns") && j["columns"].is_array()) {
    for (const auto& c : j["columns"])
      t.columns.push_back(c.is_string() ? c.get<std::string>() : c.dump());
  }
  for (const auto& row : j["data"]) {
    if (row.is_array())
      t.rows.emplace_back(row.begin(), row.end());
    else
      t.rows.push_back({row});
  }
  return t;
}

std::optional<Table> table_from_records(const json& j, std::vector<std::string>& problems) {
  json arr = j.is_object() ? json::array({j}) : j;
  if (!arr.is_array()) {
    problems.push_back("the example is neither a record nor a list of records");
    return std::nullopt;
  }
  Table t;
  std::map<std::string, std::size_t> index;
  for (const auto& rec : arr) {
    if (!rec.is_object()) {
      problems.push_back("a record of the example is not an object");
      return std::nullopt;
    }
    for (const auto& [k, v] : rec.items())
      if (!index.count(k)) index[k] = t.columns.size(), t.columns.push_back(k);
  }
  for (const auto& rec : arr) {
    std::vector<json> row(t.columns.size(), json());
    for (const auto& [k, v] : rec.items())
      row[index[k]] = v;
    t.rows.push_back(std::move(row));
  }
  return t;
}

/// Columns given as {name: [values...]} (or {name: value}).
Table table_from_columns(const json& j) {
  Table t;
  std::size_t n = 0;
  for (const auto& [k, v] : j.items()) {
    t.columns.push_back(k);
    n = std::max<std::size_t>(n, v.is_array() ? v.size() : 1);
  }
  for (std::size_t r = 0; r < n; ++r) {
    std::vector<json> row;
    for (const auto& [k, v] : j.items())
      row.push_back(v.is_array() ? (r < v.size() ? v[r] : json()) : v);
    t.rows.push_back(std::move(row));
  }
  return t;
}

void check_table(const std::vector<SignatureSpec>& specs, const Table& t, std::vector<std::string>& problems) {
  bool named = std::any_of(specs.begin(), specs.end(), [](auto& s) { return !s.name.empty(); });
  if (!named || t.columns.empty()) {
    std::size_t width = t.rows.empty() ? 0 : t.rows.front().size();
    if (!t.rows.empty() && width != specs.size()) {
      problems.push_back("the example has " + std::to_string(width) + " columns, the signature " +
                         std::to_string(specs.size()));
    }
    for (std::size_t c = 0; c < specs.size() && c < width; ++c) {
      for (std::size_t r = 0; r < t.rows.size(); ++r) {
        if (c < t.rows[r].size() && !fits(specs[c].type, t.rows[r][c])) {
          problems.push_back("column " + std::to_string(c) + " row " + std::to_string(r) + ": " + shown(t.rows[r][c]) +
                             " is not a " + specs[c].type);
          break;
        }
      }
    }
    return;
  }
  std::map<std::string, std::size_t> pos;
  for (std::size_t i = 0; i < t.columns.size(); ++i)
    pos[t.columns[i]] = i;
  std::set<std::string> known;
  for (const auto& s : specs) {
    known.insert(s.name);
    auto it = pos.find(s.name);
    if (it == pos.end()) {
      if (s.required)
        problems.push_back("column '" + s.name + "' is required by the signature but missing from the example");
      continue;
    }
    for (std::size_t r = 0; r < t.rows.size(); ++r) {
      const auto& row = t.rows[r];
      if (it->second < row.size() && !fits(s.type, row[it->second])) {
        problems.push_back("column '" + s.name + "' row " + std::to_string(r) + ": " + shown(row[it->second]) +
                           " is not a " + s.type);
        break;
      }
    }
  }
  for (const auto& c : t.columns)
    if (!known.count(c)) problems.push_back("column '" + c + "' is not in the signature");
}

/// Shape of a nested JSON list; nullopt (with a problem) when ragged.
std::optional<std::vector<long>> shape_of(const json& v, const std::string& label, std::vector<std::string>& problems) {
  std::vector<long> shape;
  const json* cur = &v;
  while (cur->is_array()) {
    shape.push_back(static_cast<long>(cur->size()));
    if (cur->empty()) break;
    cur = &(*cur)[0];
  }
  // Every element at each depth must have the same length.
  std::function<bool(const json&, std::size_t)> even = [&](const json& node, std::size_t depth) {
    if (depth == shape.size()) return !node.is_array();
    if (!node.is_array() || static_cast<long>(node.size()) != shape[depth]) return false;
    for (const auto& child : node)
      if (!even(child, depth + 1)) return false;
    return true;
  };
  if (!even(v, 0)) {
    problems.push_back(label + " is ragged: its rows differ in length");
    return std::nullopt;
  }
  return shape;
}

void check_leaves(const std::string& dtype, const json& v, const std::string& label,
                  std::vector<std::string>& problems) {
  if (v.is_array()) {
    for (const auto& c : v) {
      std::size_t before = problems.size();
      check_leaves(dtype, c, label, problems);
      if (problems.size() != before) return;
    }
    return;
  }
  if (!fits(dtype, v)) problems.push_back(label + ": value " + shown(v) + " is not " + dtype);
}

void check_tensor(const SignatureSpec& spec, const json& data, const std::string& label,
                  std::vector<std::string>& problems) {
  auto shape = shape_of(data, label, problems);
  if (!shape) return;
  if (!spec.shape.empty()) {
    if (shape->size() != spec.shape.size()) {
      problems.push_back(label + " has " + std::to_string(shape->size()) + " dimensions, the signature " +
                         std::to_string(spec.shape.size()));
    } else {
      for (std::size_t d = 0; d < shape->size(); ++d) {
        if (spec.shape[d] != -1 && spec.shape[d] != (*shape)[d]) {
          problems.push_back(label + " dimension " + std::to_string(d) + " is " + std::to_string((*shape)[d]) +
                             ", the signature says " + std::to_string(spec.shape[d]));
        }
      }
    }
  }
  check_leaves(spec.type, data, label, problems);
}

void check_tensors(const std::vector<SignatureSpec>& specs, const json& inputs, std::vector<std::string>& problems) {
  if (inputs.is_object()) {
    for (const auto& s : specs) {
      std::string label = "tensor '" + s.name + "'";
      if (!inputs.contains(s.name)) {
        problems.push_back(label + " is missing from the example");
        continue;
      }
      check_tensor(s, inputs[s.name], label, problems);
    }
    for (const auto& [k, v] : inputs.items()) {
      if (std::none_of(specs.begin(), specs.end(), [&](auto& s) { return s.name == k; })) {
        problems.push_back("tensor '" + k + "' is not in the signature");
      }
    }
    return;
  }
  if (specs.size() != 1) {
    problems.push_back("the signature has " + std::to_string(specs.size()) +
                       " tensors but the example gives one unnamed");
    return;
  }
  check_tensor(specs.front(), inputs,
               specs.front().name.empty() ? "input tensor" : "tensor '" + specs.front().name + "'", problems);
}

void check_params(const Signature& sig, const json& params, std::vector<std::string>& problems) {
  if (!params.is_object()) {
    problems.push_back("'params' must be an object");
    return;
  }
  for (const auto& [k, v] : params.items()) {
    auto it = std::find_if(sig.params.begin(), sig.params.end(), [&](auto& p) { return p.name == k; });
    if (it == sig.params.end()) {
      problems.push_back("param '" + k + "' is not in the signature");
    } else if (!it->has_shape && !fits(it->type, v)) {
      problems.push_back("param '" + k + "': " + shown(v) + " is not a " + it->type);
    }
  }
}

void check_any(const Signature& sig, const json& data, std::vector<std::string>& problems) {
  if (sig.tensor_inputs()) {
    check_tensors(sig.inputs, data, problems);
  } else if (data.is_object()) {
    check_table(sig.inputs, table_from_columns(data), problems);
  } else if (data.is_array() && !data.empty() && data[0].is_object()) {
    if (auto t = table_from_records(data, problems)) check_table(sig.inputs, *t, problems);
  } else if (data.is_array()) {
    Table t;
    for (const auto& row : data) {
      if (row.is_array())
        t.rows.emplace_back(row.begin(), row.end());
      else
        t.rows.push_back({row});
    }
    check_table(sig.inputs, t, problems);
  } else {
    problems.push_back("the example is a single value; the signature expects " + std::to_string(sig.inputs.size()) +
                       " inputs");
  }
}

} // namespace

std::vector<std::string> check_input_example(const Signature& sig, const InputExampleInfo& info, const json& example) {
  std::vector<std::string> problems;
  if (info.type == "sparse_matrix_csc" || info.type == "sparse_matrix_csr") {
    if (!example.is_object() || !example.contains("shape")) problems.push_back("sparse example has no 'shape'");
    return problems;
  }
  if (info.type == "dataframe") {
    std::optional<Table> t =
        info.pandas_orient == "records" ? table_from_records(example, problems) : table_from_split(example, problems);
    if (t) check_table(sig.inputs, *t, problems);
    return problems;
  }
  if (info.type == "ndarray" && example.is_object() && example.contains("inputs")) {
    if (sig.tensor_inputs())
      check_tensors(sig.inputs, example["inputs"], problems);
    else
      check_any(sig, example["inputs"], problems);
    return problems;
  }
  check_any(sig, example, problems);
  return problems;
}

std::vector<std::string> check_serving_example(const Signature& sig, const json& payload) {
  std::vector<std::string> problems;
  if (!payload.is_object()) return {"the serving example is not a JSON object"};
  if (payload.contains("dataframe_split")) {
    if (auto t = table_from_split(payload["dataframe_split"], problems)) check_table(sig.inputs, *t, problems);
  } else if (payload.contains("dataframe_records")) {
    if (auto t = table_from_records(payload["dataframe_records"], problems)) check_table(sig.inputs, *t, problems);
  } else if (payload.contains("inputs")) {
    check_any(sig, payload["inputs"], problems);
  } else if (payload.contains("instances")) {
    check_any(sig, payload["instances"], problems);
  } else {
    problems.push_back("the serving example has none of dataframe_split, dataframe_records, inputs, instances");
  }
  if (payload.contains("params")) check_params(sig, payload["params"], problems);
  return problems;
}

std::string v2_datatype(const std::string& t) {
  if (t == "double" || t == "float64") return "FP64";
  if (t == "float" || t == "float32") return "FP32";
  if (t == "float16") return "FP16";
  if (t == "long" || t == "int64") return "INT64";
  if (t == "integer" || t == "int32") return "INT32";
  if (t == "int16") return "INT16";
  if (t == "int8") return "INT8";
  if (t == "uint8") return "UINT8";
  if (t == "boolean" || t == "bool") return "BOOL";
  return "BYTES";
}

namespace {

void flatten(const json& v, json& out) {
  if (v.is_array()) {
    for (const auto& c : v)
      flatten(c, out);
  } else {
    out.push_back(v);
  }
}

} // namespace

std::optional<json> v2_request(const Signature& sig, const InputExampleInfo& info, const json& example,
                               std::size_t& rows, std::string& why) {
  std::vector<std::string> problems;
  json inputs = json::array();
  if (sig.tensor_inputs()) {
    json data = example.is_object() && example.contains("inputs") ? example["inputs"] : example;
    if (data.is_object()) {
      why = "named tensor examples are not sent yet";
      return std::nullopt;
    }
    auto shape = shape_of(data, "input", problems);
    if (!shape || shape->empty()) {
      why = problems.empty() ? "the example is not a tensor" : problems.front();
      return std::nullopt;
    }
    json flat = json::array();
    flatten(data, flat);
    const auto& spec = sig.inputs.front();
    inputs.push_back({{"name", spec.name.empty() ? "input-0" : spec.name},
                      {"shape", *shape},
                      {"datatype", v2_datatype(spec.type)},
                      {"data", flat}});
    rows = static_cast<std::size_t>((*shape)[0]);
    return json{{"inputs", inputs}};
  }
  std::optional<Table> t;
  if (info.type == "dataframe") {
    t = info.pandas_orient == "records" ? table_from_records(example, problems) : table_from_split(example, problems);
  } else if (example.is_array() && !example.empty() && example[0].is_object()) {
    t = table_from_records(example, problems);
  } else if (example.is_object()) {
    t = table_from_columns(example.contains("inputs") && example["inputs"].is_object() ? example["inputs"] : example);
  }
  if (!t || t->columns.empty()) {
    why = problems.empty() ? "the example has no named columns" : problems.front();
    return std::nullopt;
  }
  for (std::size_t c = 0; c < t->columns.size(); ++c) {
    auto spec = std::find_if(sig.inputs.begin(), sig.inputs.end(), [&](auto& s) { return s.name == t->columns[c]; });
    json data = json::array();
    for (const auto& row : t->rows)
      data.push_back(c < row.size() ? row[c] : json());
    inputs.push_back({{"name", t->columns[c]},
                      {"shape", {t->rows.size()}},
                      {"datatype", v2_datatype(spec == sig.inputs.end() ? "string" : spec->type)},
                      {"data", data}});
  }
  rows = t->rows.size();
  return json{{"parameters", {{"content_type", "pd"}}}, {"inputs", inputs}};
}

} // namespace mlops::model
