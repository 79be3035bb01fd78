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

/// What a command needs of the configuration before it runs (the dispatcher
/// reads it from the table, never from the command's name).
enum class ConfigNeed {
  settings, ///< flags, environment and files merged; a bad file is the command's error
  none,     ///< nothing (version, init): works next to a broken mlops.yaml
  diagnose, ///< settings when they load, else those of the environment and flags (doctor reports why)
};

/// One entry of the command table. Help, "did you mean", completions and
/// the man page are all generated from the table.
struct Command {
  std::string_view name;
  std::string_view summary;     ///< one line, lowercase, no period
  std::string_view description; ///< man page prose (roff-free text, paragraphs split by blank lines)
  std::string_view examples;    ///< lines of "$ command" and "  explanation"
  bool hidden = false;
  ConfigNeed config = ConfigNeed::settings;
  /// Adds the command's options and positionals to `app` (already named and
  /// described) and returns what runs it once parsed.
  std::function<Runner(CLI::App&)> setup;
};

/// A --templates DIR value: nullopt when empty; Error(usage) when it is not
/// a directory.
std::optional<std::filesystem::path> templates_dir(const std::string& value);

/// The command table, in the order help lists it.
const std::vector<Command>& commands();

/// The entry named `name`, or nullptr.
const Command* find_command(std::string_view name);

Command pull_command();
Command models_command();
Command validate_command();
Command package_command();
Command render_command();
Command promote_command();
Command rollback_command();
Command history_command();
Command approve_command();
Command help_command();
Command version_command();
Command init_command();
Command doctor_command();
Command release_command();

} // namespace mlops::cli
