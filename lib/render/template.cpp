#include "render/template.hpp"

#include "core/error.hpp"

#include <memory>
#include <vector>

namespace mlops::render {

std::string yaml_scalar(const nlohmann::json& value) {
  // ensure_ascii escapes every non-ASCII code point, so no Unicode line
  // separator (NEL, LS, PS) can reach a YAML parser raw; invalid UTF-8 is
  // replaced rather than passed through.
  return value.dump(-1, ' ', true, nlohmann::json::error_handler_t::replace);
}

namespace {

enum class NodeType { text, variable, section, inverted };

} // namespace

struct Template::Node {
  NodeType type = NodeType::text;
  std::string text; ///< literal text, or the tag's name
  int line = 1;
  std::vector<Node> children;
  std::vector<std::string> path; ///< the name split at '.' (empty for ".")
};

namespace {

using Node = Template::Node;

[[noreturn]] void fail(std::string_view name, int line, const std::string& why) {
  throw Error(ErrorKind::usage, "template " + quote(name) + " line " + std::to_string(line) + ": " + why);
}

std::vector<std::string> split_name(const std::string& name) {
  std::vector<std::string> parts;
  if (name == ".") return parts;
  for (std::size_t b = 0;;) {
    std::size_t e = name.find('.', b);
    parts.push_back(name.substr(b, e == std::string::npos ? std::string::npos : e - b));
    if (e == std::string::npos) break;
    b = e + 1;
  }
  return parts;
}

class Parser {
public:
  Parser(std::string_view text, std::string_view name) : m_text(text), m_name(name) {}

  std::vector<Node> parse() {
    std::vector<Node> root;
    std::vector<std::vector<Node>*> stack{&root};
    std::vector<Node*> open;
    std::size_t pos = 0;
    while (pos < m_text.size()) {
      std::size_t start = m_text.find("{{", pos);
      if (start == std::string_view::npos) {
        add_text(*stack.back(), m_text.substr(pos), line_at(pos));
        break;
      }
      std::size_t end = m_text.find("}}", start + 2);
      int line = line_at(start);
      if (end == std::string_view::npos) fail(line, "unclosed tag '{{'");
      std::string tag(trim(m_text.substr(start + 2, end - start - 2)));
      std::size_t after = end + 2;
      char sigil = tag.empty() ? '\0' : tag[0];
      if (sigil == '{' || sigil == '&')
        fail(line, "raw output '{{" + tag + "}}' is not supported: every value is quoted");
      if (sigil == '>' || sigil == '=') fail(line, "partials and delimiter changes are not supported");
      bool block = sigil == '#' || sigil == '^' || sigil == '/' || sigil == '!';
      std::size_t text_end = start;
      if (block) standalone(start, after, text_end);
      add_text(*stack.back(), m_text.substr(pos, text_end - pos), line_at(pos));
      pos = after;
      std::string name(block ? trim(std::string_view(tag).substr(1)) : std::string_view(tag));
      if (sigil == '!') continue;
      if (name.empty()) fail(line, "empty tag");
      if (sigil == '#' || sigil == '^') {
        Node n{sigil == '#' ? NodeType::section : NodeType::inverted, name, line, {}, split_name(name)};
        stack.back()->push_back(std::move(n));
        open.push_back(&stack.back()->back());
        stack.push_back(&open.back()->children);
      } else if (sigil == '/') {
        if (open.empty()) fail(line, "'{{/" + name + "}}' closes no section");
        if (open.back()->text != name)
          fail(line, "'{{/" + name + "}}' closes section '" + open.back()->text + "' opened on line " +
                         std::to_string(open.back()->line));
        open.pop_back();
        stack.pop_back();
      } else {
        stack.back()->push_back(Node{NodeType::variable, name, line, {}, split_name(name)});
      }
    }
    if (!open.empty()) fail(open.back()->line, "section '" + open.back()->text + "' is never closed");
    return root;
  }

  [[noreturn]] void fail(int line, const std::string& why) const { render::fail(m_name, line, why); }

private:
  static std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
      s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
      s.remove_suffix(1);
    return s;
  }

  /// When the tag at [start, after) is alone on its line, widens it to the
  /// whole line: `text_end` moves back over the indentation and `after`
  /// forward past the newline.
  void standalone(std::size_t start, std::size_t& after, std::size_t& text_end) const {
    std::size_t b = start;
    while (b > 0 && (m_text[b - 1] == ' ' || m_text[b - 1] == '\t'))
      --b;
    if (b > 0 && m_text[b - 1] != '\n') return;
    std::size_t e = after;
    while (e < m_text.size() && (m_text[e] == ' ' || m_text[e] == '\t' || m_text[e] == '\r'))
      ++e;
    if (e < m_text.size() && m_text[e] != '\n') return;
    text_end = b;
    after = e < m_text.size() ? e + 1 : e;
  }

  int line_at(std::size_t pos) {
    // Positions only grow, so count incrementally.
    while (m_counted < pos && m_counted < m_text.size()) {
      if (m_text[m_counted] == '\n') ++m_line;
      ++m_counted;
    }
    return m_line;
  }

  static void add_text(std::vector<Node>& into, std::string_view text, int line) {
    if (!text.empty()) into.push_back(Node{NodeType::text, std::string(text), line, {}, {}});
  }

  std::string_view m_text;
  std::string_view m_name;
  std::size_t m_counted = 0;
  int m_line = 1;
};

/// Mustache name resolution: the first segment in the innermost scope that
/// has it, the rest below that value only.
const nlohmann::json* lookup(const Node& n, const std::vector<const nlohmann::json*>& scopes) {
  if (n.path.empty()) return scopes.back();
  const nlohmann::json* v = nullptr;
  for (auto it = scopes.rbegin(); it != scopes.rend() && !v; ++it) {
    if (!(*it)->is_object()) continue;
    auto found = (*it)->find(n.path[0]);
    if (found != (*it)->end()) v = &*found;
  }
  for (std::size_t i = 1; v && i < n.path.size(); ++i) {
    auto found = v->is_object() ? v->find(n.path[i]) : v->end();
    v = v->is_object() && found != v->end() ? &*found : nullptr;
  }
  return v;
}

bool truthy(const nlohmann::json* v) {
  if (!v || v->is_null()) return false;
  if (v->is_boolean()) return v->get<bool>();
  if (v->is_string()) return !v->get_ref<const std::string&>().empty();
  if (v->is_array() || v->is_object()) return !v->empty();
  return true;
}

} // namespace

Template::Template(std::string_view text, std::string name)
    : m_name(std::move(name)), m_tree(std::make_shared<const std::vector<Node>>(Parser(text, m_name).parse())) {}

void Template::render(const std::vector<Node>& nodes, std::vector<const nlohmann::json*>& scopes,
                      std::string& out) const {
  for (const auto& n : nodes) {
    if (n.type == NodeType::text) {
      out += n.text;
      continue;
    }
    const nlohmann::json* v = lookup(n, scopes);
    if (n.type == NodeType::variable) {
      if (!v) fail(m_name, n.line, "no value named " + quote(n.text));
      out += yaml_scalar(*v);
    } else if (n.type == NodeType::inverted) {
      if (!truthy(v)) render(n.children, scopes, out);
    } else if (v && v->is_array()) {
      for (const auto& item : *v) {
        scopes.push_back(&item);
        render(n.children, scopes, out);
        scopes.pop_back();
      }
    } else if (truthy(v)) {
      scopes.push_back(v);
      render(n.children, scopes, out);
      scopes.pop_back();
    }
  }
}

std::string Template::render(const nlohmann::json& context) const {
  std::string out;
  std::vector<const nlohmann::json*> scopes{&context};
  render(*m_tree, scopes, out);
  return out;
}

std::string render_template(std::string_view text, const nlohmann::json& context, std::string_view template_name) {
  return Template(text, std::string(template_name)).render(context);
}

} // namespace mlops::render
