#include "cli/command.hpp"
#include "cli/docs.hpp"

namespace mlops::cli {

Command man_command() {
  Command c;
  c.name = "__man";
  c.summary = "print a man page (roff): mlops.1 (default), mlops-COMMAND.1, mlops.yaml.5; --list";
  c.hidden = true;
  c.needs.settings = false;
  c.needs.global_options = false; // '--list' and page names are its own words
  c.setup = [](CLI::App& app) -> Runner {
    CLI::App* root = app.get_parent();
    return [root](Context& ctx) {
      ctx.out().data(man_page(*root, ctx.words()));
      return 0;
    };
  };
  return c;
}

} // namespace mlops::cli
