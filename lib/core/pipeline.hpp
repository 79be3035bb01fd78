#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace mlops {

/// A fixed-size buffer that travels through a ChunkPipeline.
struct Chunk {
  std::unique_ptr<char[]> data; ///< capacity bytes, not zeroed
  std::size_t size = 0;         ///< bytes in use
};

/// Runs the stages of a byte stream on threads of their own, so that, e.g.,
/// reading, hashing and writing a GiB overlap on several cores. The producer
/// (the caller's thread) fills chunks and hands them on with exchange();
/// every chunk passes through every stage, in order, and comes back empty.
/// Memory is `chunks` * `capacity`, whatever the stream's length. A stage
/// that throws stops the pipeline: exchange() and finish() rethrow.
class ChunkPipeline {
public:
  using Stage = std::function<void(const char* data, std::size_t size)>;

  /// Starts one thread per stage (at least one) with `chunks` (at least one)
  /// buffers of `capacity` bytes.
  ChunkPipeline(std::vector<Stage> stages, std::size_t chunks, std::size_t capacity);
  ~ChunkPipeline();
  ChunkPipeline(const ChunkPipeline&) = delete;
  ChunkPipeline& operator=(const ChunkPipeline&) = delete;

  /// An empty chunk to fill first.
  Chunk first();
  /// Hands on `full` (if it holds bytes) and returns an empty chunk, waiting
  /// for one when all are in the stages.
  Chunk exchange(Chunk full);
  /// Hands on `last` and waits until every stage has seen every chunk.
  void finish(Chunk last);
  std::size_t capacity() const { return m_capacity; }

private:
  void run(std::size_t stage);
  void rethrow_locked();

  std::vector<Stage> m_stages;
  std::size_t m_capacity;
  std::mutex m_mutex;
  std::condition_variable m_cv;
  std::vector<std::deque<Chunk>> m_queues; ///< input of each stage
  std::deque<Chunk> m_free;
  std::size_t m_out = 0; ///< chunks in the stages
  bool m_closing = false;
  std::exception_ptr m_error;
  std::vector<std::thread> m_threads;
};

} // namespace mlops
