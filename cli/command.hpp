#pragma once

#include "cli/context.hpp"

#include <CLI/CLI.hpp>

#include <filesystem>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

namespace mlops::cli {

/// Runs a parsed command; returns the exit code (errors are thrown).
using Runner = std::function<int(Context&)>;

/// What the dispatcher (cli/app.cpp) prepares before a command runs, declared by the
/// command (git's RUN_SETUP, ninja's Tool::when): the dispatcher never compares names.
/// The MLflow and HTTP clients need no flag: Context builds them on first use.
struct Needs {
  /// Settings resolved from flags, environment, mlops.yaml and the user config before the
  /// runner starts (a broken mlops.yaml fails the command). False for commands that must
  /// work anywhere (help, version): they get default Settings.
  bool settings = true;
  /// Global options parsed from the command line. False: the command runs before parsing,
  /// on the words after its name as typed (Context::words()), with no colour: the words are
  /// what the user is typing (completion) or a page name, not options.
  bool global_options = true;
};

/// One entry of the command table. Help, "did you mean", completions and
/// the man page are all generated from the table.
struct Command {
  std::string_view name;
  std::string_view summary;     ///< one line, lowercase, no period
  std::string_view description; ///< man page prose (roff-free text, paragraphs split by blank lines)
  std::string_view examples;    ///< lines of "$ command" and "  explanation"
  bool hidden = false;          ///< left out of help, man pages, completion and "did you mean"
  bool names_commands = false;  ///< its positional words name a command (help): completion offers command names
  Needs needs;
  /// Adds the command's options and positionals to `app` (already named and
  /// described; its parent is the root app, which help, completion and the man
  /// page describe) and returns what runs it once parsed.
  std::function<Runner(CLI::App&)> setup;
};

/// A --templates DIR value: nullopt when empty; Error(usage) when it is not
/// a directory.
std::optional<std::filesystem::path> templates_dir(const std::string& value);

/// The command table (cli/commands.def), in the order help lists it.
const std::vector<Command>& commands();

/// The entry named `name`, or nullptr.
const Command* find_command(std::string_view name);

// Command x_command(); for each line of the table.
#define MLOPS_COMMAND(x) Command x##_command();
#include "cli/commands.def"
#undef MLOPS_COMMAND

} // namespace mlops::cli
