#pragma once

#include "core/limits.hpp"
#include "core/log.hpp"
#include "http/client.hpp"

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace mlops::http {

/// The byte range a 206 answer says it carries (`Content-Range: bytes FIRST-LAST/TOTAL`).
struct ContentRange {
  std::uint64_t first = 0, last = 0;
  std::optional<std::uint64_t> total; ///< nullopt for `/*`
};

/// Parses a Content-Range header value; nullopt when it is not `bytes FIRST-LAST/TOTAL`
/// with FIRST <= LAST (< TOTAL) as decimal numbers that fit 64 bits.
std::optional<ContentRange> parse_content_range(std::string_view value);

/// How a ranged download splits a file.
struct RangedOptions {
  std::uint64_t range_bytes = limits::k_range_bytes; ///< size of one range
  unsigned streams = limits::k_range_streams;        ///< ranges in flight at once
  unsigned window = limits::k_range_window;          ///< ranges fetched ahead of the hash
  /// Set by the caller to stop the download (another file failed): the transfers in flight
  /// end with Error(interrupted, "stopped"). May be null.
  const std::atomic<bool>* abort = nullptr;
};

/// What a download into a file got.
struct FileDownload {
  /// The answer that ended it: 200/206 when the bytes are in the file, else the refusal
  /// (the caller turns its status into an error; the file then holds nothing useful).
  Response response;
  std::uint64_t bytes = 0; ///< bytes written (== size when complete)
  std::string sha256;      ///< of the file's bytes in order (set when bytes == size)
  std::size_t ranges = 0;  ///< ranges fetched with 206 answers (0: one stream)
};

/// Downloads the `size` bytes `req` (a GET) answers into `file` (created or truncated) as
/// parallel byte ranges: the first range is a probe; a server that answers it with 200
/// instead of 206 ignores Range and the whole body is taken from that one stream. Each
/// range is written in place (pwrite) and the file is hashed in order, reading back each
/// range once the ones before it are hashed, so memory does not grow with the file. A
/// range is retried by the client like any request; a body longer than asked is aborted.
/// Throws Error(operational) for a 206 that is not the range asked for (or a 200 after a
/// 206), Error(io) when the file cannot be written, errors of Client::download(), and
/// Error(interrupted, "stopped") when `opts.abort` is set.
FileDownload download_ranged(Client& client, const Request& req, std::uint64_t size, const std::filesystem::path& file,
                             const ProgressFn& progress, LogSink& log, const RangedOptions& opts = {});

} // namespace mlops::http
