#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mlops::render {

/// The YAML form of one value: strings as JSON-style double-quoted scalars
/// (every control and non-ASCII character escaped), numbers, booleans and
/// null as plain scalars, lists and mappings as JSON flow collections with
/// sorted keys. Whatever the value holds, the result is one YAML node on one
/// line: it cannot end the document, start a key or change indentation.
std::string yaml_scalar(const nlohmann::json& value);

/// Renders a logic-less template (a mustache subset) with `context`:
///   {{name}} {{a.b.c}} {{.}}   the value, always through yaml_scalar()
///   {{#name}}...{{/name}}      once per list item, once for a truthy value
///                              (mappings and items become the innermost scope)
///   {{^name}}...{{/name}}      once when the value is missing, false, null or empty
///   {{! comment }}
/// A line holding only a section, inverted, closing or comment tag is removed
/// whole, so templates stay readable YAML. Raw output ({{{x}}}, {{&x}}),
/// partials and delimiter changes are refused. A {{name}} with no value is an
/// error (a typo must not render as empty); a section over a missing name is
/// simply false. `template_name` names the template in errors.
/// Throws Error(usage) "template 'NAME' line N: ...".
std::string render_template(std::string_view text, const nlohmann::json& context, std::string_view template_name);

/// A template parsed once, to render many times (render_template() parses
/// on every call). Copies share the parsed form; rendering is const and safe
/// from several threads.
class Template {
public:
  /// Parses `text`; `name` names it in errors. Throws Error(usage) as render_template().
  Template(std::string_view text, std::string name);
  /// The template rendered with `context`. Throws Error(usage) for a {{name}} with no value.
  std::string render(const nlohmann::json& context) const;

  struct Node;

private:
  void render(const std::vector<Node>& nodes, std::vector<const nlohmann::json*>& scopes, std::string& out) const;
  std::string m_name;
  std::shared_ptr<const std::vector<Node>> m_tree;
};

} // namespace mlops::render
