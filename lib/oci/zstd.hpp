#pragma once

#include "core/sink.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

struct ZSTD_CCtx_s;

namespace mlops::oci {

/// A zstd compressor (libzstd, streaming) that writes one zstd frame
/// (RFC 8878) to `out`: checksum on, no content size, no dictionary ID.
///
/// Every compression parameter is pinned (level 3's, spelled out, in
/// libzstd's multithreaded mode with fixed 1 MiB jobs), so the bytes depend
/// only on the input and the libzstd release - never on the worker count,
/// timing or how the input is split into write() calls; libzstd documents
/// that output with one or more workers does not depend on their number.
/// (Zero workers, its single-threaded mode, gives other bytes; libzstd
/// uses it by itself only for empty input.) Memory is a few MiB per worker
/// (about 15 MiB with 4), whatever the input size.
/// Not thread-safe: one producer calls write()/finish().
class ZstdCompressor final : public ByteSink {
public:
  static constexpr int k_level = 3;
  static constexpr std::size_t k_job_size = 1 << 20;

  /// `workers` 0 means one per CPU, at most 4; libzstd runs them. `out` must
  /// outlive this object; it receives the compressed bytes in order, and
  /// finish() finishes it. Error(operational) if libzstd refuses a parameter
  /// (e.g. a build without multithreading).
  explicit ZstdCompressor(ByteSink& out, unsigned workers = 0);
  ~ZstdCompressor() override;
  ZstdCompressor(const ZstdCompressor&) = delete;
  ZstdCompressor& operator=(const ZstdCompressor&) = delete;

  /// Compresses `size` bytes of input (libzstd copies them); passes the
  /// compressed bytes that are ready on to `out`.
  void write(const void* data, std::size_t size) override;
  /// Ends the frame, writes what is left and finishes `out`.
  void finish() override;

  /// Compressed bytes written to `out` so far.
  std::uint64_t bytes_out() const { return m_bytes_out; }

private:
  /// One ZSTD_compressStream2() call per output buffer until `mode` is done.
  void drive(const void* data, std::size_t size, int mode);

  ByteSink& m_out;
  ZSTD_CCtx_s* m_cctx = nullptr;
  std::vector<char> m_buffer;
  std::uint64_t m_bytes_out = 0;
  bool m_finished = false;
};

} // namespace mlops::oci
