// GCC 12 reports a potential null dereference inside CLI11's detail::split (a std::string
// moved while a vector grows) as emitted in this file: a false positive in a system header.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include "cli/app.hpp"
#pragma GCC diagnostic pop

#include "cli/command.hpp"
#include "cli/docs.hpp"
#include "cli/help.hpp"
#include "core/cancel.hpp"
#include "core/error.hpp"
#include "core/strings.hpp"

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <unistd.h>

namespace mlops::cli {

namespace {

// Global options that take a value: the "did you mean" pre-scan skips their values.
const std::vector<std::string> k_valued_globals = {"--tracking-uri", "--config", "--output", "--ca-bundle"};

void on_signal(int) { request_cancel(); }

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = static_cast<int>(SA_RESETHAND); // a second Ctrl-C kills at once
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

/// Finds the first word that should be a command name; "" if none.
std::string first_command_word(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") return i + 1 < argc ? argv[i + 1] : "";
    if (a.rfind("-", 0) == 0) {
      if (std::find(k_valued_globals.begin(), k_valued_globals.end(), a) != k_valued_globals.end()) ++i;
      continue;
    }
    return a;
  }
  return {};
}

std::vector<std::string> visible_names() {
  std::vector<std::string> names;
  for (const auto& c : commands())
    if (!c.hidden) names.emplace_back(c.name);
  return names;
}

OutputMode output_mode(const GlobalOptions& g) {
  OutputMode m;
  m.json = g.json || g.output == "json";
  m.quiet = g.quiet;
  m.verbosity = g.verbose;
  m.stderr_tty = ::isatty(STDERR_FILENO) == 1;
  const char* no_color = std::getenv("NO_COLOR");
  const char* term = std::getenv("TERM");
  m.color = m.stderr_tty && !g.no_color && !(no_color && *no_color) && !(term && std::string(term) == "dumb");
  return m;
}

std::string lowercase_first(std::string s) {
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  while (!s.empty() && (s.back() == '.' || s.back() == '\n'))
    s.pop_back();
  return s;
}

/// The words of the command that was parsed: {"models", "list"}.
std::vector<std::string> parsed_path(const CLI::App& app) {
  std::vector<std::string> path;
  for (const CLI::App* at = &app;;) {
    auto subs = at->get_subcommands();
    if (subs.empty()) return path;
    at = subs.front();
    path.push_back(at->get_name());
  }
}

/// The words after 'mlops help'.
std::vector<std::string> help_topic(CLI::App& app) {
  for (CLI::Option* opt : app.get_subcommand("help")->get_options())
    if (opt->get_positional()) return opt->results();
  return {};
}

} // namespace

void build_app(AppModel& model) {
  CLI::App& app = model.app;
  GlobalOptions& g = model.global;
  app.set_help_flag("-h,--help", "show help and exit");
  app.require_subcommand(0, 1);
  app.fallthrough();
  app.add_option("--tracking-uri", g.tracking_uri, "MLflow tracking server URL (env MLFLOW_TRACKING_URI)")
      ->type_name("URI");
  app.add_option("--config", g.config_file, "read FILE instead of the mlops.yaml found by walking up")
      ->type_name("FILE");
  app.add_option("--output", g.output, "output format: text or json (default text)")
      ->check(CLI::IsMember({"text", "json"}))
      ->type_name("FORMAT");
  app.add_flag("--json", g.json, "same as --output json");
  app.add_flag("-v,--verbose", g.verbose, "show HTTP requests and decisions (repeat for more)");
  app.add_flag("-q,--quiet", g.quiet, "print only errors and requested data");
  app.add_flag("--no-color", g.no_color, "no colour (also NO_COLOR)");
  app.add_option("--ca-bundle", g.ca_bundle,
                 "PEM CA bundle to verify TLS servers with (env MLFLOW_TRACKING_SERVER_CERT_PATH)")
      ->type_name("FILE");
  app.add_flag("--version", g.version, "print the version and exit");
  app.add_flag("--insecure", g.insecure, "do not verify TLS certificates (env MLFLOW_TRACKING_INSECURE_TLS)");
  for (const auto& cmd : commands()) {
    CLI::App* sub = app.add_subcommand(std::string(cmd.name), std::string(cmd.summary));
    if (cmd.hidden) sub->group("");
    sub->fallthrough();
    model.runners[std::string(cmd.name)] = cmd.setup(*sub);
  }
}

int run(int argc, char** argv) {
  install_signal_handlers();
  AppModel model;
  build_app(model);
  CLI::App& app = model.app;
  OutputMode early;
  early.color = false;
  Output early_out(early);

  if (argc >= 2 && std::string(argv[1]) == "__complete") {
    // Raw words: they are what the user is typing, not options for us.
    std::cout << complete(app, std::vector<std::string>(argv + 2, argv + argc));
    return 0;
  }
  if (argc >= 2 && std::string(argv[1]) == "__man") {
    try {
      std::cout << man_page(app, std::vector<std::string>(argv + 2, argv + argc));
      return 0;
    } catch (const Error& e) {
      early_out.error(e.what(), e.hint());
      return exit_code(e.kind());
    }
  }
  std::string word = first_command_word(argc, argv);
  if (!word.empty() && !find_command(word)) {
    auto near = suggest(word, visible_names());
    early_out.error(quote(word) + " is not an mlops command", near.empty()
                                                                  ? "run 'mlops help' for the list of commands"
                                                                  : "did you mean " + quote(near.front()) + "?");
    return 2;
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    auto path = parsed_path(app);
    std::cout << (path.empty() ? top_help(app) : command_help(app, path));
    return 0;
  } catch (const CLI::ParseError& e) {
    auto subs = app.get_subcommands();
    std::string hint = subs.empty() ? "run 'mlops help'" : "run 'mlops help " + subs.front()->get_name() + "'";
    early_out.error(lowercase_first(e.what()), hint);
    return 2;
  }

  Output out(output_mode(model.global));
  if (model.global.version) {
    std::cout << "mlops " << MLOPS_VERSION << "\n";
    return 0;
  }
  auto subs = app.get_subcommands();
  if (subs.empty()) {
    // No command is a usage error, as with git: a short reminder on stderr.
    std::cerr << short_usage();
    return 2;
  }
  const std::string name = subs.front()->get_name();
  try {
    if (name == "help") {
      // help needs the app itself, not a context.
      auto topic = help_topic(app);
      std::cout << (topic.empty() ? top_help(app) : command_help(app, topic));
      return 0;
    }
    // Commands that read no settings work even next to a broken mlops.yaml.
    const ConfigNeed need = find_command(name)->config;
    ConfigInputs in;
    in.cwd = std::filesystem::current_path();
    if (!model.global.config_file.empty()) in.config_file = model.global.config_file;
    in.getenv = process_getenv;
    if (!model.global.tracking_uri.empty()) in.flags.tracking_uri = model.global.tracking_uri;
    if (!model.global.ca_bundle.empty()) in.flags.ca_bundle = model.global.ca_bundle;
    if (model.global.insecure) in.flags.insecure_tls = true;
    Settings settings;
    std::optional<Error> config_error;
    if (need == ConfigNeed::settings) {
      settings = resolve_settings(in);
    } else if (need == ConfigNeed::diagnose) {
      try {
        settings = resolve_settings(in);
      } catch (const Error& e) {
        // The command reports it; it goes on with what the flags and environment say.
        config_error = e;
        in.config_file.reset();
        in.no_files = true;
        settings = resolve_settings(in);
      }
    }
    Context ctx(model.global, std::move(settings), out);
    ctx.set_config_error(std::move(config_error));
    return model.runners.at(name)(ctx);
  } catch (const Error& e) {
    out.error(e.what(), e.hint());
    return exit_code(e.kind());
  } catch (const std::exception& e) {
    out.error(lowercase_first(e.what()));
    return 1;
  }
}

} // namespace mlops::cli
