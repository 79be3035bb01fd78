#include "http/ranged.hpp"

#include "core/digest.hpp"
#include "core/error.hpp"
#include "core/fd.hpp"
#include "core/redact.hpp"
#include "core/strings.hpp"
#include "core/thread_pool.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <unistd.h>
#include <vector>

namespace mlops::http {

namespace {

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

Error cannot_write(const std::filesystem::path& file) {
  return Error(ErrorKind::io, "cannot write " + quote(file.string()) + ": " + std::strerror(errno));
}

/// Writes one range of a body at its place in the file, optionally hashing it on the way
/// (the probe, whose bytes come first). reset() starts the range over for a retry.
class RangeSink final : public BodySink {
public:
  RangeSink(int fd, const std::filesystem::path& file, std::uint64_t start, std::uint64_t limit, Sha256* hash,
            const std::atomic<bool>& stop, const std::atomic<bool>* abort)
      : m_fd(fd), m_file(file), m_start(start), m_limit(limit), m_hash(hash), m_stop(stop), m_abort(abort) {}

  void reset() override {
    m_written = 0;
    if (m_hash) *m_hash = Sha256();
  }

  void write(const char* data, std::size_t size) override {
    if (m_stop.load(std::memory_order_relaxed) || (m_abort && m_abort->load(std::memory_order_relaxed))) {
      throw Error(ErrorKind::interrupted, "stopped");
    }
    if (m_written + size > m_limit) {
      // The client stops bodies past expected_size itself; this guards the probe's 206.
      throw Error(ErrorKind::operational, "the answer for " + quote(m_file.filename().string()) +
                                              " is larger than the " + std::to_string(m_limit) + " bytes expected");
    }
    std::size_t done = 0;
    while (done < size) {
      ssize_t n = ::pwrite(m_fd, data + done, size - done, static_cast<off_t>(m_start + m_written + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        throw cannot_write(m_file);
      }
      done += static_cast<std::size_t>(n);
    }
    if (m_hash) m_hash->update(data, size);
    m_written += size;
  }

  std::uint64_t written() const { return m_written; }

private:
  int m_fd;
  const std::filesystem::path& m_file;
  std::uint64_t m_start, m_limit, m_written = 0;
  Sha256* m_hash;
  const std::atomic<bool>& m_stop;
  const std::atomic<bool>* m_abort;
};

/// The ranges of one file after the probe, their hash cursor and the first failure.
class Ranges {
public:
  Ranges(Client& client, const Request& req, std::uint64_t size, const std::filesystem::path& file, int fd,
         const ProgressFn& progress, const RangedOptions& opts, Sha256& hash)
      : m_client(client), m_req(req), m_size(size), m_file(file), m_fd(fd), m_progress(progress), m_opts(opts),
        m_hash(hash), m_count((size + opts.range_bytes - 1) / opts.range_bytes), m_done(m_count, false),
        m_shown(redact_url(req.url.substr(0, req.url.find('?')))) {}

  std::size_t count() const { return m_count; }

  /// Marks range 0 (the probe) fetched and hashed.
  void probe_done() {
    m_done[0] = true;
    m_hashed = 1;
  }

  /// Fetches ranges 1.. in parallel. Returns a refusal (non-2xx answer) if one came, else
  /// nullopt with every range written and hashed; throws the first failure.
  std::optional<Response> run() {
    ThreadPool pool(std::max(1u, std::min<unsigned>(m_opts.streams, static_cast<unsigned>(m_count - 1))));
    pool.for_each(m_count - 1, [&](std::size_t k) {
      try {
        fetch(k + 1);
      } catch (...) {
        fail(std::current_exception());
        throw;
      }
    });
    if (m_error) std::rethrow_exception(m_error);
    if (m_refusal) return m_refusal;
    if (m_hashed != m_count)
      throw Error(ErrorKind::operational, "ranged download of " + quote(m_shown) + " ended early");
    return std::nullopt;
  }

  /// Checks that a 206 answer carries exactly bytes [first, first + length).
  void check_range(const Response& resp, std::uint64_t first, std::uint64_t length, std::uint64_t got) const {
    auto cr = parse_content_range(resp.header("content-range"));
    auto bad = [&](const std::string& why) {
      return Error(ErrorKind::operational, "malformed answer from " + quote(m_shown) + ": asked for bytes " +
                                               std::to_string(first) + "-" + std::to_string(first + length - 1) + ", " +
                                               why);
    };
    if (!cr) throw bad("got 'Content-Range: " + printable(resp.header("content-range"), 80) + "'");
    if (cr->first != first || cr->last != first + length - 1 || (cr->total && *cr->total != m_size)) {
      throw bad("got bytes " + std::to_string(cr->first) + "-" + std::to_string(cr->last) + " of " +
                (cr->total ? std::to_string(*cr->total) : std::string("*")));
    }
    if (got != length) throw bad("received " + std::to_string(got) + " bytes");
  }

private:
  void fetch(std::size_t i) {
    {
      std::unique_lock lock(m_mutex);
      m_wake.wait(lock, [&] { return m_stop.load() || i < m_hashed + m_opts.window; });
      if (m_stop.load()) return;
    }
    std::uint64_t first = i * m_opts.range_bytes;
    std::uint64_t length = std::min(m_opts.range_bytes, m_size - first);
    Request r = m_req;
    r.headers.push_back("Range: bytes=" + std::to_string(first) + "-" + std::to_string(first + length - 1));
    r.expected_size = length;
    RangeSink sink(m_fd, m_file, first, length, nullptr, m_stop, m_opts.abort);
    Response resp = m_client.download(r, sink, m_progress);
    if (resp.status < 200 || resp.status >= 300) {
      std::lock_guard lock(m_mutex);
      if (!m_refusal) m_refusal = std::move(resp);
      m_stop.store(true);
      m_wake.notify_all();
      return;
    }
    if (resp.status != 206) {
      throw Error(ErrorKind::operational, "malformed answer from " + quote(m_shown) + ": HTTP " +
                                              std::to_string(resp.status) + " to a range request after 206 answers");
    }
    check_range(resp, first, length, sink.written());
    std::unique_lock lock(m_mutex);
    m_done[i] = true;
    hash_ready(lock);
  }

  /// Hashes the ranges that are next in order and fetched; one thread at a time does it
  /// (the others find m_hashing set and leave it to that one).
  void hash_ready(std::unique_lock<std::mutex>& lock) {
    if (m_hashing) return;
    m_hashing = true;
    std::vector<char> buffer;
    while (m_hashed < m_count && m_done[m_hashed] && !m_stop.load()) {
      std::size_t i = m_hashed;
      lock.unlock();
      try {
        if (buffer.empty()) buffer.resize(1u << 20);
        hash_back(i, buffer);
      } catch (...) {
        lock.lock();
        m_hashing = false;
        throw;
      }
      lock.lock();
      ++m_hashed;
      m_wake.notify_all();
    }
    m_hashing = false;
  }

  void hash_back(std::size_t i, std::vector<char>& buffer) {
    std::uint64_t pos = i * m_opts.range_bytes;
    std::uint64_t end = std::min(m_size, pos + m_opts.range_bytes);
    while (pos < end) {
      std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), end - pos));
      ssize_t n = ::pread(m_fd, buffer.data(), want, static_cast<off_t>(pos));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        throw Error(ErrorKind::io, "cannot read " + quote(m_file.string()) + ": " +
                                       (n < 0 ? std::strerror(errno) : "shorter than written"));
      }
      m_hash.update(buffer.data(), static_cast<std::size_t>(n));
      pos += static_cast<std::uint64_t>(n);
    }
  }

  void fail(std::exception_ptr e) {
    std::lock_guard lock(m_mutex);
    // The first failure is kept before the others are told to stop: their "stopped" never wins.
    if (!m_error && !m_stop.load()) m_error = e;
    m_stop.store(true);
    m_wake.notify_all();
  }

  Client& m_client;
  const Request& m_req;
  std::uint64_t m_size;
  const std::filesystem::path& m_file;
  int m_fd;
  const ProgressFn& m_progress;
  const RangedOptions& m_opts;
  Sha256& m_hash;
  std::size_t m_count;
  std::vector<bool> m_done;
  std::string m_shown;
  std::mutex m_mutex;
  std::condition_variable m_wake;
  std::atomic<bool> m_stop{false};
  std::size_t m_hashed = 0;
  bool m_hashing = false;
  std::exception_ptr m_error;
  std::optional<Response> m_refusal;
};

} // namespace

std::optional<ContentRange> parse_content_range(std::string_view value) {
  std::string_view v = trim(value);
  if (v.substr(0, 6) != "bytes ") return std::nullopt;
  v.remove_prefix(6);
  auto dash = v.find('-');
  auto slash = v.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || dash > slash) return std::nullopt;
  auto first = parse_u64(v.substr(0, dash));
  auto last = parse_u64(v.substr(dash + 1, slash - dash - 1));
  if (!first || !last || *first > *last) return std::nullopt;
  ContentRange cr{*first, *last, std::nullopt};
  std::string_view total = v.substr(slash + 1);
  if (total != "*") {
    cr.total = parse_u64(total);
    if (!cr.total || cr.last >= *cr.total) return std::nullopt;
  }
  return cr;
}

FileDownload download_ranged(Client& client, const Request& req, std::uint64_t size, const std::filesystem::path& file,
                             const ProgressFn& progress, LogSink& log, const RangedOptions& opts) {
  UniqueFd fd(::open(file.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!fd) throw cannot_write(file);
  FileDownload out;
  Sha256 hash;
  std::atomic<bool> stop{false};
  RangedOptions o = opts;
  o.range_bytes = std::max<std::uint64_t>(1, o.range_bytes);
  o.window = std::max(1u, o.window);
  Ranges ranges(client, req, size, file, fd.get(), progress, o, hash);

  // The probe: the first range, hashed as it comes. A 200 is the whole file (Range ignored).
  std::uint64_t first_len = std::min(o.range_bytes, size);
  Request probe = req;
  if (size > 0) probe.headers.push_back("Range: bytes=0-" + std::to_string(first_len - 1));
  probe.expected_size = size;
  RangeSink sink(fd.get(), file, 0, size, &hash, stop, o.abort);
  out.response = client.download(probe, sink, progress);
  out.bytes = sink.written();
  const Response& r = out.response;
  if (r.status < 200 || r.status >= 300) return out;
  if (r.status != 206) {
    log.debug(1, "  no ranges: HTTP " + std::to_string(r.status) + " to a range request, one stream");
  } else {
    ranges.check_range(r, 0, first_len, sink.written());
    ranges.probe_done();
    out.ranges = 1;
    if (ranges.count() > 1) {
      log.debug(1, "  " + std::to_string(ranges.count()) + " ranges of " + human_bytes(o.range_bytes) + ", " +
                       std::to_string(o.streams) + " at a time");
      if (auto refusal = ranges.run()) {
        out.response = std::move(*refusal);
        return out;
      }
      out.ranges = ranges.count();
    }
    out.bytes = size;
  }
  if (!fd.close()) throw cannot_write(file);
  if (out.bytes == size) out.sha256 = hash.hex_digest();
  return out;
}

} // namespace mlops::http
