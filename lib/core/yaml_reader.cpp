#include "core/yaml_reader.hpp"

#include "core/input_file.hpp"

#include <yaml.h>

#include <algorithm>
#include <map>
#include <memory>
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

namespace detail {
/// Names the one specialisation below.
struct YamlNodeAccess;
} // namespace detail

} // namespace mlops

/// The one place that reaches into yaml-cpp's internals. A YAML::Node made through the public
/// API cannot carry the line it came from (Node::Mark() has no setter), and every error names
/// file:line. yaml-cpp's Node befriends every specialisation of `as_if`; this one only wraps a
/// node built the way yaml-cpp's own loader builds its nodes (one memory holder per document,
/// detail::node's public setters, marks included).
template <> struct YAML::as_if<mlops::detail::YamlNodeAccess, void> {
  static YAML::Node wrap(YAML::detail::node& node, const YAML::detail::shared_memory_holder& memory) {
    return YAML::Node(node, memory);
  }
};

namespace mlops {

namespace {

const char* text_of(const yaml_char_t* s) { return reinterpret_cast<const char*>(s); }

/// A plain, untagged scalar yaml-cpp reads as null (its IsNullString).
bool is_null_word(std::string_view s) { return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL"; }

/// Builds the documents of a YAML stream as yaml-cpp nodes from libyaml's events, so yaml-cpp's
/// parser never sees outside input (yaml-cpp 0.7 loops without end on some YAML libyaml
/// accepts: tests/fuzz/corpus/*/regression-yamlcpp-*). The nodes are what YAML::LoadAll made:
/// a plain untagged scalar "", "~", "null", "Null" or "NULL" is a null node without a tag;
/// other scalars carry the tag "?" (plain), "!" (quoted or block) or their resolved tag;
/// collections "?" or their tag, and a block or flow style; an alias is the anchored node
/// itself (shared, as in yaml-cpp: a walk sees it as often as it is named); `<<` is an
/// ordinary key (yaml-cpp 0.7 has no merge keys); repeated keys are kept (TreeCheck refuses
/// them). Unlike yaml-cpp, an alias inside the node it names is refused instead of making a
/// cycle. Bounds: nesting in the text at most limits::k_max_yaml_depth, at most
/// limits::k_max_yaml_nodes nodes in the stream; TreeCheck then counts what aliases repeat.
class TreeBuilder {
public:
  explicit TreeBuilder(const YamlReader& r, const std::string& text) : m_r(r), m_text(text) {}

  std::vector<YAML::Node> build() {
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) fail(0, "cannot initialise the YAML parser");
    struct Done {
      yaml_parser_t* p;
      ~Done() { yaml_parser_delete(p); }
    } done{&parser};
    yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(m_text.data()), m_text.size());
    std::vector<YAML::Node> docs;
    for (;;) {
      yaml_event_t event;
      if (!yaml_parser_parse(&parser, &event)) syntax_error(parser);
      struct Event {
        yaml_event_t* e;
        ~Event() { yaml_event_delete(e); }
      } held{&event};
      if (event.type == YAML_STREAM_END_EVENT) return docs;
      if (event.type == YAML_DOCUMENT_END_EVENT)
        docs.push_back(m_root ? YAML::as_if<detail::YamlNodeAccess, void>::wrap(*m_root, m_memory) : YAML::Node());
      else
        on(event);
    }
  }

private:
  struct Open {
    YAML::detail::node* node;
    bool map;
    std::string anchor;
    YAML::detail::node* key = nullptr; ///< a mapping's key waiting for its value
  };

  [[noreturn]] void fail(std::size_t line, const std::string& why) const {
    throw Error(m_r.kind, "invalid " + m_r.what + " '" + m_r.file + ":" + std::to_string(line + 1) + "': " + why);
  }

  [[noreturn]] void syntax_error(const yaml_parser_t& parser) const {
    std::string why = parser.problem ? parser.problem : "not valid YAML";
    if (parser.context) why = std::string(parser.context) + ", " + why;
    // At the end of the text libyaml points past the last line: name the last line.
    auto lines = static_cast<std::size_t>(std::count(m_text.begin(), m_text.end(), '\n'));
    fail(std::min<std::size_t>(parser.problem_mark.line, lines), why);
  }

  void on(const yaml_event_t& e) {
    switch (e.type) {
    case YAML_DOCUMENT_START_EVENT: // each document has its own nodes and anchors
      m_memory = std::make_shared<YAML::detail::memory_holder>();
      m_anchors.clear();
      m_root = nullptr;
      break;
    case YAML_SCALAR_EVENT: {
      const auto& s = e.data.scalar;
      YAML::detail::node& n = create(e.start_mark);
      std::string value(text_of(s.value), s.length);
      bool plain = s.style == YAML_PLAIN_SCALAR_STYLE;
      if (plain && !s.tag && is_null_word(value)) {
        n.set_null();
      } else {
        n.set_scalar(value);
        n.set_tag(s.tag ? text_of(s.tag) : (plain ? "?" : "!"));
      }
      if (s.anchor) m_anchors[text_of(s.anchor)] = &n;
      add(n);
      break;
    }
    case YAML_SEQUENCE_START_EVENT:
      open(e, false, e.data.sequence_start.tag, e.data.sequence_start.anchor,
           e.data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE);
      break;
    case YAML_MAPPING_START_EVENT:
      open(e, true, e.data.mapping_start.tag, e.data.mapping_start.anchor,
           e.data.mapping_start.style == YAML_FLOW_MAPPING_STYLE);
      break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: {
      Open done = std::move(m_stack.back());
      m_stack.pop_back();
      // Registered when complete: an alias inside its own anchor's node finds no anchor.
      if (!done.anchor.empty()) m_anchors[done.anchor] = done.node;
      add(*done.node);
      break;
    }
    case YAML_ALIAS_EVENT:
      alias(text_of(e.data.alias.anchor), e.start_mark.line);
      break;
    default:
      break;
    }
  }

  YAML::detail::node& create(const yaml_mark_t& at) {
    // Every event but an alias's and the ends makes a node: this bounds the stream's events,
    // and the memory built before TreeCheck counts what aliases repeat.
    if (++m_nodes > limits::k_max_yaml_nodes)
      fail(at.line, "more than " + std::to_string(limits::k_max_yaml_nodes) + " nodes");
    YAML::detail::node& n = m_memory->create_node();
    YAML::Mark mark;
    mark.pos = static_cast<int>(at.index);
    mark.line = static_cast<int>(at.line);
    mark.column = static_cast<int>(at.column);
    n.set_mark(mark);
    return n;
  }

  void open(const yaml_event_t& e, bool map, const yaml_char_t* tag, const yaml_char_t* anchor, bool flow) {
    if (m_stack.size() >= limits::k_max_yaml_depth)
      fail(e.start_mark.line, "nested deeper than " + std::to_string(limits::k_max_yaml_depth) + " levels");
    YAML::detail::node& n = create(e.start_mark);
    n.set_tag(tag ? text_of(tag) : "?");
    n.set_type(map ? YAML::NodeType::Map : YAML::NodeType::Sequence);
    n.set_style(flow ? YAML::EmitterStyle::Flow : YAML::EmitterStyle::Block);
    m_stack.push_back({&n, map, anchor ? text_of(anchor) : "", nullptr});
  }

  void alias(const std::string& name, std::size_t line) {
    auto it = m_anchors.find(name);
    if (it != m_anchors.end()) return add(*it->second);
    bool inside = std::any_of(m_stack.begin(), m_stack.end(), [&](const Open& o) { return o.anchor == name; });
    std::string quoted = quote("*" + printable(name, 80)); // any length the file holds
    fail(line, inside ? "alias " + quoted + " is inside the node it names"
                      : "alias " + quoted + " names no anchor defined before it");
  }

  /// Adds a finished node to the open collection, or makes it the document's root.
  void add(YAML::detail::node& n) {
    if (m_stack.empty()) {
      m_root = &n;
      return;
    }
    Open& top = m_stack.back();
    if (!top.map) {
      top.node->push_back(n, m_memory);
    } else if (!top.key) {
      top.key = &n;
    } else {
      top.node->insert(*top.key, n, m_memory);
      top.key = nullptr;
    }
  }

  const YamlReader& m_r;
  const std::string& m_text;
  YAML::detail::shared_memory_holder m_memory = std::make_shared<YAML::detail::memory_holder>();
  std::vector<Open> m_stack;
  std::map<std::string, YAML::detail::node*> m_anchors;
  YAML::detail::node* m_root = nullptr;
  std::size_t m_nodes = 0; ///< made in the whole stream
};

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
  std::vector<YAML::Node> docs = TreeBuilder(*this, text).build();
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
