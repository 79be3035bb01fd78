#include "cli/help.hpp"

#include "cli/command.hpp"
#include "core/error.hpp"
#include "core/strings.hpp"

#include <algorithm>
#include <sstream>

namespace mlops::cli {

namespace {

constexpr std::size_t k_width = 80;         // help lines wrap here
constexpr std::size_t k_max_column = 28;    // a longer label puts its description on the next line
constexpr std::size_t k_max_gist_lines = 8; // a longer first paragraph is cut to its first sentence

/// Wraps `text` to `width` columns, each line starting with `indent`.
std::string wrap(std::string_view text, std::size_t width, const std::string& indent = "") {
  std::string out, line;
  std::istringstream words{std::string(text)};
  std::string word;
  while (words >> word) {
    if (!line.empty() && indent.size() + line.size() + 1 + word.size() > width) {
      out += indent + line + "\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  if (!line.empty()) out += indent + line + "\n";
  return out;
}

/// Two aligned columns: labels, then descriptions wrapped beside them.
std::string columns(const std::vector<std::pair<std::string, std::string>>& rows) {
  std::size_t col = 0;
  for (const auto& [label, _] : rows)
    if (label.size() <= k_max_column) col = std::max(col, label.size());
  col += 4; // two of indent, two of gap
  std::string out;
  for (const auto& [label, text] : rows) {
    std::string wrapped = wrap(text, k_width, std::string(col, ' '));
    if (label.size() + 4 > col) {
      out += "  " + label + "\n" + wrapped;
    } else {
      out += "  " + label + std::string(col - 2 - label.size(), ' ') + (wrapped.empty() ? "\n" : wrapped.substr(col));
    }
  }
  return out;
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      out.emplace_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

bool is_help_flag(const CLI::Option* opt) { return opt->check_lname("help"); }

std::string upper(std::string s) {
  for (char& c : s)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string describe(CLI::Option* opt) {
  std::string text = opt->get_description();
  auto choices = choices_of(opt);
  if (!choices.empty()) {
    // Say the set unless the description already lists every value.
    bool listed = std::all_of(choices.begin(), choices.end(),
                              [&](const std::string& c) { return text.find(c) != std::string::npos; });
    if (!listed) text += " (" + join(choices, ", ") + ")";
  }
  if (opt->get_required() && !opt->get_positional()) text += " (required)";
  return text;
}

std::vector<std::pair<std::string, std::string>> option_rows(const CLI::App& app, bool positionals) {
  std::vector<std::pair<std::string, std::string>> rows;
  for (CLI::Option* opt : const_cast<CLI::App&>(app).get_options()) {
    if (opt->get_positional() != positionals || is_help_flag(opt)) continue;
    rows.emplace_back(option_label(opt), describe(opt));
  }
  return rows;
}

/// The first paragraph of a description; its first sentence when it is long.
std::string gist(std::string_view description) {
  std::string first(description.substr(0, description.find("\n\n")));
  if (wrap(first, k_width).size() / k_width < k_max_gist_lines && std::count(first.begin(), first.end(), ' ') < 90)
    return first;
  auto end = first.find(". ");
  return end == std::string::npos ? first : first.substr(0, end + 1);
}

} // namespace

std::string usage_args(const CLI::App& app) {
  std::string out, optional;
  for (CLI::Option* opt : const_cast<CLI::App&>(app).get_options()) {
    if (is_help_flag(opt)) continue;
    if (opt->get_positional()) {
      std::string n = upper(opt->get_name());
      out += " " + (opt->get_required() ? n : "[" + n + "]");
    } else if (opt->get_required()) {
      out += " " + opt->get_name(false, false) + " " + value_name(opt);
    } else {
      optional = " [options]";
    }
  }
  out += optional;
  return out.empty() ? out : out.substr(1);
}

std::string value_name(const CLI::Option* opt) {
  if (opt->get_items_expected_max() == 0) return {}; // a flag
  std::string t = opt->get_type_name();
  t = t.substr(0, t.find(':')); // CLI11 appends validator descriptions after ':'
  return t.empty() ? "VALUE" : t;
}

std::vector<std::string> choices_of(CLI::Option* opt) {
  for (int i = 0;; ++i) {
    std::string d;
    try {
      d = opt->get_validator(i)->get_description();
    } catch (const CLI::OptionNotFound&) {
      return {};
    }
    // CLI::IsMember describes itself as "{a,b,c}".
    if (d.size() > 2 && d.front() == '{' && d.back() == '}') return split(d.substr(1, d.size() - 2), ',');
  }
}

std::string option_label(const CLI::Option* opt) {
  if (opt->get_positional()) return upper(opt->get_name());
  std::string names;
  for (const auto& s : opt->get_snames())
    names += (names.empty() ? "-" : ", -") + s;
  for (const auto& l : opt->get_lnames())
    names += (names.empty() ? "--" : ", --") + l;
  std::string v = value_name(opt);
  return v.empty() ? names : names + " " + v;
}

CLI::App* find_command_path(CLI::App& app, const std::vector<std::string>& path) {
  CLI::App* at = &app;
  std::string so_far = "mlops";
  for (const auto& word : path) {
    std::vector<std::string> names;
    CLI::App* next = nullptr;
    for (CLI::App* s : at->get_subcommands([](CLI::App*) { return true; })) {
      if (at == &app) {
        const Command* c = find_command(s->get_name());
        if (c && c->hidden) continue;
      }
      names.push_back(s->get_name());
      if (s->get_name() == word) next = s;
    }
    if (!next) {
      auto near = suggest(word, names);
      std::string what = at == &app ? quote(word) + " is not an mlops command"
                                    : quote(word) + " is not a subcommand of '" + so_far + "'";
      throw Error(ErrorKind::usage, what,
                  near.empty()
                      ? "run '" + std::string(at == &app ? "mlops help" : "mlops help " + so_far.substr(6)) + "'"
                      : "did you mean " + quote(near.front()) + "?");
    }
    at = next;
    so_far += " " + word;
  }
  return at;
}

std::string short_usage() {
  std::string names;
  for (const auto& c : commands())
    if (!c.hidden) names += (names.empty() ? "" : ", ") + std::string(c.name);
  return "usage: mlops [global options] <command> [<args>]\n" + wrap("commands: " + names, k_width) +
         "Run 'mlops help' for more, 'mlops help <command>' for a command.\n";
}

namespace {

/// "Exit codes: 0 ok, 1 error, ..." from the exit-code table, wrapped.
std::string exit_codes_line() {
  std::string out = "Exit codes:";
  std::size_t line_start = 0;
  for (const auto& e : exit_statuses()) {
    std::string item =
        " " + std::to_string(e.code) + " " + std::string(e.label) + (e.code == exit_statuses().back().code ? "" : ",");
    if (out.size() - line_start + item.size() > 70) {
      out += "\n";
      line_start = out.size();
      item.erase(0, 1);
    }
    out += item;
  }
  return out + " (see 'man mlops').\n";
}

} // namespace

std::string top_help(CLI::App& app) {
  std::ostringstream o;
  o << "usage: mlops [global options] <command> [<args>]\n\n"
    << "Take MLflow models to production on Kubernetes.\n\ncommands:\n";
  std::vector<std::pair<std::string, std::string>> rows;
  for (const auto& c : commands())
    if (!c.hidden) rows.emplace_back(std::string(c.name), std::string(c.summary));
  o << columns(rows) << "\nglobal options (before or after the command):\n"
    << columns(option_rows(app, false))
    << "\nRun 'mlops help <command>' for a command's options and examples,\n'man mlops-<command>' for its details.\n"
    << exit_codes_line();
  return o.str();
}

std::string command_help(CLI::App& app, const std::vector<std::string>& path) {
  CLI::App* sub = find_command_path(app, path);
  const Command* cmd = find_command(path.front());
  std::string name = join(path, " ");
  std::ostringstream o;
  auto subs = sub->get_subcommands([](CLI::App*) { return true; });
  o << "usage: mlops " << name << (subs.empty() ? "" : " <subcommand>")
    << (usage_args(*sub).empty() ? "" : " " + usage_args(*sub)) << "\n\n";
  std::string summary = path.size() == 1 && cmd ? std::string(cmd->summary) : sub->get_description();
  o << wrap(summary, k_width);
  if (cmd && !cmd->examples.empty()) {
    o << "\nexamples:\n";
    for (const auto& line : split(std::string(cmd->examples), '\n'))
      o << "  " << std::string(trim(line)) << "\n";
  }
  if (!subs.empty()) {
    std::vector<std::pair<std::string, std::string>> rows;
    for (const CLI::App* s : subs)
      rows.emplace_back(s->get_name(), s->get_description());
    o << "\nsubcommands:\n" << columns(rows);
  }
  if (auto rows = option_rows(*sub, true); !rows.empty()) o << "\narguments:\n" << columns(rows);
  if (auto rows = option_rows(*sub, false); !rows.empty()) o << "\noptions:\n" << columns(rows);
  if (path.size() == 1 && cmd && !cmd->description.empty()) o << "\n" << wrap(gist(cmd->description), k_width);
  o << "\nGlobal options: 'mlops help'. Everything else: 'man mlops-" << path.front() << "'.\n";
  return o.str();
}

} // namespace mlops::cli
