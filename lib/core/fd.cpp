#include "core/fd.hpp"

#include <unistd.h>

namespace mlops {

void UniqueFd::reset(int fd) noexcept {
  if (m_fd >= 0 && m_fd != fd) ::close(m_fd);
  m_fd = fd;
}

bool UniqueFd::close() noexcept {
  if (m_fd < 0) return true;
  // Linux releases the descriptor even when close() fails: never retry it.
  return ::close(release()) == 0;
}

} // namespace mlops
