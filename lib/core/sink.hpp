#pragma once

#include "core/fd.hpp"

#include <cstddef>
#include <filesystem>

namespace mlops {

/// Where a stream of bytes goes: a file, an upload, a hash. Writers call
/// write() any number of times, then finish() once; both throw Error on
/// failure. A sink is used from one thread at a time.
class ByteSink {
public:
  virtual ~ByteSink() = default;
  /// Takes `size` bytes; the caller keeps ownership of `data`.
  virtual void write(const void* data, std::size_t size) = 0;
  /// Ends the stream (flush, close); no write() may follow.
  virtual void finish() {}
};

/// Writes to a new file that already exists and is empty (e.g. made by
/// mkstemp). No fsync: blobs are named by their digest and checked when
/// read. Throws Error(io) naming the file.
class FileSink final : public ByteSink {
public:
  explicit FileSink(std::filesystem::path file);
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;
  void write(const void* data, std::size_t size) override;
  void finish() override;

private:
  std::filesystem::path m_path;
  UniqueFd m_fd;
};

} // namespace mlops
