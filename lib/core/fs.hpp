#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
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

/// Creates `path`, which must not exist, with `content`: no temporary file,
/// rename or sync, for files inside a directory that is itself published
/// atomically. Throws Error(io), removing a partly written file.
void write_new_file(const std::filesystem::path& path, std::string_view content);

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

/// Streams a file (not through a symbolic link) in chunks of `chunk` bytes
/// to `fn`; the file is closed even when `fn` throws. Throws Error(io)
/// naming the file when it cannot be read.
void read_chunks(const std::filesystem::path& path, std::size_t chunk,
                 const std::function<void(const char* data, std::size_t size)>& fn);

/// An open file descriptor, closed when it goes out of scope (-1: none).
class Fd {
public:
  explicit Fd(int fd = -1) : m_fd(fd) {}
  ~Fd();
  Fd(Fd&& o) noexcept : m_fd(o.m_fd) { o.m_fd = -1; }
  Fd& operator=(Fd&& o) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return m_fd; }

private:
  int m_fd;
};

/// A regular file opened for reading, and its size at opening.
struct RegularFile {
  Fd fd;
  std::uint64_t size = 0;
};

/// Opens `path` for reading only when it is a regular file reached without
/// following a final symbolic link (O_NOFOLLOW, then fstat S_ISREG), so a
/// link, FIFO or device planted in its place is never read. Throws
/// Error(not_found) when missing, Error(operational) "'PATH' is not a
/// regular file", Error(io) for other failures.
RegularFile open_regular(const std::filesystem::path& path);

/// Reads all of an open file from its current position; more than
/// `max_bytes` is Error(operational) naming `shown`.
std::string read_all(const Fd& fd, std::size_t max_bytes, const std::filesystem::path& shown);

/// One entry met by walk_tree(): where it is, its path below the walk's root
/// ('/'-separated, never starting with '/'), and its type as lstat() sees it.
struct WalkEntry {
  std::filesystem::path path;
  std::string relative;
  std::filesystem::file_status status; ///< of the entry itself: links are not followed
};

/// Visits every entry below `root` (not `root` itself), a directory before
/// what it holds, never following symbolic links. Nothing is skipped: a
/// directory that cannot be opened or read, or an entry that cannot be
/// stat'ed, is Error(io) "cannot read 'PATH': why" naming it, never a
/// shorter walk. Deeper than limits::k_max_walk_depth is Error(operational).
void walk_tree(const std::filesystem::path& root, const std::function<void(const WalkEntry&)>& visit);

/// `name` with every byte that is not printable UTF-8 (invalid sequences,
/// control characters) written as \xNN, for messages naming a file.
std::string escaped_name(std::string_view name);

/// The rule every entry of a model directory follows, for `package` and
/// `validate` alike: its path is valid UTF-8 without control characters,
/// it is a regular file, a directory or a symbolic link, and a link stays
/// inside `root`. Throws Error(operational) naming the entry (escaped).
void check_tree_entry(const std::filesystem::path& root, const WalkEntry& entry);

/// walk_tree() with check_tree_entry() on every entry: Error(io) when a part
/// cannot be read, Error(operational) for the first entry breaking the rule.
void check_tree(const std::filesystem::path& root);

/// Removes a directory tree when it goes out of scope, unless released.
class TreeGuard {
public:
  explicit TreeGuard(std::filesystem::path dir, bool active = true) : m_dir(std::move(dir)), m_active(active) {}
  ~TreeGuard() {
    if (m_active) remove_tree_quietly(m_dir);
  }
  TreeGuard(const TreeGuard&) = delete;
  TreeGuard& operator=(const TreeGuard&) = delete;
  /// Keeps the tree (it was moved into place).
  void release() { m_active = false; }

private:
  std::filesystem::path m_dir;
  bool m_active;
};

/// A new empty directory "mlops-<prefix>-XXXXXX" under the system temporary
/// directory, removed with its contents when it goes out of scope.
/// Throws Error(io) when it cannot be created.
class TempDir {
public:
  explicit TempDir(std::string_view prefix);
  const std::filesystem::path& path() const { return m_path; }

private:
  std::filesystem::path m_path;
  TreeGuard m_guard;
};

} // namespace mlops::fs
