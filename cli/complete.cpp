// 'mlops __complete WORDS...': the one source of completion candidates for the
// bash, zsh and fish scripts in completions/. Prints one candidate per line;
// the lines ":files" and ":dirs" ask the shell to complete paths itself.
#include "cli/docs.hpp"

#include "cli/command.hpp"
#include "cli/help.hpp"
#include "core/config.hpp"
#include "core/fs.hpp"
#include "core/limits.hpp"
#include "core/yaml_reader.hpp"
#include "mlflow/client.hpp"
#include "render/spec.hpp"

#include <set>

namespace mlops::cli {

namespace {

/// Where the walk over the typed words ended.
struct Position {
  std::vector<CLI::App*> chain;       ///< the app, then each (sub)command typed
  CLI::Option* pending = nullptr;     ///< an option whose value is being typed
  std::size_t positionals = 0;        ///< positional words given to the last command
  std::vector<std::string> help_path; ///< words after 'help'
  std::string config_file;            ///< --config FILE when typed
  std::string tracking_uri;           ///< --tracking-uri URI when typed
};

/// The option named `word` ("--env", "-o") in the innermost command or any
/// command around it (global options work anywhere).
CLI::Option* find_option(const std::vector<CLI::App*>& chain, const std::string& word) {
  for (auto it = chain.rbegin(); it != chain.rend(); ++it)
    for (CLI::Option* opt : (*it)->get_options())
      if (!opt->get_positional() && opt->check_name(word)) return opt;
  return nullptr;
}

/// True when the words after the command `chain` ends in name commands (help).
bool names_commands(const std::vector<CLI::App*>& chain) {
  if (chain.size() != 2) return false;
  const Command* c = find_command(chain.back()->get_name());
  return c && c->names_commands;
}

CLI::App* visible_subcommand(CLI::App& at, bool top, const std::string& name) {
  if (top) {
    const Command* c = find_command(name);
    if (!c || c->hidden) return nullptr;
  }
  for (CLI::App* s : at.get_subcommands([](CLI::App*) { return true; }))
    if (s->get_name() == name) return s;
  return nullptr;
}

Position walk(CLI::App& app, const std::vector<std::string>& words) {
  Position p;
  p.chain.push_back(&app);
  for (std::size_t i = 0; i + 1 < words.size(); ++i) {
    const std::string& w = words[i];
    if (p.pending) {
      if (p.pending->check_lname("config")) p.config_file = w;
      if (p.pending->check_lname("tracking-uri")) p.tracking_uri = w;
      p.pending = nullptr;
      continue;
    }
    if (w.size() > 1 && w[0] == '-' && w != "--") {
      CLI::Option* opt = find_option(p.chain, w.substr(0, w.find('=')));
      if (opt && opt->get_items_expected_max() != 0 && w.find('=') == std::string::npos) p.pending = opt;
      continue;
    }
    if (names_commands(p.chain)) {
      p.help_path.push_back(w);
      continue;
    }
    if (CLI::App* s = visible_subcommand(*p.chain.back(), p.chain.size() == 1, w)) {
      p.chain.push_back(s);
      p.positionals = 0;
    } else {
      ++p.positionals;
    }
  }
  return p;
}

/// Environment names of the project file: environments.* and deploy.environments.*.
std::vector<std::string> project_environments(const std::string& config_file) {
  std::optional<std::filesystem::path> file;
  if (!config_file.empty())
    file = config_file;
  else
    file = find_project_file(std::filesystem::current_path());
  if (!file) return {};
  std::set<std::string> names;
  try {
    YAML::Node root = YamlReader{"project file", file->string()}.load(fs::read_file(*file));
    for (const YAML::Node& section : {root["environments"], root["deploy"]["environments"]})
      if (section.IsMap())
        for (const auto& kv : section)
          names.insert(kv.first.as<std::string>());
  } catch (const std::exception&) {
    // A broken or unreadable file completes nothing; the command itself will say why.
  }
  return {names.begin(), names.end()};
}

/// Candidates for the value of `opt`: its fixed choices, else what its value
/// name (the table's FILE, DIR, ENV, TARGET) says.
std::vector<std::string> option_values(CLI::Option* opt, const Position& p) {
  if (auto choices = choices_of(opt); !choices.empty()) return choices;
  std::string kind = value_name(opt);
  if (kind == "ENV") return project_environments(p.config_file);
  if (kind == "TARGET") return render::known_targets();
  if (kind == "DIR") return {":dirs"};
  if (kind == "FILE" || kind == "PATH" || kind == "DEST") return {":files"};
  return {}; // free text (a URI, a number, a message): nothing useful to offer
}

std::vector<std::string> option_names(const std::vector<CLI::App*>& chain) {
  std::vector<std::string> out;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it)
    for (const CLI::Option* opt : (*it)->get_options()) {
      if (opt->get_positional()) continue;
      for (const auto& l : opt->get_lnames())
        out.push_back("--" + l);
      for (const auto& s : opt->get_snames())
        out.push_back("-" + s);
    }
  return out;
}

std::vector<std::string> subcommand_names(CLI::App& at, bool top) {
  std::vector<std::string> out;
  for (CLI::App* s : at.get_subcommands([](CLI::App*) { return true; }))
    if (visible_subcommand(at, top, s->get_name())) out.push_back(s->get_name());
  return out;
}

/// Registered model names from the tracking server the settings name, when
/// it answers within limits::k_completion_timeout_s; none otherwise:
/// completion never waits long and never prints an error.
std::vector<std::string> model_names(const Position& p, const std::string& prefix) {
  try {
    ConfigInputs in;
    in.cwd = std::filesystem::current_path();
    if (!p.config_file.empty()) in.config_file = p.config_file;
    if (!p.tracking_uri.empty()) in.flags.tracking_uri = p.tracking_uri;
    in.getenv = process_getenv;
    Settings settings = resolve_settings(in);
    if (settings.tracking_uri.empty()) return {};
    GlobalOptions g;
    Output quiet(OutputMode{false, true, 0, false, false});
    Context ctx(g, std::move(settings), quiet);
    http::Options o = ctx.http_options();
    o.connect_timeout_s = limits::k_completion_timeout_s;
    o.idle_timeout_s = limits::k_completion_timeout_s;
    o.max_retries = 0;
    http::Client http(std::move(o), null_log());
    mlflow::Client client(http, ctx.settings().tracking_uri);
    std::vector<std::string> names;
    for (const auto& m : client.search_registered_models("", limits::k_max_completion_models))
      if (m.name.rfind(prefix, 0) == 0) names.push_back(m.name);
    return names;
  } catch (const std::exception&) {
    return {}; // no server, a broken config, a slow answer: nothing to offer
  }
}

/// Candidates for a word that is not an option: a subcommand, a help topic,
/// or the next positional argument (paths for model directories and files).
std::vector<std::string> word_values(CLI::App& app, const Position& p, const std::string& current) {
  CLI::App* at = p.chain.back();
  if (names_commands(p.chain)) {
    CLI::App* topic = &app;
    for (const auto& w : p.help_path) {
      topic = visible_subcommand(*topic, topic == &app, w);
      if (!topic) return {};
    }
    return subcommand_names(*topic, topic == &app);
  }
  if (auto subs = subcommand_names(*at, p.chain.size() == 1); !subs.empty() && p.positionals == 0) return subs;
  std::size_t n = 0;
  for (const CLI::Option* opt : at->get_options()) {
    if (!opt->get_positional()) continue;
    if (n++ != p.positionals) continue;
    std::string name = opt->get_name();
    if (name == "MODEL_URI" || name == "SOURCE" || name == "TARGET") {
      if (current.rfind("models:/", 0) != 0) return {"models:/", ":dirs"};
      std::vector<std::string> uris;
      for (const auto& m : model_names(p, current.substr(8)))
        uris.push_back("models:/" + m);
      return uris;
    }
    if (name == "model" || name == "NAME") return model_names(p, current);
    return {};
  }
  return {};
}

} // namespace

std::string complete(CLI::App& app, const std::vector<std::string>& words) {
  const std::string current = words.empty() ? "" : words.back();
  Position p = walk(app, words);
  std::vector<std::string> candidates;
  std::string prefix; // "--opt=" when the value is typed in the same word
  if (p.pending) {
    candidates = option_values(p.pending, p);
  } else if (auto eq = current.find('='); current.rfind("--", 0) == 0 && eq != std::string::npos) {
    if (CLI::Option* opt = find_option(p.chain, current.substr(0, eq))) {
      prefix = current.substr(0, eq + 1);
      candidates = option_values(opt, p);
    }
  } else if (current.starts_with('-')) {
    candidates = option_names(p.chain);
  } else {
    candidates = word_values(app, p, current);
  }
  std::string out;
  const std::string typed = current.substr(prefix.size());
  for (const auto& c : candidates) {
    if (c == ":files" || c == ":dirs")
      out += c + "\n";
    else if (c.rfind(typed, 0) == 0)
      out += prefix + c + "\n";
  }
  return out;
}

} // namespace mlops::cli
