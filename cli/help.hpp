#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace mlops::cli {

/// The command or subcommand `path` names ({"models", "list"}), or throws
/// Error(usage) naming the first word that is not one (with a suggestion).
CLI::App* find_command_path(CLI::App& app, const std::vector<std::string>& path);

/// The top-level help text (usage, commands, global options, exit codes).
std::string top_help(CLI::App& app);

/// A few lines for stderr when no command was given.
std::string short_usage();

/// Help for the command `path` names: usage, summary, examples first, then
/// arguments and options in aligned columns, then the gist of the description.
std::string command_help(CLI::App& app, const std::vector<std::string>& path);

/// The arguments of a usage line: "MODEL VERSION --env ENV [options]".
std::string usage_args(const CLI::App& app);

/// The value name an option shows (FILE, ENV, ...), without CLI11's
/// validator suffix; "" for a flag.
std::string value_name(const CLI::Option* opt);

/// The fixed set of values `opt` accepts (declared with CLI::IsMember), or
/// empty when any value is accepted.
std::vector<std::string> choices_of(CLI::Option* opt);

/// The display name of an argument or option: "MODEL" for a positional,
/// "-o, --dir DIR" for an option.
std::string option_label(const CLI::Option* opt);

} // namespace mlops::cli
