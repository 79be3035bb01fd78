#pragma once
// Reading a file a user hands over (config, policy, model files) with a size bound, and
// OS errors turned into Errors that name the file: no std::filesystem_error text reaches users.

#include "core/error.hpp"

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace mlops {

/// The reason text of an OS error, lowercase first ("too many levels of symbolic links").
std::string os_reason(const std::error_code& ec);

/// Reads the regular file `path` (links followed) whole. Throws Error(kind, "cannot read
/// WHAT 'PATH': why") when it cannot be opened or read, is not a regular file, or holds more
/// than `max_bytes` bytes (checked while reading, so a growing file or a device cannot make
/// it read more); a missing file is Error(not_found) unless `kind` is usage.
std::string read_input_file(const std::filesystem::path& path, std::size_t max_bytes, std::string_view what,
                            ErrorKind kind);

/// Whether `path` is a regular file (links followed), false when it does not exist; throws
/// Error(kind, "cannot read WHAT 'PATH': why") when its status cannot be read (a link loop,
/// a directory without search permission), instead of treating that as absent.
bool regular_file_exists(const std::filesystem::path& path, std::string_view what, ErrorKind kind);

} // namespace mlops
