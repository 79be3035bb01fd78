#pragma once

#include <cstdint>
#include <string_view>

namespace mlops {

/// Receives progress of a long operation. Implementations must be
/// thread-safe: transfers report from worker threads.
class ProgressSink {
public:
  virtual ~ProgressSink() = default;
  /// Announces the work: `label` ("iris v3"), total files and bytes to move.
  virtual void begin(std::string_view label, std::uint64_t files, std::uint64_t bytes) = 0;
  /// `delta` more bytes moved (may be negative when a failed attempt restarts).
  virtual void advance(std::int64_t delta) = 0;
  /// One more file finished.
  virtual void file_done() = 0;
  /// The operation ended (successfully or not).
  virtual void end() = 0;
};

/// A sink that ignores everything.
class NullProgress final : public ProgressSink {
public:
  void begin(std::string_view, std::uint64_t, std::uint64_t) override {}
  void advance(std::int64_t) override {}
  void file_done() override {}
  void end() override {}
};

} // namespace mlops
