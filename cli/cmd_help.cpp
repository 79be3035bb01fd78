#include "cli/command.hpp"
#include "cli/help.hpp"

#include <memory>

namespace mlops::cli {

Command help_command() {
  Command c;
  c.name = "help";
  c.summary = "show help for mlops or one command";
  c.description = "Shows the list of commands, or the usage, examples and options of one command. "
                  "'mlops help models list' is the same as 'mlops models list --help'; 'man mlops-COMMAND' has "
                  "the full description.";
  c.examples = "  mlops help render\n  mlops help models list";
  c.names_commands = true;
  c.needs.settings = false; // help works next to a broken mlops.yaml
  c.setup = [](CLI::App& app) -> Runner {
    auto topic = std::make_shared<std::vector<std::string>>();
    app.add_option("COMMAND", *topic, "the command to explain, with its subcommand if it has them (models list)");
    CLI::App* root = app.get_parent();
    return [topic, root](Context& ctx) {
      ctx.out().data(topic->empty() ? top_help(*root) : command_help(*root, *topic));
      return 0;
    };
  };
  return c;
}

} // namespace mlops::cli
