#include "cli/command.hpp"
#include "core/error.hpp"

namespace mlops::cli {

namespace {

/// Commands whose work needs the CLI11 app itself (help, completion, man)
/// are run by the dispatcher; their table entries only declare arguments.
Command app_command(std::string_view name, std::string_view summary, bool hidden, std::function<void(CLI::App&)> args) {
  Command c;
  c.name = name;
  c.summary = summary;
  c.hidden = hidden;
  c.setup = [args = std::move(args)](CLI::App& app) -> Runner {
    args(app);
    return [](Context&) { return 0; };
  };
  return c;
}

} // namespace

Command help_command() {
  auto topic = std::make_shared<std::vector<std::string>>();
  Command c = app_command("help", "show help for mlops or one command", false, [topic](CLI::App& app) {
    app.add_option("COMMAND", *topic, "the command to explain, with its subcommand if it has them (models list)");
  });
  c.description = "Shows the list of commands, or the usage, examples and options of one command. "
                  "'mlops help models list' is the same as 'mlops models list --help'; 'man mlops-COMMAND' has "
                  "the full description.";
  c.examples = "  mlops help render\n  mlops help models list";
  return c;
}

std::optional<std::filesystem::path> templates_dir(const std::string& value) {
  if (value.empty()) return std::nullopt;
  std::error_code ec;
  if (!std::filesystem::is_directory(value, ec))
    throw Error(ErrorKind::usage, "invalid --templates: " + quote(value) + " is not a directory");
  return value;
}

const std::vector<Command>& commands() {
  static const std::vector<Command> table = [] {
    std::vector<Command> t;
    t.push_back(init_command());
    t.push_back(release_command());
    t.push_back(pull_command());
    t.push_back(models_command());
    t.push_back(validate_command());
    t.push_back(package_command());
    t.push_back(render_command());
    t.push_back(promote_command());
    t.push_back(rollback_command());
    t.push_back(history_command());
    t.push_back(approve_command());
    t.push_back(doctor_command());
    t.push_back(help_command());
    t.push_back(version_command());
    t.push_back(app_command("__complete", "print completion candidates for the words typed so far", true,
                            [](CLI::App& app) { app.allow_extras(); }));
    t.push_back(app_command("__man",
                            "print a man page (roff): mlops.1 (default), mlops-COMMAND.1, mlops.yaml.5; --list", true,
                            [](CLI::App&) {}));
    return t;
  }();
  return table;
}

const Command* find_command(std::string_view name) {
  for (const auto& c : commands())
    if (c.name == name) return &c;
  return nullptr;
}

} // namespace mlops::cli
