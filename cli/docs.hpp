#pragma once

#include "cli/app.hpp"

#include <string>
#include <vector>

namespace mlops::cli {

/// Completion candidates, one per line, for `words` (the arguments typed
/// after "mlops", the last being the word under the cursor, maybe empty).
/// The lines ":files" and ":dirs" ask the shell for path completion.
std::string complete(CLI::App& app, const std::vector<std::string>& words);

/// The names of the man pages generated from the command table:
/// mlops.1, mlops-COMMAND.1 per visible command, mlops.yaml.5.
std::vector<std::string> man_page_names();

/// 'mlops __man [PAGE | --list]': the roff of PAGE (default mlops.1), or the
/// page names one per line. Throws Error(usage) for an unknown page.
std::string man_page(CLI::App& app, const std::vector<std::string>& args);

} // namespace mlops::cli
