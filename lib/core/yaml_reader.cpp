#include "core/yaml_reader.hpp"

#include "core/input_file.hpp"

#include <yaml-cpp/depthguard.h>
#include <yaml.h>

#include <algorithm>
#include <set>

namespace mlops {

namespace {

/// Where a node sits, as a chain of parents built on the stack while walking: the key path
/// text ("deploy.environments.prod") is only made when an error needs it.
struct PathPart {
  const PathPart* parent = nullptr;
  const std::string* key = nullptr; ///< a mapping key, or null for a sequence index
  std::size_t index = 0;
};

std::string path_text(const PathPart* p) {
  std::vector<const PathPart*> parts;
  for (; p; p = p->parent)
    parts.push_back(p);
  std::string out;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    if ((*it)->key)
      out += (out.empty() ? "" : ".") + *(*it)->key;
    else
      out += "[" + std::to_string((*it)->index) + "]";
    if (out.size() > 200) return out.substr(0, 200) + "...";
  }
  return out.empty() ? "(top level)" : out;
}

/// Walks a loaded document once: repeated keys, depth and node count (aliases are shared
/// nodes in yaml-cpp, so a billion-laughs file is small until something walks it: this walk
/// counts what a reader would visit and stops at the limit).
class TreeCheck {
public:
  explicit TreeCheck(const YamlReader& r) : m_r(r) {}

  void walk(const YAML::Node& n, const PathPart* at, std::size_t depth) {
    if (++m_nodes > limits::k_max_yaml_nodes)
      throw Error(m_r.kind, m_r.where(n) + ": more than " + std::to_string(limits::k_max_yaml_nodes) +
                                " nodes (aliases repeat too much)");
    if (depth > limits::k_max_yaml_depth)
      throw Error(m_r.kind, m_r.where(n) + ": key " + quote(path_text(at)) + ": nested deeper than " +
                                std::to_string(limits::k_max_yaml_depth) + " levels");
    if (n.IsSequence()) {
      std::size_t i = 0;
      for (const auto& item : n) {
        PathPart part{at, nullptr, i++};
        walk(item, &part, depth + 1);
      }
    } else if (n.IsMap()) {
      std::set<std::string_view> seen;
      for (const auto& kv : n) {
        if (kv.first.IsScalar()) {
          const std::string& key = kv.first.Scalar();
          PathPart part{at, &key, 0};
          if (!seen.insert(key).second) {
            throw Error(m_r.kind, m_r.where(kv.first) + ": key " + quote(path_text(&part)) + " is repeated",
                        "a mapping names each key once; remove one of them");
          }
          walk(kv.second, &part, depth + 1);
        } else {
          walk(kv.first, at, depth + 1);
          walk(kv.second, at, depth + 1);
        }
      }
    }
  }

private:
  const YamlReader& m_r;
  std::size_t m_nodes = 0;
};

std::size_t line_of(std::string_view text, std::size_t offset) {
  return 1 + static_cast<std::size_t>(std::count(text.begin(), text.begin() + static_cast<long>(offset), '\n'));
}

} // namespace

std::size_t find_invalid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = c >= 0xC2 && c <= 0xDF ? 2 : (c >= 0xE0 && c <= 0xEF ? 3 : (c >= 0xF0 && c <= 0xF4 ? 4 : 0));
    if (len == 0 || i + len > s.size()) return i;
    auto b1 = static_cast<unsigned char>(s[i + 1]);
    // The second byte's range excludes overlong forms, surrogates and code points past U+10FFFF.
    unsigned char lo = c == 0xE0 ? 0xA0 : (c == 0xF0 ? 0x90 : 0x80);
    unsigned char hi = c == 0xED ? 0x9F : (c == 0xF4 ? 0x8F : 0xBF);
    if (b1 < lo || b1 > hi) return i;
    for (std::size_t k = 2; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return i;
    i += len;
  }
  return std::string_view::npos;
}

namespace {

/// Runs libyaml's parser over the whole text first: it is the reference parser, it never
/// expands aliases (events only), and a malformed document ends in an error with a line.
/// yaml-cpp 0.7 loops for minutes on some malformed inputs the fuzzers found
/// (tests/fuzz/corpus/mlmodel/regression-yamlcpp-hang); it only sees what libyaml accepted.
/// Returns "" when the text parses, else "LINE: problem".
std::string libyaml_problem(const std::string& text) {
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) return "0: cannot initialise the YAML parser";
  struct Done {
    yaml_parser_t* p;
    ~Done() { yaml_parser_delete(p); }
  } done{&parser};
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  std::size_t events = 0;
  for (;;) {
    yaml_event_t event;
    if (!yaml_parser_parse(&parser, &event)) {
      std::string why = parser.problem ? parser.problem : "not valid YAML";
      if (parser.context) why = std::string(parser.context) + ", " + why;
      // At the end of the text libyaml points past the last line: name the last line.
      std::size_t lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
      std::size_t line = std::min<std::size_t>(parser.problem_mark.line + 1, lines);
      return std::to_string(line) + ": " + why;
    }
    bool end = event.type == YAML_STREAM_END_EVENT;
    yaml_event_delete(&event);
    if (end) return {};
    // Each node is at least one event: past the node limit the loader would refuse anyway.
    if (++events > 4 * limits::k_max_yaml_nodes)
      return "0: more than " + std::to_string(limits::k_max_yaml_nodes) + " nodes";
  }
}

} // namespace

YAML::Node YamlReader::load(const std::string& text) const {
  std::string head = "invalid " + what + " '" + file;
  if (text.size() > max_bytes)
    throw Error(kind, head + "': too large: " + std::to_string(text.size()) + " bytes, the limit is " +
                          std::to_string(max_bytes));
  if (auto bad = find_invalid_utf8(text); bad != std::string_view::npos)
    throw Error(kind,
                head + ":" + std::to_string(line_of(text, bad)) + "': not valid UTF-8 (byte " +
                    std::to_string(bad + 1) + ")",
                "save the file as UTF-8");
  if (std::string problem = libyaml_problem(text); !problem.empty()) {
    auto colon = problem.find(':');
    throw Error(kind, head + ":" + problem.substr(0, colon) + "'" + problem.substr(colon));
  }
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(text);
  } catch (const YAML::DeepRecursion& e) { // yaml-cpp's own guard (2000 levels); its message says "bad file"
    throw Error(kind, head + ":" + std::to_string(e.mark.line + 1) + "': nested deeper than " +
                          std::to_string(limits::k_max_yaml_depth) + " levels");
  } catch (const YAML::Exception& e) {
    throw Error(kind, head + ":" + std::to_string(e.mark.line + 1) + "': " + e.msg);
  }
  // Empty documents (a trailing '---', comments) are nothing; a second one with content
  // would be ignored by every reader, so it is refused.
  YAML::Node root;
  bool found = false;
  for (const auto& d : docs) {
    if (d.IsNull()) continue;
    if (found)
      throw Error(kind, where(d) + ": a second YAML document; the file must hold one",
                  "remove the '---' line and what follows, or merge the documents");
    root = d;
    found = true;
  }
  TreeCheck(*this).walk(root, nullptr, 0);
  return root;
}

YAML::Node YamlReader::load_file(const std::filesystem::path& path) const {
  return load(read_input_file(path, max_bytes, what, kind));
}

} // namespace mlops
