#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/input_file.hpp"
#include "core/json.hpp"
#include "core/limits.hpp"
#include "gates/checks.hpp"

#include <chrono>

namespace mlops::gates {

std::optional<nlohmann::json> read_example(const Target& t, const std::string& rel,
                                           std::vector<std::string>& problems) {
  try {
    std::string text = read_input_file(fs::safe_join(t.dir, rel), limits::k_max_input_example_bytes, "input example",
                                       ErrorKind::operational);
    return parse_json(text, quote(rel), ErrorKind::operational, limits::k_max_input_example_bytes);
  } catch (const Error& e) {
    problems.push_back(e.what());
  }
  return std::nullopt;
}

namespace {

void add_prefixed(std::vector<std::string>& out, const std::string& prefix, const std::vector<std::string>& in) {
  for (const auto& p : in)
    out.push_back(prefix + p);
}

} // namespace

GateResult interface_gate(const Target& t, const Policy& p, const model::MlModel& m) {
  GateResult g;
  g.name = "interface";
  auto start = std::chrono::steady_clock::now();
  std::vector<std::string> problems;
  std::vector<std::string> notes;

  auto flavor = std::find_if(p.flavors.begin(), p.flavors.end(), [&](const std::string& f) { return m.has_flavor(f); });
  if (flavor == p.flavors.end()) {
    std::string has, wants;
    for (const auto& f : m.flavors)
      has += (has.empty() ? "" : ", ") + f;
    for (const auto& f : p.flavors)
      wants += (wants.empty() ? "" : ", ") + f;
    problems.push_back("no servable flavor: the model has " + has + "; the policy accepts " + wants);
  } else {
    notes.push_back("flavor " + *flavor);
  }

  if (!m.signature || m.signature->inputs.empty()) {
    if (p.require_signature)
      problems.push_back(
          "the model has no signature (inputs); log it with a signature or set require_signature: false");
    else
      notes.push_back("no signature (allowed by the policy)");
  } else {
    const auto& sig = *m.signature;
    notes.push_back(std::string(sig.tensor_inputs() ? "tensor" : "column") + " signature with " +
                    std::to_string(sig.inputs.size()) + " inputs" +
                    (sig.params.empty() ? "" : ", " + std::to_string(sig.params.size()) + " params"));
    if (m.input_example) try {
        const auto& info = *m.input_example;
        if (!info.artifact_path.empty()) {
          if (auto ex = read_example(t, info.artifact_path, problems)) {
            auto found = model::check_input_example(sig, info, *ex);
            add_prefixed(problems, "input example: ", found);
            if (found.empty()) notes.push_back(info.artifact_path + " (" + info.type + ") conforms");
          }
        }
        if (!info.serving_input_path.empty()) {
          if (auto ex = read_example(t, info.serving_input_path, problems)) {
            auto found = model::check_serving_example(sig, *ex);
            add_prefixed(problems, "serving example: ", found);
            if (found.empty()) notes.push_back(info.serving_input_path + " conforms");
          }
        }
      } catch (const nlohmann::json::exception& e) { // a value of an unexpected type deep in an example
        problems.push_back("input example: " + json_error_text(e));
      }
  }
  if (!m.input_example && p.require_input_example) problems.push_back("the model has no input example");

  conclude(g, std::move(problems), std::move(notes), "; ");
  g.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return g;
}

} // namespace mlops::gates
