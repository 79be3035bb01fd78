#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/input_file.hpp"
#include "core/limits.hpp"
#include "core/yaml_reader.hpp"
#include "gates/checks.hpp"

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <set>
#include <sstream>

namespace mlops::gates {

namespace {

/// An environment file of the model, read bounded; nullopt when it is not there (or its
/// path leaves the model directory, which the format gate reports). A file that is there but
/// cannot be read (too large, a link loop) is a problem naming it.
std::optional<std::string> read_optional(const std::filesystem::path& dir, const std::string& rel,
                                         std::vector<std::string>& problems) {
  std::filesystem::path p;
  try {
    p = fs::safe_join(dir, rel);
  } catch (const Error&) {
    return std::nullopt;
  }
  try {
    if (!regular_file_exists(p, "environment file", ErrorKind::operational)) return std::nullopt;
    return read_input_file(p, limits::k_max_env_file_bytes, "environment file", ErrorKind::operational);
  } catch (const Error& e) {
    problems.push_back(e.what());
    return std::nullopt;
  }
}

/// python_env.yaml or conda.yaml parsed with the rules of every YAML the tool reads (one
/// document, bounded depth and alias expansion, no repeated key); a null node and the reason
/// (naming the file and line) in `problems` when it does not parse.
YAML::Node load_env_yaml(const std::optional<std::string>& text, const std::string& rel,
                         std::vector<std::string>& problems) {
  if (!text) return {};
  YamlReader reader{"environment file", rel};
  reader.kind = ErrorKind::operational;
  reader.max_bytes = limits::k_max_env_file_bytes;
  try {
    return reader.load(*text);
  } catch (const Error& e) {
    problems.push_back(e.what());
    return {};
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
std::string python_version(const model::MlModel& m, const YAML::Node& venv, const YAML::Node& conda) {
  if (venv.IsMap() && venv["python"] && venv["python"].IsScalar()) return venv["python"].Scalar();
  if (conda.IsMap() && conda["dependencies"] && conda["dependencies"].IsSequence()) {
    for (const auto& d : conda["dependencies"]) {
      if (d.IsScalar() && d.Scalar().rfind("python", 0) == 0 && d.Scalar().size() > 6 &&
          (d.Scalar()[6] == '=' || d.Scalar()[6] == '>' || d.Scalar()[6] == ' ')) {
        return d.Scalar().substr(6);
      }
    }
  }
  const auto& pf = m.flavor("python_function");
  if (pf.is_object() && pf.contains("python_version") && pf["python_version"].is_string()) return pf["python_version"];
  return {};
}

/// Requirement lines of conda.yaml's pip section, for models without requirements.txt.
std::vector<std::string> conda_pip_lines(const YAML::Node& conda) {
  std::vector<std::string> out;
  if (!conda.IsMap() || !conda["dependencies"] || !conda["dependencies"].IsSequence()) return out;
  for (const auto& d : conda["dependencies"]) {
    if (d.IsMap() && d["pip"] && d["pip"].IsSequence()) {
      for (const auto& p : d["pip"])
        if (p.IsScalar()) out.push_back(p.Scalar());
    }
  }
  return out;
}

} // namespace

GateResult environment_gate(const Target& t, const Policy& p, const model::MlModel& m) {
  GateResult g;
  g.name = "environment";
  auto start = std::chrono::steady_clock::now();
  EnvFiles files = env_files(m);
  std::vector<std::string> problems, notes;
  auto req_text = read_optional(t.dir, files.requirements, problems);
  auto venv_text = read_optional(t.dir, files.virtualenv, problems);
  auto conda_text = read_optional(t.dir, files.conda, problems);
  YAML::Node venv = load_env_yaml(venv_text, files.virtualenv, problems);
  YAML::Node conda = load_env_yaml(conda_text, files.conda, problems);

  if (!req_text && !venv_text && !conda_text) {
    problems.push_back("no environment file: none of " + files.requirements + ", " + files.virtualenv + ", " +
                       files.conda);
  }
  std::vector<std::string> lines;
  if (req_text) {
    std::istringstream in(*req_text);
    for (std::string line; std::getline(in, line);)
      lines.push_back(line);
  } else {
    lines = conda_pip_lines(conda);
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
      for (const auto& u : unpinned)
        list += (list.empty() ? "" : ", ") + quote(u);
      problems.push_back(std::to_string(unpinned.size()) + " requirements not pinned with '==': " + list);
    } else {
      notes.push_back("all pinned");
    }
  }
  std::string py = python_version(m, venv, conda);
  if (py.empty() && p.require_python_version)
    problems.push_back("no Python version declared (python_env.yaml, conda.yaml or MLmodel)");
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
