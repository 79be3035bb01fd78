#pragma once

#include "core/log.hpp"
#include "core/progress.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace mlops::cli {

/// How the user asked output to look.
struct OutputMode {
  bool json = false;
  bool quiet = false;
  int verbosity = 0;
  bool color = false;      ///< colour on stderr
  bool stderr_tty = false; ///< progress bars allowed
};

/// All printing goes through here: data to stdout, diagnostics to stderr.
/// Nothing else in cli/ or lib/ writes to std::cout, std::cerr or the C streams
/// (scripts/format.sh --check fails on it).
class Output {
public:
  explicit Output(OutputMode mode) : m_mode(mode) {}
  const OutputMode& mode() const { return m_mode; }

  /// A line of human output on stdout (suppressed by --quiet).
  void line(std::string_view text) const;
  /// Text on stdout as it is (no newline added, never suppressed: data the user
  /// asked for, such as a YAML stream, a diff, help or a man page).
  void data(std::string_view text) const;
  /// A line of diagnostics on stderr that is not a warning (where to reach what
  /// was rendered); suppressed by --quiet.
  void note(std::string_view line) const;
  /// A usage reminder on stderr, as it is (goes with exit 2; never suppressed).
  void usage(std::string_view text) const;
  /// A JSON document on stdout (never suppressed).
  void json(const nlohmann::ordered_json& doc) const;
  /// A table with a header row, columns padded to fit.
  void table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) const;
  /// "mlops: error: ..." plus an optional "hint: ..." line on stderr.
  void error(std::string_view message, std::string_view hint = {}) const;
  /// "mlops: warning: ..." on stderr (suppressed by --quiet).
  void warning(std::string_view message) const;

private:
  OutputMode m_mode;
};

/// LogSink writing to stderr at the chosen verbosity.
class StderrLog final : public LogSink {
public:
  explicit StderrLog(const Output& out) : m_out(out) {}
  void debug(int level, std::string_view line) override;
  void warn(std::string_view line) override;

private:
  const Output& m_out;
  std::mutex m_mutex;
};

/// A one-line progress bar on stderr (only when stderr is a TTY and not
/// --quiet): bytes, rate, ETA and files. Redrawn by its own thread.
class ProgressBar final : public ProgressSink {
public:
  explicit ProgressBar(const Output& out);
  ~ProgressBar() override;
  void begin(std::string_view label, std::uint64_t files, std::uint64_t bytes) override;
  void advance(std::int64_t delta) override;
  void file_done() override;
  void end() override;

private:
  void draw(bool final_draw);
  bool m_enabled;
  std::string m_label;
  std::uint64_t m_total_files = 0, m_total_bytes = 0;
  std::atomic<std::int64_t> m_bytes{0};
  std::atomic<std::uint64_t> m_files{0};
  std::chrono::steady_clock::time_point m_start;
  std::thread m_thread;
  std::mutex m_mutex;
  std::condition_variable m_cv;
  bool m_stop = false;
};

} // namespace mlops::cli
