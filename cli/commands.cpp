#include "cli/command.hpp"
#include "core/error.hpp"

namespace mlops::cli {

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
#define MLOPS_COMMAND(x) t.push_back(x##_command());
#include "cli/commands.def"
#undef MLOPS_COMMAND
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
