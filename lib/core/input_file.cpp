#include "core/input_file.hpp"

#include "core/strings.hpp"

#include <cctype>
#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace mlops {

namespace {

/// Owns one file descriptor.
class Fd {
public:
  explicit Fd(int fd) : m_fd(fd) {}
  ~Fd() {
    if (m_fd >= 0) ::close(m_fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return m_fd; }

private:
  int m_fd;
};

Error cannot_read(const std::filesystem::path& path, std::string_view what, ErrorKind kind, const std::string& why) {
  return Error(kind, "cannot read " + std::string(what) + " " + quote(path.string()) + ": " + why);
}

} // namespace

std::string os_reason(const std::error_code& ec) {
  std::string s = ec.message();
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

std::string read_input_file(const std::filesystem::path& path, std::size_t max_bytes, std::string_view what,
                            ErrorKind kind) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) {
    int err = errno;
    ErrorKind k = err == ENOENT && kind != ErrorKind::usage ? ErrorKind::not_found : kind;
    throw cannot_read(path, what, k, os_reason(std::error_code(err, std::generic_category())));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    throw cannot_read(path, what, kind, os_reason(std::error_code(errno, std::generic_category())));
  if (!S_ISREG(st.st_mode)) throw cannot_read(path, what, kind, "not a regular file");
  auto too_large = [&](std::size_t n) {
    return cannot_read(path, what, kind,
                       "too large: " + std::to_string(n) + " bytes, the limit is " + std::to_string(max_bytes));
  };
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) throw too_large(static_cast<std::size_t>(st.st_size));
  std::string out;
  out.reserve(static_cast<std::size_t>(st.st_size));
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw cannot_read(path, what, kind, os_reason(std::error_code(errno, std::generic_category())));
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > max_bytes) throw too_large(out.size());
  }
  return out;
}

bool regular_file_exists(const std::filesystem::path& path, std::string_view what, ErrorKind kind) {
  std::error_code ec;
  auto st = std::filesystem::status(path, ec);
  if (ec && ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory)
    throw cannot_read(path, what, kind, os_reason(ec));
  return std::filesystem::is_regular_file(st);
}

} // namespace mlops
