#pragma once

#include <string_view>

namespace mlops {

/// Where the library sends diagnostics. The library never prints; the CLI
/// injects an implementation that writes to stderr at the chosen verbosity.
class LogSink {
public:
  virtual ~LogSink() = default;
  /// `level` 1 = verbose (-v), 2 = very verbose (-vv). Lines hold no secrets.
  virtual void debug(int level, std::string_view line) = 0;
  /// A warning the user should see even without -v (unless --quiet).
  virtual void warn(std::string_view line) = 0;
};

/// A sink that drops everything (default for library users and tests).
class NullLog final : public LogSink {
public:
  void debug(int, std::string_view) override {}
  void warn(std::string_view) override {}
};

/// The process-wide null sink.
LogSink& null_log();

} // namespace mlops
