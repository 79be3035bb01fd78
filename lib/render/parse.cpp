// parse_documents(): YAML text to JSON values with libyaml's event parser.
//
// libyaml (the parser go-yaml, and so kubectl, derive from) is several times
// faster than building yaml-cpp nodes and converting them, which dominated
// `render --batch`. The conversion keeps the rules the yaml-cpp one had:
// plain untagged scalars typed by the YAML 1.2 core schema, everything quoted
// or tagged a string, a repeated key an error, null documents skipped.
#include "render/validate.hpp"

#include "core/error.hpp"
#include "core/limits.hpp"

#include <yaml.h>

#include <cstdlib>
#include <map>

namespace mlops::render {

namespace {

using nlohmann::json;

bool digits(std::string_view s, std::size_t& i) {
  std::size_t start = i;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9')
    ++i;
  return i > start;
}

/// ^[-+]?[0-9]+$
bool is_int(std::string_view s) {
  std::size_t i = !s.empty() && (s[0] == '-' || s[0] == '+') ? 1 : 0;
  return digits(s, i) && i == s.size();
}

/// ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$
bool is_float(std::string_view s) {
  std::size_t i = !s.empty() && (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits(s, i)) return false;
  } else {
    if (!digits(s, i)) return false;
    if (i < s.size() && s[i] == '.') {
      ++i;
      digits(s, i);
    }
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    if (!digits(s, i)) return false;
  }
  return i == s.size();
}

bool is_null_word(const std::string& s) { return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL"; }

/// A plain, untagged scalar by the YAML 1.2 core schema.
json plain(const std::string& s) {
  if (is_null_word(s)) return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  try {
    if (is_int(s)) return std::stoll(s);
    if (is_float(s)) return std::stod(s);
  } catch (const std::exception&) { // out of range: keep the text
  }
  return s;
}

struct Parser {
  yaml_parser_t p;
  explicit Parser(const std::string& text) {
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  }
  ~Parser() { yaml_parser_delete(&p); }
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;
};

struct Event {
  yaml_event_t e{};
  bool held = false;
  ~Event() { release(); }
  void release() {
    if (held) yaml_event_delete(&e);
    held = false;
  }
};

/// Builds one document's value from the events of its nodes.
class Builder {
public:
  /// Adds one finished node: its value and the text it has as a mapping key
  /// (a scalar's raw text; "" for null and collections).
  /// `nodes`: how many nodes the value holds (1 for a scalar), what an alias of it repeats.
  void add(json value, std::string key_text, std::size_t line, const char* anchor, std::size_t nodes = 1) {
    if (anchor) m_anchors[anchor] = {value, key_text, nodes};
    if (m_stack.empty()) {
      m_root = std::move(value);
      return;
    }
    Frame& f = m_stack.back();
    if (!f.map) {
      f.value.push_back(std::move(value));
    } else if (!f.have_key) {
      f.key = std::move(key_text);
      f.key_line = line;
      f.have_key = true;
    } else {
      if (f.value.contains(f.key))
        throw Error(ErrorKind::usage, "line " + std::to_string(f.key_line + 1) + ": key " + quote(f.key) + " repeated");
      f.value[f.key] = std::move(value);
      f.have_key = false;
    }
  }
  /// Counts one node from the text (a scalar or a collection's start).
  void count(std::size_t line, std::size_t nodes = 1) {
    m_nodes += nodes;
    if (m_nodes > limits::k_max_yaml_nodes)
      throw Error(ErrorKind::usage, "line " + std::to_string(line + 1) + ": the document has more than " +
                                        std::to_string(limits::k_max_yaml_nodes) + " nodes (aliases repeat too much)");
  }
  void open(bool map, std::size_t line, const char* anchor) {
    if (m_stack.size() >= limits::k_max_yaml_depth)
      throw Error(ErrorKind::usage, "line " + std::to_string(line + 1) + ": nested deeper than " +
                                        std::to_string(limits::k_max_yaml_depth) + " levels");
    count(line);
    m_stack.push_back({map ? json::object() : json::array(), map, line, anchor ? anchor : "", false, "", 0, m_nodes});
  }
  void close() {
    Frame f = std::move(m_stack.back());
    m_stack.pop_back();
    add(std::move(f.value), "", f.line, f.anchor.empty() ? nullptr : f.anchor.c_str(), m_nodes - f.first_node + 1);
  }
  /// Repeats an anchored value, counted as the nodes it holds before it is copied: a
  /// billion-laughs document stops at the limit instead of growing without bound.
  void alias(const char* anchor, std::size_t line) {
    auto it = m_anchors.find(anchor);
    if (it == m_anchors.end())
      throw Error(ErrorKind::usage,
                  "line " + std::to_string(line + 1) + ": the referenced anchor is not defined: " + anchor);
    count(line, it->second.nodes);
    const Anchored& a = it->second;
    add(a.value, a.key_text, line, nullptr, a.nodes);
  }
  json take() {
    m_anchors.clear();
    m_nodes = 0;
    return std::move(m_root);
  }

private:
  struct Frame {
    json value;
    bool map = false;
    std::size_t line = 0;
    std::string anchor;
    bool have_key = false;
    std::string key;
    std::size_t key_line = 0;
    std::size_t first_node = 0; ///< m_nodes after this collection's start was counted
  };
  struct Anchored {
    json value;
    std::string key_text;
    std::size_t nodes = 1;
  };
  std::vector<Frame> m_stack;
  std::map<std::string, Anchored> m_anchors;
  std::size_t m_nodes = 0; ///< nodes of the current document, aliases counted as what they repeat
  json m_root;
};

const char* str(const yaml_char_t* s) { return reinterpret_cast<const char*>(s); }

} // namespace

std::vector<json> parse_documents(const std::string& yaml_text) {
  std::vector<json> docs;
  Parser parser(yaml_text);
  Builder b;
  for (;;) {
    Event ev;
    if (!yaml_parser_parse(&parser.p, &ev.e)) {
      const auto& p = parser.p;
      std::string why = p.problem ? p.problem : "invalid YAML";
      if (p.context) why += " " + std::string(p.context);
      throw Error(ErrorKind::usage, "line " + std::to_string(p.problem_mark.line + 1) + ": " + why);
    }
    ev.held = true;
    const yaml_event_t& e = ev.e;
    std::size_t line = e.start_mark.line;
    switch (e.type) {
    case YAML_STREAM_END_EVENT:
      return docs;
    case YAML_DOCUMENT_END_EVENT: {
      json root = b.take();
      if (!root.is_null()) docs.push_back(std::move(root));
      break;
    }
    case YAML_SCALAR_EVENT: {
      const auto& s = e.data.scalar;
      std::string text(str(s.value), s.length);
      bool typed = !s.tag && s.style == YAML_PLAIN_SCALAR_STYLE;
      b.count(line);
      json value = typed ? plain(text) : json(text);
      // As a key, a plain null is the empty string (so yaml-cpp read it too).
      std::string key_text = typed && is_null_word(text) ? "" : text;
      b.add(std::move(value), std::move(key_text), line, str(s.anchor));
      break;
    }
    case YAML_ALIAS_EVENT:
      b.alias(str(e.data.alias.anchor), line);
      break;
    case YAML_SEQUENCE_START_EVENT:
      b.open(false, line, str(e.data.sequence_start.anchor));
      break;
    case YAML_MAPPING_START_EVENT:
      b.open(true, line, str(e.data.mapping_start.anchor));
      break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
      b.close();
      break;
    default:
      break;
    }
  }
}

} // namespace mlops::render
