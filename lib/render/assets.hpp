#pragma once

#include <string>
#include <string_view>

namespace mlops::render {

/// A file of the source tree compiled into the binary (templates/... and
/// schemas/render/..., see render/embed.cmake), or nullptr.
const std::string* builtin_asset(std::string_view path);

} // namespace mlops::render
