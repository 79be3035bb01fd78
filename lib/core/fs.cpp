#include "core/fs.hpp"

#include "core/error.hpp"
#include "core/fd.hpp"
#include "core/limits.hpp"
#include "core/strings.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <random>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

namespace mlops::fs {

namespace {

std::string errno_text(int err) { return std::strerror(err); }

std::string random_suffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char k_chars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s;
  for (int i = 0; i < 10; ++i)
    s += k_chars[rng() % (sizeof(k_chars) - 1)];
  return s;
}

Error unsafe(std::string_view path, std::string_view why) {
  return Error(ErrorKind::operational, "refusing remote path " + quote(path) + ": " + std::string(why),
               "the server listed a path that would land outside the destination directory");
}

} // namespace

std::string confine_relative(std::string_view remote_path) {
  if (remote_path.empty()) throw unsafe(remote_path, "empty path");
  if (remote_path.find('\0') != std::string_view::npos) throw unsafe(remote_path, "contains a NUL byte");
  if (remote_path.find('\\') != std::string_view::npos) throw unsafe(remote_path, "contains a backslash");
  if (remote_path.front() == '/') throw unsafe(remote_path, "absolute path");
  std::string out;
  std::size_t start = 0;
  while (start <= remote_path.size()) {
    std::size_t end = remote_path.find('/', start);
    if (end == std::string_view::npos) end = remote_path.size();
    std::string_view part = remote_path.substr(start, end - start);
    if (part == "..") throw unsafe(remote_path, "contains '..'");
    if (!part.empty() && part != ".") {
      if (!out.empty()) out += '/';
      out += part;
    }
    start = end + 1;
  }
  if (out.empty()) throw unsafe(remote_path, "names no file");
  return out;
}

std::filesystem::path safe_join(const std::filesystem::path& root, std::string_view relative) {
  std::string rel = confine_relative(relative);
  std::filesystem::path cur = root;
  std::size_t start = 0;
  while (start < rel.size()) {
    std::size_t end = rel.find('/', start);
    if (end == std::string::npos) end = rel.size();
    cur /= rel.substr(start, end - start);
    struct stat st {};
    if (::lstat(cur.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
      throw unsafe(relative, "a component is a symbolic link");
    }
    start = end + 1;
  }
  return cur;
}

void sync_directory(const std::filesystem::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd) ::fsync(fd.get());
}

namespace {

/// Creates `file` (which must not exist), writes `content` and, with
/// `durable`, fsyncs it. On failure removes it and throws Error(io) naming `shown`.
void write_exclusive(const std::filesystem::path& file, std::string_view content, bool durable,
                     const std::filesystem::path& shown) {
  UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd) {
    throw Error(ErrorKind::io, "cannot write " + quote(shown.string()) + ": " + errno_text(errno));
  }
  std::size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      fd.reset();
      ::unlink(file.c_str());
      throw Error(ErrorKind::io, "cannot write " + quote(shown.string()) + ": " + errno_text(err));
    }
    done += static_cast<std::size_t>(n);
  }
  if ((durable && ::fsync(fd.get()) != 0) || !fd.close()) {
    int err = errno;
    ::unlink(file.c_str());
    throw Error(ErrorKind::io, "cannot write " + quote(shown.string()) + ": " + errno_text(err));
  }
}

} // namespace

void write_new_file(const std::filesystem::path& path, std::string_view content) {
  write_exclusive(path, content, false, path);
}

void atomic_write(const std::filesystem::path& path, std::string_view content, bool durable) {
  std::filesystem::path dir = path.parent_path().empty() ? "." : path.parent_path();
  std::filesystem::path tmp = dir / ("." + path.filename().string() + ".tmp-" + random_suffix());
  write_exclusive(tmp, content, durable, path);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw Error(ErrorKind::io, "cannot write " + quote(path.string()) + ": " + errno_text(err));
  }
  if (durable) sync_directory(dir);
}

std::string read_file(const std::filesystem::path& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) {
    int err = errno;
    throw Error(err == ENOENT ? ErrorKind::not_found : ErrorKind::io,
                "cannot read " + quote(path.string()) + ": " + errno_text(err));
  }
  std::string out;
  char buf[65536];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0)
    out.append(buf, n);
  if (std::ferror(f.get())) throw Error(ErrorKind::io, "cannot read " + quote(path.string()));
  return out;
}

bool exchange_paths(const std::filesystem::path& a, const std::filesystem::path& b) {
  return ::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) == 0;
}

bool is_missing_or_empty(const std::filesystem::path& dir) {
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) return true;
  if (!std::filesystem::is_directory(dir, ec)) return false;
  return std::filesystem::directory_iterator(dir, ec) == std::filesystem::directory_iterator();
}

void remove_tree_quietly(const std::filesystem::path& path) noexcept {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

void require_writable_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    throw Error(ErrorKind::io, "cannot create directory " + quote(dir.string()) + ": " + ec.message());
  }
  std::filesystem::path probe = dir / (".mlops-probe-" + random_suffix());
  UniqueFd fd(::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) {
    throw Error(ErrorKind::io, "cannot write to directory " + quote(dir.string()) + ": " + errno_text(errno));
  }
  fd.reset();
  ::unlink(probe.c_str());
}

Fd::~Fd() {
  if (m_fd >= 0) ::close(m_fd);
}

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (m_fd >= 0) ::close(m_fd);
    m_fd = o.m_fd;
    o.m_fd = -1;
  }
  return *this;
}

RegularFile open_regular(const std::filesystem::path& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)); // a FIFO must not block us
  if (fd.get() < 0) {
    int err = errno;
    if (err == ELOOP)
      throw Error(ErrorKind::operational, quote(path.string()) + " is not a regular file (a symbolic link)");
    throw Error(err == ENOENT ? ErrorKind::not_found : ErrorKind::io,
                "cannot read " + quote(path.string()) + ": " + errno_text(err));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    throw Error(ErrorKind::io, "cannot read " + quote(path.string()) + ": " + errno_text(errno));
  if (!S_ISREG(st.st_mode)) throw Error(ErrorKind::operational, quote(path.string()) + " is not a regular file");
  return {std::move(fd), static_cast<std::uint64_t>(st.st_size)};
}

std::string read_all(const Fd& fd, std::size_t max_bytes, const std::filesystem::path& shown) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(ErrorKind::io, "cannot read " + quote(shown.string()) + ": " + errno_text(errno));
    }
    if (n == 0) return out;
    if (out.size() + static_cast<std::size_t>(n) > max_bytes) {
      throw Error(ErrorKind::operational, quote(shown.string()) + " is larger than " + human_bytes(max_bytes));
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
}

void read_chunks(const std::filesystem::path& path, std::size_t chunk,
                 const std::function<void(const char* data, std::size_t size)>& fn) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) throw Error(ErrorKind::io, "cannot read " + quote(path.string()) + ": " + errno_text(errno));
  std::vector<char> buf(chunk);
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(ErrorKind::io, "cannot read " + quote(path.string()) + ": " + errno_text(errno));
    }
    if (n == 0) return;
    fn(buf.data(), static_cast<std::size_t>(n));
  }
}

namespace {

Error unreadable(const std::filesystem::path& p, const std::error_code& ec) {
  return Error(ErrorKind::io, "cannot read " + quote(escaped_name(p.string())) + ": " + ec.message());
}

// Each directory is read with its own non-recursive iterator, so that a failed
// increment is seen here: recursive_directory_iterator::increment(ec) turns into
// the end iterator on failure, which a loop cannot tell from the real end.
void walk_dir(const std::filesystem::path& dir, const std::string& prefix, std::size_t depth,
              const std::function<void(const WalkEntry&)>& visit) {
  if (depth > limits::k_max_walk_depth) {
    throw Error(ErrorKind::operational, quote(escaped_name(dir.string())) + " is nested deeper than " +
                                            std::to_string(limits::k_max_walk_depth) + " directories");
  }
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) throw unreadable(dir, ec);
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    WalkEntry e;
    e.path = it->path();
    e.relative = prefix + it->path().filename().string();
    e.status = it->symlink_status(ec);
    if (ec) throw unreadable(e.path, ec);
    visit(e);
    if (std::filesystem::is_directory(e.status)) walk_dir(e.path, e.relative + "/", depth + 1, visit);
  }
  if (ec) throw unreadable(dir, ec);
}

bool printable_utf8(std::string_view s) {
  if (valid_utf8(s) != s) return false;
  return std::none_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

} // namespace

void walk_tree(const std::filesystem::path& root, const std::function<void(const WalkEntry&)>& visit) {
  walk_dir(root, "", 0, visit);
}

std::string escaped_name(std::string_view name) {
  if (printable_utf8(name)) return std::string(name);
  std::string out;
  std::string_view rest = name;
  while (!rest.empty()) {
    // The longest prefix that is valid UTF-8 stays; the next byte is escaped.
    std::size_t ok = 0;
    for (std::size_t len = 1; len <= std::min<std::size_t>(4, rest.size()); ++len) {
      if (printable_utf8(rest.substr(0, len))) {
        ok = len;
        break;
      }
    }
    if (ok) {
      out.append(rest.substr(0, ok));
      rest.remove_prefix(ok);
      continue;
    }
    static constexpr char k_hex[] = "0123456789abcdef";
    auto c = static_cast<unsigned char>(rest.front());
    out += "\\x";
    out += k_hex[c >> 4];
    out += k_hex[c & 15];
    rest.remove_prefix(1);
  }
  return out;
}

void check_tree_entry(const std::filesystem::path& root, const WalkEntry& e) {
  if (!printable_utf8(e.relative)) {
    throw Error(ErrorKind::operational, "file name " + quote(escaped_name(e.relative)) + " is not valid UTF-8 text",
                "image layers and MLflow keep file names as UTF-8: rename the file");
  }
  if (std::filesystem::is_symlink(e.status)) {
    std::error_code ec;
    auto target = std::filesystem::read_symlink(e.path, ec);
    if (ec) throw unreadable(e.path, ec);
    // Judged lexically and through the links already on the way, never by
    // reading what the link names.
    auto resolved = std::filesystem::weakly_canonical(e.path.parent_path() / target, ec);
    auto base = std::filesystem::weakly_canonical(root, ec);
    auto r = resolved.lexically_relative(base);
    if (ec || target.is_absolute() || r.empty() || r.native().rfind("..", 0) == 0) {
      throw Error(ErrorKind::operational, "symbolic link " + quote(escaped_name(e.relative)) +
                                              " points outside the model directory (" + escaped_name(target.string()) +
                                              ")");
    }
    return;
  }
  if (!std::filesystem::is_directory(e.status) && !std::filesystem::is_regular_file(e.status)) {
    throw Error(ErrorKind::operational,
                quote(escaped_name(e.relative)) + " is neither a file, a directory nor a symbolic link");
  }
}

void check_tree(const std::filesystem::path& root) {
  walk_tree(root, [&](const WalkEntry& e) { check_tree_entry(root, e); });
}

namespace {

std::filesystem::path make_temp_dir(std::string_view prefix) {
  std::string tmpl = (std::filesystem::temp_directory_path() / ("mlops-" + std::string(prefix) + "-XXXXXX")).string();
  if (!::mkdtemp(tmpl.data())) throw Error(ErrorKind::io, "cannot create a temporary directory: " + errno_text(errno));
  return tmpl;
}

} // namespace

TempDir::TempDir(std::string_view prefix) : m_path(make_temp_dir(prefix)), m_guard(m_path) {}

} // namespace mlops::fs
