#pragma once

#include "cli/command.hpp"
#include "cli/context.hpp"

#include <CLI/CLI.hpp>

#include <map>
#include <string>

namespace mlops::cli {

/// The parsed-command wiring: a CLI11 app with the global options and one
/// subcommand per table entry.
struct AppModel {
  CLI::App app{"take MLflow models to production on Kubernetes", "mlops"};
  GlobalOptions global;
  std::map<std::string, Runner> runners; ///< by command name
};

/// Builds the app from the command table.
void build_app(AppModel& model);

/// Entry point: parses argv, runs the command, maps errors to exit codes.
int run(int argc, char** argv);

} // namespace mlops::cli
