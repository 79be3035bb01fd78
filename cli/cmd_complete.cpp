#include "cli/command.hpp"
#include "cli/docs.hpp"

namespace mlops::cli {

Command complete_command() {
  Command c;
  c.name = "__complete";
  c.summary = "print completion candidates for the words typed so far";
  c.hidden = true;
  c.needs.settings = false;
  c.needs.global_options = false; // the words are what the user is typing, not options for us
  c.setup = [](CLI::App& app) -> Runner {
    app.allow_extras();
    CLI::App* root = app.get_parent();
    return [root](Context& ctx) {
      ctx.out().data(complete(*root, ctx.words()));
      return 0;
    };
  };
  return c;
}

} // namespace mlops::cli
