#include "core/error.hpp"
#include "core/fs.hpp"
#include "gates/checks.hpp"

#include <chrono>

namespace mlops::gates {

namespace {

/// Reads a JSON file of the model; a problem string when it cannot.
std::optional<nlohmann::json> read_json(const Target& t, const std::string& rel, std::vector<std::string>& problems) {
  try {
    return nlohmann::json::parse(fs::read_file(fs::safe_join(t.dir, rel)));
  } catch (const nlohmann::json::exception& e) {
    problems.push_back(rel + " is not valid JSON: " + e.what());
  } catch (const Error& e) {
    problems.push_back(e.what());
  }
  return std::nullopt;
}

void add_prefixed(std::vector<std::string>& out, const std::string& prefix, const std::vector<std::string>& in) {
  for (const auto& p : in) out.push_back(prefix + p);
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
    for (const auto& f : m.flavors) has += (has.empty() ? "" : ", ") + f;
    for (const auto& f : p.flavors) wants += (wants.empty() ? "" : ", ") + f;
    problems.push_back("no servable flavor: the model has " + has + "; the policy accepts " + wants);
  } else {
    notes.push_back("flavor " + *flavor);
  }

  if (!m.signature || m.signature->inputs.empty()) {
    if (p.require_signature) problems.push_back("the model has no signature (inputs); log it with a signature or set require_signature: false");
    else notes.push_back("no signature (allowed by the policy)");
  } else {
    const auto& sig = *m.signature;
    notes.push_back(std::string(sig.tensor_inputs() ? "tensor" : "column") + " signature with " +
                    std::to_string(sig.inputs.size()) + " inputs" +
                    (sig.params.empty() ? "" : ", " + std::to_string(sig.params.size()) + " params"));
    if (m.input_example) {
      const auto& info = *m.input_example;
      if (!info.artifact_path.empty()) {
        if (auto ex = read_json(t, info.artifact_path, problems)) {
          auto found = model::check_input_example(sig, info, *ex);
          add_prefixed(problems, "input example: ", found);
          if (found.empty()) notes.push_back(info.artifact_path + " (" + info.type + ") conforms");
        }
      }
      if (!info.serving_input_path.empty()) {
        if (auto ex = read_json(t, info.serving_input_path, problems)) {
          auto found = model::check_serving_example(sig, *ex);
          add_prefixed(problems, "serving example: ", found);
          if (found.empty()) notes.push_back(info.serving_input_path + " conforms");
        }
      }
    }
  }
  if (!m.input_example && p.require_input_example) problems.push_back("the model has no input example");

  conclude(g, std::move(problems), std::move(notes), "; ");
  g.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return g;
}

} // namespace mlops::gates
