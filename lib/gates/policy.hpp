#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace YAML {
class Node;
}

namespace mlops::gates {

/// "accuracy >= 0.9"
struct Threshold {
  std::string metric;
  std::string op; ///< >= > <= < == !=
  double value = 0;
  std::string text;
  /// True when `actual` satisfies the threshold.
  bool holds(double actual) const;
};

/// "must not be worse than @champion by more than `tolerance`"
struct Comparison {
  std::string metric;
  std::string against; ///< "@alias" or a version number
  bool higher_is_better = true;
  double tolerance = 0;
};

/// A package requirement such as "mlflow>=2.9".
struct Requirement {
  std::string name; ///< normalised (lowercase, '-' for '_' and '.')
  std::string op;   ///< empty, ==, >=, >, <=, <, !=, ~=
  std::string version;
  std::string text;
};

/// A user test command.
struct TestCommand {
  std::string name;
  std::vector<std::string> run; ///< argument vector, never a shell string
  std::chrono::seconds timeout{300};
};

/// The `gates:` policy: which gates run and their limits.
struct Policy {
  std::vector<std::string> flavors{"python_function"};
  bool require_signature = true;
  bool require_input_example = false;

  bool require_pinned = true;
  std::vector<std::string> allow_unpinned;
  std::vector<std::string> forbidden;
  std::vector<Requirement> required;
  bool require_python_version = true;

  bool extras_configured = false;
  std::vector<std::string> extra_artifacts;

  bool metrics_configured = false;
  std::vector<Threshold> thresholds;
  std::vector<Comparison> comparisons;

  bool tests_configured = false;
  std::vector<TestCommand> tests;

  bool serve = false;

  std::string origin; ///< file the policy came from, or "defaults"
  std::string digest; ///< "sha256:..." of the policy's canonical JSON form
};

/// Parses a `gates:` mapping. Throws Error(usage) naming `file`, the line
/// and the key, for unknown gates, bad values and bad expressions.
Policy parse_policy(const YAML::Node& gates, const std::string& file);

/// Loads a policy file: a YAML document with a top-level `gates:` mapping.
Policy load_policy_file(const std::filesystem::path& file);

/// Parses the text of a policy file (a top-level 'gates:' mapping) with the checks of
/// YamlReader::load; `file` names it in errors. The entry point a fuzz target calls.
Policy parse_policy_text(const std::string& text, const std::string& file);

/// The `gates:` section of a project file, or the defaults when there is
/// no file or no section.
Policy policy_from_project(const std::optional<std::filesystem::path>& project_file);

/// Requirement lines longer than this are not parsed (see environment gate).
inline constexpr std::size_t k_max_requirement_line = 1024;

/// Parses "name OP version" (pip syntax, extras and markers ignored);
/// nullopt for lines that are not requirements (options, URLs, blanks).
std::optional<Requirement> parse_requirement(const std::string& line);

/// Compares dotted versions numerically ("1.10" > "1.9"); <0, 0, >0.
int compare_versions(const std::string& a, const std::string& b);

/// True when `version` satisfies `op wanted` (== >= > <= < != ~=).
bool version_satisfies(const std::string& version, const std::string& op, const std::string& wanted);

} // namespace mlops::gates
