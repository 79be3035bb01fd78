#pragma once

#include "core/sink.hpp"

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace mlops::oci {

/// A gzip compressor that deflates fixed-size blocks of its input on several
/// threads and writes one ordinary gzip stream (RFC 1952: header without
/// name or time, one deflate stream, CRC-32 and size trailer) to `out`.
///
/// Each block is deflated on its own, primed with the last 32 KiB of the
/// input before it as dictionary, and ends on a sync flush (the last one
/// finishes the stream). A block whose samples do not compress (model
/// weights) is stored, at memory speed, instead of deflated for no gain.
/// The output bytes depend only on the input, the block size and the
/// level - never on the thread count or timing - so a layer compressed with
/// it is reproducible. Memory is about
/// 2 * (threads + 3) blocks, whatever the input size. Not thread-safe: one
/// producer calls write()/finish().
class ParallelGzip final : public ByteSink {
public:
  static constexpr std::size_t k_default_block = 1 << 20;
  static constexpr int k_default_level = 1;

  /// `threads` 0 means one per CPU, at most 8. `block` must be at least 32 KiB
  /// (Error(operational) otherwise). `out` must outlive this object; it
  /// receives the compressed bytes in order, and finish() finishes it.
  explicit ParallelGzip(ByteSink& out, unsigned threads = 0, std::size_t block = k_default_block,
                        int level = k_default_level);
  ~ParallelGzip() override;
  ParallelGzip(const ParallelGzip&) = delete;
  ParallelGzip& operator=(const ParallelGzip&) = delete;

  /// Copies `size` bytes of uncompressed input; compresses full blocks in
  /// the background and passes finished ones to `out`.
  void write(const void* data, std::size_t size) override;
  /// Compresses the rest, writes the trailer and finishes `out`.
  void finish() override;

  /// Compressed bytes written to `out` so far.
  std::uint64_t bytes_out() const { return m_bytes_out; }

private:
  struct Job;
  void submit(bool last);
  void emit_front();
  void work();

  ByteSink& m_out;
  std::size_t m_block;
  int m_level;
  std::size_t m_max_in_flight;
  std::vector<unsigned char> m_current;        ///< the block being filled
  std::vector<unsigned char> m_tail;           ///< last 32 KiB of the previous block
  std::deque<std::shared_ptr<Job>> m_in_order; ///< submitted, not yet written, in stream order
  std::vector<std::shared_ptr<Job>> m_spare;   ///< written jobs, kept to reuse their buffers
  std::uint32_t m_crc = 0;
  std::uint64_t m_bytes_in = 0, m_bytes_out = 0;
  bool m_finished = false;

  std::mutex m_mutex;
  std::condition_variable m_work_cv, m_done_cv;
  std::deque<std::shared_ptr<Job>> m_queue; ///< waiting for a worker
  bool m_stop = false;
  std::vector<std::thread> m_workers;
};

} // namespace mlops::oci
