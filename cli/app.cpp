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
#include <sstream>
#include <unistd.h>

namespace mlops::cli {

namespace {

void on_signal(int) { request_cancel(); }

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = static_cast<int>(SA_RESETHAND); // a second Ctrl-C kills at once
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

/// True when `word` is a global option of `app` that takes a value ("--config").
bool is_valued_global(const CLI::App& app, const std::string& word) {
  for (const CLI::Option* opt : app.get_options())
    if (!opt->get_positional() && opt->check_name(word)) return opt->get_items_expected_max() != 0;
  return false;
}

/// Finds the first word that should be a command name; "" if none. The values
/// of global options are skipped.
std::string first_command_word(const CLI::App& app, int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") return i + 1 < argc ? argv[i + 1] : "";
    if (a.starts_with('-')) {
      if (is_valued_global(app, a)) ++i;
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

ConfigInputs config_inputs(const GlobalOptions& g) {
  ConfigInputs in;
  in.cwd = std::filesystem::current_path();
  if (!g.config_file.empty()) in.config_file = g.config_file;
  in.getenv = process_getenv;
  if (!g.tracking_uri.empty()) in.flags.tracking_uri = g.tracking_uri;
  if (!g.ca_bundle.empty()) in.flags.ca_bundle = g.ca_bundle;
  if (g.insecure) in.flags.insecure_tls = true;
  return in;
}

/// Prepares what `cmd` declares it needs, runs it, and turns a thrown error
/// into its message on stderr and its exit code.
int run_command(const Command& cmd, AppModel& model, const Output& out, std::vector<std::string> words = {}) {
  try {
    Settings settings;
    std::optional<Error> config_error;
    if (cmd.needs.settings) {
      ConfigInputs in = config_inputs(model.global);
      try {
        settings = resolve_settings(in);
      } catch (const Error& e) {
        if (!cmd.needs.tolerate_broken_config) throw;
        // The command reports it and goes on with what the flags and environment say.
        config_error = e;
        in.config_file.reset();
        in.no_files = true;
        settings = resolve_settings(in);
      }
    }
    Context ctx(model.global, std::move(settings), out, std::move(words));
    ctx.set_config_error(std::move(config_error));
    return model.runners.at(std::string(cmd.name))(ctx);
  } catch (const Error& e) {
    out.error(e.what(), e.hint());
    return exit_code(e.kind());
  } catch (const std::exception& e) {
    out.error(lowercase_first(e.what()));
    return 1;
  }
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

  if (argc >= 2) {
    const Command* raw = find_command(argv[1]);
    if (raw && !raw->needs.global_options)
      return run_command(*raw, model, early_out, std::vector<std::string>(argv + 2, argv + argc));
  }
  std::string word = first_command_word(app, argc, argv);
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
    early_out.data(path.empty() ? top_help(app) : command_help(app, path));
    return 0;
  } catch (const CLI::ParseError& e) {
    auto subs = app.get_subcommands();
    std::string hint = subs.empty() ? "run 'mlops help'" : "run 'mlops help " + subs.front()->get_name() + "'";
    early_out.error(lowercase_first(e.what()), hint);
    return 2;
  }

  Output out(output_mode(model.global));
  if (model.global.version) {
    out.data(std::string("mlops ") + MLOPS_VERSION + "\n");
    return 0;
  }
  auto subs = app.get_subcommands();
  if (subs.empty()) {
    // No command is a usage error, as with git: a short reminder on stderr.
    out.usage(short_usage());
    return 2;
  }
  return run_command(*find_command(subs.front()->get_name()), model, out);
}

} // namespace mlops::cli
