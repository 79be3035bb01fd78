#pragma once

#include <utility>

namespace mlops {

/// Owns one file descriptor: closes it when destroyed, moves but never
/// copies (as ccache's util/Fd). -1 means "none". Use close() where a
/// failing close() must be seen (a file just written); the destructor
/// ignores its result.
class UniqueFd {
public:
  UniqueFd() noexcept = default;
  /// Takes ownership of `fd` (-1: none).
  explicit UniqueFd(int fd) noexcept : m_fd(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : m_fd(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  /// The descriptor, still owned (-1: none).
  int get() const noexcept { return m_fd; }
  /// True when it holds a descriptor.
  explicit operator bool() const noexcept { return m_fd >= 0; }
  /// Gives up ownership: returns the descriptor, which the caller now closes.
  int release() noexcept { return std::exchange(m_fd, -1); }
  /// Closes the descriptor held (if any) and takes `fd` instead.
  void reset(int fd = -1) noexcept;
  /// Closes the descriptor now; returns false (errno set) when close() failed.
  /// Empty afterwards either way; true when there was nothing to close.
  bool close() noexcept;

private:
  int m_fd = -1;
};

/// The two ends of a pipe or socket pair.
struct FdPair {
  UniqueFd first;  ///< pipe: the read end
  UniqueFd second; ///< pipe: the write end
};

} // namespace mlops
