#include "core/error.hpp"
#include "core/fs.hpp"
#include "gates/checks.hpp"

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <set>
#include <sstream>

namespace mlops::gates {

namespace {

std::optional<std::string> read_optional(const std::filesystem::path& dir, const std::string& rel) {
  try {
    auto p = fs::safe_join(dir, rel);
    std::error_code ec;
    if (!std::filesystem::is_regular_file(p, ec)) return std::nullopt;
    return fs::read_file(p);
  } catch (const Error&) {
    return std::nullopt;
  }
}

/// The env files the python_function flavor names, with the usual defaults.
struct EnvFiles {
  std::string requirements = "requirements.txt";
  std::string virtualenv = "python_env.yaml";
  std::string conda = "conda.yaml";
};

EnvFiles env_files(const model::MlModel& m) {
  EnvFiles f;
  const auto& pf = m.flavor("python_function");
  if (pf.is_object() && pf.contains("env")) {
    const auto& env = pf["env"];
    if (env.is_string()) f.conda = env.get<std::string>();
    if (env.is_object()) {
      if (env.contains("conda") && env["conda"].is_string()) f.conda = env["conda"];
      if (env.contains("virtualenv") && env["virtualenv"].is_string()) f.virtualenv = env["virtualenv"];
    }
  }
  return f;
}

/// Python version from python_env.yaml, conda.yaml or the pyfunc flavor.
std::string python_version(const model::MlModel& m, const std::optional<std::string>& venv,
                           const std::optional<std::string>& conda) {
  try {
    if (venv) {
      YAML::Node n = YAML::Load(*venv);
      if (n.IsMap() && n["python"] && n["python"].IsScalar()) return n["python"].Scalar();
    }
    if (conda) {
      YAML::Node n = YAML::Load(*conda);
      if (n.IsMap() && n["dependencies"] && n["dependencies"].IsSequence()) {
        for (const auto& d : n["dependencies"]) {
          if (d.IsScalar() && d.Scalar().rfind("python", 0) == 0 && d.Scalar().size() > 6 &&
              (d.Scalar()[6] == '=' || d.Scalar()[6] == '>' || d.Scalar()[6] == ' ')) {
            return d.Scalar().substr(6);
          }
        }
      }
    }
  } catch (const YAML::Exception&) {
  }
  const auto& pf = m.flavor("python_function");
  if (pf.is_object() && pf.contains("python_version") && pf["python_version"].is_string()) return pf["python_version"];
  return {};
}

/// Requirement lines of conda.yaml's pip section, for models without requirements.txt.
std::vector<std::string> conda_pip_lines(const std::string& conda) {
  std::vector<std::string> out;
  try {
    YAML::Node n = YAML::Load(conda);
    if (!n.IsMap() || !n["dependencies"]) return out;
    for (const auto& d : n["dependencies"]) {
      if (d.IsMap() && d["pip"] && d["pip"].IsSequence()) {
        for (const auto& p : d["pip"]) out.push_back(p.as<std::string>());
      }
    }
  } catch (const YAML::Exception&) {
  }
  return out;
}

} // namespace

GateResult environment_gate(const Target& t, const Policy& p, const model::MlModel& m) {
  GateResult g;
  g.name = "environment";
  auto start = std::chrono::steady_clock::now();
  EnvFiles files = env_files(m);
  auto req_text = read_optional(t.dir, files.requirements);
  auto venv = read_optional(t.dir, files.virtualenv);
  auto conda = read_optional(t.dir, files.conda);
  std::vector<std::string> problems, notes;

  if (!req_text && !venv && !conda) {
    problems.push_back("no environment file: none of " + files.requirements + ", " + files.virtualenv + ", " + files.conda);
  }
  std::vector<std::string> lines;
  if (req_text) {
    std::istringstream in(*req_text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
  } else if (conda) {
    lines = conda_pip_lines(*conda);
  }
  std::vector<Requirement> reqs;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].size() > k_max_requirement_line) {
      problems.push_back("requirements line " + std::to_string(i + 1) + " is longer than " +
                         std::to_string(k_max_requirement_line) + " characters and cannot be checked");
    } else if (auto r = parse_requirement(lines[i])) {
      reqs.push_back(*r);
    }
  }
  notes.push_back(std::to_string(reqs.size()) + " requirements");

  if (p.require_pinned) {
    std::vector<std::string> unpinned;
    for (const auto& r : reqs) {
      bool allowed = std::find(p.allow_unpinned.begin(), p.allow_unpinned.end(), r.name) != p.allow_unpinned.end();
      if (r.op != "==" && !allowed) unpinned.push_back(r.text);
    }
    if (!unpinned.empty()) {
      std::string list;
      for (const auto& u : unpinned) list += (list.empty() ? "" : ", ") + quote(u);
      problems.push_back(std::to_string(unpinned.size()) + " requirements not pinned with '==': " + list);
    } else {
      notes.push_back("all pinned");
    }
  }
  std::string py = python_version(m, venv, conda);
  if (py.empty() && p.require_python_version) problems.push_back("no Python version declared (python_env.yaml, conda.yaml or MLmodel)");
  if (!py.empty()) notes.push_back("python " + py);

  for (const auto& f : p.forbidden) {
    for (const auto& r : reqs)
      if (r.name == f) problems.push_back("forbidden package " + quote(r.name) + " is required (" + r.text + ")");
  }
  for (const auto& want : p.required) {
    auto it = std::find_if(reqs.begin(), reqs.end(), [&](const Requirement& r) { return r.name == want.name; });
    if (it == reqs.end()) {
      problems.push_back("required package " + quote(want.text) + " is not in the requirements");
    } else if (!want.op.empty()) {
      if (it->op != "==") {
        problems.push_back("required " + quote(want.text) + ": cannot check the unpinned " + quote(it->text));
      } else if (!version_satisfies(it->version, want.op, want.version)) {
        problems.push_back("required " + quote(want.text) + " but the model pins " + quote(it->text));
      }
    }
  }
  conclude(g, std::move(problems), std::move(notes), ", ");
  g.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return g;
}

} // namespace mlops::gates
