#include "gates/policy.hpp"

#include "core/config.hpp"
#include "core/digest.hpp"
#include "core/error.hpp"
#include "core/input_file.hpp"
#include "core/limits.hpp"
#include "core/strings.hpp"
#include "core/yaml_reader.hpp"

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <regex>

namespace mlops::gates {

namespace {

const std::vector<std::string> k_gates = {"format", "interface", "environment", "extras", "metrics", "tests", "serve"};

using Reader = YamlReader;

std::string normalise(std::string name) {
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(c == '_' || c == '.' ? '-' : std::tolower(c)); });
  return name;
}

Threshold parse_threshold(const Reader& r, const YAML::Node& n, const std::string& key) {
  static const std::regex k_re(
      R"(^\s*([A-Za-z0-9_.\-/ ]*[A-Za-z0-9_.\-/])\s*(>=|<=|==|!=|>|<)\s*([-+]?[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?)\s*$)");
  std::string text = r.string(n, key);
  std::smatch m;
  // The length check keeps std::regex (recursive) away from huge inputs.
  if (text.size() > 256 || !std::regex_match(text, m, k_re)) {
    r.fail(n, key,
           "bad threshold expression " + quote(text.substr(0, 80)) +
               ": expected METRIC OP NUMBER with OP one of >= > <= < == !=");
  }
  errno = 0;
  double value = std::strtod(m[3].str().c_str(), nullptr);
  if (errno == ERANGE || !std::isfinite(value)) r.fail(n, key, "threshold " + quote(m[3].str()) + " is out of range");
  return Threshold{m[1], m[2], value, text};
}

void read_interface(Policy& p, const Reader& r, const YAML::Node& n) {
  r.keys(n, "gates.interface", {"flavors", "require_signature", "require_input_example"});
  if (n["flavors"]) p.flavors = r.strings(n["flavors"], "gates.interface.flavors");
  if (n["require_signature"])
    p.require_signature = r.boolean(n["require_signature"], "gates.interface.require_signature");
  if (n["require_input_example"])
    p.require_input_example = r.boolean(n["require_input_example"], "gates.interface.require_input_example");
}

void read_environment(Policy& p, const Reader& r, const YAML::Node& n) {
  r.keys(n, "gates.environment",
         {"require_pinned", "allow_unpinned", "forbidden", "required", "require_python_version"});
  if (n["require_pinned"]) p.require_pinned = r.boolean(n["require_pinned"], "gates.environment.require_pinned");
  if (n["allow_unpinned"]) {
    for (auto& s : r.strings(n["allow_unpinned"], "gates.environment.allow_unpinned"))
      p.allow_unpinned.push_back(normalise(s));
  }
  if (n["forbidden"]) {
    for (auto& s : r.strings(n["forbidden"], "gates.environment.forbidden"))
      p.forbidden.push_back(normalise(s));
  }
  if (n["required"]) {
    const YAML::Node& list = n["required"];
    auto texts = r.strings(list, "gates.environment.required");
    for (std::size_t i = 0; i < texts.size(); ++i) {
      auto req = parse_requirement(texts[i]);
      if (!req)
        r.fail(list[i], "gates.environment.required[" + std::to_string(i) + "]",
               "expected a requirement such as 'mlflow>=2.9'");
      p.required.push_back(*req);
    }
  }
  if (n["require_python_version"])
    p.require_python_version = r.boolean(n["require_python_version"], "gates.environment.require_python_version");
}

void read_metrics(Policy& p, const Reader& r, const YAML::Node& n) {
  p.metrics_configured = true;
  r.keys(n, "gates.metrics", {"thresholds", "compare"});
  if (const YAML::Node& t = n["thresholds"]) {
    if (!t.IsSequence()) r.fail(t, "gates.metrics.thresholds", "expected a list such as ['accuracy >= 0.9']");
    for (std::size_t i = 0; i < t.size(); ++i) {
      p.thresholds.push_back(parse_threshold(r, t[i], "gates.metrics.thresholds[" + std::to_string(i) + "]"));
    }
  }
  if (const YAML::Node& c = n["compare"]) {
    if (!c.IsSequence()) r.fail(c, "gates.metrics.compare", "expected a list");
    for (std::size_t i = 0; i < c.size(); ++i) {
      std::string key = "gates.metrics.compare[" + std::to_string(i) + "]";
      r.keys(c[i], key, {"metric", "against", "higher_is_better", "tolerance"});
      Comparison cmp;
      if (!c[i]["metric"]) r.fail(c[i], key, "needs 'metric'");
      if (!c[i]["against"]) r.fail(c[i], key, "needs 'against' (an @alias or a version number)");
      cmp.metric = r.string(c[i]["metric"], key + ".metric");
      cmp.against = r.string(c[i]["against"], key + ".against");
      if (cmp.against.empty() ||
          (cmp.against[0] != '@' && !std::all_of(cmp.against.begin(), cmp.against.end(), ::isdigit))) {
        r.fail(c[i]["against"], key + ".against", "expected an @alias or a version number");
      }
      if (c[i]["higher_is_better"])
        cmp.higher_is_better = r.boolean(c[i]["higher_is_better"], key + ".higher_is_better");
      if (c[i]["tolerance"]) {
        cmp.tolerance = r.number(c[i]["tolerance"], key + ".tolerance");
        if (cmp.tolerance < 0) r.fail(c[i]["tolerance"], key + ".tolerance", "must not be negative");
      }
      p.comparisons.push_back(cmp);
    }
  }
}

/// A timeout in seconds: more than 0 (rounded up to whole seconds), at most a day.
std::chrono::seconds seconds_in_range(const Reader& r, const YAML::Node& n, const std::string& key) {
  double s = r.number(n, key);
  if (!(s > 0) || s > 86400) r.fail(n, key, "must be more than 0 and at most 86400 seconds");
  return std::chrono::seconds(static_cast<long>(std::ceil(s)));
}

void read_tests(Policy& p, const Reader& r, const YAML::Node& n) {
  p.tests_configured = true;
  r.keys(n, "gates.tests", {"timeout", "commands"});
  std::chrono::seconds def{300};
  if (n["timeout"]) def = seconds_in_range(r, n["timeout"], "gates.tests.timeout");
  const YAML::Node& cmds = n["commands"];
  if (!cmds || !cmds.IsSequence() || cmds.size() == 0)
    r.fail(n, "gates.tests.commands", "expected a non-empty list of commands");
  for (std::size_t i = 0; i < cmds.size(); ++i) {
    std::string key = "gates.tests.commands[" + std::to_string(i) + "]";
    r.keys(cmds[i], key, {"name", "run", "timeout"});
    TestCommand t;
    t.timeout = def;
    if (!cmds[i]["run"]) r.fail(cmds[i], key, "needs 'run': an argument list such as [pytest, tests/model, -q]");
    if (!cmds[i]["run"].IsSequence())
      r.fail(cmds[i]["run"], key + ".run", "expected an argument list (no shell strings), e.g. [pytest, -q]");
    t.run = r.strings(cmds[i]["run"], key + ".run");
    if (t.run.empty()) r.fail(cmds[i]["run"], key + ".run", "must not be empty");
    t.name = cmds[i]["name"] ? r.string(cmds[i]["name"], key + ".name") : t.run.front();
    if (cmds[i]["timeout"]) t.timeout = seconds_in_range(r, cmds[i]["timeout"], key + ".timeout");
    p.tests.push_back(std::move(t));
  }
}

nlohmann::ordered_json canonical(const Policy& p) {
  nlohmann::ordered_json j;
  j["flavors"] = p.flavors;
  j["require_signature"] = p.require_signature;
  j["require_input_example"] = p.require_input_example;
  j["require_pinned"] = p.require_pinned;
  j["allow_unpinned"] = p.allow_unpinned;
  j["forbidden"] = p.forbidden;
  for (const auto& r : p.required)
    j["required"].push_back(r.text);
  j["require_python_version"] = p.require_python_version;
  j["extras"] = p.extras_configured ? nlohmann::ordered_json(p.extra_artifacts) : nlohmann::ordered_json(nullptr);
  for (const auto& t : p.thresholds) {
    // exact: 1e-7 and 2e-7 must hash apart
    j["thresholds"].push_back(t.metric + " " + t.op + " " + format_double(t.value, std::chars_format::general, 17));
  }
  for (const auto& c : p.comparisons)
    j["compare"].push_back({c.metric, c.against, c.higher_is_better, c.tolerance});
  for (const auto& t : p.tests)
    j["tests"].push_back({t.name, t.run, t.timeout.count()});
  j["serve"] = p.serve;
  return j;
}

} // namespace

bool Threshold::holds(double actual) const {
  if (op == ">=") return actual >= value;
  if (op == ">") return actual > value;
  if (op == "<=") return actual <= value;
  if (op == "<") return actual < value;
  if (op == "==") return actual == value;
  return actual != value;
}

Policy parse_policy(const YAML::Node& gates, const std::string& file) {
  Policy p;
  p.origin = file;
  Reader r{"policy", file};
  if (gates && !gates.IsNull()) {
    r.keys(gates, "gates", k_gates);
    if (const auto& n = gates["format"]; n && !n.IsNull()) r.keys(n, "gates.format", {});
    if (const auto& n = gates["interface"]) read_interface(p, r, n);
    if (const auto& n = gates["environment"]) read_environment(p, r, n);
    if (const auto& n = gates["extras"]) {
      p.extras_configured = true;
      r.keys(n, "gates.extras", {"artifacts"});
      if (n["artifacts"]) p.extra_artifacts = r.strings(n["artifacts"], "gates.extras.artifacts");
    }
    if (const auto& n = gates["metrics"]) read_metrics(p, r, n);
    if (const auto& n = gates["tests"]) read_tests(p, r, n);
    if (const auto& n = gates["serve"]) p.serve = r.boolean(n, "gates.serve");
  }
  p.digest = "sha256:" + sha256_hex(canonical(p).dump());
  return p;
}

Policy load_policy_file(const std::filesystem::path& file) {
  if (!regular_file_exists(file, "policy", ErrorKind::usage)) {
    std::error_code ec;
    throw Error(ErrorKind::usage, "cannot read policy " + quote(file.string()) + ": " +
                                      (std::filesystem::exists(file, ec) ? "not a file" : "no such file"));
  }
  return parse_policy_text(read_input_file(file, limits::k_max_config_bytes, "policy", ErrorKind::usage),
                           file.string());
}

Policy parse_policy_text(const std::string& text, const std::string& file) {
  YAML::Node root = Reader{"policy", file}.load(text);
  if (!root.IsMap() || !root["gates"]) {
    throw Error(ErrorKind::usage, "invalid policy " + quote(file) + ": expected a top-level 'gates:' mapping");
  }
  return parse_policy(root["gates"], file);
}

Policy policy_from_project(const std::optional<std::filesystem::path>& project_file) {
  if (!project_file) return parse_policy(YAML::Node(), "defaults");
  YAML::Node root = Reader{"config", project_file->string()}.load_file(*project_file);
  if (!root.IsMap() || !root["gates"]) return parse_policy(YAML::Node(), "defaults");
  return parse_policy(root["gates"], project_file->string());
}

std::optional<Requirement> parse_requirement(const std::string& raw) {
  if (raw.size() > k_max_requirement_line) return std::nullopt; // keeps std::regex off huge input
  std::string line(trim(raw.substr(0, raw.find('#'))));
  if (line.empty() || line[0] == '-' || line.find("://") != std::string::npos) return std::nullopt;
  line = line.substr(0, line.find(';')); // environment markers
  static const std::regex k_re(
      R"(^([A-Za-z0-9][A-Za-z0-9._\-]*)\s*(\[[^\]]*\])?\s*(?:(===|==|>=|<=|!=|~=|>|<)\s*([^,\s]+))?.*$)");
  std::smatch m;
  if (!std::regex_match(line, m, k_re)) return std::nullopt;
  Requirement r;
  r.name = normalise(m[1]);
  r.op = m[3];
  if (r.op == "===") r.op = "==";
  r.version = m[4];
  r.text = std::string(trim(line));
  return r;
}

int compare_versions(const std::string& a, const std::string& b) {
  auto parts = [](const std::string& v) {
    std::vector<long> out;
    std::size_t i = 0;
    while (i < v.size()) {
      if (!std::isdigit(static_cast<unsigned char>(v[i]))) break;
      long n = 0;
      while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i])))
        n = n * 10 + (v[i++] - '0');
      out.push_back(n);
      if (i < v.size() && v[i] == '.')
        ++i;
      else
        break;
    }
    while (!out.empty() && out.back() == 0)
      out.pop_back();
    return out;
  };
  auto x = parts(a), y = parts(b);
  return x < y ? -1 : (x > y ? 1 : 0);
}

bool version_satisfies(const std::string& version, const std::string& op, const std::string& wanted) {
  if (op.empty()) return true;
  std::string w = wanted;
  bool wildcard = w.size() > 2 && w.substr(w.size() - 2) == ".*";
  if (wildcard) w = w.substr(0, w.size() - 2);
  int c = compare_versions(version, w);
  if (op == "==") return wildcard ? version.rfind(w, 0) == 0 : c == 0;
  if (op == "!=") return c != 0;
  if (op == ">=") return c >= 0;
  if (op == ">") return c > 0;
  if (op == "<=") return c <= 0;
  if (op == "<") return c < 0;
  if (op == "~=") {
    auto dot = w.rfind('.');
    return c >= 0 && (dot == std::string::npos || compare_versions(version, w.substr(0, dot) + ".999999") <= 0);
  }
  return false;
}

} // namespace mlops::gates
