#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace mlops::fs {

/// Checks a relative path that came from a remote listing or archive and
/// returns it normalised ('a/b/c', no '.' parts, no duplicate slashes).
/// Throws Error(operational) when it is empty, absolute, contains '..', a NUL
/// or a backslash, i.e. when it could land outside the destination.
std::string confine_relative(std::string_view remote_path);

/// Joins `root` and a confined relative path, refusing (Error(operational))
/// when any existing component below `root` is a symbolic link.
std::filesystem::path safe_join(const std::filesystem::path& root, std::string_view relative);

/// Writes `content` to `path` atomically: a temporary file in the same
/// directory, fsync, rename over `path`, fsync of the directory. With
/// `durable` false the fsyncs are skipped (still all-or-nothing for readers;
/// for content-addressed files that are checked when read).
/// Throws Error(io).
void atomic_write(const std::filesystem::path& path, std::string_view content, bool durable = true);

/// Reads a whole (small) file; throws Error(io) or Error(not_found).
std::string read_file(const std::filesystem::path& path);

/// fsyncs a directory so that a rename inside it is durable.
void sync_directory(const std::filesystem::path& dir);

/// Atomically exchanges two existing paths (renameat2 RENAME_EXCHANGE);
/// returns false when the file system does not support it.
bool exchange_paths(const std::filesystem::path& a, const std::filesystem::path& b);

/// True when `dir` does not exist or is an empty directory.
bool is_missing_or_empty(const std::filesystem::path& dir);

/// Removes a tree, ignoring errors (best effort clean-up).
void remove_tree_quietly(const std::filesystem::path& path) noexcept;

/// Checks that `dir` (created if missing) is writable by creating and
/// removing a probe file; throws Error(io) naming the directory otherwise.
void require_writable_dir(const std::filesystem::path& dir);

} // namespace mlops::fs
