#include "cli/output.hpp"

#include "core/strings.hpp"

#include <algorithm>
#include <iostream>

namespace mlops::cli {

namespace {

std::size_t display_width(std::string_view s) {
  // Count UTF-8 code points, not bytes, so names with accents line up.
  std::size_t n = 0;
  for (unsigned char c : s)
    n += (c & 0xC0) != 0x80;
  return n;
}

} // namespace

void Output::line(std::string_view text) const {
  if (m_mode.quiet) return;
  std::cout << text << '\n';
}

void Output::data(std::string_view text) const { std::cout << text << std::flush; }

void Output::note(std::string_view line) const {
  if (m_mode.quiet) return;
  std::cerr << line << '\n' << std::flush;
}

void Output::usage(std::string_view text) const { std::cerr << text << std::flush; }

void Output::json(const nlohmann::ordered_json& doc) const {
  std::cout << doc.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n' << std::flush;
}

void Output::table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) const {
  if (m_mode.quiet) return;
  std::vector<std::size_t> widths(header.size());
  for (std::size_t i = 0; i < header.size(); ++i)
    widths[i] = display_width(header[i]);
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size() && i < widths.size(); ++i)
      widths[i] = std::max(widths[i], display_width(r[i]));
  auto print_row = [&](const std::vector<std::string>& r) {
    std::string out;
    for (std::size_t i = 0; i < r.size(); ++i) {
      out += r[i];
      if (i + 1 < r.size()) out += std::string(widths[i] - display_width(r[i]) + 2, ' ');
    }
    std::cout << out << '\n';
  };
  print_row(header);
  for (const auto& r : rows)
    print_row(r);
}

void Output::error(std::string_view message, std::string_view hint) const {
  const char* red = m_mode.color ? "\033[31m" : "";
  const char* reset = m_mode.color ? "\033[0m" : "";
  std::cerr << "mlops: " << red << "error:" << reset << " " << message << '\n';
  if (!hint.empty()) std::cerr << "hint: " << hint << '\n';
  std::cerr << std::flush;
}

void Output::warning(std::string_view message) const {
  if (m_mode.quiet) return;
  const char* yellow = m_mode.color ? "\033[33m" : "";
  const char* reset = m_mode.color ? "\033[0m" : "";
  std::cerr << "mlops: " << yellow << "warning:" << reset << " " << message << '\n' << std::flush;
}

void StderrLog::debug(int level, std::string_view line) {
  if (m_out.mode().verbosity < level) return;
  std::lock_guard lock(m_mutex);
  std::cerr << "mlops: " << line << '\n';
}

void StderrLog::warn(std::string_view line) {
  std::lock_guard lock(m_mutex);
  m_out.warning(line);
}

ProgressBar::ProgressBar(const Output& out) : m_enabled(out.mode().stderr_tty && !out.mode().quiet) {}

ProgressBar::~ProgressBar() { end(); }

void ProgressBar::begin(std::string_view label, std::uint64_t files, std::uint64_t bytes) {
  if (!m_enabled) return;
  m_label = std::string(label);
  m_total_files = files;
  m_total_bytes = bytes;
  m_start = std::chrono::steady_clock::now();
  m_thread = std::thread([this] {
    std::unique_lock lock(m_mutex);
    while (!m_stop) {
      draw(false);
      m_cv.wait_for(lock, std::chrono::milliseconds(200));
    }
  });
}

void ProgressBar::advance(std::int64_t delta) { m_bytes.fetch_add(delta, std::memory_order_relaxed); }

void ProgressBar::file_done() { m_files.fetch_add(1, std::memory_order_relaxed); }

void ProgressBar::end() {
  if (!m_thread.joinable()) return;
  {
    std::lock_guard lock(m_mutex);
    m_stop = true;
  }
  m_cv.notify_all();
  m_thread.join();
  std::cerr << "\r\033[K" << std::flush; // clear the bar; the summary line follows on stdout
}

void ProgressBar::draw(bool) {
  auto bytes = static_cast<std::uint64_t>(std::max<std::int64_t>(0, m_bytes.load()));
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
  double rate = secs > 0.2 ? static_cast<double>(bytes) / secs : 0;
  double frac = m_total_bytes ? std::min(1.0, static_cast<double>(bytes) / static_cast<double>(m_total_bytes)) : 0;
  constexpr int k_width = 24;
  int filled = static_cast<int>(frac * k_width);
  std::string bar(static_cast<std::size_t>(filled), '=');
  if (filled < k_width) bar += '>';
  bar.resize(k_width, ' ');
  std::string eta = "--";
  if (rate > 0 && m_total_bytes > bytes) {
    auto left = static_cast<long>(static_cast<double>(m_total_bytes - bytes) / rate);
    eta = left >= 60 ? std::to_string(left / 60) + "m" + std::to_string(left % 60) + "s" : std::to_string(left) + "s";
  }
  std::string text = "\r\033[K" + m_label + " [" + bar + "] " + human_bytes(bytes) + " / " +
                     human_bytes(m_total_bytes) + "  " + human_bytes(static_cast<std::uint64_t>(rate)) + "/s  ETA " +
                     eta + "  " + std::to_string(m_files.load()) + "/" + std::to_string(m_total_files) + " files";
  std::cerr << text << std::flush;
}

} // namespace mlops::cli
