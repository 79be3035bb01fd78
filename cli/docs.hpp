#pragma once

#include "cli/app.hpp"

#include <string>
#include <vector>

namespace mlops::cli {

/// Completion candidates, one per line, for `words` (the arguments typed
/// after "mlops", the last being the word under the cursor, maybe empty).
std::string complete(CLI::App& app, const std::vector<std::string>& words);

/// The man page mlops(1) in roff, generated from the command table and
/// the options each command declares.
std::string man_page(CLI::App& app);

} // namespace mlops::cli
