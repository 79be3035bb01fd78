#pragma once

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <stop_token>
#include <thread>
#include <vector>

namespace mlops {

/// What ThreadPool::for_each did with each item.
struct FanOut {
  /// Per item: what it threw, or null (it succeeded, or was skipped after a failure).
  std::vector<std::exception_ptr> errors;
  /// The failure that happened first in time (null: none).
  std::exception_ptr first;
  /// The failure of the lowest-numbered item (null: none): the same whatever
  /// the thread count, for output that must not depend on scheduling.
  std::exception_ptr lowest() const;
};

/// A fixed set of worker threads (std::jthread) that run indexed items
/// together with the calling thread: the fan-out of independent downloads,
/// uploads or renders. One for_each() at a time; a task must not call
/// for_each() on the pool that runs it.
class ThreadPool {
public:
  /// `threads` in all, the caller's included (0: one per core).
  explicit ThreadPool(unsigned threads = 0);
  /// Stops and joins the workers.
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  /// Threads that run items, the caller's included.
  unsigned size() const { return static_cast<unsigned>(m_workers.size()) + 1; }

  /// Runs `task(i)` for i in [0, count), items taken in order by whichever
  /// thread is free, and returns when all have finished. After an item
  /// throws, no further item starts (those already running finish); the
  /// exceptions are returned, never thrown. Throws nothing itself.
  FanOut for_each(std::size_t count, const std::function<void(std::size_t)>& task);

private:
  struct Batch;
  void work(std::stop_token stop);
  static void run_items(Batch& batch);

  std::mutex m_run; ///< one for_each at a time
  std::mutex m_mutex;
  std::condition_variable_any m_wake; ///< a batch started (workers wait)
  std::condition_variable m_idle;     ///< a worker left the batch (the caller waits)
  Batch* m_batch = nullptr;
  std::size_t m_generation = 0; ///< counts batches, so a worker joins each once
  std::size_t m_busy = 0;       ///< workers inside the current batch
  std::vector<std::jthread> m_workers;
};

} // namespace mlops
