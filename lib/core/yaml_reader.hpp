#pragma once

#include "core/config.hpp"
#include "core/error.hpp"
#include "core/limits.hpp"
#include "core/strings.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

namespace mlops {

/// Reads nodes of a YAML configuration section; every mistake becomes an
/// Error(kind, default usage) "invalid WHAT 'FILE:LINE': key 'a.b': why", with a "did you
/// mean" hint for unknown keys. Optionally records the line of each key read.
struct YamlReader {
  std::string what; ///< "policy", "deploy spec", "promotion config"
  std::string file;
  std::map<std::string, int>* lines = nullptr;
  bool null_is_empty = true;         ///< keys() takes a null node as an empty mapping (else "expected a mapping")
  ErrorKind kind = ErrorKind::usage; ///< of every Error thrown (operational for model files)
  std::size_t max_bytes = limits::k_max_config_bytes; ///< load() refuses longer text

  std::string where(const YAML::Node& node) const {
    return "invalid " + what + " '" + file + ":" + std::to_string(node.Mark().line + 1) + "'";
  }
  /// Parses the whole file's text with libyaml (yaml-cpp's parser loops on some input) into
  /// yaml-cpp nodes carrying their line, as exactly one YAML document, and checks it: at most
  /// `max_bytes`, valid UTF-8, no repeated key in any mapping, nested at most
  /// limits::k_max_yaml_depth, at most limits::k_max_yaml_nodes nodes counting each alias as
  /// the nodes it repeats. Every failure names file and line (and the key path where one
  /// applies). Empty text gives a null node. Takes text, not a path, so a fuzzer can call it.
  YAML::Node load(const std::string& text) const;
  /// Reads `path` (at most `max_bytes`, OS errors named) and load()s it.
  YAML::Node load_file(const std::filesystem::path& path) const;
  [[noreturn]] void fail(const YAML::Node& node, const std::string& key, const std::string& why) const {
    throw Error(kind, where(node) + ": key " + quote(key) + ": " + why);
  }
  void mark(const YAML::Node& node, const std::string& key) const {
    if (lines) (*lines)[key] = node.Mark().line + 1;
  }
  /// Checks that `map` is a mapping (null allowed with null_is_empty) whose keys are all in `allowed`.
  void keys(const YAML::Node& map, const std::string& prefix, const std::vector<std::string>& allowed) const {
    if (map.IsNull() && null_is_empty) return;
    if (!map.IsMap()) fail(map, prefix, "expected a mapping");
    mark(map, prefix);
    for (const auto& kv : map) {
      if (!kv.first.IsScalar()) fail(kv.first, prefix, "keys must be plain words");
      std::string k = kv.first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), k) != allowed.end()) {
        mark(kv.first, prefix + "." + k);
        continue;
      }
      auto near = suggest(k, allowed);
      std::string all = join(allowed, ", ");
      throw Error(kind, where(kv.first) + ": unknown key " + quote(prefix + "." + k),
                  near.empty() ? "known keys: " + all : "did you mean " + quote(near.front()) + "?");
    }
  }
  std::string string(const YAML::Node& n, const std::string& key) const {
    if (!n.IsScalar()) fail(n, key, "expected a string");
    return n.Scalar();
  }
  std::string nonempty(const YAML::Node& n, const std::string& key) const {
    if (!n.IsScalar() || n.Scalar().empty()) fail(n, key, "expected a non-empty string");
    return n.Scalar();
  }
  bool boolean(const YAML::Node& n, const std::string& key) const {
    if (n.IsScalar())
      if (auto b = parse_bool(n.Scalar())) return *b;
    fail(n, key, "expected true or false");
  }
  /// A finite number (.inf, .nan and values beyond a double are refused).
  double number(const YAML::Node& n, const std::string& key) const {
    double v = 0;
    try {
      if (!n.IsScalar()) fail(n, key, "expected a number");
      v = n.as<double>();
    } catch (const YAML::Exception&) {
      fail(n, key, "expected a number");
    }
    if (!std::isfinite(v)) fail(n, key, "expected a finite number, not " + quote(n.Scalar()));
    return v;
  }
  int integer(const YAML::Node& n, const std::string& key, int lo, int hi) const {
    static const std::regex k_int("^[0-9]+$");
    // The length check first: std::regex recurses per character.
    if (!n.IsScalar() || n.Scalar().size() > 9 || !std::regex_match(n.Scalar(), k_int))
      fail(n, key, "expected a whole number");
    int v = std::stoi(n.Scalar());
    if (v < lo || v > hi)
      fail(n, key, std::to_string(v) + " is not between " + std::to_string(lo) + " and " + std::to_string(hi));
    return v;
  }
  /// A list of strings; with `nonempty_items`, each as nonempty().
  std::vector<std::string> strings(const YAML::Node& n, const std::string& key, bool nonempty_items = false) const {
    if (!n.IsSequence()) fail(n, key, "expected a list of strings");
    std::vector<std::string> out;
    for (std::size_t i = 0; i < n.size(); ++i) {
      std::string k = key + "[" + std::to_string(i) + "]";
      out.push_back(nonempty_items ? nonempty(n[i], k) : string(n[i], k));
    }
    return out;
  }
};

/// The offset of the first byte of `text` that is not part of well-formed UTF-8 (overlong
/// forms, surrogates and code points above U+10FFFF are not), or std::string_view::npos.
std::size_t find_invalid_utf8(std::string_view text);

} // namespace mlops
